//! Tests of the safe API's contracts that a safe-code audit found broken
//! (issue 25): the sweep epoch moving during a sweep, rewinding across a
//! colour change, re-entry from a drop hook, a panicking drop hook, and
//! counters near their limits. Each failed before its fix.

use std::ptr::NonNull;

use crate::*;

fn is_marked(p: NonNull<u8>) -> bool {
    // SAFETY: tests ask only about objects they allocated and that are not freed.
    unsafe { crate::is_marked(p) }
}

/// A rewind made while black, to a checkpoint taken while white, must not
/// mark the white objects allocated before the checkpoint (nor the padding
/// between them): the checkpoint's unflushed range was white.
#[test]
fn rewind_under_black_to_a_white_checkpoint_marks_nothing_old() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    let w1 = a.alloc(32, 8).unwrap();
    let w2 = a.alloc(32, 256).unwrap();
    let ck = a.checkpoint();
    a.set_colour(Colour::Black);
    a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(!is_marked(w1) && !is_marked(w2), "a white object was marked by the rewind");
    a.release(ck).unwrap();
    a.set_colour(Colour::White);
    a.retire_all().unwrap();
    s.begin_sweep();
    let r = s.sweep();
    assert_eq!(r.live_bytes, 0);
    assert_eq!(s.stats().live_bytes, 0);
}

/// The other way round stays as it was: objects allocated black before a
/// black checkpoint and not yet flushed are marked by the flush after a
/// rewind.
#[test]
fn rewind_under_black_to_a_black_checkpoint_keeps_old_black_objects() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    a.alloc(32, 8).unwrap();
    a.set_colour(Colour::Black);
    let b1 = a.alloc(32, 8).unwrap();
    let ck = a.checkpoint();
    let young = a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(is_marked(b1), "a black object lost its mark");
    assert!(!is_marked(young));
    a.release(ck).unwrap();
    a.set_colour(Colour::White);
    a.retire_all().unwrap();
    s.begin_sweep();
    assert_eq!(s.sweep().live_bytes, 32);
}

/// A flush since the checkpoint already covered the checkpoint's black
/// range; a rewind must not flush it again (after `clear_marks` began a new
/// cycle, that would mark an old object of the new cycle).
#[test]
fn rewind_does_not_flush_again_what_a_flush_since_covered() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    a.set_colour(Colour::Black);
    let b1 = a.alloc(32, 8).unwrap();
    let ck = a.checkpoint();
    a.flush_marks();
    assert!(is_marked(b1));
    s.clear_marks();
    a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(!is_marked(b1), "the rewind flushed an old range again");
    a.release(ck).unwrap();
}
