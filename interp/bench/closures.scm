;; Closure creation: 5,000,000 closures of two captures, each called once
;; (prints the sum). Each is garbage at once.
(define (adder a b) (lambda (x) (+ a b x)))
(define (loop i acc) (if (= i 0) acc (loop (- i 1) ((adder i 1) acc))))
(display (loop 5000000 0)) (newline)
