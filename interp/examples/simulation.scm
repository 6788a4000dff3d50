;; A simulation with a shared hash table: agents move on a grid, and the
;; table maps a cell to the number of agents that visited it. Each event
;; moves one agent a few steps and updates the cells it visits (disjoint
;; cells do not conflict; the same cell does, and the event runs again).

(define n-agents 400)
(define steps 40)
(define grid 64)
(define visits (make-hash-table))
(define positions (make-vector n-agents 0))

(define (next-random x) (modulo (* x 16807) 2147483647))

(define (move agent round)
  (let loop ((s 0) (pos (vector-ref positions agent)) (r (+ 1 (* agent 7919) (* round 104729))))
    (if (= s steps)
        (vector-set! positions agent pos)
        (let* ((r2 (next-random r))
               (dir (modulo (quotient r2 65536) 4))
               (x (modulo pos grid))
               (y (quotient pos grid))
               (nx (modulo (+ x (case dir ((0) 1) ((1) -1) (else 0))) grid))
               (ny (modulo (+ y (case dir ((2) 1) ((3) -1) (else 0))) grid))
               (np (+ nx (* ny grid))))
          (hash-table-update!/default visits np (lambda (n) (+ n 1)) 0)
          (loop (+ s 1) np r2)))))

(do ((a 0 (+ a 1))) ((= a n-agents))
  (vector-set! positions a (modulo (* a 97) (* grid grid))))
(define (spawn-round round)
  (do ((a 0 (+ a 1))) ((= a n-agents))
    (spawn-event move a round)))
;; Five rounds; each waits for the previous one's events.
(spawn-round 0) (run-events)
(spawn-round 1) (run-events)
(spawn-round 2) (run-events)
(spawn-round 3) (run-events)
(spawn-round 4) (run-events)

(define total (fold + 0 (hash-table-values visits)))
(display "visits: ") (display total) (newline)
(display "cells visited: ") (display (hash-table-count visits)) (newline)
(define busiest
  (car (sort (hash-table->alist visits)
             (lambda (a b) (or (> (cdr a) (cdr b)) (and (= (cdr a) (cdr b)) (< (car a) (car b))))))))
(display "busiest cell: ") (display busiest) (newline)
(display "checksum: ")
(display (let loop ((i 0) (acc 0)) (if (= i n-agents) acc (loop (+ i 1) (modulo (+ (* acc 31) (vector-ref positions i)) 1000000007)))))
(newline)
