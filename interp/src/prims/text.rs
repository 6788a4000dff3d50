//! Symbols, characters and strings. A string is a byte array holding
//! UTF-8, with one data word holding its length in characters (S1: set
//! when it is made, and never changed: `string-set!` may only replace a
//! character by one of the same UTF-8 length, an error otherwise, since a
//! string's length in bytes is fixed when it is made). So `string-length`
//! is one read, and an ASCII string (as many characters as bytes) has
//! O(1) `string-ref` and `substring` by byte; others decode from the start.

use tmgc::{Dyn, Gc, Tagged, Tx};

use super::{args, index, int, list_items, make_list, range, type_err, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::symbol::Sym;
use crate::value::{self, imm_of, kind, nil, types, Val, HK};

/// A new string holding `s`.
pub(crate) fn string<'tx>(tx: &mut Tx<'tx>, s: &str) -> R<Val<'tx>> {
    let g = tx.alloc_bytes(types().string, s.as_bytes())?;
    tx.set_data(g, 0, s.chars().count() as u64)?;
    Ok(Tagged::Ref(g))
}

/// A string's length in characters (S1), and whether it is ASCII.
fn chars_of<'tx>(tx: &mut Tx<'tx>, g: Gc<'tx, Dyn>) -> R<(usize, bool)> {
    let n = tx.data(g, 0)? as usize;
    Ok((n, n == tx.array_len(g)))
}

/// The text of string object `g`.
pub(crate) fn read_string<'tx>(tx: &mut Tx<'tx>, g: Gc<'tx, Dyn>) -> R<String> {
    let mut buf = vec![0u8; tx.array_len(g)];
    tx.read_bytes(g, 0, &mut buf)?;
    Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn text<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<String> {
    let g = want(cx, name, "a string", v, HK::Str)?;
    read_string(cx.tx, g)
}

fn chr<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<char> {
    match imm_of(v, kind::CHAR).and_then(|c| char::from_u32(c as u32)) {
        Some(c) => Ok(c),
        None => type_err(cx, name, "a character", v),
    }
}

pub(crate) fn is_symbol<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(imm_of(cx.stack[b], kind::SYM).is_some()))
}
pub(crate) fn symbol_to_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    match imm_of(cx.stack[b], kind::SYM) {
        Some(id) => string(cx.tx, &Sym(id as u32).name()),
        None => type_err(cx, "symbol->string", "a symbol", cx.stack[b]),
    }
}
pub(crate) fn string_to_symbol<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text(cx, "string->symbol", cx.stack[b])?;
    Ok(value::sym_val(Sym::intern(&s)))
}

pub(crate) fn is_char<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(imm_of(cx.stack[b], kind::CHAR).is_some()))
}
pub(crate) fn char_to_integer<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let c = chr(cx, "char->integer", cx.stack[b])?;
    Ok(Tagged::int(c as i64).expect("fits"))
}
pub(crate) fn integer_to_char<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let i = int(cx, "integer->char", cx.stack[b])?;
    match u32::try_from(i).ok().and_then(char::from_u32) {
        Some(c) => Ok(value::char_val(c)),
        None => err(format!("integer->char: {i} is not a Unicode scalar value")),
    }
}

fn char_chain<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize, ok: fn(char, char) -> bool) -> R<Val<'tx>> {
    let mut res = true;
    let mut prev = chr(cx, name, cx.stack[b])?;
    for i in 1..n {
        let c = chr(cx, name, cx.stack[b + i])?;
        res &= ok(prev, c);
        prev = c;
    }
    Ok(value::boolean(res))
}
pub(crate) fn char_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    char_chain(cx, "char=?", b, n, |a, c| a == c)
}
pub(crate) fn char_lt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    char_chain(cx, "char<?", b, n, |a, c| a < c)
}
pub(crate) fn char_gt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    char_chain(cx, "char>?", b, n, |a, c| a > c)
}
pub(crate) fn char_le<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    char_chain(cx, "char<=?", b, n, |a, c| a <= c)
}
pub(crate) fn char_ge<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    char_chain(cx, "char>=?", b, n, |a, c| a >= c)
}

