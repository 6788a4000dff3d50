//! A tiny interpreter with a parallel event loop: the PyPy-TM plan in
//! miniature. Event handlers written in a small Lisp run as transactions on
//! several threads, with the illusion that they ran one after another; the
//! interpreter's objects (pairs, hash tables, table entries) are dynamic
//! types registered at run time and live in the `tmgc` heap.
//!
//! The handler counts the words of each event in a shared table and the
//! words per "shard" of events in another, and builds a list of the event's
//! words as it goes (garbage once the event is done). An event that only
//! updates existing entries publishes none of its new objects, and its
//! commit gives their memory back at once (CM3 of `tx/commit.rs`); one
//! that inserts an entry publishes them all, and the collector reclaims
//! its list (the "cycles" and "freed" columns). After the run, the
//! tables must equal what running the events one by one gives, computed
//! here in plain Rust. The handlers' updates commute, so this checks that
//! no update was lost or applied twice (a conflict missed, a retry that
//! leaked), not every property of a serial order; the transaction tests
//! (`tests/tx_structures.rs`) check the order itself. With one worker the
//! handlers run in solo mode; from two on, under TL2.
//!
//! Run: `cargo run --release -p tmgc --example eventloop` (a few seconds).
//! `-- 4` uses up to 4 worker threads (default 2); `-- 2 300000` also sets
//! the number of events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tmgc::{Abort, Config, Conflict, Dyn, DynType, DynTypeSpec, Gc, GlobalRoot, Heap, Tx};

/// The handler, run once per event. `(event)` is the event's list of words
/// (small integers); `counts` and `shards` are the shared tables.
const HANDLER: &str = "
(begin
  (let seen (loop-list w (event) acc nil
              (begin
                (put counts w (+ 1 (get counts w 0)))
                (cons w acc)))
    (put shards (shard) (+ (length seen) (get shards (shard) 0)))))";

// ---- the interpreter's heap objects -------------------------------------

/// The dynamic types, registered when the interpreter starts.
#[derive(Clone, Copy)]
struct Types {
    /// `car`, `cdr`: each a reference slot and a data word (see `Val`).
    pair: DynType,
    /// A hash table: `BUCKETS` buckets, allocated with it and never
    /// replaced, so an insert writes one bucket and not the table (object
    /// granularity: two handlers conflict only on a shared bucket or entry).
    table: DynType,
    /// A bucket: the head of a chain of entries (slot 0).
    bucket: DynType,
    /// A table entry: the value (field 0: slot 0 and data word 0), the
    /// next entry (slot 1) and the key (data word 1).
    entry: DynType,
}

const BUCKETS: usize = 4096;
const _: () = assert!(BUCKETS.is_power_of_two());
/// The data word of a field that holds `nil`.
const NIL: u64 = i64::MIN as u64;

impl Types {
    fn register() -> Types {
        let spec = |name: &str, ref_slots, data_words| {
            DynType::register(DynTypeSpec::new(name).ref_slots(ref_slots).data_words(data_words))
                .expect("a small dynamic type")
        };
        Types {
            pair: spec("pair", 2, 2),
            table: spec("table", BUCKETS, 0),
            bucket: spec("bucket", 1, 0),
            entry: spec("entry", 2, 2),
        }
    }
}

/// An interpreter value. In a heap object each value field is a reference
/// slot and a data word: an object in the slot, or an integer (or `NIL`)
/// in the word with the slot null. (So `i64::MIN` reads back as `nil`: this
/// little language has no use for it.)
#[derive(Clone, Copy)]
enum Val<'tx> {
    Nil,
    Int(i64),
    Obj(Gc<'tx, Dyn>),
}

impl<'tx> Val<'tx> {
    fn int(self) -> Result<i64, Abort<String>> {
        match self {
            Val::Int(n) => Ok(n),
            _ => Err(Abort::User("expected an integer".into())),
        }
    }
    fn obj(self) -> Result<Gc<'tx, Dyn>, Abort<String>> {
        match self {
            Val::Obj(o) => Ok(o),
            _ => Err(Abort::User("expected an object".into())),
        }
    }
}

type R<T> = Result<T, Abort<String>>;

fn field<'tx>(tx: &mut Tx<'tx>, o: Gc<'tx, Dyn>, i: usize) -> Result<Val<'tx>, Conflict> {
    Ok(match tx.slot(o, i)? {
        Some(p) => Val::Obj(p),
        None => match tx.data(o, i)? {
            NIL => Val::Nil,
            n => Val::Int(n as i64),
        },
    })
}

