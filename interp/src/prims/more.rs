//! The rest of R7RS-small's list, string, vector, character and numeric
//! procedures, and more of SRFI 69, written on the helpers of the other
//! builtin modules.

use tmgc::{DynInit, Tagged};

use super::num::{fix, int2};
use super::{args, index, int, list_items, num, table, text, type_err, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::value::{self, imm_of, kind, nil, types, Val, HK};

fn chr<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<char> {
    match imm_of(v, kind::CHAR).and_then(|c| char::from_u32(c as u32)) {
        Some(c) => Ok(c),
        None => type_err(cx, name, "a character", v),
    }
}

fn text_of<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<String> {
    let g = want(cx, name, "a string", v, HK::Str)?;
    super::read_string(cx.tx, g)
}

/// `(make-list k [fill])`.
pub(crate) fn make_list_p<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let k = int(cx, "make-list", cx.stack[b])?;
    if !(0..=1 << 32).contains(&k) {
        return err(format!("make-list: bad length {k}"));
    }
    let fill = if n == 2 { cx.stack[b + 1] } else { value::unspec() };
    let mut acc = nil();
    for _ in 0..k {
        acc = super::cons(cx.tx, fill, acc)?;
    }
    Ok(acc)
}

/// `(list-set! list k obj)`.
pub(crate) fn list_set<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let k = int(cx, "list-set!", cx.stack[b + 1])?;
    let mut cur = cx.stack[b];
    for _ in 0..k.max(0) {
        let p = want(cx, "list-set!", "a list long enough", cur, HK::Pair)?;
        cur = cx.tx.tagged(p, 1)?;
    }
    let p = want(cx, "list-set!", "a list long enough", cur, HK::Pair)?;
    cx.tx.set_tagged(p, 0, cx.stack[b + 2])?;
    Ok(value::unspec())
}

/// `member` and `assoc` with a third argument, the equivalence procedure.
pub(crate) fn member<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    if n == 2 {
        return super::lists::member(cx, b, n);
    }
    let a = args(cx, b, n);
    let mut cur = a[1];
    while let Some(p) = value::obj_of(cur, types().pair) {
        let x = cx.tx.tagged(p, 0)?;
        if value::truthy(cx.call(a[2], &[a[0], x])?) {
            return Ok(cur);
        }
        cur = cx.tx.tagged(p, 1)?;
    }
    Ok(value::false_())
}

pub(crate) fn assoc<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    if n == 2 {
        return super::lists::assoc(cx, b, n);
    }
    let a = args(cx, b, n);
    for entry in list_items(cx, "assoc", a[1])? {
        let e = want(cx, "assoc", "an association list", entry, HK::Pair)?;
        let k = cx.tx.tagged(e, 0)?;
        if value::truthy(cx.call(a[2], &[a[0], k])?) {
            return Ok(entry);
        }
    }
    Ok(value::false_())
}

pub(crate) fn string_map<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let s = text_of(cx, "string-map", a[1])?;
    let mut out = String::new();
    for c in s.chars() {
        let r = cx.call(a[0], &[value::char_val(c)])?;
        out.push(chr(cx, "string-map", r)?);
    }
    text::string(cx.tx, &out)
}

pub(crate) fn string_for_each<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 2);
    let s = text_of(cx, "string-for-each", a[1])?;
    for c in s.chars() {
        cx.call(a[0], &[value::char_val(c)])?;
    }
    Ok(value::unspec())
}

pub(crate) fn string_fill<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "string-fill!", "a string", cx.stack[b], HK::Str)?;
    let c = chr(cx, "string-fill!", cx.stack[b + 1])?;
    let s = super::read_string(cx.tx, g)?;
    if s.chars().any(|x| x.len_utf8() != c.len_utf8()) {
        return err("string-fill!: every character must keep its UTF-8 length (strings have a fixed byte length)");
    }
    let filled: String = std::iter::repeat_n(c, s.chars().count()).collect();
    cx.tx.write_bytes(g, 0, filled.as_bytes())?;
    Ok(value::unspec())
}

pub(crate) fn string_to_vector<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text_of(cx, "string->vector", cx.stack[b])?;
    let chars: Vec<_> = s.chars().map(value::char_val).collect();
    Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems(&chars))?))
}

