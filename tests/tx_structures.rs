//! A concurrent sorted linked list and a hash map: the final state, and
//! every operation's result, equal a sequential replay of the committed
//! operations in their serialization order.
//!
//! The order is witnessed in the heap: a structure carries a ticket; an
//! operation that changes the structure increments it in the same
//! transaction, and one that only reads it reads the ticket too. Writers
//! therefore serialize in ticket order, and a reader right after the writer
//! whose ticket it saw; any isolation failure (a lost update, a reader that
//! sees part of a commit) shows up as a result the replay disagrees with.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tmgc::{Abort, Config, Gc, GlobalRoot, Heap, Mutator, Ref, Trace, Tx, Value};

#[derive(Trace)]
struct Node {
    key: u64,
    next: Ref<Node>,
}

#[derive(Trace)]
struct List {
    head: Ref<Node>,
    ticket: Value<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Insert(u64),
    Remove(u64),
    Contains(u64),
}

/// Find the last node with key < k (or None for the head) and the next one.
#[allow(clippy::type_complexity)]
fn find<'tx>(
    tx: &mut Tx<'tx>,
    list: Gc<'tx, List>,
    k: u64,
) -> Result<(Option<Gc<'tx, Node>>, Option<Gc<'tx, Node>>), Abort<()>> {
    let mut prev = None;
    let mut cur = tx.load(list, |l| &l.head)?;
    while let Some(n) = cur {
        if n.key >= k {
            break;
        }
        prev = Some(n);
        cur = tx.load(n, |n| &n.next)?;
    }
    Ok((prev, cur))
}

/// Apply `op`; returns its result and its place in the serial order.
fn apply_set(m: &mut Mutator, root: &GlobalRoot<List>, op: SetOp) -> (bool, Place) {
    m.transaction::<_, ()>(|tx| {
        let list = tx.get_global(root)?;
        let ticket = tx.get(list, |l| &l.ticket)?;
        let (prev, cur) = find(tx, list, op_key(op))?;
        let present = cur.is_some_and(|n| n.key == op_key(op));
        let changes = match op {
            SetOp::Contains(_) => false,
            SetOp::Insert(_) => !present,
            SetOp::Remove(_) => present,
        };
        if !changes {
            // Contains says whether the key is there; a failed insert or
            // remove says it changed nothing.
            return Ok((present && matches!(op, SetOp::Contains(_)), (ticket, READER)));
        }
        tx.set(list, |l| &l.ticket, ticket + 1)?;
        let place = (ticket + 1, WRITER);
        match op {
            SetOp::Contains(_) => unreachable!(),
            SetOp::Insert(k) => {
                let n = tx.alloc(Node { key: k, next: Ref::null() })?;
                tx.store(n, |n| &n.next, cur)?;
                match prev {
                    Some(p) => tx.store(p, |p| &p.next, Some(n))?,
                    None => tx.store(list, |l| &l.head, Some(n))?,
                }
                Ok((true, place))
            }
            SetOp::Remove(_) => {
                let c = cur.expect("present");
                let after = tx.load(c, |c| &c.next)?;
                match prev {
                    Some(p) => tx.store(p, |p| &p.next, after)?,
                    None => tx.store(list, |l| &l.head, after)?,
                }
                Ok((true, place))
            }
        }
    })
    .unwrap()
}

fn op_key(op: SetOp) -> u64 {
    match op {
        SetOp::Insert(k) | SetOp::Remove(k) | SetOp::Contains(k) => k,
    }
}

/// A place in the serial order: the ticket a writer set, or the ticket a
/// reader saw; a reader comes after the writer of its ticket.
type Place = (u64, u8);
const WRITER: u8 = 0;
const READER: u8 = 1;

type Log<O, R> = Mutex<Vec<(Place, O, R)>>;

/// Sort by place in the serial order; writers' tickets must be 1, 2, 3...
fn serial<O: Copy, R: Copy>(log: Log<O, R>) -> Vec<(O, R)> {
    let mut v = log.into_inner().unwrap();
    v.sort_by_key(|(place, _, _)| *place);
    let tickets: Vec<u64> = v.iter().filter(|(p, _, _)| p.1 == WRITER).map(|(p, _, _)| p.0).collect();
    assert_eq!(tickets, (1..=tickets.len() as u64).collect::<Vec<_>>(), "writers lost or repeated a ticket");
    v.into_iter().map(|(_, o, r)| (o, r)).collect()
}