fn set_field<'tx>(tx: &mut Tx<'tx>, o: Gc<'tx, Dyn>, i: usize, v: Val<'tx>) -> Result<(), Conflict> {
    match v {
        Val::Obj(p) => tx.set_slot(o, i, Some(p)),
        Val::Int(n) => {
            tx.set_slot(o, i, None)?;
            tx.set_data(o, i, n as u64)
        }
        Val::Nil => {
            tx.set_slot(o, i, None)?;
            tx.set_data(o, i, NIL)
        }
    }
}

fn is_a(o: Gc<'_, Dyn>, ty: DynType) -> bool {
    std::ptr::eq(o.header().type_info(), ty.info())
}

/// A new, empty table.
fn new_table<'tx>(tx: &mut Tx<'tx>, types: Types) -> Result<Gc<'tx, Dyn>, tmgc::AllocError> {
    let t = tx.alloc_dyn(types.table)?;
    for b in 0..BUCKETS {
        let bucket = tx.alloc_dyn(types.bucket)?;
        tx.set_slot(t, b, Some(bucket)).expect("a new object has no conflicts");
    }
    Ok(t)
}

/// The entry for `key` in `table`, if any, and the bucket it hashes to.
fn find<'tx>(
    tx: &mut Tx<'tx>,
    table: Gc<'tx, Dyn>,
    key: i64,
) -> Result<(Gc<'tx, Dyn>, Option<Gc<'tx, Dyn>>), Conflict> {
    // Fibonacci hashing: the top log2(BUCKETS) bits of the product.
    let index = ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKETS.trailing_zeros())) as usize;
    let bucket = tx.slot(table, index)?.expect("buckets are never null");
    let mut e = tx.slot(bucket, 0)?;
    while let Some(x) = e {
        if tx.data(x, 1)? as i64 == key {
            return Ok((bucket, Some(x)));
        }
        e = tx.slot(x, 1)?;
    }
    Ok((bucket, None))
}

// ---- the language ----------------------------------------------------------

/// A parsed expression (symbols are looked up by name as it runs; a real
/// interpreter would resolve them at parse time). The program is shared by
/// every worker and never changes.
#[derive(Debug)]
enum Expr {
    Int(i64),
    Sym(String),
    List(Vec<Expr>),
}

fn parse(src: &str) -> Expr {
    let tokens: Vec<String> =
        src.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_string).collect();
    let mut pos = 0;
    let e = parse_at(&tokens, &mut pos);
    assert_eq!(pos, tokens.len(), "trailing tokens after the program");
    e
}

fn parse_at(t: &[String], pos: &mut usize) -> Expr {
    let tok = &t[*pos];
    *pos += 1;
    match tok.as_str() {
        "(" => {
            let mut items = Vec::new();
            while t[*pos] != ")" {
                items.push(parse_at(t, pos));
            }
            *pos += 1;
            Expr::List(items)
        }
        ")" => panic!("unexpected )"),
        s => s.parse().map(Expr::Int).unwrap_or_else(|_| Expr::Sym(s.to_string())),
    }
}

/// One handler run: the event it handles and the variables in scope.
struct Frame<'a, 'tx> {
    types: Types,
    event: &'a [i64],
    shard: i64,
    env: Vec<(&'a str, Val<'tx>)>,
}

