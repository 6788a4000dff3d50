;; Pair allocation: build a 100,000-element list 200 times, measure it
;; each time (20,000,000 pairs; prints 20000000). Each list is garbage
;; once measured: allocation and the collector's young work dominate.
(define (build n acc) (if (= n 0) acc (build (- n 1) (cons n acc))))
(define (len l n) (if (null? l) n (len (cdr l) (+ n 1))))
(define (loop k total) (if (= k 0) total (loop (- k 1) (+ total (len (build 100000 '()) 0)))))
(display (loop 200 0)) (newline)
