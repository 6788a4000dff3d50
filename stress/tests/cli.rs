//! The harness refuses inputs it cannot honour, with a message and exit
//! code 2 (issue 20): a run with no thread, aborts that commit nothing, an
//! empty slice or duration, more threads than the machine runs in time.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgc-stress")).args(args).output().expect("the harness runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_inputs_are_clear_errors() {
    for (args, says) in [
        (&["--threads", "0"][..], "0 is not in 1.."),
        (&["--abort-percent", "150"][..], "150 is not in 0..=99"),
        (&["--panic-permille", "1000"][..], "1000 is not in 0..=999"),
        (&["--slice-ms", "0"][..], "0 is not in 1.."),
        (&["--duration", "0"][..], "not a positive number of seconds"),
        (&["--duration=-3"][..], "not a positive number of seconds"),
        (&["--threads", "100000", "--duration", "1"][..], "more than this machine can run"),
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 2, "{args:?} exits 2: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_short_run_passes_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgc-stress"))
        .args(["--duration", "1", "--threads", "2", "--workloads", "trees,objects,finalize", "--no-solo"])
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("result: OK"), "{stdout}");
}
