;; Word count over a generated text, one event per chunk.
;; Each event counts its chunk's words into a table of its own and stores
;; the table in its slot of `results`: events touch disjoint data, so they
;; do not conflict. The main program merges the tables after the events.

(define chunks 400)
(define words-per-chunk 300)
(define vocabulary
  (vector "the" "of" "and" "to" "in" "is" "that" "for" "it" "as" "was" "with"
          "be" "by" "on" "not" "he" "this" "are" "or" "his" "from" "at" "which"
          "but" "have" "an" "had" "they" "you" "were" "their" "one" "all" "we"
          "can" "her" "has" "there" "been" "if" "more" "when" "will" "would"
          "who" "so" "no" "garbage" "collector"))

;; A linear congruential generator, deterministic per chunk.
(define (next-random x) (modulo (* x 16807) 2147483647))

(define (make-chunk seed)
  (let loop ((i 0) (x seed) (acc '()))
    (if (= i words-per-chunk)
        (string-join acc " ")
        (let ((x2 (next-random x)))
          (loop (+ i 1) x2
                (cons (vector-ref vocabulary (modulo (quotient x2 65536) (vector-length vocabulary))) acc))))))

(define text (make-vector chunks ""))
(do ((i 0 (+ i 1))) ((= i chunks))
  (vector-set! text i (make-chunk (+ 17 (* i 7919)))))

(define results (make-vector chunks #f))

;; Split a string into words at spaces.
(define (words s)
  (let loop ((cs (string->list s)) (cur '()) (acc '()))
    (cond ((null? cs)
           (reverse (if (null? cur) acc (cons (list->string (reverse cur)) acc))))
          ((char=? (car cs) #\space)
           (loop (cdr cs) '() (if (null? cur) acc (cons (list->string (reverse cur)) acc))))
          (else (loop (cdr cs) (cons (car cs) cur) acc)))))

(define (count-chunk i)
  (let ((t (make-hash-table string=?)))
    (for-each (lambda (w) (hash-table-update!/default t w (lambda (n) (+ n 1)) 0))
              (words (vector-ref text i)))
    (vector-set! results i t)))

(do ((i 0 (+ i 1))) ((= i chunks))
  (spawn-event count-chunk i))
(run-events)

(define total (make-hash-table string=?))
(vector-for-each
 (lambda (t)
   (hash-table-walk t (lambda (w n) (hash-table-update!/default total w (lambda (m) (+ m n)) 0))))
 results)

(define sorted
  (sort (hash-table->alist total)
        (lambda (a b) (or (> (cdr a) (cdr b))
                          (and (= (cdr a) (cdr b)) (string<? (car a) (car b)))))))
(display "words: ") (display (apply + (map cdr sorted))) (newline)
(display "distinct: ") (display (length sorted)) (newline)
(for-each (lambda (p) (display (car p)) (display " ") (display (cdr p)) (newline))
          (list-tail (reverse sorted) (- (length sorted) 5)))
