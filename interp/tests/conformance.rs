//! The conformance files (`tests/conformance/*.scm`, one per language
//! feature) run with a `check` procedure that raises an error on a
//! mismatch; each file must end without one. Then errors: each is a Scheme
//! error with its position, the form's effects are rolled back, and the
//! interpreter carries on.

use tmgc_scheme::{Interp, Options, SchemeError};

const PRELUDE: &str = r#"
(define checks 0)
(define (check name got want)
  (set! checks (+ checks 1))
  (unless (equal? got want)
    (error "check failed:" name 'got got 'want want)))
"#;

/// The stack the tests let the interpreter use on their deep-stack threads.
const BIG: usize = tmgc_scheme::STACK_BYTES - (64 << 20);

/// Run on a thread with a deep stack, as the binary does.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(tmgc_scheme::STACK_BYTES).spawn(f).unwrap().join().unwrap()
}

fn run_file(name: &'static str, workers: usize) -> Result<String, SchemeError> {
    on_big_stack(move || {
        let path = format!("{}/tests/conformance/{name}.scm", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        let mut it =
            Interp::new(Options::default().workers(workers).capture_output(true).max_depth(100_000).stack_bytes(BIG))
                .unwrap();
        it.eval_str(PRELUDE)?;
        it.run_str(&src)?;
        it.eval_str("checks")
    })
}

macro_rules! conformance {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            let n = run_file(stringify!($name), 1).unwrap_or_else(|e| panic!("{}: {e}", stringify!($name)));
            assert!(n.parse::<u32>().unwrap() >= 3, "{} checks ran", n);
        }
    )*};
}

conformance!(core, tail, numbers, lists, text, vectors, hashtables, events, more);

#[test]
fn events_with_two_workers() {
    run_file("events", 2).unwrap();
}

fn eval_err(src: &str) -> SchemeError {
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    it.eval_str(src).unwrap_err()
}

#[test]
fn errors_name_the_position_and_the_problem() {
    let e = eval_err("(define x 1)\n  (car x)");
    assert_eq!((e.pos.map(|p| (p.line, p.col)), e.msg.as_str()), (Some((2, 3)), "car: expected a pair, got 1"));
    let e = eval_err("(undefined-thing 1)");
    assert!(e.msg.contains("unbound variable: undefined-thing"), "{e}");
    let e = eval_err("(define (f a b) a) (f 1)");
    assert!(e.msg.contains("wrong number of arguments: expected 2, got 1"), "{e}");
    assert_eq!(e.pos.map(|p| p.line), Some(1));
    let e = eval_err("(vector-ref (vector 1 2) 5)");
    assert!(e.msg.contains("index 5 out of range"), "{e}");
    let e = eval_err("(+ 1 \"a\")");
    assert!(e.msg.contains("expected a number"), "{e}");
    let e = eval_err("(* 1000000000000 1000000000000)");
    assert!(e.msg.contains("integer overflow"), "{e}");
    // The fixnum range's ends (61 bits: tmgc's `SmallInt`).
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    assert_eq!(it.eval_str("(+ 1152921504606846974 1)").unwrap(), "1152921504606846975");
    assert_eq!(it.eval_str("(- -1152921504606846975 1)").unwrap(), "-1152921504606846976");
    assert_eq!(it.eval_str("(exact 1e18)").unwrap(), "1000000000000000000");
    let e = eval_err("(+ 1152921504606846975 1)");
    assert!(e.msg.contains("integer overflow"), "{e}");
    let e = eval_err("(- -1152921504606846976 1)");
    assert!(e.msg.contains("integer overflow"), "{e}");
    let e = eval_err("(error \"custom\" 'thing 42)");
    assert_eq!(e.msg, "error: custom thing 42");
    let e = eval_err("(let ((x 1)) (x))");
    assert!(e.msg.contains("not a procedure: 1"), "{e}");
    let e = eval_err("(1 2");
    assert!(e.msg.contains("unterminated list"), "{e}");
    let e = eval_err("(if)");
    assert!(e.msg.contains("if takes"), "{e}");
}

#[test]
fn a_failed_form_is_rolled_back_and_the_interpreter_carries_on() {
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    it.eval_str("(define v (make-vector 3 0))").unwrap();
    assert!(it.eval_str("(begin (vector-set! v 0 9) (display \"lost\") (car '()))").is_err());
    assert_eq!(it.eval_str("v").unwrap(), "#(0 0 0)");
    assert_eq!(it.take_output(), "", "the failed form's output is dropped with it");
    assert_eq!(it.eval_str("(+ 1 2)").unwrap(), "3");
}

