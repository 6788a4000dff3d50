;; An HTTP-like request handler loop over a generated request log: each
;; event parses one request line, routes it, renders a response body, and
;; records the hit in per-route and per-user tables (shared hash tables;
;; different users and routes do not conflict).

(define n-requests 6000)
(define users (vector "ada" "alan" "grace" "edsger" "barbara" "john" "donald" "leslie"))
(define paths (vector "/" "/about" "/items" "/items/42" "/cart" "/login" "/search?q=gc"))
(define methods (vector "GET" "GET" "GET" "POST"))

(define (next-random x) (modulo (* x 16807) 2147483647))
(define (pick v r) (vector-ref v (modulo (quotient r 65536) (vector-length v))))

(define log (make-vector n-requests ""))
(let loop ((i 0) (r 4242))
  (when (< i n-requests)
    (let* ((r1 (next-random r)) (r2 (next-random r1)) (r3 (next-random r2)))
      (vector-set! log i (string-append (pick methods r1) " " (pick paths r2) " " (pick users r3)))
      (loop (+ i 1) r3))))

(define route-hits (make-hash-table string=?))
(define user-bytes (make-hash-table string=?))
(define statuses (make-vector 600 0))

(define (split-spaces s)
  (let loop ((cs (string->list s)) (cur '()) (acc '()))
    (cond ((null? cs) (reverse (cons (list->string (reverse cur)) acc)))
          ((char=? (car cs) #\space) (loop (cdr cs) '() (cons (list->string (reverse cur)) acc)))
          (else (loop (cdr cs) (cons (car cs) cur) acc)))))

(define (render method path user)
  (cond ((string=? path "/login")
         (if (string=? method "POST") (cons 303 "see other") (cons 200 "<form>login</form>")))
        ((string=? path "/cart")
         (if (string=? method "POST")
             (cons 201 (string-append "added for " user))
             (cons 200 (string-append "cart of " user))))
        ((string=? method "POST") (cons 405 "method not allowed"))
        ((member path '("/" "/about" "/items"))
         (cons 200 (string-append "<html><body>" path " for " user "</body></html>")))
        ((string=? path "/items/42") (cons 200 (number->string (* 6 7))))
        (else (cons 404 "not found"))))

(define (handle i)
  (let* ((parts (split-spaces (vector-ref log i)))
         (method (car parts)) (path (cadr parts)) (user (caddr parts))
         (response (render method path user)))
    (hash-table-update!/default route-hits path (lambda (n) (+ n 1)) 0)
    (hash-table-update!/default user-bytes user (lambda (n) (+ n (string-length (cdr response)))) 0)
    (vector-set! statuses (car response) (+ 1 (vector-ref statuses (car response))))))

(do ((i 0 (+ i 1))) ((= i n-requests)) (spawn-event handle i))
(run-events)

(define (show-table t)
  (for-each (lambda (p) (display "  ") (display (car p)) (display " ") (display (cdr p)) (newline))
            (sort (hash-table->alist t) (lambda (a b) (string<? (car a) (car b))))))
(display "routes:") (newline) (show-table route-hits)
(display "bytes per user:") (newline) (show-table user-bytes)
(display "statuses:")
(do ((s 0 (+ s 1))) ((= s 600))
  (when (> (vector-ref statuses s) 0)
    (display " ") (display s) (display "=") (display (vector-ref statuses s))))
(newline)
