;; A parallel tree build (binary-trees): each event builds a complete
;; binary tree of pairs, walks it to count its nodes, and keeps the count
;; in its slot. The trees are garbage once counted: an event stores only
;; an integer, so its commit publishes none of its pairs and gives their
;; memory back at once (CM3 of gc/src/tx/commit.rs); the collector never
;; sees them.

(define depth 12)
(define n-trees 256)
(define counts (make-vector n-trees 0))

(define (make-tree d)
  (if (= d 0)
      (cons '() '())
      (cons (make-tree (- d 1)) (make-tree (- d 1)))))

(define (check t)
  (if (null? (car t))
      1
      (+ 1 (check (car t)) (check (cdr t)))))

(define (build i)
  (vector-set! counts i (check (make-tree (+ (- depth 2) (modulo i 3))))))

(do ((i 0 (+ i 1))) ((= i n-trees)) (spawn-event build i))
(run-events)

(display "nodes: ")
(display (let loop ((i 0) (s 0)) (if (= i n-trees) s (loop (+ i 1) (+ s (vector-ref counts i))))))
(newline)
(display "long-lived tree: ")
(define long-lived (make-tree 14))
(display (check long-lived))
(newline)