#[test]
fn deep_recursion_is_a_scheme_error_not_a_crash() {
    let e = on_big_stack(|| {
        let mut it = Interp::new(Options::default().capture_output(true).max_depth(10_000).stack_bytes(BIG)).unwrap();
        it.eval_str("(define (deep n) (+ 1 (deep (+ n 1)))) (deep 0)").unwrap_err()
    });
    assert!(e.msg.contains("more than 10000 nested calls"), "{e}");
    // A depth limit past what the stack holds: the stack bound answers,
    // on a thread of an ordinary 8 MiB stack.
    let e = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let opts = Options::default().capture_output(true).max_depth(u32::MAX).stack_bytes(4 << 20);
            let mut it = Interp::new(opts).unwrap();
            it.eval_str("(define (deep n) (+ 1 (deep (+ n 1)))) (deep 0)").unwrap_err()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(e.msg.contains("MiB of stack"), "{e}");
}

#[test]
fn a_circular_list_is_an_error_not_a_hang() {
    for f in ["length", "reverse", "list-copy", "list->vector", "apply +"] {
        let e = eval_err(&format!("(define l (list 1 2 3)) (set-cdr! (cddr l) l) ({f} l)"));
        assert!(e.msg.contains("circular"), "{f}: {e}");
    }
    let e = eval_err("(define l (list 1 2 3)) (set-cdr! (cddr l) l) (map car l)");
    assert!(e.msg.contains("circular"), "map: {e}");
}

#[test]
fn equal_on_circular_structures_terminates_with_the_answer() {
    let eval = |src: &str| {
        let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
        it.eval_str(src).unwrap()
    };
    let cyc = "(define (cyc . xs) (let ((l (list-copy xs))) (set-cdr! (list-tail l (- (length xs) 1)) l) l))";
    // R7RS: equal? terminates on circular data; two infinite lists are
    // equal when no walk tells them apart.
    for (a, b, want) in [
        ("(cyc 1 2)", "(cyc 1 2)", "#t"),
        ("(cyc 1 2)", "(cyc 1 3)", "#f"),
        ("(cyc 1 2)", "(cyc 1 2 1 2)", "#t"),
        ("(cyc 1 2)", "(cyc 1 2 1)", "#f"),
        ("(cons 0 (cyc 1))", "(cons 0 (cyc 1))", "#t"),
    ] {
        assert_eq!(eval(&format!("{cyc} (equal? {a} {b})")), want, "{a} {b}");
    }
    // Through cars and vectors too; a difference past many steps is found.
    assert_eq!(eval("(define a (list 1)) (set-car! a a) (define b (list 1)) (set-car! b b) (equal? a b)"), "#t");
    assert_eq!(
        eval("(define v (vector 1 2)) (vector-set! v 0 v) (define w (vector 1 2)) (vector-set! w 0 w) (equal? v w)"),
        "#t"
    );
    assert_eq!(
        eval("(define v (vector 1 2)) (vector-set! v 0 v) (define w (vector 1 3)) (vector-set! w 0 w) (equal? v w)"),
        "#f"
    );
    let long = "(define (make n) (let loop ((i 0) (l '())) (if (= i n) l (loop (+ i 1) (cons i l)))))";
    assert_eq!(
        eval(&format!("{long} (define a (make 50000)) (define b (make 50000)) (set-car! b 7) (equal? a b)")),
        "#f"
    );
    assert_eq!(eval(&format!("{long} (equal? (make 50000) (make 50000))")), "#t");
    // Nesting past the stack the interpreter may use (1 MiB by default)
    // is an error, not a crash.
    let e =
        eval_err("(define (nest n x) (if (= n 0) x (nest (- n 1) (list x)))) (equal? (nest 200000 1) (nest 200000 1))");
    assert!(e.msg.contains("equal?: a structure nested deeper than the stack allows"), "{e}");
}

#[test]
fn reader_and_syntax_errors_name_what_is_missing() {
    assert!(eval_err("1/3").msg.contains("exact rationals are not supported"));
    assert!(eval_err("#e1.5").msg.contains("bad syntax"));
    assert!(eval_err(",x").msg.contains("unquote outside a quasiquote"));
}

