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
        (&["--threads", "0"][..], "`0` is not a whole number of at least 1"),
        (&["--ops", "0"][..], "`0` is not a whole number of at least 1"),
        (&["--abort-percent", "150"][..], "150 is not in 0..=99"),
        (&["--panic-permille", "1000"][..], "1000 is not in 0..=999"),
        (&["--slice-ms", "0"][..], "`0` is not a whole number of at least 1"),
        (&["--duration", "0"][..], "not a positive number of seconds"),
        (&["--duration=-3"][..], "not a positive number of seconds"),
        (&["--duration", "-1"][..], "not a positive number of seconds"),
        (&["--duration", "2e19"][..], "is more than 1e9 seconds"),
        (&["--growth-factor", "-1"][..], "`-1` is not a positive number"),
        (&["--nursery-mib", "64", "--duration", "1"][..], "give --generational too"),
        (&["--threads", "100000", "--duration", "1"][..], "more than this machine can run"),
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 2, "{args:?} exits 2: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn ops_stops_the_run_near_its_count() {
    // Every thread checks the shared count before each transaction, so a
    // run passes it by at most a few transactions a thread (not a slice).
    let out = Command::new(env!("CARGO_BIN_EXE_tmgc-stress"))
        .args(["--ops", "1000", "--threads", "2", "--slice-ms", "5000", "--duration", "20", "--json"])
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    let commits = v["commits"].as_u64().expect("a commit count");
    assert!((1000..1100).contains(&commits), "{commits} commits for --ops 1000: {stdout}");
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

#[test]
fn every_workload_alone_checks_something_and_passes() {
    // Each workload counts the checks it makes (in a checking transaction,
    // inline in a committed update, on a thread it spawned, or in a
    // finalizer), so a run of one workload alone passes, and says how many.
    for w in ["trees", "graph", "lru", "large", "long", "churn", "pressure", "weak", "objects", "finalize"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tmgc-stress"))
            // Cycles early (1 MiB), so that `finalize`, whose checks come
            // with the releases after a cycle, has some in half a second.
            .args(["--duration", "0.5", "--threads", "2", "--min-trigger-mib", "1", "--workloads", w, "--json"])
            .output()
            .expect("the harness runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{w}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
        let checks: u64 = v["threads"].as_array().expect("threads").iter().map(|t| t["checks"].as_u64().unwrap()).sum();
        assert!(checks > 0, "{w} passed {checks} checks: {stdout}");
    }
}

#[test]
fn a_run_too_short_to_check_anything_fails_and_says_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_tmgc-stress"))
        .args(["--duration", "1e-9", "--json"])
        .output()
        .expect("the harness runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("committed and checked nothing") && !err.contains("the collector"), "{err}");
}
