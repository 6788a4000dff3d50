//! Pairs and lists.

use tmgc::{DynInit, Tagged, Tx};

use super::{args, int, list_items, make_list, type_err, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::value::{self, nil, types, Val, HK};

/// A new pair.
#[inline]
pub(crate) fn cons<'tx>(tx: &mut Tx<'tx>, a: Val<'tx>, d: Val<'tx>) -> R<Val<'tx>> {
    Ok(Tagged::Ref(tx.alloc_with(types().pair, DynInit::new().tagged(&[a, d]))?))
}

pub(crate) fn p_cons<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (a, d) = (cx.stack[b], cx.stack[b + 1]);
    cons(cx.tx, a, d)
}

fn cxr<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>, path: &[usize]) -> R<Val<'tx>> {
    let mut cur = v;
    for &i in path.iter().rev() {
        let p = want(cx, name, "a pair", cur, HK::Pair)?;
        cur = cx.tx.tagged(p, i)?;
    }
    Ok(cur)
}

pub(crate) fn car<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "car", cx.stack[b], &[0])
}
pub(crate) fn cdr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cdr", cx.stack[b], &[1])
}
pub(crate) fn caar<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "caar", cx.stack[b], &[0, 0])
}
pub(crate) fn cadr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cadr", cx.stack[b], &[0, 1])
}
pub(crate) fn cdar<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cdar", cx.stack[b], &[1, 0])
}
pub(crate) fn cddr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cddr", cx.stack[b], &[1, 1])
}
pub(crate) fn caddr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "caddr", cx.stack[b], &[0, 1, 1])
}
pub(crate) fn cdddr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cdddr", cx.stack[b], &[1, 1, 1])
}
pub(crate) fn cadddr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    cxr(cx, "cadddr", cx.stack[b], &[0, 1, 1, 1])
}

fn set_part<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, i: usize) -> R<Val<'tx>> {
    let p = want(cx, name, "a pair", cx.stack[b], HK::Pair)?;
    cx.tx.set_tagged(p, i, cx.stack[b + 1])?;
    Ok(value::unspec())
}
pub(crate) fn set_car<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    set_part(cx, "set-car!", b, 0)
}
pub(crate) fn set_cdr<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    set_part(cx, "set-cdr!", b, 1)
}

pub(crate) fn list<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut acc = nil();
    for i in (0..n).rev() {
        acc = cons(cx.tx, cx.stack[b + i], acc)?;
    }
    Ok(acc)
}

pub(crate) fn cons_star<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut acc = cx.stack[b + n - 1];
    for i in (0..n - 1).rev() {
        acc = cons(cx.tx, cx.stack[b + i], acc)?;
    }
    Ok(acc)
}

pub(crate) fn length<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let mut n: i64 = 0;
    super::walk_list(cx, "length", cx.stack[b], |_, _| {
        n += 1;
        Ok(())
    })?;
    Ok(Tagged::int(n).expect("a length fits"))
}

pub(crate) fn append<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    if n == 0 {
        return Ok(nil());
    }
    let mut acc = cx.stack[b + n - 1];
    for i in (0..n - 1).rev() {
        let items = list_items(cx, "append", cx.stack[b + i])?;
        acc = make_list(cx.tx, &items, acc)?;
    }
    Ok(acc)
}

pub(crate) fn reverse<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items = list_items(cx, "reverse", cx.stack[b])?;
    let mut acc = nil();
    for v in items {
        acc = cons(cx.tx, v, acc)?;
    }
    Ok(acc)
}

fn tail<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, l: Val<'tx>, k: i64) -> R<Val<'tx>> {
    if k < 0 {
        return err(format!("{name}: negative index {k}"));
    }
    let mut cur = l;
    for _ in 0..k {
        let p = want(cx, name, "a list long enough", cur, HK::Pair)?;
        cur = cx.tx.tagged(p, 1)?;
    }
    Ok(cur)
}

pub(crate) fn list_tail<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let k = int(cx, "list-tail", cx.stack[b + 1])?;
    tail(cx, "list-tail", cx.stack[b], k)
}

pub(crate) fn list_ref<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let k = int(cx, "list-ref", cx.stack[b + 1])?;
    let t = tail(cx, "list-ref", cx.stack[b], k)?;
    let p = want(cx, "list-ref", "a list long enough", t, HK::Pair)?;
    Ok(cx.tx.tagged(p, 0)?)
}

