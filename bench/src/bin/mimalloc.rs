//! The `Box` programs of tmgc-bench with mimalloc as the global allocator
//! (a global allocator is chosen per binary). Run by `tmgc-bench` as
//! `tmgc-bench-mimalloc <program> <n> <threads>`; not meant to be run by
//! hand.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(program), Some(n), Some(threads)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: tmgc-bench-mimalloc <program> <n> <threads> (run by tmgc-bench)");
        std::process::exit(2);
    };
    let (Ok(n), Ok(threads)) = (n.parse(), threads.parse()) else {
        eprintln!("tmgc-bench-mimalloc: n and threads are numbers");
        std::process::exit(2);
    };
    if !tmgc_bench::run(program, tmgc_bench::System::Boxed, n, threads) {
        eprintln!("tmgc-bench-mimalloc: unknown program {program}");
        std::process::exit(2);
    }
}