pub(crate) fn vector_to_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = want(cx, "vector->string", "a vector", cx.stack[b], HK::Vector)?;
    let mut s = String::new();
    for i in 0..cx.tx.array_len(v) {
        let x = cx.tx.elem(v, i)?;
        s.push(chr(cx, "vector->string", x)?);
    }
    text::string(cx.tx, &s)
}

pub(crate) fn vector_append<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut items = Vec::new();
    for k in 0..n {
        let v = want(cx, "vector-append", "a vector", cx.stack[b + k], HK::Vector)?;
        for i in 0..cx.tx.array_len(v) {
            items.push(cx.tx.elem(v, i)?);
        }
    }
    Ok(Tagged::Ref(cx.tx.alloc_with(types().vector, DynInit::new().elems(&items))?))
}

/// `(vector-copy! to at from [start [end]])`.
pub(crate) fn vector_copy_into<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let to = want(cx, "vector-copy!", "a vector", cx.stack[b], HK::Vector)?;
    let at = index(cx, "vector-copy!", cx.stack[b + 1], cx.tx.array_len(to) + 1)?;
    let from = want(cx, "vector-copy!", "a vector", cx.stack[b + 2], HK::Vector)?;
    let len = cx.tx.array_len(from);
    let start = if n > 3 { int(cx, "vector-copy!", cx.stack[b + 3])? } else { 0 };
    let end = if n > 4 { int(cx, "vector-copy!", cx.stack[b + 4])? } else { len as i64 };
    if start < 0 || end < start || end as usize > len || at + (end - start) as usize > cx.tx.array_len(to) {
        return err("vector-copy!: bad range");
    }
    let items: Vec<Val<'tx>> = (start as usize..end as usize).map(|i| cx.tx.elem(from, i)).collect::<Result<_, _>>()?;
    for (k, x) in items.into_iter().enumerate() {
        cx.tx.set_elem(to, at + k, x)?;
    }
    Ok(value::unspec())
}

fn chain<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize, same: impl Fn(Val<'tx>, Val<'tx>) -> bool) -> R<Val<'tx>> {
    let first = cx.stack[b];
    Ok(value::boolean((1..n).all(|i| same(first, cx.stack[b + i]))))
}

pub(crate) fn boolean_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    for i in 0..n {
        if imm_of(cx.stack[b + i], kind::BOOL).is_none() {
            return type_err(cx, "boolean=?", "a boolean", cx.stack[b + i]);
        }
    }
    chain(cx, b, n, |x, y| x == y)
}

pub(crate) fn symbol_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    for i in 0..n {
        if imm_of(cx.stack[b + i], kind::SYM).is_none() {
            return type_err(cx, "symbol=?", "a symbol", cx.stack[b + i]);
        }
    }
    chain(cx, b, n, |x, y| x == y)
}

pub(crate) fn char_ci_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut folded = Vec::with_capacity(n);
    for i in 0..n {
        folded.push(chr(cx, "char-ci=?", cx.stack[b + i])?.to_lowercase().next().unwrap_or(' '));
    }
    Ok(value::boolean(folded.windows(2).all(|w| w[0] == w[1])))
}

pub(crate) fn char_foldcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let c = chr(cx, "char-foldcase", cx.stack[b])?;
    let mut l = c.to_lowercase();
    let f = l.next().unwrap_or(c);
    Ok(value::char_val(if l.next().is_none() { f } else { c }))
}

pub(crate) fn string_foldcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text_of(cx, "string-foldcase", cx.stack[b])?;
    text::string(cx.tx, &s.to_lowercase())
}

fn ci_chain<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize, ok: fn(&str, &str) -> bool) -> R<Val<'tx>> {
    let mut all = true;
    let mut prev = text_of(cx, name, cx.stack[b])?.to_lowercase();
    for i in 1..n {
        let s = text_of(cx, name, cx.stack[b + i])?.to_lowercase();
        all &= ok(&prev, &s);
        prev = s;
    }
    Ok(value::boolean(all))
}
pub(crate) fn string_ci_lt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    ci_chain(cx, "string-ci<?", b, n, |a, c| a < c)
}
pub(crate) fn string_ci_gt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    ci_chain(cx, "string-ci>?", b, n, |a, c| a > c)
}

pub(crate) fn floor_quotient<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = int2(cx, "floor-quotient", b)?;
    fix(x.div_euclid(y) - if y < 0 && x.rem_euclid(y) != 0 { 1 } else { 0 })
}
pub(crate) fn floor_remainder<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = int2(cx, "floor-remainder", b)?;
    fix(((x % y) + y) % y)
}