pub(crate) fn list_copy<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items = list_items(cx, "list-copy", cx.stack[b])?;
    make_list(cx.tx, &items, nil())
}

pub(crate) fn last_pair<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let mut cur = want(cx, "last-pair", "a pair", cx.stack[b], HK::Pair)?;
    loop {
        match cx.tx.tagged(cur, 1)? {
            Tagged::Ref(g) if value::is(g, types().pair) => cur = g,
            _ => return Ok(Tagged::Ref(cur)),
        }
    }
}

/// Equivalences: 0 `eq?`, 1 `eqv?`, 2 `equal?`.
fn mem<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, how: u8) -> R<Val<'tx>> {
    let x = cx.stack[b];
    let mut cur = cx.stack[b + 1];
    loop {
        match cur {
            Tagged::Ref(g) if value::is(g, types().pair) => {
                let y = cx.tx.tagged(g, 0)?;
                if super::system::equiv(cx, x, y, how)? {
                    return Ok(cur);
                }
                cur = cx.tx.tagged(g, 1)?;
            }
            v if v == nil() => return Ok(value::false_()),
            _ => return type_err(cx, name, "a proper list", cx.stack[b + 1]),
        }
    }
}
pub(crate) fn memq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    mem(cx, "memq", b, 0)
}
pub(crate) fn memv<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    mem(cx, "memv", b, 1)
}
pub(crate) fn member<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    mem(cx, "member", b, 2)
}

fn ass<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, how: u8) -> R<Val<'tx>> {
    let x = cx.stack[b];
    let mut cur = cx.stack[b + 1];
    loop {
        match cur {
            Tagged::Ref(g) if value::is(g, types().pair) => {
                let entry = cx.tx.tagged(g, 0)?;
                let e = want(cx, name, "an association list", entry, HK::Pair)?;
                let k = cx.tx.tagged(e, 0)?;
                if super::system::equiv(cx, x, k, how)? {
                    return Ok(entry);
                }
                cur = cx.tx.tagged(g, 1)?;
            }
            v if v == nil() => return Ok(value::false_()),
            _ => return type_err(cx, name, "a proper list", cx.stack[b + 1]),
        }
    }
}
pub(crate) fn assq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    ass(cx, "assq", b, 0)
}
pub(crate) fn assv<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    ass(cx, "assv", b, 1)
}
pub(crate) fn assoc<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    ass(cx, "assoc", b, 2)
}

/// The lists of a `map`/`for-each` call, as vectors (the shortest decides).
fn columns<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, a: &[Val<'tx>]) -> R<(Vec<Vec<Val<'tx>>>, usize)> {
    let mut cols = Vec::with_capacity(a.len() - 1);
    for l in &a[1..] {
        cols.push(list_items(cx, name, *l)?);
    }
    let n = cols.iter().map(Vec::len).min().unwrap_or(0);
    Ok((cols, n))
}

pub(crate) fn map<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let (cols, len) = columns(cx, "map", &a)?;
    let mut out = Vec::with_capacity(len);
    let mut row = Vec::with_capacity(cols.len());
    for i in 0..len {
        row.clear();
        row.extend(cols.iter().map(|c| c[i]));
        out.push(cx.call(a[0], &row)?);
    }
    make_list(cx.tx, &out, nil())
}

pub(crate) fn for_each<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    if n == 2 {
        // One list: walk it without copying (a long list stays cheap).
        super::walk_list(cx, "for-each", a[1], |cx, x| cx.call(a[0], &[x]).map(|_| ()))?;
        return Ok(value::unspec());
    }
    let (cols, len) = columns(cx, "for-each", &a)?;
    let mut row = Vec::with_capacity(cols.len());
    for i in 0..len {
        row.clear();
        row.extend(cols.iter().map(|c| c[i]));
        cx.call(a[0], &row)?;
    }
    Ok(value::unspec())
}

fn keep<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, want_true: bool) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let items = list_items(cx, name, a[1])?;
    let mut out = Vec::new();
    for v in items {
        if value::truthy(cx.call(a[0], &[v])?) == want_true {
            out.push(v);
        }
    }
    make_list(cx.tx, &out, nil())
}
pub(crate) fn filter<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    keep(cx, "filter", b, true)
}
pub(crate) fn remove<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    keep(cx, "remove", b, false)
}
pub(crate) fn delete<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let items = list_items(cx, "delete", a[1])?;
    let mut out = Vec::new();
    for v in items {
        if !super::system::equiv(cx, a[0], v, 2)? {
            out.push(v);
        }
    }
    make_list(cx.tx, &out, nil())
}

