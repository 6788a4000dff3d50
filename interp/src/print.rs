//! `display` and `write`: a value's external representation.
//!
//! Printing reads the heap through the transaction, so what is printed is
//! part of the transaction's read set. A cyclic structure is cut off after
//! [`MAX_ITEMS`] elements rather than printed for ever.

use std::fmt::Write as _;

use tmgc::{Tagged, Tx};

use crate::code::Lambda;
use crate::error::R;
use crate::prims;
use crate::symbol::Sym;
use crate::value::{classify, imm_of, kind, nil, types, Val, HK};

/// Elements printed before "..." (a guard against cycles).
pub(crate) const MAX_ITEMS: usize = 1_000_000;

/// Append the representation of `v` to `out`.
pub(crate) fn print<'tx>(
    tx: &mut Tx<'tx>,
    v: Val<'tx>,
    write: bool,
    out: &mut String,
    lambdas: &[&'static Lambda],
) -> R<()> {
    print_at_most(tx, v, write, out, lambdas, MAX_ITEMS)
}

/// [`print`], cut off after `items` elements.
pub(crate) fn print_at_most<'tx>(
    tx: &mut Tx<'tx>,
    v: Val<'tx>,
    write: bool,
    out: &mut String,
    lambdas: &[&'static Lambda],
    items: usize,
) -> R<()> {
    let mut budget = items;
    pr(tx, v, write, out, lambdas, &mut budget)
}

fn pr<'tx>(
    tx: &mut Tx<'tx>,
    v: Val<'tx>,
    write: bool,
    out: &mut String,
    lambdas: &[&'static Lambda],
    budget: &mut usize,
) -> R<()> {
    if *budget == 0 {
        out.push_str("...");
        return Ok(());
    }
    *budget -= 1;
    match v {
        Tagged::Null => out.push_str("#<null>"),
        Tagged::Int(i) => {
            let _ = write!(out, "{}", i.get());
        }
        Tagged::Imm(m) => match m.kind() {
            kind::BOOL => out.push_str(if m.payload() == 1 { "#t" } else { "#f" }),
            kind::NIL => out.push_str("()"),
            kind::UNSPEC => {}
            kind::EOF => out.push_str("#<eof>"),
            kind::UNDEF => out.push_str("#<undefined>"),
            kind::CHAR => {
                let c = char::from_u32(m.payload() as u32).unwrap_or('\u{fffd}');
                if write {
                    out.push_str(&char_name(c));
                } else {
                    out.push(c);
                }
            }
            kind::SYM => {
                let name = Sym(m.payload() as u32).name();
                if write && needs_bars(&name) {
                    let _ = write!(out, "|{name}|");
                } else {
                    out.push_str(&name);
                }
            }
            kind::PRIM => {
                let _ = write!(out, "#<procedure {}>", prims::PRIMS[m.payload() as usize].name);
            }
            _ => {
                let _ = write!(out, "#<immediate {} {}>", m.kind(), m.payload());
            }
        },
        Tagged::Ref(g) => match classify(g) {
            HK::Pair => {
                out.push('(');
                let mut cur = v;
                let mut first = true;
                loop {
                    match cur {
                        Tagged::Ref(p) if classify(p) == HK::Pair => {
                            if !first {
                                out.push(' ');
                            }
                            first = false;
                            let car = tx.tagged(p, 0)?;
                            pr(tx, car, write, out, lambdas, budget)?;
                            cur = tx.tagged(p, 1)?;
                            if *budget == 0 {
                                out.push_str(" ...");
                                break;
                            }
                        }
                        x if x == nil() => break,
                        x => {
                            out.push_str(" . ");
                            pr(tx, x, write, out, lambdas, budget)?;
                            break;
                        }
                    }
                }
                out.push(')');
            }
            HK::Vector => {
                out.push_str("#(");
                for i in 0..tx.array_len(g) {
                    if i > 0 {
                        out.push(' ');
                    }
                    let e = tx.elem(g, i)?;
                    pr(tx, e, write, out, lambdas, budget)?;
                }
                out.push(')');
            }
            HK::Str => {
                let s = prims::read_string(tx, g)?;
                if write {
                    out.push('"');
                    for c in s.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            '\t' => out.push_str("\\t"),
                            '\r' => out.push_str("\\r"),
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                } else {
                    out.push_str(&s);
                }
            }
            HK::Flo => {
                let f = f64::from_bits(tx.data(g, 0)?);
                out.push_str(&flonum_text(f));
            }
            HK::Closure => {
                let code = tx.tagged(g, 0)?;
                match imm_of(code, kind::CODE).and_then(|id| lambdas.get(id as usize)) {
                    Some(l) => out.push_str(&l.describe()),
                    None => out.push_str("#<procedure>"),
                }
            }
            HK::Table => out.push_str("#<hash-table>"),
            HK::Box => {
                let _ = types();
                out.push_str("#<box>");
            }
        },
    }
    Ok(())
}

/// A flonum as Scheme writes it (always with a point or an exponent).
pub(crate) fn flonum_text(f: f64) -> String {
    if f.is_nan() {
        return "+nan.0".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+inf.0".into() } else { "-inf.0".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-7..1e21).contains(&a) {
        // An exponent, and a point in the mantissa: 1.0e300, 1.5e-10.
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').expect("an exponent");
        let m = if m.contains('.') { m.to_string() } else { format!("{m}.0") };
        return format!("{m}e{e}");
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn char_name(c: char) -> String {
    match c {
        ' ' => "#\\space".into(),
        '\n' => "#\\newline".into(),
        '\t' => "#\\tab".into(),
        '\r' => "#\\return".into(),
        '\0' => "#\\null".into(),
        c if c.is_control() => format!("#\\x{:x}", c as u32),
        c => format!("#\\{c}"),
    }
}

fn needs_bars(name: &str) -> bool {
    name.is_empty()
        || name.chars().any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | ';' | '\'' | '|'))
        || crate::reader::parse_number(name).is_some()
}
