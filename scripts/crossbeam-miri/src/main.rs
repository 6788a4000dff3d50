//! Minimal program: crossbeam-deque work stealing between two threads, as
//! tmgc's parallel marker uses it (a Worker per marker, Stealers shared,
//! an Injector for packets). Run under miri to see whether crossbeam-epoch
//! reports a Stacked Borrows violation without tmgc.
use crossbeam_deque::{Injector, Steal, Worker};
use std::sync::Arc;

fn main() {
    let injector = Arc::new(Injector::new());
    for i in 0..64u64 {
        injector.push(i);
    }
    let w = Worker::new_lifo();
    let s = w.stealer();
    let inj = Arc::clone(&injector);
    let t = std::thread::spawn(move || {
        let mut got = 0u64;
        loop {
            match s.steal() {
                Steal::Success(_) => got += 1,
                Steal::Retry => continue,
                Steal::Empty => match inj.steal() {
                    Steal::Success(_) => got += 1,
                    Steal::Retry => continue,
                    Steal::Empty => break,
                },
            }
        }
        got
    });
    let mut mine = 0u64;
    for i in 0..64u64 {
        w.push(i);
    }
    while let Some(_) = w.pop() {
        mine += 1;
    }
    let theirs = t.join().unwrap();
    println!("popped {mine}, stolen {theirs}");
}