#[test]
fn linked_list_matches_a_sequential_replay() {
    let heap = Heap::new(Config::default()).unwrap();
    let root = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let l = tx.alloc(List { head: Ref::null(), ticket: Value::new(0) })?;
            Ok(tx.global_root(l))
        })
        .unwrap()
    };
    let log: Log<SetOp, bool> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (heap, root, log) = (heap.clone(), root.clone(), &log);
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut x = (t + 1) * 0x2545_f491;
                for _ in 0..2_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % 64;
                    let op = match (x >> 8) % 3 {
                        0 => SetOp::Insert(k),
                        1 => SetOp::Remove(k),
                        _ => SetOp::Contains(k),
                    };
                    let (r, place) = apply_set(&mut m, &root, op);
                    log.lock().unwrap().push((place, op, r));
                }
            });
        }
    });
    let mut model = BTreeSet::new();
    for (op, r) in serial(log) {
        let expect = match op {
            SetOp::Insert(k) => model.insert(k),
            SetOp::Remove(k) => model.remove(&k),
            SetOp::Contains(k) => model.contains(&k),
        };
        assert_eq!(r, expect, "{op:?} returned {r}, a serial replay says {expect}");
    }
    let mut m = heap.attach().unwrap();
    let keys = m
        .transaction::<_, ()>(|tx| {
            let l = tx.get_global(&root)?;
            let mut keys = Vec::new();
            let mut cur = tx.load(l, |l| &l.head)?;
            while let Some(n) = cur {
                keys.push(n.key);
                cur = tx.load(n, |n| &n.next)?;
            }
            Ok(keys)
        })
        .unwrap();
    assert_eq!(keys, model.into_iter().collect::<Vec<_>>());
}

const BUCKETS: usize = 16;

#[derive(Trace)]
struct Entry {
    key: u64,
    value: Value<u64>,
    next: Ref<Entry>,
}

#[derive(Trace)]
struct Map {
    buckets: [Ref<Entry>; BUCKETS],
    ticket: Value<u64>,
}

#[derive(Clone, Copy, Debug)]
enum MapOp {
    Put(u64, u64),
    Get(u64),
    Remove(u64),
}

/// Apply `op`; returns its result and its place in the serial order.
fn apply_map(m: &mut Mutator, root: &GlobalRoot<Map>, op: MapOp) -> (Option<u64>, Place) {
    m.transaction::<_, ()>(|tx| {
        let map = tx.get_global(root)?;
        let ticket = tx.get(map, |m| &m.ticket)?;
        let k = match op {
            MapOp::Put(k, _) | MapOp::Get(k) | MapOp::Remove(k) => k,
        };
        let b = (k as usize) % BUCKETS;
        let mut prev: Option<Gc<'_, Entry>> = None;
        let mut cur = tx.load(map, |m| &m.buckets[b])?;
        while let Some(e) = cur {
            if e.key == k {
                break;
            }
            prev = Some(e);
            cur = tx.load(e, |e| &e.next)?;
        }
        let old = match cur {
            Some(e) => Some(tx.get(e, |e| &e.value)?),
            None => None,
        };
        let changes = match op {
            MapOp::Get(_) => false,
            MapOp::Put(..) => true,
            MapOp::Remove(_) => cur.is_some(),
        };
        if !changes {
            return Ok((old, (ticket, READER)));
        }
        tx.set(map, |m| &m.ticket, ticket + 1)?;
        match op {
            MapOp::Get(_) => {}
            MapOp::Put(_, v) => match cur {
                Some(e) => tx.set(e, |e| &e.value, v)?,
                None => {
                    let e = tx.alloc(Entry { key: k, value: Value::new(v), next: Ref::null() })?;
                    let first = tx.load(map, |m| &m.buckets[b])?;
                    tx.store(e, |e| &e.next, first)?;
                    tx.store(map, |m| &m.buckets[b], Some(e))?;
                }
            },
            MapOp::Remove(_) => {
                if let Some(e) = cur {
                    let after = tx.load(e, |e| &e.next)?;
                    match prev {
                        Some(p) => tx.store(p, |p| &p.next, after)?,
                        None => tx.store(map, |m| &m.buckets[b], after)?,
                    }
                }
            }
        }
        Ok((old, (ticket + 1, WRITER)))
    })
    .unwrap()
}

#[test]
fn hash_map_matches_a_sequential_replay() {
    let heap = Heap::new(Config::default()).unwrap();
    let root = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let map = tx.alloc(Map { buckets: std::array::from_fn(|_| Ref::null()), ticket: Value::new(0) })?;
            Ok(tx.global_root(map))
        })
        .unwrap()
    };
    let log: Log<MapOp, Option<u64>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (heap, root, log) = (heap.clone(), root.clone(), &log);
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut x = (t + 7) * 0x9e37_79b9;
                for i in 0..2_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % 100;
                    let op = match (x >> 9) % 3 {
                        0 => MapOp::Put(k, t * 1_000_000 + i),
                        1 => MapOp::Get(k),
                        _ => MapOp::Remove(k),
                    };
                    let (r, place) = apply_map(&mut m, &root, op);
                    log.lock().unwrap().push((place, op, r));
                }
            });
        }
    });
    let mut model = HashMap::new();
    for (op, r) in serial(log) {
        let expect = match op {
            MapOp::Put(k, v) => model.insert(k, v),
            MapOp::Get(k) => model.get(&k).copied(),
            MapOp::Remove(k) => model.remove(&k),
        };
        assert_eq!(r, expect, "{op:?} returned {r:?}, a serial replay says {expect:?}");
    }
    let mut m = heap.attach().unwrap();
    for (k, v) in model {
        assert_eq!(apply_map(&mut m, &root, MapOp::Get(k)).0, Some(v));
    }
}