fn char_test<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, t: fn(char) -> bool) -> R<Val<'tx>> {
    let c = chr(cx, name, cx.stack[b])?;
    Ok(value::boolean(t(c)))
}
pub(crate) fn char_alphabetic<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    char_test(cx, "char-alphabetic?", b, char::is_alphabetic)
}
pub(crate) fn char_numeric<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    char_test(cx, "char-numeric?", b, char::is_numeric)
}
pub(crate) fn char_whitespace<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    char_test(cx, "char-whitespace?", b, char::is_whitespace)
}
pub(crate) fn char_upper<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    char_test(cx, "char-upper-case?", b, char::is_uppercase)
}
pub(crate) fn char_lower<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    char_test(cx, "char-lower-case?", b, char::is_lowercase)
}
/// The one character of a case mapping, or None if it maps to several
/// (`ß` upcases to `SS`: a character keeps its own case then).
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

pub(crate) fn char_upcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let c = chr(cx, "char-upcase", cx.stack[b])?;
    Ok(value::char_val(single(c.to_uppercase()).unwrap_or(c)))
}
pub(crate) fn char_downcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let c = chr(cx, "char-downcase", cx.stack[b])?;
    Ok(value::char_val(single(c.to_lowercase()).unwrap_or(c)))
}
pub(crate) fn digit_value<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let c = chr(cx, "digit-value", cx.stack[b])?;
    Ok(c.to_digit(10).map_or(value::false_(), |d| Tagged::int(d as i64).expect("fits")))
}

pub(crate) fn is_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(value::obj_of(cx.stack[b], types().string).is_some()))
}
pub(crate) fn make_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let len = int(cx, "make-string", cx.stack[b])?;
    let c = if n == 2 { chr(cx, "make-string", cx.stack[b + 1])? } else { ' ' };
    if !(0..=1 << 32).contains(&len) {
        return err(format!("make-string: bad length {len}"));
    }
    let s: String = std::iter::repeat_n(c, len as usize).collect();
    string(cx.tx, &s)
}
pub(crate) fn string_of_chars<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut s = String::new();
    for i in 0..n {
        s.push(chr(cx, "string", cx.stack[b + i])?);
    }
    string(cx.tx, &s)
}
pub(crate) fn string_length<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "string-length", "a string", cx.stack[b], HK::Str)?;
    let (n, _) = chars_of(cx.tx, g)?;
    Ok(Tagged::int(n as i64).expect("fits"))
}
pub(crate) fn string_ref<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "string-ref", "a string", cx.stack[b], HK::Str)?;
    let (n, ascii) = chars_of(cx.tx, g)?;
    let i = index(cx, "string-ref", cx.stack[b + 1], n)?;
    if ascii {
        return Ok(value::char_val(cx.tx.byte(g, i)? as char));
    }
    let s = read_string(cx.tx, g)?;
    Ok(value::char_val(s.chars().nth(i).expect("in range")))
}
pub(crate) fn string_set<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let g = want(cx, "string-set!", "a string", cx.stack[b], HK::Str)?;
    let s = read_string(cx.tx, g)?;
    let n = s.chars().count();
    let i = index(cx, "string-set!", cx.stack[b + 1], n)?;
    let c = chr(cx, "string-set!", cx.stack[b + 2])?;
    let (at, old) = s.char_indices().nth(i).expect("in range");
    if old.len_utf8() != c.len_utf8() {
        return err("string-set!: the new character's UTF-8 length differs from the old one's (strings have a fixed byte length)");
    }
    let mut buf = [0u8; 4];
    cx.tx.write_bytes(g, at, c.encode_utf8(&mut buf).as_bytes())?;
    Ok(value::unspec())
}
pub(crate) fn substring<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    copy_range(cx, "substring", b, n)
}
pub(crate) fn string_copy<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    copy_range(cx, "string-copy", b, n)
}
/// Characters `[start [end]]` of string argument `b` as a new string
/// (`substring`, `string-copy`): bytes copied as they are for an ASCII
/// string, characters decoded otherwise.
fn copy_range<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize) -> R<Val<'tx>> {
    let g = want(cx, name, "a string", cx.stack[b], HK::Str)?;
    let (len, ascii) = chars_of(cx.tx, g)?;
    let (start, end) = range(cx, name, b, n, len)?;
    if ascii {
        let mut buf = vec![0u8; end - start];
        cx.tx.read_bytes(g, start, &mut buf)?;
        let sub = cx.tx.alloc_bytes(types().string, &buf)?;
        cx.tx.set_data(sub, 0, buf.len() as u64)?;
        return Ok(Tagged::Ref(sub));
    }
    let sub: String = read_string(cx.tx, g)?.chars().skip(start).take(end - start).collect();
    string(cx.tx, &sub)
}
pub(crate) fn string_append<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&text(cx, "string-append", cx.stack[b + i])?);
    }
    string(cx.tx, &s)
}
/// `(string->list s [start [end]])`, in characters.
pub(crate) fn string_to_list<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let s = text(cx, "string->list", cx.stack[b])?;
    let chars: Vec<char> = s.chars().collect();
    let (start, end) = range(cx, "string->list", b, n, chars.len())?;
    let items: Vec<Val<'tx>> = chars[start..end].iter().map(|&c| value::char_val(c)).collect();
    make_list(cx.tx, &items, nil())
}
pub(crate) fn list_to_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let items = list_items(cx, "list->string", cx.stack[b])?;
    let mut s = String::new();
    for v in items {
        s.push(chr(cx, "list->string", v)?);
    }
    string(cx.tx, &s)
}

