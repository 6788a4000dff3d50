//! Equivalence, type predicates, output, errors and events.

use std::io::Write as _;

use tmgc::Tagged;

use super::{args, int, make_list, type_err, want};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::print::{Labels, Printer};
use crate::value::{self, classify, imm_of, kind, nil, types, Val, HK};

/// `eq?` (0), `eqv?` (1) or `equal?` (2).
///
/// `equal?` terminates on circular structures (R7RS asks it to): after
/// [`PLAIN_STEPS`] pairs and vectors compared, or [`PLAIN_DEPTH`] nested
/// ones, it remembers each pair of objects it compares, and takes a pair
/// met again as equal: whatever could differ below it is compared where
/// the pair was met first, so a difference anywhere is still found (the
/// two structures are equal when no path tells them apart). Nesting
/// deeper than the interpreter's stack allows is an error, not a crash.
pub(crate) fn equiv<'tx>(cx: &mut Ctx<'_, 'tx>, a: Val<'tx>, b: Val<'tx>, how: u8) -> R<bool> {
    equiv_in(cx, a, b, how, &mut Seen { steps: 0, depth: 0, pairs: None })
}

/// Compound comparisons `equal?` makes before it remembers pairs of
/// objects: most comparisons end far sooner, and pay nothing for cycles.
const PLAIN_STEPS: u32 = 10_000;

/// Nested comparisons (through cars and vector elements) `equal?` makes
/// before it remembers pairs of objects: a cycle through cars nests.
const PLAIN_DEPTH: u32 = 64;

/// The pairs of objects one `equal?` compared (after [`PLAIN_STEPS`] or
/// at [`PLAIN_DEPTH`]).
struct Seen {
    steps: u32,
    /// Nested comparisons now.
    depth: u32,
    pairs: Option<std::collections::HashSet<(usize, usize)>>,
}

impl Seen {
    /// Whether `(x, y)` is being compared already (taken as equal); an
    /// error past the stack the interpreter may use.
    fn again(&mut self, cx: &Ctx<'_, '_>, x: tmgc::Gc<'_, tmgc::Dyn>, y: tmgc::Gc<'_, tmgc::Dyn>) -> R<bool> {
        if cx.stack_exhausted() {
            return err("equal?: a structure nested deeper than the stack allows");
        }
        if self.steps < PLAIN_STEPS && self.depth < PLAIN_DEPTH && self.pairs.is_none() {
            self.steps += 1;
            return Ok(false);
        }
        let key = (x.as_ptr().addr(), y.as_ptr().addr());
        Ok(!self.pairs.get_or_insert_with(Default::default).insert(key))
    }
}

fn equiv_in<'tx>(cx: &mut Ctx<'_, 'tx>, a: Val<'tx>, b: Val<'tx>, how: u8, seen: &mut Seen) -> R<bool> {
    if a == b {
        return Ok(true);
    }
    if how == 0 {
        return Ok(false);
    }
    let (Tagged::Ref(x), Tagged::Ref(y)) = (a, b) else {
        return Ok(false);
    };
    let (kx, ky) = (classify(x), classify(y));
    if kx != ky {
        return Ok(false);
    }
    match kx {
        HK::Flo => Ok(cx.tx.data(x, 0)? == cx.tx.data(y, 0)?),
        _ if how == 1 => Ok(false),
        HK::Str => Ok(super::read_string(cx.tx, x)? == super::read_string(cx.tx, y)?),
        HK::Pair => {
            // Iterate down the cdrs, recurse on the cars.
            let (mut p, mut q) = (x, y);
            loop {
                if seen.again(cx, p, q)? {
                    return Ok(true);
                }
                let (pa, qa) = (cx.tx.tagged(p, 0)?, cx.tx.tagged(q, 0)?);
                seen.depth += 1;
                let same = equiv_in(cx, pa, qa, 2, seen);
                seen.depth -= 1;
                if !same? {
                    return Ok(false);
                }
                let (pd, qd) = (cx.tx.tagged(p, 1)?, cx.tx.tagged(q, 1)?);
                match (pd, qd) {
                    (Tagged::Ref(a), Tagged::Ref(b)) if classify(a) == HK::Pair && classify(b) == HK::Pair => {
                        p = a;
                        q = b;
                    }
                    _ => return equiv_in(cx, pd, qd, 2, seen),
                }
            }
        }
        HK::Vector => {
            let n = cx.tx.array_len(x);
            if n != cx.tx.array_len(y) {
                return Ok(false);
            }
            if seen.again(cx, x, y)? {
                return Ok(true);
            }
            for i in 0..n {
                let (ex, ey) = (cx.tx.elem(x, i)?, cx.tx.elem(y, i)?);
                seen.depth += 1;
                let same = equiv_in(cx, ex, ey, 2, seen);
                seen.depth -= 1;
                if !same? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(crate) fn eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(cx.stack[b] == cx.stack[b + 1]))
}
pub(crate) fn eqv<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = (cx.stack[b], cx.stack[b + 1]);
    Ok(value::boolean(equiv(cx, x, y, 1)?))
}
pub(crate) fn equal<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = (cx.stack[b], cx.stack[b + 1]);
    Ok(value::boolean(equiv(cx, x, y, 2)?))
}
pub(crate) fn not<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(cx.stack[b] == value::false_()))
}
pub(crate) fn is_boolean<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(imm_of(cx.stack[b], kind::BOOL).is_some()))
}
pub(crate) fn is_procedure<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = cx.stack[b];
    Ok(value::boolean(imm_of(v, kind::PRIM).is_some() || value::obj_of(v, types().closure).is_some()))
}
pub(crate) fn eof_object<'tx>(_: &mut Ctx<'_, 'tx>, _: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::eof())
}
pub(crate) fn is_eof<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(cx.stack[b] == value::eof()))
}
pub(crate) fn void<'tx>(_: &mut Ctx<'_, 'tx>, _: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::unspec())
}