pub(crate) fn fold_left<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 3);
    let items = list_items(cx, "fold-left", a[2])?;
    let mut acc = a[1];
    for v in items {
        acc = cx.call(a[0], &[acc, v])?;
    }
    Ok(acc)
}
/// SRFI 1 `fold`: `(kons elem acc)`.
pub(crate) fn fold<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 3);
    let items = list_items(cx, "fold", a[2])?;
    let mut acc = a[1];
    for v in items {
        acc = cx.call(a[0], &[v, acc])?;
    }
    Ok(acc)
}
pub(crate) fn fold_right<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 3);
    let items = list_items(cx, "fold-right", a[2])?;
    let mut acc = a[1];
    for v in items.into_iter().rev() {
        acc = cx.call(a[0], &[v, acc])?;
    }
    Ok(acc)
}
pub(crate) fn reduce<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 3);
    let items = list_items(cx, "reduce", a[2])?;
    let Some((first, rest)) = items.split_first() else {
        return Ok(a[1]);
    };
    let mut acc = *first;
    for v in rest {
        acc = cx.call(a[0], &[*v, acc])?;
    }
    Ok(acc)
}

pub(crate) fn iota<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let count = int(cx, "iota", cx.stack[b])?;
    let start = if n > 1 { int(cx, "iota", cx.stack[b + 1])? } else { 0 };
    let step = if n > 2 { int(cx, "iota", cx.stack[b + 2])? } else { 1 };
    if count < 0 {
        return err("iota: negative count");
    }
    let mut acc = nil();
    for i in (0..count).rev() {
        let v = Tagged::int(start + i * step).map_or_else(super::overflow, Ok)?;
        acc = cons(cx.tx, v, acc)?;
    }
    Ok(acc)
}

pub(crate) fn list_index<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let items = list_items(cx, "list-index", a[1])?;
    for (i, v) in items.into_iter().enumerate() {
        if value::truthy(cx.call(a[0], &[v])?) {
            return Ok(Tagged::int(i as i64).expect("fits"));
        }
    }
    Ok(value::false_())
}

pub(crate) fn apply<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let mut flat: Vec<Val<'tx>> = a[1..n.max(2) - 1].to_vec();
    if n > 1 {
        flat.extend(list_items(cx, "apply", a[n - 1])?);
    }
    cx.call(a[0], &flat)
}

pub(crate) fn is_list<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = cx.stack[b];
    match super::walk_list(cx, "list?", v, |_, _| Ok(())) {
        Ok(()) => Ok(value::true_()),
        Err(e) if e.is_user() => Ok(value::false_()),
        Err(e) => Err(e),
    }
}
pub(crate) fn is_pair<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(value::obj_of(cx.stack[b], types().pair).is_some()))
}
pub(crate) fn is_null<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(cx.stack[b] == nil()))
}

/// A stable merge sort of `items` by `less`.
pub(crate) fn sort_vals<'tx>(cx: &mut Ctx<'_, 'tx>, less: Val<'tx>, items: Vec<Val<'tx>>) -> R<Vec<Val<'tx>>> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mid = items.len() / 2;
    let right = sort_vals(cx, less, items[mid..].to_vec())?;
    let left = sort_vals(cx, less, items[..mid].to_vec())?;
    let mut out = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if value::truthy(cx.call(less, &[right[j], left[i]])?) {
            out.push(right[j]);
            j += 1;
        } else {
            out.push(left[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    Ok(out)
}

/// `(sort seq less?)`: a list or a vector, sorted into a new one.
pub(crate) fn sort<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    if let Some(v) = value::obj_of(a[0], types().vector) {
        let len = cx.tx.array_len(v);
        let mut items = Vec::with_capacity(len);
        for i in 0..len {
            items.push(cx.tx.elem(v, i)?);
        }
        let sorted = sort_vals(cx, a[1], items)?;
        return Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems(&sorted))?));
    }
    let items = list_items(cx, "sort", a[0])?;
    let sorted = sort_vals(cx, a[1], items)?;
    make_list(cx.tx, &sorted, nil())
}

/// R6RS `(list-sort less? list)`.
pub(crate) fn list_sort<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let items = list_items(cx, "list-sort", a[1])?;
    let sorted = sort_vals(cx, a[0], items)?;
    make_list(cx.tx, &sorted, nil())
}