fn str_chain<'tx>(
    cx: &mut Ctx<'_, 'tx>,
    name: &str,
    b: usize,
    n: usize,
    fold: bool,
    ok: fn(&str, &str) -> bool,
) -> R<Val<'tx>> {
    let mut res = true;
    let mut prev = text(cx, name, cx.stack[b])?;
    if fold {
        prev = prev.to_lowercase();
    }
    for i in 1..n {
        let mut s = text(cx, name, cx.stack[b + i])?;
        if fold {
            s = s.to_lowercase();
        }
        res &= ok(&prev, &s);
        prev = s;
    }
    Ok(value::boolean(res))
}
pub(crate) fn string_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string=?", b, n, false, |a, c| a == c)
}
pub(crate) fn string_lt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string<?", b, n, false, |a, c| a < c)
}
pub(crate) fn string_gt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string>?", b, n, false, |a, c| a > c)
}
pub(crate) fn string_le<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string<=?", b, n, false, |a, c| a <= c)
}
pub(crate) fn string_ge<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string>=?", b, n, false, |a, c| a >= c)
}
pub(crate) fn string_ci_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    str_chain(cx, "string-ci=?", b, n, true, |a, c| a == c)
}
pub(crate) fn string_upcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text(cx, "string-upcase", cx.stack[b])?;
    string(cx.tx, &s.to_uppercase())
}
pub(crate) fn string_downcase<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text(cx, "string-downcase", cx.stack[b])?;
    string(cx.tx, &s.to_lowercase())
}
/// `(string-index s char)`: the index of the first `char` in `s`, or #f.
pub(crate) fn string_index<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let s = text(cx, "string-index", cx.stack[b])?;
    let c = chr(cx, "string-index", cx.stack[b + 1])?;
    Ok(s.chars().position(|x| x == c).map_or(value::false_(), |i| Tagged::int(i as i64).expect("fits")))
}
/// `(string-join list [sep])`.
pub(crate) fn string_join<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let sep = if n == 2 { text(cx, "string-join", a[1])? } else { " ".into() };
    let items = list_items(cx, "string-join", a[0])?;
    let mut parts = Vec::with_capacity(items.len());
    for v in items {
        parts.push(text(cx, "string-join", v)?);
    }
    string(cx.tx, &parts.join(&sep))
}
