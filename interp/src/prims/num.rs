//! Numbers: fixnums (61-bit, `Tagged::Int`; overflow is an error, there
//! are no bignums) and flonums (boxed f64). Division of fixnums that does
//! not come out even gives a flonum (there are no exact rationals).

use std::cmp::Ordering;

use tmgc::{DynInit, Tagged, Tx};

use super::{int, type_err};
use crate::error::{err, R};
use crate::eval::Ctx;
use crate::value::{self, types, Val};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// The integer-overflow error.
pub(crate) fn overflow<T>() -> R<T> {
    err("integer overflow (fixnums are 61-bit; this Scheme has no bignums)")
}

/// A new flonum.
pub(crate) fn flonum<'tx>(tx: &mut Tx<'tx>, f: f64) -> R<Val<'tx>> {
    Ok(Tagged::Ref(tx.alloc_with(types().flonum, DynInit::new().data(&[f.to_bits()]))?))
}

pub(crate) fn num_of<'tx>(cx: &mut Ctx<'_, 'tx>, v: Val<'tx>) -> R<Option<Num>> {
    Ok(match v {
        Tagged::Int(i) => Some(Num::I(i.get())),
        Tagged::Ref(g) if value::is(g, types().flonum) => Some(Num::F(f64::from_bits(cx.tx.data(g, 0)?))),
        _ => None,
    })
}

fn num<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<Num> {
    match num_of(cx, v)? {
        Some(n) => Ok(n),
        None => type_err(cx, name, "a number", v),
    }
}

fn make<'tx>(cx: &mut Ctx<'_, 'tx>, n: Num) -> R<Val<'tx>> {
    match n {
        Num::I(i) => Tagged::int(i).map_or_else(overflow, Ok),
        Num::F(f) => flonum(cx.tx, f),
    }
}

fn op(name: &str, a: Num, b: Num) -> R<Num> {
    let ovf = |r: Option<i64>| r.map(Num::I).map_or_else(overflow, Ok);
    match (a, b) {
        (Num::I(x), Num::I(y)) => match name {
            "+" => ovf(x.checked_add(y)),
            "-" => ovf(x.checked_sub(y)),
            "*" => ovf(x.checked_mul(y)),
            _ => {
                if y == 0 {
                    return err("/: division by zero");
                }
                if x % y == 0 {
                    Ok(Num::I(x / y))
                } else {
                    Ok(Num::F(x as f64 / y as f64))
                }
            }
        },
        (a, b) => {
            let (x, y) = (a.f(), b.f());
            Ok(Num::F(match name {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                _ => x / y,
            }))
        }
    }
}

/// `x name y` for + - * /.
pub(crate) fn arith<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, x: Val<'tx>, y: Val<'tx>) -> R<Val<'tx>> {
    let a = num(cx, name, x)?;
    let b = num(cx, name, y)?;
    let r = op(name, a, b)?;
    make(cx, r)
}

fn cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (a, b) => a.f().partial_cmp(&b.f()),
    }
}

/// A numeric comparison of two values.
pub(crate) fn num_cmp<'tx>(
    cx: &mut Ctx<'_, 'tx>,
    name: &str,
    x: Val<'tx>,
    y: Val<'tx>,
    pred: fn(Ordering) -> bool,
) -> R<Val<'tx>> {
    let a = num(cx, name, x)?;
    let b = num(cx, name, y)?;
    Ok(value::boolean(cmp(a, b).is_some_and(pred)))
}

fn fold<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, base: usize, n: usize, unit: i64) -> R<Val<'tx>> {
    let mut acc = if n == 0 { Num::I(unit) } else { num(cx, name, cx.stack[base])? };
    if n == 1 && name == "-" {
        acc = match acc {
            Num::I(i) => match i.checked_neg() {
                Some(v) => Num::I(v),
                None => return overflow(),
            },
            Num::F(f) => Num::F(-f), // (- 0.0) is -0.0
        };
    } else if n == 1 && name == "/" {
        acc = op(name, Num::I(unit), acc)?;
    }
    for i in 1..n {
        let b = num(cx, name, cx.stack[base + i])?;
        acc = op(name, acc, b)?;
    }
    make(cx, acc)
}

pub(crate) fn add<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    fold(cx, "+", b, n, 0)
}
pub(crate) fn sub<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    fold(cx, "-", b, n, 0)
}
pub(crate) fn mul<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    fold(cx, "*", b, n, 1)
}
pub(crate) fn div<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    fold(cx, "/", b, n, 1)
}

fn chain<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize, pred: fn(Ordering) -> bool) -> R<Val<'tx>> {
    let mut ok = true;
    let mut prev = num(cx, name, cx.stack[b])?;
    for i in 1..n {
        let x = num(cx, name, cx.stack[b + i])?;
        ok &= cmp(prev, x).is_some_and(pred);
        prev = x;
    }
    Ok(value::boolean(ok))
}

