//! Which `Result`s the Rust ABI returns in registers (docs/PERFORMANCE.md,
//! "a recursion's `Result` goes through memory"). Build the assembly and
//! read the three functions:
//!
//! ```sh
//! rustc -O --emit asm -o /tmp/abi.s docs/perf/abi-result-return.rs
//! grep -A12 -E '^(pair_of_words|tag_and_pointer|boxed_error):' /tmp/abi.s
//! ```
//!
//! `boxed_error` returns in `rax:rdx` (a scalar pair). `tag_and_pointer`,
//! 16 bytes but an enum whose error carries data in two variants, and
//! `pair_of_words`, 32 bytes like `Result<Gc<T>, Abort<()>>`, are written
//! through the pointer in `rdi` (the caller's stack).
#![allow(dead_code)]

use std::ptr::NonNull;

/// Like `RootMisuse`: a fieldless enum.
pub enum Misuse {
    A,
    B,
}

/// Like `Abort<()>` with a one-word heap error: still two variants that
/// carry data.
pub enum SmallAbort {
    Conflict,
    User(()),
    Heap(Box<[usize; 4]>),
    Root(Misuse),
}

/// Like `Abort<()>` today: a four-word heap error.
pub enum WideAbort {
    Conflict,
    User(()),
    Heap([usize; 3]),
    Root(Misuse),
}

#[inline(never)]
#[no_mangle]
pub fn tag_and_pointer(p: *mut u8, x: u32) -> Result<NonNull<u8>, SmallAbort> {
    if x == 0 {
        return Err(SmallAbort::Root(Misuse::B));
    }
    NonNull::new(p).ok_or(SmallAbort::Conflict)
}

#[inline(never)]
#[no_mangle]
pub fn pair_of_words(p: *mut u8, x: u32) -> Result<NonNull<u8>, WideAbort> {
    if x == 0 {
        return Err(WideAbort::Heap([1, 2, 3]));
    }
    NonNull::new(p).ok_or(WideAbort::Conflict)
}

#[inline(never)]
#[no_mangle]
pub fn boxed_error(p: *mut u8, x: u32) -> Result<NonNull<u8>, Box<SmallAbort>> {
    if x == 0 {
        return Err(Box::new(SmallAbort::Conflict));
    }
    NonNull::new(p).ok_or_else(|| Box::new(SmallAbort::Conflict))
}

fn main() {
    println!(
        "sizes: {} {} {}",
        std::mem::size_of::<Result<NonNull<u8>, SmallAbort>>(),
        std::mem::size_of::<Result<NonNull<u8>, WideAbort>>(),
        std::mem::size_of::<Result<NonNull<u8>, Box<SmallAbort>>>()
    );
    let x = std::hint::black_box(1);
    let _ = tag_and_pointer(std::ptr::dangling_mut(), x);
    let _ = pair_of_words(std::ptr::dangling_mut(), x);
    let _ = boxed_error(std::ptr::dangling_mut(), x);
}
