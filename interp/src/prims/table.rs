//! Hash tables (SRFI 69 names). A table is an object of two tagged words:
//! its equivalence (0 `eq?`, 1 `eqv?`, 2 `equal?`, 3 `string=?`) and its
//! bucket vector. A bucket is a list of entries, an entry a pair
//! `(key . value)`.
//!
//! Built for transactions: updating an existing key writes only its
//! entry, and an insertion writes only its bucket, so events that touch
//! different keys do not conflict. There is no shared count (it would make
//! every insertion conflict with every other): `hash-table-count` walks
//! the buckets. A bucket that grows past [`MAX_CHAIN`] entries doubles the
//! bucket vector (a write to the table itself).
//!
//! Keys are hashed by identity (`eq?`; addresses are stable, tmgc never
//! moves an object) or by content (`equal?`, `string=?`).

use tmgc::{Dyn, Gc, Tagged};

use super::{args, lists::cons, make_list, type_err, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::value::{self, classify, imm_of, kind, nil, types, Val, HK};

const INITIAL: usize = 16;
const MAX_CHAIN: usize = 8;
const MAX_BUCKETS: usize = 1 << 26;

fn table<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<(Gc<'tx, Dyn>, u8)> {
    let t = want(cx, name, "a hash table", v, HK::Table)?;
    let k = match cx.tx.tagged(t, 0)? {
        Tagged::Int(i) => i.get() as u8,
        _ => 2,
    };
    Ok((t, k))
}

fn buckets<'tx>(cx: &mut Ctx<'_, 'tx>, t: Gc<'tx, Dyn>) -> R<Gc<'tx, Dyn>> {
    match cx.tx.tagged(t, 1)? {
        Tagged::Ref(b) => Ok(b),
        _ => err("internal error: a hash table without buckets"),
    }
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The hash of `v` under equivalence `how`.
fn hash<'tx>(cx: &mut Ctx<'_, 'tx>, v: Val<'tx>, how: u8, depth: u32) -> R<u64> {
    Ok(match v {
        Tagged::Null => 0,
        Tagged::Int(i) => mix(i.get() as u64),
        Tagged::Imm(m) => mix((u64::from(m.kind()) << 60) ^ m.payload()),
        Tagged::Ref(g) => match (classify(g), how) {
            (HK::Flo, 1..) => mix(cx.tx.data(g, 0)?),
            (HK::Str, 2..) => {
                let s = super::read_string(cx.tx, g)?;
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in s.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
                mix(h)
            }
            (HK::Pair, 2) if depth < 4 => {
                let a = cx.tx.tagged(g, 0)?;
                let d = cx.tx.tagged(g, 1)?;
                mix(hash(cx, a, how, depth + 1)?.wrapping_mul(31) ^ hash(cx, d, how, depth + 1)?)
            }
            (HK::Vector, 2) if depth < 4 => {
                let n = cx.tx.array_len(g);
                let mut h = mix(n as u64);
                for i in 0..n.min(8) {
                    let e = cx.tx.elem(g, i)?;
                    h = mix(h.wrapping_mul(31) ^ hash(cx, e, how, depth + 1)?);
                }
                h
            }
            (HK::Pair | HK::Vector, 2) => 7,
            _ => mix(g.as_ptr() as u64),
        },
    })
}

fn same<'tx>(cx: &mut Ctx<'_, 'tx>, a: Val<'tx>, b: Val<'tx>, how: u8) -> R<bool> {
    super::system::equiv(cx, a, b, how.min(2))
}

/// Where a key is: its bucket vector, bucket index, entry if present,
/// and the entries before it in the bucket.
type Found<'tx> = (Gc<'tx, Dyn>, usize, Option<Gc<'tx, Dyn>>, usize);

/// Find `key`.
fn find<'tx>(cx: &mut Ctx<'_, 'tx>, t: Gc<'tx, Dyn>, how: u8, key: Val<'tx>) -> R<Found<'tx>> {
    let bs = buckets(cx, t)?;
    let n = cx.tx.array_len(bs);
    let i = (hash(cx, key, how, 0)? % n as u64) as usize;
    let mut cur = cx.tx.elem(bs, i)?;
    let mut len = 0;
    while let Tagged::Ref(node) = cur {
        let Tagged::Ref(entry) = cx.tx.tagged(node, 0)? else {
            return err("internal error: a hash table entry is not a pair");
        };
        let k = cx.tx.tagged(entry, 0)?;
        if same(cx, k, key, how)? {
            return Ok((bs, i, Some(entry), len));
        }
        len += 1;
        cur = cx.tx.tagged(node, 1)?;
    }
    Ok((bs, i, None, len))
}