pub(crate) fn num_eq<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    chain(cx, "=", b, n, |o| o.is_eq())
}
pub(crate) fn lt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    chain(cx, "<", b, n, |o| o.is_lt())
}
pub(crate) fn gt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    chain(cx, ">", b, n, |o| o.is_gt())
}
pub(crate) fn le<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    chain(cx, "<=", b, n, |o| o.is_le())
}
pub(crate) fn ge<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    chain(cx, ">=", b, n, |o| o.is_ge())
}

/// Two fixnum arguments, the second not zero (a divisor).
pub(crate) fn int2<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize) -> R<(i64, i64)> {
    let x = int(cx, name, cx.stack[b])?;
    let y = int(cx, name, cx.stack[b + 1])?;
    if y == 0 {
        return err(format!("{name}: division by zero"));
    }
    Ok((x, y))
}

/// A fixnum, or the overflow error.
pub(crate) fn fix<'tx>(v: i64) -> R<Val<'tx>> {
    Tagged::int(v).map_or_else(overflow, Ok)
}

pub(crate) fn quotient<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = int2(cx, "quotient", b)?;
    fix(x / y)
}
pub(crate) fn remainder<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = int2(cx, "remainder", b)?;
    fix(x % y)
}
pub(crate) fn modulo<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let (x, y) = int2(cx, "modulo", b)?;
    fix(((x % y) + y) % y)
}

fn map1<'tx>(
    cx: &mut Ctx<'_, 'tx>,
    name: &str,
    b: usize,
    fi: fn(i64) -> Option<Num>,
    ff: fn(f64) -> f64,
) -> R<Val<'tx>> {
    let r = match num(cx, name, cx.stack[b])? {
        Num::I(i) => match fi(i) {
            Some(r) => r,
            None => return overflow(),
        },
        Num::F(f) => Num::F(ff(f)),
    };
    make(cx, r)
}

pub(crate) fn abs<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "abs", b, |i| i.checked_abs().map(Num::I), f64::abs)
}
pub(crate) fn floor<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "floor", b, |i| Some(Num::I(i)), f64::floor)
}
pub(crate) fn ceiling<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "ceiling", b, |i| Some(Num::I(i)), f64::ceil)
}
pub(crate) fn round<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "round", b, |i| Some(Num::I(i)), f64::round_ties_even)
}
pub(crate) fn truncate<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "truncate", b, |i| Some(Num::I(i)), f64::trunc)
}
pub(crate) fn square<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    map1(cx, "square", b, |i| i.checked_mul(i).map(Num::I), |f| f * f)
}

fn float1<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, f: fn(f64) -> f64) -> R<Val<'tx>> {
    let x = num(cx, name, cx.stack[b])?.f();
    flonum(cx.tx, f(x))
}

pub(crate) fn sqrt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    if let Tagged::Int(i) = cx.stack[b] {
        let i = i.get();
        if i >= 0 {
            let r = (i as f64).sqrt().round() as i64;
            if r * r == i {
                return fix(r);
            }
        }
    }
    float1(cx, "sqrt", b, f64::sqrt)
}
pub(crate) fn isqrt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let i = int(cx, "exact-integer-sqrt", cx.stack[b])?;
    if i < 0 {
        return err("exact-integer-sqrt: negative argument");
    }
    let mut r = (i as f64).sqrt() as i64;
    while r * r > i {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= i {
        r += 1;
    }
    fix(r)
}
pub(crate) fn exp<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float1(cx, "exp", b, f64::exp)
}
pub(crate) fn log<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float1(cx, "log", b, f64::ln)
}
pub(crate) fn sin<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float1(cx, "sin", b, f64::sin)
}
pub(crate) fn cos<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float1(cx, "cos", b, f64::cos)
}
pub(crate) fn tan<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    float1(cx, "tan", b, f64::tan)
}
pub(crate) fn atan<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    if n == 2 {
        let y = num(cx, "atan", cx.stack[b])?.f();
        let x = num(cx, "atan", cx.stack[b + 1])?.f();
        return flonum(cx.tx, y.atan2(x));
    }
    float1(cx, "atan", b, f64::atan)
}

pub(crate) fn expt<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let x = num(cx, "expt", cx.stack[b])?;
    let y = num(cx, "expt", cx.stack[b + 1])?;
    if let (Num::I(x), Num::I(y)) = (x, y) {
        if y >= 0 {
            let r = u32::try_from(y).ok().and_then(|y| x.checked_pow(y));
            return r.map_or_else(overflow, fix);
        }
    }
    flonum(cx.tx, x.f().powf(y.f()))
}

fn extreme<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize, want: Ordering) -> R<Val<'tx>> {
    let mut best = num(cx, name, cx.stack[b])?;
    let mut inexact = matches!(best, Num::F(_));
    for i in 1..n {
        let x = num(cx, name, cx.stack[b + i])?;
        inexact |= matches!(x, Num::F(_));
        if cmp(x, best) == Some(want) {
            best = x;
        }
    }
    if inexact {
        best = Num::F(best.f());
    }
    make(cx, best)
}
pub(crate) fn min<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    extreme(cx, "min", b, n, Ordering::Less)
}
pub(crate) fn max<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    extreme(cx, "max", b, n, Ordering::Greater)
}