#[test]
fn output_and_write_forms() {
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    it.run_str(r#"(display "a") (write "b\n") (write #\space) (newline) (write '(1 . (2 . (3 . ())))) (write 'sym) (display 1.0)"#)
        .unwrap();
    assert_eq!(it.take_output(), "a\"b\\n\"#\\space\n(1 2 3)sym1.0");
}

/// What `src` prints, run on a fresh interpreter (panics if it fails).
fn out(src: &str) -> String {
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    it.run_str(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    it.take_output()
}

#[test]
fn write_names_cycles_and_shared_structure_with_datum_labels() {
    // R7RS 6.13.3: `write` and `display` label what is part of a cycle (and
    // terminate), `write-shared` all shared structure, `write-simple` none.
    for (src, want) in [
        ("(define l (list 1 2 3)) (set-cdr! (cddr l) l) (write l)", "#0=(1 2 3 . #0#)"),
        ("(define l (list 1 2 3)) (set-cdr! (cddr l) l) (display l)", "#0=(1 2 3 . #0#)"),
        // A cycle that starts inside the list: the label goes on the tail.
        ("(define m (list 1 2 3)) (set-cdr! (cddr m) (cdr m)) (write m)", "(1 . #0=(2 3 . #0#))"),
        ("(define m (list 1 2 3)) (set-cdr! (cddr m) (cdr m)) (write (list m m))", "((1 . #0=(2 3 . #0#)) (1 . #0#))"),
        ("(define c (list 'x)) (set-car! c c) (write c)", "#0=(#0#)"),
        ("(define v (vector 1 2 3)) (vector-set! v 1 v) (write v)", "#0=#(1 #0# 3)"),
        // Two cycles, numbered in the order they are printed.
        (
            "(define a (list 1)) (set-cdr! a a) (define b (vector 2 #f)) (vector-set! b 1 b) (write (list b a))",
            "(#0=#(2 #0#) #1=(1 . #1#))",
        ),
        // Shared but acyclic: `write` repeats it, `write-shared` names it.
        ("(define a (list 1 2)) (write (list a a))", "((1 2) (1 2))"),
        ("(define a (list 1 2)) (write-shared (list a a))", "(#0=(1 2) #0#)"),
        ("(define x (list 1)) (write-shared (vector x x (list x)))", "#(#0=(1) #0# (#0#))"),
        ("(write-simple '(1 (2 \"s\" #\\a) . 3))", "(1 (2 \"s\" #\\a) . 3)"),
        ("(write-shared '(1 (2 \"s\" #\\a) . 3))", "(1 (2 \"s\" #\\a) . 3)"),
    ] {
        assert_eq!(out(src), want, "{src}");
    }
    // A long acyclic list is printed whole.
    let long = out(
        "(define (iota n) (let loop ((i n) (l '())) (if (= i 0) l (loop (- i 1) (cons i l))))) (write (iota 100000))",
    );
    assert!(long.starts_with("(1 2 3 ") && long.ends_with(" 99999 100000)"), "{}", &long[..40]);
    assert!(!long.contains('#'));
}

#[test]
fn printing_a_structure_nested_past_the_stack_is_an_error() {
    let e = on_big_stack(|| {
        let mut it = Interp::new(Options::default().capture_output(true).stack_bytes(8 << 20)).unwrap();
        it.eval_str("(define (nest n) (let loop ((i 0) (x '())) (if (= i n) x (loop (+ i 1) (list x)))))").unwrap();
        it.eval_str("(define d (nest 1000000))").unwrap();
        let e = it.eval_str("(write d)").unwrap_err();
        // The interpreter carries on.
        assert_eq!(it.eval_str("(car (car (car (list (list (list 7))))))").unwrap(), "7");
        e
    });
    assert!(e.msg.contains("nested deeper than the stack allows"), "{e}");
}

#[test]
fn an_integer_past_the_fixnums_is_an_error_not_a_flonum() {
    // Past 61 bits, and past 64 (which read as a flonum before).
    for lit in
        ["1152921504606846976", "9223372036854775808", "-99999999999999999999", "#xfffffffffffffffffffff", "#e1e30"]
    {
        let e = eval_err(&format!("(display {lit})"));
        assert!(e.msg.contains("out of the fixnum range"), "{lit}: {e}");
    }
    let e = eval_err("(string->number \"99999999999999999999\")");
    assert!(e.msg.contains("integer overflow"), "{e}");
    let mut it = Interp::new(Options::default()).unwrap();
    assert_eq!(
        it.eval_str("(list 1152921504606846975 -1152921504606846976 #i99999999999999999999)").unwrap(),
        "(1152921504606846975 -1152921504606846976 100000000000000000000.0)"
    );
}

#[test]
fn datum_labels_read_back_what_write_prints() {
    // R7RS 2.4: quoted data with datum labels are shared and circular
    // objects; what `write` and `write-shared` print reads back as the same
    // structure (printed again the same, with the same sharing).
    for (src, want) in [
        ("(define x '#0=(a b . #0#)) (write (eq? x (cddr x))) (write x)", "#t#0=(a b . #0#)"),
        ("(define x '(1 . #0=(2 3 . #0#))) (write (eq? (cdr x) (cdddr x))) (write x)", "#t(1 . #0=(2 3 . #0#))"),
        ("(define v '#0=#(1 #0#)) (write (eq? v (vector-ref v 1))) (write v)", "#t#0=#(1 #0#)"),
        (
            "(define s '(#0=(p q) #0# (#0#))) (write (eq? (car s) (car (caddr s)))) (write-shared s)",
            "#t(#0=(p q) #0# (#0#))",
        ),
        // Labels on atoms, label aliases, and the numbers a program chose.
        ("(write '(#5=\"s\" #5# #7=#8=(z) #8# #7#))", "(\"s\" \"s\" (z) (z) (z))"),
        ("(write-shared '(#5=\"s\" #7=#8=(z) #8# #7#))", "(\"s\" #0=(z) #0# #0#)"),
        // In quasiquote, and a label's number reused by the next datum.
        ("(write `#0=(1 . #0#)) (write '#0=(2 . #0#))", "#0=(1 . #0#)#0=(2 . #0#)"),
        // equal? terminates on the circular literals.
        ("(write (equal? '#0=(1 . #0#) '#1=(1 1 . #1#)))", "#t"),
        // An alias chain that refers back to its outer name; a label in a
        // dotted tail and in a vector inside it; a datum comment's labels
        // are forgotten.
        ("(define x '#0=#1=(a . #0#)) (write (eq? x (cdr x))) (write x)", "#t#0=(a . #0#)"),
        (
            "(define y '(1 . #0=(#1=#(#0#) . #1#))) (write (list (eq? (cdr y) (vector-ref (cadr y) 0)) (eq? (cadr y) (cddr y))))",
            "(#t #t)",
        ),
        ("(write '(#;#0=(no) #0=(yes) #0#))", "((yes) (yes))"),
        // Quasiquote: a labelled template with no unquote is one literal.
        ("(write-shared `(#0=(a) #0#))", "(#0=(a) #0#)"),
    ] {
        assert_eq!(out(src), want, "{src}");
    }
    // What write printed, read back as a program's literal, prints the same.
    let printed = out("(define l (list 1 2 3)) (set-cdr! (cddr l) (cdr l)) (write (vector l l))");
    assert_eq!(out(&format!("(write '{printed})")), printed);
    // Labels outside quoted data, and references out of their literal.
    for (src, why) in [
        ("(display #0=(list 1 2))", "datum label #0 outside quoted data"),
        ("(list '#0=(a) '#0#)", "#0# refers to a label outside its quoted datum"),
        ("'(#0# #0=a)", "#0# before its label"),
        ("'#0=#0#", "labels nothing"),
        ("'#0=#1=#0#", "labels nothing"),
        ("(define x 1) `#0=(a ,x . #0#)", "datum labels in a quasiquote template with unquotes"),
    ] {
        let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
        let e = it.run_str(src).expect_err(src);
        assert!(e.to_string().contains(why), "{src}: {e}");
    }
    // The error names the label's position.
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    let e = it.run_str("(define x 1)\n  (display #0=(list 1 2))").unwrap_err().to_string();
    assert!(e.starts_with("2:12: datum label #0"), "{e}");
}

#[test]
fn printing_exponentially_shared_structure_is_bounded() {
    // 2^40 elements written out share by share: an error past the bound,
    // not a hang that ends out of memory; `write-shared` prints it small.
    let dbl = "(define (dbl x n) (if (= n 0) x (dbl (cons x x) (- n 1))))";
    let e = eval_err(&format!("{dbl} (write (dbl 1 40))"));
    assert!(e.msg.contains("printing: more than 10000000 elements"), "{e}");
    let mut it = Interp::new(Options::default().capture_output(true)).unwrap();
    it.run_str(&format!("{dbl} (write-shared (dbl 1 3)) (write (string->symbol \"#0#\"))")).unwrap();
    assert_eq!(it.take_output(), "(#0=(#1=(1 . 1) . #1#) . #0#)|#0#|");
}
