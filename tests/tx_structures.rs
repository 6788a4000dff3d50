//! A concurrent sorted linked list and a hash map: the final state, and
//! every operation's result, equal a sequential replay of the committed
//! operations in their serialization order (`Mutator::last_commit_version`).

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

fn apply_set(m: &mut Mutator, root: &GlobalRoot<List>, op: SetOp) -> bool {
    m.transaction::<_, ()>(|tx| {
        let list = tx.global(root)?;
        let (prev, cur) = find(tx, list, op_key(op))?;
        let present = cur.is_some_and(|n| n.key == op_key(op));
        match op {
            SetOp::Contains(_) => Ok(present),
            SetOp::Insert(k) => {
                if present {
                    return Ok(false);
                }
                let n = tx.alloc(Node { key: k, next: Ref::null() })?;
                tx.store(n, |n| &n.next, cur)?;
                match prev {
                    Some(p) => tx.store(p, |p| &p.next, Some(n))?,
                    None => tx.store(list, |l| &l.head, Some(n))?,
                }
                Ok(true)
            }
            SetOp::Remove(_) => {
                let Some(c) = cur.filter(|_| present) else { return Ok(false) };
                let after = tx.load(c, |c| &c.next)?;
                match prev {
                    Some(p) => tx.store(p, |p| &p.next, after)?,
                    None => tx.store(list, |l| &l.head, after)?,
                }
                Ok(true)
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

type Log<O, R> = Mutex<Vec<((u64, bool), O, R)>>;

/// Sort by serialization point: version, writers before readers.
fn serial<O: Copy, R: Copy>(log: Log<O, R>) -> Vec<(O, R)> {
    let mut v = log.into_inner().unwrap();
    v.sort_by_key(|((ver, wrote), _, _)| (*ver, !*wrote));
    v.into_iter().map(|(_, o, r)| (o, r)).collect()
}

#[test]
fn linked_list_matches_a_sequential_replay() {
    let heap = Heap::new(Config::default()).unwrap();
    let root = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let l = tx.alloc(List { head: Ref::null() })?;
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
                    let r = apply_set(&mut m, &root, op);
                    log.lock().unwrap().push((m.last_commit_version(), op, r));
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
            let l = tx.global(&root)?;
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
}

#[derive(Clone, Copy, Debug)]
enum MapOp {
    Put(u64, u64),
    Get(u64),
    Remove(u64),
}

fn apply_map(m: &mut Mutator, root: &GlobalRoot<Map>, op: MapOp) -> Option<u64> {
    m.transaction::<_, ()>(|tx| {
        let map = tx.global(root)?;
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
        Ok(old)
    })
    .unwrap()
}

#[test]
fn hash_map_matches_a_sequential_replay() {
    let heap = Heap::new(Config::default()).unwrap();
    let root = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let map = tx.alloc(Map { buckets: std::array::from_fn(|_| Ref::null()) })?;
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
                    let r = apply_map(&mut m, &root, op);
                    log.lock().unwrap().push((m.last_commit_version(), op, r));
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
        assert_eq!(apply_map(&mut m, &root, MapOp::Get(k)), Some(v));
    }
}
