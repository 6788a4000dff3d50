;; Small vectors: 5,000,000 three-element vectors made and measured
;; (prints 15000000). Each is garbage at once.
(define (loop i acc) (if (= i 0) acc (loop (- i 1) (+ acc (vector-length (vector i 1 2))))))
(display (loop 5000000 0)) (newline)