fn eval<'a, 'tx>(tx: &mut Tx<'tx>, f: &mut Frame<'a, 'tx>, e: &'a Expr) -> R<Val<'tx>> {
    let items = match e {
        Expr::Int(n) => return Ok(Val::Int(*n)),
        Expr::Sym(s) if s == "nil" => return Ok(Val::Nil),
        Expr::Sym(s) => {
            let v = f.env.iter().rev().find(|(n, _)| n == s);
            return v.map(|&(_, v)| v).ok_or_else(|| Abort::User(format!("unbound variable {s}")));
        }
        Expr::List(items) => items,
    };
    let (Expr::Sym(op), args) = (&items[0], &items[1..]) else {
        return Err(Abort::User("a call needs an operator".into()));
    };
    let arg = |tx: &mut Tx<'tx>, f: &mut Frame<'a, 'tx>, i: usize| eval(tx, f, &args[i]);
    Ok(match op.as_str() {
        "begin" => {
            let mut last = Val::Nil;
            for a in args {
                last = eval(tx, f, a)?;
            }
            last
        }
        "let" => {
            let Expr::Sym(name) = &args[0] else { return Err(Abort::User("let needs a name".into())) };
            let v = arg(tx, f, 1)?;
            f.env.push((name, v));
            let r = arg(tx, f, 2);
            f.env.pop();
            r?
        }
        "+" => Val::Int(arg(tx, f, 0)?.int()? + arg(tx, f, 1)?.int()?),
        "event" => {
            // The event's words as a fresh list (garbage after the event:
            // given back by the commit unless the event publishes).
            let mut list = Val::Nil;
            for &w in f.event.iter().rev() {
                list = cons(tx, f.types, Val::Int(w), list)?;
            }
            list
        }
        "shard" => Val::Int(f.shard),
        "cons" => {
            let (a, d) = (arg(tx, f, 0)?, arg(tx, f, 1)?);
            cons(tx, f.types, a, d)?
        }
        "length" => {
            let mut n = 0;
            let mut l = arg(tx, f, 0)?;
            while let Val::Obj(p) = l {
                n += 1;
                l = field(tx, p, 1)?;
            }
            Val::Int(n)
        }
        "get" => {
            let (t, k) = (arg(tx, f, 0)?.obj()?, arg(tx, f, 1)?.int()?);
            if !is_a(t, f.types.table) {
                return Err(Abort::User("get needs a table".into()));
            }
            match find(tx, t, k)? {
                (_, Some(e)) => field(tx, e, 0)?,
                (_, None) => arg(tx, f, 2)?,
            }
        }
        "put" => {
            let (t, k, v) = (arg(tx, f, 0)?.obj()?, arg(tx, f, 1)?.int()?, arg(tx, f, 2)?);
            if !is_a(t, f.types.table) {
                return Err(Abort::User("put needs a table".into()));
            }
            match find(tx, t, k)? {
                (_, Some(e)) => set_field(tx, e, 0, v)?,
                (bucket, None) => {
                    let e = tx.alloc_dyn(f.types.entry)?;
                    tx.set_data(e, 1, k as u64)?;
                    set_field(tx, e, 0, v)?;
                    let head = tx.slot(bucket, 0)?;
                    tx.set_slot(e, 1, head)?;
                    tx.set_slot(bucket, 0, Some(e))?;
                }
            }
            v
        }
        "loop-list" => {
            // (loop-list x list acc init body): fold body over the list,
            // with x bound to each element and acc to the running value.
            let (Expr::Sym(x), Expr::Sym(acc)) = (&args[0], &args[2]) else {
                return Err(Abort::User("loop-list needs two names".into()));
            };
            let mut l = arg(tx, f, 1)?;
            let mut a = arg(tx, f, 3)?;
            while let Val::Obj(p) = l {
                let v = field(tx, p, 0)?;
                f.env.push((x, v));
                f.env.push((acc, a));
                let r = eval(tx, f, &args[4]);
                f.env.truncate(f.env.len() - 2);
                a = r?;
                l = field(tx, p, 1)?;
            }
            a
        }
        other => return Err(Abort::User(format!("unknown operator {other}"))),
    })
}

fn cons<'tx>(tx: &mut Tx<'tx>, types: Types, car: Val<'tx>, cdr: Val<'tx>) -> R<Val<'tx>> {
    let p = tx.alloc_dyn(types.pair)?;
    set_field(tx, p, 0, car)?;
    set_field(tx, p, 1, cdr)?;
    Ok(Val::Obj(p))
}

// ---- the event loop ----------------------------------------------------------

/// The events: each a list of words drawn with a skew (a few hot words, as
/// in text), so handlers on different threads do conflict now and then.
fn events(n: usize) -> Vec<Vec<i64>> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let len = 4 + next() % 12;
            (0..len).map(|_| ((next() % VOCABULARY) * (next() % VOCABULARY) / VOCABULARY) as i64).collect()
        })
        .collect()
}

const SHARDS: usize = 16;
/// Distinct words (skewed: small ones are common).
const VOCABULARY: u64 = 16384;

struct Run {
    secs: f64,
    commits: u64,
    conflicts: u64,
    cycles: u64,
    freed: u64,
}