fn out<'tx>(cx: &mut Ctx<'_, 'tx>, v: Val<'tx>, write: bool, labels: Labels) -> R<Val<'tx>> {
    let mut s = String::new();
    let lambdas = cx.lambdas_ref().to_vec();
    let printer = Printer::new(write, &lambdas, cx.stack_floor());
    if labels == Labels::None { printer.at_most(crate::print::MAX_ITEMS) } else { printer }
        .print(cx.tx, v, labels, &mut s)?;
    cx.write_out(&s)?;
    Ok(value::unspec())
}
pub(crate) fn display<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    out(cx, cx.stack[b], false, Labels::Cycles)
}
pub(crate) fn write<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    out(cx, cx.stack[b], true, Labels::Cycles)
}
pub(crate) fn write_shared<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    out(cx, cx.stack[b], true, Labels::Shared)
}
pub(crate) fn write_simple<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    out(cx, cx.stack[b], true, Labels::None)
}
pub(crate) fn newline<'tx>(cx: &mut Ctx<'_, 'tx>, _: usize, _: usize) -> R<Val<'tx>> {
    cx.write_out("\n")?;
    Ok(value::unspec())
}
pub(crate) fn write_char<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    match imm_of(cx.stack[b], kind::CHAR).and_then(|c| char::from_u32(c as u32)) {
        Some(c) => {
            cx.write_out(c.encode_utf8(&mut [0; 4]))?;
            Ok(value::unspec())
        }
        None => type_err(cx, "write-char", "a character", cx.stack[b]),
    }
}
pub(crate) fn write_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    want(cx, "write-string", "a string", cx.stack[b], HK::Str)?;
    out(cx, cx.stack[b], false, Labels::None)
}

/// `(error message irritant ...)`: a Scheme error (the transaction is rolled back).
pub(crate) fn error<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let mut msg = String::new();
    let lambdas = cx.lambdas_ref().to_vec();
    let floor = cx.stack_floor();
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            msg.push(' ');
        }
        // The message is displayed, the irritants written.
        Printer::new(i > 0, &lambdas, floor).print(cx.tx, *v, Labels::Cycles, &mut msg)?;
    }
    err(format!("error: {msg}"))
}

/// `(exit [code])`: output so far is written, then the process exits.
pub(crate) fn exit<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let code = match (n, cx.stack.get(b).copied()) {
        (0, _) => 0,
        (_, Some(v)) if v == value::false_() => 1,
        (_, Some(v)) if v == value::true_() => 0,
        (_, Some(v)) => int(cx, "exit", v)? as i32,
        _ => 0,
    };
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(cx.fx.out.as_bytes());
    let _ = o.flush();
    std::process::exit(code)
}

/// `(spawn-event proc arg ...)`: queue an event, run as its own
/// transaction by the event loop after this transaction commits.
pub(crate) fn spawn_event<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let a = args(cx, b, n);
    let f = a[0];
    if imm_of(f, kind::PRIM).is_none() && value::obj_of(f, types().closure).is_none() {
        return type_err(cx, "spawn-event", "a procedure", f);
    }
    let ev = make_list(cx.tx, &a, nil())?;
    let Tagged::Ref(g) = ev else {
        return err("internal error: an event is not a list");
    };
    let root = cx.tx.global_root(g);
    cx.fx.spawned.push(root);
    Ok(value::unspec())
}
