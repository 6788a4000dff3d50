//! Vectors: tagged arrays, their length fixed at allocation.

use tmgc::{DynInit, Tagged};

use super::{args, index, int, list_items, make_list, range, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::value::{self, nil, types, Val, HK};

/// Longest vector `make-vector` accepts.
const MAX_LEN: i64 = 1 << 32;

/// `(vector-ref v i)`.
pub(crate) fn vector_ref<'tx>(cx: &mut Ctx<'_, 'tx>, v: Val<'tx>, i: Val<'tx>) -> R<Val<'tx>> {
    let g = want(cx, "vector-ref", "a vector", v, HK::Vector)?;
    let len = cx.tx.array_len(g);
    let i = index(cx, "vector-ref", i, len)?;
    Ok(cx.tx.elem(g, i)?)
}

pub(crate) fn p_vector_ref<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    vector_ref(cx, cx.stack[b], cx.stack[b + 1])
}

pub(crate) fn vector_set<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "vector-set!", "a vector", cx.stack[b], HK::Vector)?;
    let len = cx.tx.array_len(g);
    let i = index(cx, "vector-set!", cx.stack[b + 1], len)?;
    cx.tx.set_elem(g, i, cx.stack[b + 2])?;
    Ok(value::unspec())
}

pub(crate) fn is_vector<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(value::obj_of(cx.stack[b], types().vector).is_some()))
}

pub(crate) fn make_vector<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let len = int(cx, "make-vector", cx.stack[b])?;
    if !(0..=MAX_LEN).contains(&len) {
        return err(format!("make-vector: bad length {len}"));
    }
    let fill = if n == 2 { cx.stack[b + 1] } else { Tagged::int(0).expect("0") };
    Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems_filled(len as usize, fill))?))
}

pub(crate) fn vector<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems(&cx.stack[b..b + n]))?))
}

pub(crate) fn vector_length<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "vector-length", "a vector", cx.stack[b], HK::Vector)?;
    Ok(Tagged::int(cx.tx.array_len(g) as i64).expect("fits"))
}

pub(crate) fn vector_to_list<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let g = want(cx, "vector->list", "a vector", cx.stack[b], HK::Vector)?;
    let (s, e) = range(cx, "vector->list", b, n, cx.tx.array_len(g))?;
    let mut items = Vec::with_capacity(e - s);
    for i in s..e {
        items.push(cx.tx.elem(g, i)?);
    }
    make_list(cx.tx, &items, nil())
}

pub(crate) fn list_to_vector<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items = list_items(cx, "list->vector", cx.stack[b])?;
    Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems(&items))?))
}

pub(crate) fn vector_fill<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "vector-fill!", "a vector", cx.stack[b], HK::Vector)?;
    for i in 0..cx.tx.array_len(g) {
        cx.tx.set_elem(g, i, cx.stack[b + 1])?;
    }
    Ok(value::unspec())
}

/// The vectors of `(vector-map f v ...)` and `(vector-for-each f v ...)`,
/// and the shortest one's length (R7RS: as `map` does with lists).
fn vectors<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, a: &[Val<'tx>]) -> R<(Vec<tmgc::Gc<'tx, tmgc::Dyn>>, usize)> {
    let mut gs = Vec::with_capacity(a.len() - 1);
    for &v in &a[1..] {
        gs.push(want(cx, name, "a vector", v, HK::Vector)?);
    }
    let len = gs.iter().map(|&g| cx.tx.array_len(g)).min().unwrap_or(0);
    Ok((gs, len))
}

/// Element `i` of each of `gs`, into `xs` (emptied first).
fn elems_at<'tx>(cx: &mut Ctx<'_, 'tx>, gs: &[tmgc::Gc<'tx, tmgc::Dyn>], i: usize, xs: &mut Vec<Val<'tx>>) -> R<()> {
    xs.clear();
    for &g in gs {
        xs.push(cx.tx.elem(g, i)?);
    }
    Ok(())
}

pub(crate) fn vector_map<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let (gs, len) = vectors(cx, "vector-map", &a)?;
    let mut out = Vec::with_capacity(len);
    let mut xs = Vec::with_capacity(gs.len());
    for i in 0..len {
        elems_at(cx, &gs, i, &mut xs)?;
        out.push(cx.call(a[0], &xs)?);
    }
    let r = cx.tx.alloc_array(types().vector, len)?;
    for (i, v) in out.into_iter().enumerate() {
        cx.tx.set_elem(r, i, v)?;
    }
    Ok(Tagged::Ref(r))
}

pub(crate) fn vector_for_each<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let (gs, len) = vectors(cx, "vector-for-each", &a)?;
    let mut xs = Vec::with_capacity(gs.len());
    for i in 0..len {
        elems_at(cx, &gs, i, &mut xs)?;
        cx.call(a[0], &xs)?;
    }
    Ok(value::unspec())
}

pub(crate) fn vector_copy<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let g = want(cx, "vector-copy", "a vector", cx.stack[b], HK::Vector)?;
    let (s, e) = range(cx, "vector-copy", b, n, cx.tx.array_len(g))?;
    let r = cx.tx.alloc_array(types().vector, e - s)?;
    for i in s..e {
        let x = cx.tx.elem(g, i)?;
        cx.tx.set_elem(r, i - s, x)?;
    }
    Ok(Tagged::Ref(r))
}