fn float_test<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, t: fn(f64) -> bool, int_case: bool) -> R<Val<'tx>> {
    match num::num_of(cx, cx.stack[b])? {
        Some(num::Num::F(f)) => Ok(value::boolean(t(f))),
        Some(num::Num::I(_)) => Ok(value::boolean(int_case)),
        None => type_err(cx, name, "a number", cx.stack[b]),
    }
}
pub(crate) fn is_nan<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float_test(cx, "nan?", b, f64::is_nan, false)
}
pub(crate) fn is_infinite<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float_test(cx, "infinite?", b, f64::is_infinite, false)
}
pub(crate) fn is_finite<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float_test(cx, "finite?", b, f64::is_finite, true)
}

// ---- SRFI 69 ----

/// `(alist->hash-table alist [equivalence])`.
pub(crate) fn alist_to_hash_table<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let base = cx.stack.len();
    cx.stack.extend_from_slice(&a[1..]);
    let t = table::make_hash_table(cx, base, n - 1);
    cx.stack.truncate(base);
    let t = t?;
    for entry in list_items(cx, "alist->hash-table", a[0])? {
        let e = want(cx, "alist->hash-table", "an association list", entry, HK::Pair)?;
        let (k, v) = (cx.tx.tagged(e, 0)?, cx.tx.tagged(e, 1)?);
        let base = cx.stack.len();
        cx.stack.extend_from_slice(&[t, k, v]);
        // Earlier entries win, as in SRFI 69: set only if absent.
        let present = table::contains(cx, base, 2);
        let r = match present {
            Ok(p) if !value::truthy(p) => table::set(cx, base, 3).map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        cx.stack.truncate(base);
        r?;
    }
    Ok(t)
}

/// `(hash-table-fold table kons knil)`: `(kons key value acc)`.
pub(crate) fn hash_table_fold<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let a = args(cx, b, 3);
    let alist = {
        let base = cx.stack.len();
        cx.stack.push(a[0]);
        let r = table::to_alist(cx, base, 1);
        cx.stack.truncate(base);
        r?
    };
    let mut acc = a[2];
    for entry in list_items(cx, "hash-table-fold", alist)? {
        let e = want(cx, "hash-table-fold", "an entry", entry, HK::Pair)?;
        let (k, v) = (cx.tx.tagged(e, 0)?, cx.tx.tagged(e, 1)?);
        acc = cx.call(a[1], &[k, v, acc])?;
    }
    Ok(acc)
}

/// `(hash-table-copy table)`: a new table with the same entries.
pub(crate) fn hash_table_copy<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let t = cx.stack[b];
    let how = match value::obj_of(t, types().table) {
        Some(g) => cx.tx.tagged(g, 0)?,
        None => return type_err(cx, "hash-table-copy", "a hash table", t),
    };
    let base = cx.stack.len();
    cx.stack.push(t);
    let alist = table::to_alist(cx, base, 1);
    cx.stack.truncate(base);
    let alist = alist?;
    let _ = n;
    let equiv = match how {
        Tagged::Int(i) => ["eq?", "eqv?", "equal?", "string=?"][i.get().clamp(0, 3) as usize],
        _ => "equal?",
    };
    let p = super::find(equiv).expect("a builtin");
    let base = cx.stack.len();
    cx.stack.extend_from_slice(&[alist, value::prim_val(p)]);
    let r = alist_to_hash_table(cx, base, 2);
    cx.stack.truncate(base);
    r
}

/// `(string-hash s [bound])`, `(hash obj [bound])`, `(hash-by-identity obj [bound])`.
fn hash_with<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize, how: u8) -> R<Val<'tx>> {
    let h = table::hash_of(cx, cx.stack[b], how)?;
    let bound = if n == 2 { int(cx, "hash", cx.stack[b + 1])?.max(1) as u64 } else { 1 << 59 };
    Ok(Tagged::int((h % bound) as i64).expect("below the bound"))
}
pub(crate) fn string_hash<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    want(cx, "string-hash", "a string", cx.stack[b], HK::Str)?;
    hash_with(cx, b, n, 3)
}
pub(crate) fn hash<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    hash_with(cx, b, n, 2)
}
pub(crate) fn hash_by_identity<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    hash_with(cx, b, n, 0)
}