fn run(events: &Arc<Vec<Vec<i64>>>, workers: usize, program: &Arc<Expr>, types: Types) -> Run {
    let heap = Heap::new(Config::default()).expect("a heap");
    let (counts, shards): (GlobalRoot<Dyn>, GlobalRoot<Dyn>) = heap
        .attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let c = new_table(tx, types)?;
            let s = new_table(tx, types)?;
            Ok((tx.global_root(c), tx.global_root(s)))
        })
        .unwrap();
    let (counts, shards) = (Arc::new(counts), Arc::new(shards));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let (heap, events, program) = (heap.clone(), Arc::clone(events), Arc::clone(program));
            let (counts, shards, next) = (Arc::clone(&counts), Arc::clone(&shards), Arc::clone(&next));
            std::thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(event) = events.get(i) else { break };
                    // One event, one transaction: it retries on conflicts,
                    // and the others see all of it or nothing.
                    m.transaction(|tx| {
                        let mut f = Frame { types, event, shard: (i % SHARDS) as i64, env: Vec::new() };
                        f.env.push(("counts", Val::Obj(tx.get_global(&counts)?)));
                        f.env.push(("shards", Val::Obj(tx.get_global(&shards)?)));
                        eval(tx, &mut f, &program).map(|_| ())
                    })
                    .unwrap_or_else(|e| panic!("handler failed: {e:?}"));
                }
                m.tx_counts()
            })
        })
        .collect();
    let (mut commits, mut conflicts) = (0, 0);
    for t in threads {
        let c = t.join().unwrap();
        commits += c.commits;
        conflicts += c.conflicts;
    }
    let secs = start.elapsed().as_secs_f64();
    check(&heap, &counts, &shards, events, types);
    let stats = heap.stats();
    let freed = stats.recent.iter().map(|c| c.freed_bytes).sum();
    Run { secs, commits, conflicts, cycles: stats.cycles, freed }
}

/// The tables must hold what running the events one by one gives.
fn check(heap: &Heap, counts: &GlobalRoot<Dyn>, shards: &GlobalRoot<Dyn>, events: &[Vec<i64>], types: Types) {
    let mut want_counts: HashMap<i64, i64> = HashMap::new();
    let mut want_shards = [0i64; SHARDS];
    for (i, e) in events.iter().enumerate() {
        for &w in e {
            *want_counts.entry(w).or_default() += 1;
        }
        want_shards[i % SHARDS] += e.len() as i64;
    }
    let mut m = heap.attach().unwrap();
    let dump = |tx: &mut Tx<'_>, root: &GlobalRoot<Dyn>| -> R<HashMap<i64, i64>> {
        let t = tx.get_global(root)?;
        assert!(is_a(t, types.table));
        let mut out = HashMap::new();
        for b in 0..BUCKETS {
            let bucket = tx.slot(t, b)?.expect("buckets are never null");
            let mut e = tx.slot(bucket, 0)?;
            while let Some(x) = e {
                let fresh = out.insert(tx.data(x, 1)? as i64, field(tx, x, 0)?.int()?).is_none();
                assert!(fresh, "a key appears twice in a table");
                e = tx.slot(x, 1)?;
            }
        }
        Ok(out)
    };
    let (got_counts, got_shards) = m.transaction(|tx| Ok((dump(tx, counts)?, dump(tx, shards)?))).unwrap();
    assert_eq!(got_counts, want_counts, "word counts differ from a serial run");
    for (s, &want) in want_shards.iter().enumerate() {
        assert_eq!(got_shards.get(&(s as i64)).copied().unwrap_or(0), want, "shard {s} differs from a serial run");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let max_workers: usize = args.next().map_or(2, |a| a.parse().expect("a number of workers"));
    let n: usize = args.next().map_or(200_000, |a| a.parse().expect("a number of events"));
    let types = Types::register();
    let program = Arc::new(parse(HANDLER));
    let events = Arc::new(events(n));
    println!("{n} events, {} words; handler:{HANDLER}\n", events.iter().map(Vec::len).sum::<usize>());
    // "freed": by the last 64 cycles at most (`GcStats::recent`).
    println!("workers  events/s     commits  conflicts  cycles  freed MiB  result");
    for workers in 1..=max_workers {
        let r = run(&events, workers, &program, types);
        println!(
            "{workers:>7}  {:>8.0}  {:>10}  {:>9}  {:>6}  {:>9.1}  same as serial",
            n as f64 / r.secs,
            r.commits,
            r.conflicts,
            r.cycles,
            r.freed as f64 / (1 << 20) as f64
        );
    }
}