fn gcd2(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}
pub(crate) fn gcd<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut g = 0;
    for i in 0..n {
        let x = int(cx, "gcd", cx.stack[b + i])?;
        g = gcd2(g, x);
    }
    fix(g)
}
pub(crate) fn lcm<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let mut l: i64 = 1;
    for i in 0..n {
        let x = int(cx, "lcm", cx.stack[b + i])?.abs();
        if x == 0 {
            return fix(0);
        }
        l = match (l / gcd2(l, x)).checked_mul(x) {
            Some(v) => v,
            None => return overflow(),
        };
    }
    fix(l)
}

fn test<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, fi: fn(i64) -> bool, ff: fn(f64) -> bool) -> R<Val<'tx>> {
    Ok(value::boolean(match num(cx, name, cx.stack[b])? {
        Num::I(i) => fi(i),
        Num::F(f) => ff(f),
    }))
}
pub(crate) fn zero<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    test(cx, "zero?", b, |i| i == 0, |f| f == 0.0)
}
pub(crate) fn positive<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    test(cx, "positive?", b, |i| i > 0, |f| f > 0.0)
}
pub(crate) fn negative<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    test(cx, "negative?", b, |i| i < 0, |f| f < 0.0)
}
pub(crate) fn odd<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    test(cx, "odd?", b, |i| i % 2 != 0, |f| f % 2.0 != 0.0)
}
pub(crate) fn even<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    test(cx, "even?", b, |i| i % 2 == 0, |f| f % 2.0 == 0.0)
}

pub(crate) fn is_number<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = cx.stack[b];
    Ok(value::boolean(num_of(cx, v)?.is_some()))
}
pub(crate) fn is_integer<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = cx.stack[b];
    Ok(value::boolean(match num_of(cx, v)? {
        Some(Num::I(_)) => true,
        Some(Num::F(f)) => f.fract() == 0.0 && f.is_finite(),
        None => false,
    }))
}
pub(crate) fn is_exact<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    Ok(value::boolean(matches!(cx.stack[b], Tagged::Int(_))))
}
pub(crate) fn is_inexact<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let v = cx.stack[b];
    Ok(value::boolean(matches!(num_of(cx, v)?, Some(Num::F(_)))))
}
pub(crate) fn inexact<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    let x = num(cx, "inexact", cx.stack[b])?.f();
    flonum(cx.tx, x)
}
pub(crate) fn exact<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, _: usize) -> R<Val<'tx>> {
    match num(cx, "exact", cx.stack[b])? {
        Num::I(i) => fix(i),
        // Within the fixnums' range (61 bits, `SmallInt`); `fix` checks the ends.
        Num::F(f) if f.fract() == 0.0 && f.abs() <= tmgc::SmallInt::MAX as f64 => fix(f as i64),
        Num::F(f) => err(format!("exact: {f} has no exact integer value (no rationals or bignums)")),
    }
}

pub(crate) fn number_to_string<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let radix = if n == 2 { int(cx, "number->string", cx.stack[b + 1])? } else { 10 };
    let s = match num(cx, "number->string", cx.stack[b])? {
        Num::I(i) if radix == 10 => i.to_string(),
        Num::I(i) => match radix {
            2 => format!("{}{:b}", if i < 0 { "-" } else { "" }, i.unsigned_abs()),
            8 => format!("{}{:o}", if i < 0 { "-" } else { "" }, i.unsigned_abs()),
            16 => format!("{}{:x}", if i < 0 { "-" } else { "" }, i.unsigned_abs()),
            r => return err(format!("number->string: unsupported radix {r}")),
        },
        Num::F(f) if radix == 10 => crate::print::flonum_text(f),
        Num::F(_) => return err(format!("number->string: radix {radix} for an inexact number (only 10 here)")),
    };
    super::string(cx.tx, &s)
}

pub(crate) fn string_to_number<'tx>(cx: &mut Ctx<'_, 'tx>, b: usize, n: usize) -> R<Val<'tx>> {
    let g = super::want(cx, "string->number", "a string", cx.stack[b], crate::value::HK::Str)?;
    let s = super::read_string(cx.tx, g)?;
    let s = if n == 2 {
        match int(cx, "string->number", cx.stack[b + 1])? {
            16 => format!("#x{s}"),
            8 => format!("#o{s}"),
            2 => format!("#b{s}"),
            _ => s,
        }
    } else {
        s
    };
    match crate::reader::parse_number(&s) {
        Some(crate::reader::SK::Int(i)) => Tagged::int(i).map_or_else(overflow, Ok),
        Some(crate::reader::SK::Float(f)) => flonum(cx.tx, f),
        _ => Ok(value::false_()),
    }
}