/// The hash `hash`, `string-hash` and `hash-by-identity` give.
pub(crate) fn hash_of<'tx>(cx: &mut Ctx<'_, 'tx>, v: Val<'tx>, how: u8) -> R<u64> {
    hash(cx, v, how, 0)
}

/// `(make-hash-table [equivalence [hash]])`: the hash procedure is
/// accepted and not used (each equivalence has its own hash here).
pub(crate) fn make_hash_table<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let how = if n == 0 {
        2
    } else {
        match imm_of(cx.stack[b], kind::PRIM).map(|p| super::PRIMS[p as usize].name) {
            Some("eq?") => 0,
            Some("eqv?" | "=") => 1,
            Some("equal?") => 2,
            Some("string=?") => 3,
            _ => return type_err(cx, "make-hash-table", "eq?, eqv?, equal? or string=?", cx.stack[b]),
        }
    };
    let t = cx.tx.alloc_dyn(types().table)?;
    let bs = cx.tx.alloc_array(types().vector, INITIAL)?;
    cx.tx.set_tagged(t, 0, Tagged::int(how).expect("small"))?;
    cx.tx.set_tagged(t, 1, Tagged::Ref(bs))?;
    Ok(Tagged::Ref(t))
}

pub(crate) fn is_hash_table<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(value::obj_of(cx.stack[b], types().table).is_some()))
}

fn put<'tx>(cx: &mut Ctx<'_, 'tx>, t: Gc<'tx, Dyn>, how: u8, key: Val<'tx>, v: Val<'tx>) -> R<()> {
    let (bs, i, entry, len) = find(cx, t, how, key)?;
    if let Some(e) = entry {
        cx.tx.set_tagged(e, 1, v)?;
        return Ok(());
    }
    let entry = cons(cx.tx, key, v)?;
    let head = cx.tx.elem(bs, i)?;
    let node = cons(cx.tx, entry, if head == Tagged::Null { nil() } else { head })?;
    cx.tx.set_elem(bs, i, node)?;
    if len + 1 > MAX_CHAIN && cx.tx.array_len(bs) < MAX_BUCKETS {
        grow(cx, t, how, bs)?;
    }
    Ok(())
}

fn entries<'tx>(cx: &mut Ctx<'_, 'tx>, bs: Gc<'tx, Dyn>) -> R<Vec<Gc<'tx, Dyn>>> {
    let mut out = Vec::new();
    for i in 0..cx.tx.array_len(bs) {
        let mut cur = cx.tx.elem(bs, i)?;
        while let Tagged::Ref(node) = cur {
            if let Tagged::Ref(e) = cx.tx.tagged(node, 0)? {
                out.push(e);
            }
            cur = cx.tx.tagged(node, 1)?;
        }
    }
    Ok(out)
}

fn grow<'tx>(cx: &mut Ctx<'_, 'tx>, t: Gc<'tx, Dyn>, how: u8, old: Gc<'tx, Dyn>) -> R<()> {
    let es = entries(cx, old)?;
    let n = cx.tx.array_len(old) * 2;
    let nb = cx.tx.alloc_array(types().vector, n)?;
    for e in es {
        let k = cx.tx.tagged(e, 0)?;
        let i = (hash(cx, k, how, 0)? % n as u64) as usize;
        let head = cx.tx.elem(nb, i)?;
        let node = cons(cx.tx, Tagged::Ref(e), if head == Tagged::Null { nil() } else { head })?;
        cx.tx.set_elem(nb, i, node)?;
    }
    cx.tx.set_tagged(t, 1, Tagged::Ref(nb))?;
    Ok(())
}

pub(crate) fn set<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (t, how) = table(cx, "hash-table-set!", cx.stack[b])?;
    put(cx, t, how, cx.stack[b + 1], cx.stack[b + 2])?;
    Ok(value::unspec())
}

