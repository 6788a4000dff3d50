//! The binary's exit status and its start under a capped address space.

use std::process::Command;

fn scheme(args: &[&str]) -> (i32, String, String) {
    scheme_env(args, &[])
}

/// [`scheme`] with environment variables set.
fn scheme_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgc-scheme"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Piped standard input: each value on a line of its own, no prompts; an
/// error goes to standard error and the REPL goes on.
#[test]
fn piped_input_gets_its_values_without_prompts() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tmgc-scheme"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(b"(define (sq x)\n  (* x x))\n(sq 12)\n(car '())\n(+ 1 2)\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "144\n3\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_failed_event_fails_an_expression_as_it_fails_a_file() {
    let prog = "(spawn-event (lambda () (car 5)))";
    let (code, _, err) = scheme(&["-e", prog]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("car: expected a pair, got 5"), "{err}");
    let path = std::env::temp_dir().join(format!("tmgc-scheme-cli-{}.scm", std::process::id()));
    std::fs::write(&path, prog).unwrap();
    let (code, _, err) = scheme(&[path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = scheme(&["-e", "(spawn-event (lambda () (display 7)))"]);
    assert_eq!((code, out.as_str()), (0, "7"), "{err}");
}

/// Under `ulimit -v` too small for the 1 GiB stack, the binary starts on
/// a smaller one instead of panicking (it did: "the interpreter thread
/// starts").
#[cfg(target_os = "linux")]
#[test]
fn a_capped_address_space_gets_a_smaller_stack_not_a_panic() {
    let bin = env!("CARGO_BIN_EXE_tmgc-scheme");
    let out = Command::new("sh")
        .arg("-c")
        // 781 MiB: too little for the 1 GiB stack, and room for the
        // 512 MiB one, two threads' malloc arenas (64 MiB each), the
        // binary (with tmgc's 8 MiB pool of dynamic descriptors in its
        // `.bss`, TC2 of `gc/src/type_code.rs`) and the heap's first chunk.
        .arg(format!("ulimit -v 800000 && exec '{bin}' -e '(display (+ 1 2))'"))
        .output()
        .expect("sh runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3");
}

/// A heap that cannot be made (here a limit below one block) is exit 70
/// with a message that says so.
#[test]
fn a_heap_that_cannot_be_made_is_exit_70_with_a_message() {
    let (code, _, err) = scheme_env(&["-e", "(display (+ 1 2))"], &[("TMGC_HEAP_LIMIT", "1")]);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code, 70, "{err}");
    assert!(err.contains("cannot create the heap: invalid configuration"), "{err}");
}

/// A misspelt `TMGC_*` override is named on stderr (tmgc's `log::warn!`,
/// printed by the binary's logger), and the program still runs.
#[test]
fn a_misspelt_tmgc_variable_is_named() {
    let (code, out, err) = scheme_env(&["-e", "(display (+ 1 2))"], &[("TMGC_HEAP_LIMT", "1")]);
    assert_eq!((code, out.as_str()), (0, "3"), "{err}");
    assert!(err.contains("TMGC_HEAP_LIMT is not a setting"), "{err}");
}

/// An event whose procedure is a builtin has no position of its own to
/// report: the message shows the event instead.
#[test]
fn a_failed_builtin_event_is_named_by_its_form() {
    let (code, _, err) = scheme(&["-e", "(spawn-event vector-ref (vector 1 2) 5)"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in an event (#<procedure vector-ref> #(1 2) 5)"), "{err}");
}
