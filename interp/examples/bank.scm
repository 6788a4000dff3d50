;; A bank: random transfers between accounts, and auditors that sum every
;; account. Transfers touch two accounts each (they rarely conflict with
;; one another); an auditor reads every account, so it conflicts with the
;; transfers that commit while it runs, and runs again. Every audit must
;; see the total unchanged: the transactions are serialisable.

(define n-accounts 2000)
(define n-transfers 20000)
(define audit-every 1000)
(define accounts (make-vector n-accounts 100))
(define audits (make-vector (quotient n-transfers audit-every) #f))

(define (next-random x) (modulo (* x 16807) 2147483647))

(define (transfer seed)
  (let* ((r1 (next-random seed))
         (r2 (next-random r1))
         (r3 (next-random r2))
         (from (modulo (quotient r1 16) n-accounts))
         (to (modulo (quotient r2 16) n-accounts))
         (amount (modulo (quotient r3 16) 50))
         (balance (vector-ref accounts from)))
    ;; Some work per transfer: a fee schedule computed the slow way.
    (let loop ((i 0) (fee 0))
      (if (< i 200)
          (loop (+ i 1) (+ fee (modulo (* i amount) 7)))
          (when (and (not (= from to)) (>= balance amount))
            (vector-set! accounts from (- balance amount))
            (vector-set! accounts to (+ (vector-ref accounts to) amount)))))))

(define (audit k)
  (let loop ((i 0) (sum 0))
    (if (= i n-accounts)
        (vector-set! audits k sum)
        (loop (+ i 1) (+ sum (vector-ref accounts i))))))

(do ((i 0 (+ i 1))) ((= i n-transfers))
  (spawn-event transfer (+ 1 (modulo (* i 7919) 2147483646)))
  (when (= (modulo i audit-every) 0)
    (spawn-event audit (quotient i audit-every))))
(run-events)

(define total (let loop ((i 0) (s 0)) (if (= i n-accounts) s (loop (+ i 1) (+ s (vector-ref accounts i))))))
(display "total: ") (display total) (newline)
(display "audits agree: ")
(display (let loop ((k 0)) (cond ((= k (vector-length audits)) #t)
                                 ((= (vector-ref audits k) total) (loop (+ k 1)))
                                 (else #f))))
(newline)
(define (checksum i acc) (if (= i n-accounts) acc (checksum (+ i 1) (modulo (+ (* acc 31) (vector-ref accounts i)) 1000000007))))
(display "balances: ") (display (if (= n-transfers 0) 0 (quotient total n-accounts))) (newline)