pub(crate) fn href<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let (t, how) = table(cx, "hash-table-ref", a[0])?;
    match find(cx, t, how, a[1])?.2 {
        Some(e) => Ok(cx.tx.tagged(e, 1)?),
        None if n == 3 => cx.call(a[2], &[]),
        None => {
            let k = cx.show(a[1])?;
            err(format!("hash-table-ref: no key {k}"))
        }
    }
}

pub(crate) fn ref_default<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (t, how) = table(cx, "hash-table-ref/default", cx.stack[b])?;
    match find(cx, t, how, cx.stack[b + 1])?.2 {
        Some(e) => Ok(cx.tx.tagged(e, 1)?),
        None => Ok(cx.stack[b + 2]),
    }
}

pub(crate) fn contains<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (t, how) = table(cx, "hash-table-contains?", cx.stack[b])?;
    Ok(value::boolean(find(cx, t, how, cx.stack[b + 1])?.2.is_some()))
}

pub(crate) fn delete<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (t, how) = table(cx, "hash-table-delete!", cx.stack[b])?;
    let key = cx.stack[b + 1];
    let (bs, i, entry, _) = find(cx, t, how, key)?;
    let Some(target) = entry else {
        return Ok(value::unspec());
    };
    let mut prev: Option<Gc<'tx, Dyn>> = None;
    let mut cur = cx.tx.elem(bs, i)?;
    while let Tagged::Ref(node) = cur {
        let next = cx.tx.tagged(node, 1)?;
        if cx.tx.tagged(node, 0)? == Tagged::Ref(target) {
            match prev {
                Some(p) => cx.tx.set_tagged(p, 1, next)?,
                None => cx.tx.set_elem(bs, i, next)?,
            }
            break;
        }
        prev = Some(node);
        cur = next;
    }
    Ok(value::unspec())
}

pub(crate) fn update<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let (t, how) = table(cx, "hash-table-update!", a[0])?;
    let old = match find(cx, t, how, a[1])?.2 {
        Some(e) => cx.tx.tagged(e, 1)?,
        None if n == 4 => cx.call(a[3], &[])?,
        None => {
            let k = cx.show(a[1])?;
            return err(format!("hash-table-update!: no key {k}"));
        }
    };
    let new = cx.call(a[2], &[old])?;
    put(cx, t, how, a[1], new)?;
    Ok(value::unspec())
}

pub(crate) fn update_default<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 4);
    let (t, how) = table(cx, "hash-table-update!/default", a[0])?;
    let old = match find(cx, t, how, a[1])?.2 {
        Some(e) => cx.tx.tagged(e, 1)?,
        None => a[3],
    };
    let new = cx.call(a[2], &[old])?;
    put(cx, t, how, a[1], new)?;
    Ok(value::unspec())
}

fn all<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<Vec<(Val<'tx>, Val<'tx>, Gc<'tx, Dyn>)>> {
    let (t, _) = table(cx, name, v)?;
    let bs = buckets(cx, t)?;
    let es = entries(cx, bs)?;
    let mut out = Vec::with_capacity(es.len());
    for e in es {
        out.push((cx.tx.tagged(e, 0)?, cx.tx.tagged(e, 1)?, e));
    }
    Ok(out)
}

pub(crate) fn count<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (t, _) = table(cx, "hash-table-count", cx.stack[b])?;
    let bs = buckets(cx, t)?;
    let n = entries(cx, bs)?.len();
    Ok(Tagged::int(n as i64).expect("fits"))
}

pub(crate) fn keys<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items: Vec<Val<'tx>> = all(cx, "hash-table-keys", cx.stack[b])?.into_iter().map(|e| e.0).collect();
    make_list(cx.tx, &items, nil())
}

pub(crate) fn values<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items: Vec<Val<'tx>> = all(cx, "hash-table-values", cx.stack[b])?.into_iter().map(|e| e.1).collect();
    make_list(cx.tx, &items, nil())
}

pub(crate) fn to_alist<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let es = all(cx, "hash-table->alist", cx.stack[b])?;
    let mut items = Vec::with_capacity(es.len());
    for (k, v, _) in es {
        items.push(cons(cx.tx, k, v)?);
    }
    make_list(cx.tx, &items, nil())
}

pub(crate) fn walk<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    for (k, v, _) in all(cx, "hash-table-walk", a[0])? {
        cx.call(a[1], &[k, v])?;
    }
    Ok(value::unspec())
}
