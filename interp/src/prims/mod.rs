//! The builtin procedures. Each takes its arguments from the evaluation
//! stack (`stack[base..base + n]`, arity already checked against the
//! table) and returns a value or an abort.
//!
//! One table, [`PRIMS`], is the home of every builtin: the compiler
//! integrates calls to them by index, `value::prim_val` makes them
//! first-class, and the program's global environment binds each name.

mod lists;
mod more;
mod num;
mod system;
mod table;
mod text;
mod vectors;

use tmgc::{Dyn, Gc, Tagged, Tx};

use crate::error::{err, SchemeError, R};
use crate::eval::Ctx;
use crate::value::{self, classify, nil, types, Val, HK};

pub(crate) use lists::cons;
pub(crate) use num::{arith, flonum, num_cmp, overflow};
pub(crate) use text::{read_string, string};
pub(crate) use vectors::vector_ref;

/// A builtin's code.
pub(crate) type PrimFn = for<'a, 'tx> fn(&mut Ctx<'a, 'tx>, usize, usize) -> R<Val<'tx>>;

/// A builtin: its name, its arity (`max` is `usize::MAX` when variadic) and its code.
pub(crate) struct Prim {
    pub(crate) name: &'static str,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) f: PrimFn,
}

const MANY: usize = usize::MAX;

const fn p(name: &'static str, min: usize, max: usize, f: PrimFn) -> Prim {
    Prim { name, min, max, f }
}

/// Every builtin.
pub(crate) static PRIMS: &[Prim] = &[
    // numbers
    p("+", 0, MANY, num::add),
    p("-", 1, MANY, num::sub),
    p("*", 0, MANY, num::mul),
    p("/", 1, MANY, num::div),
    p("=", 1, MANY, num::num_eq),
    p("<", 1, MANY, num::lt),
    p(">", 1, MANY, num::gt),
    p("<=", 1, MANY, num::le),
    p(">=", 1, MANY, num::ge),
    p("quotient", 2, 2, num::quotient),
    p("remainder", 2, 2, num::remainder),
    p("modulo", 2, 2, num::modulo),
    p("abs", 1, 1, num::abs),
    p("min", 1, MANY, num::min),
    p("max", 1, MANY, num::max),
    p("gcd", 0, MANY, num::gcd),
    p("lcm", 0, MANY, num::lcm),
    p("zero?", 1, 1, num::zero),
    p("positive?", 1, 1, num::positive),
    p("negative?", 1, 1, num::negative),
    p("odd?", 1, 1, num::odd),
    p("even?", 1, 1, num::even),
    p("number?", 1, 1, num::is_number),
    p("integer?", 1, 1, num::is_integer),
    p("real?", 1, 1, num::is_number),
    p("exact?", 1, 1, num::is_exact),
    p("inexact?", 1, 1, num::is_inexact),
    p("exact-integer?", 1, 1, num::is_exact),
    p("exact->inexact", 1, 1, num::inexact),
    p("inexact", 1, 1, num::inexact),
    p("inexact->exact", 1, 1, num::exact),
    p("exact", 1, 1, num::exact),
    p("floor", 1, 1, num::floor),
    p("ceiling", 1, 1, num::ceiling),
    p("round", 1, 1, num::round),
    p("truncate", 1, 1, num::truncate),
    p("sqrt", 1, 1, num::sqrt),
    p("exact-integer-sqrt", 1, 1, num::isqrt),
    p("expt", 2, 2, num::expt),
    p("exp", 1, 1, num::exp),
    p("log", 1, 1, num::log),
    p("sin", 1, 1, num::sin),
    p("cos", 1, 1, num::cos),
    p("tan", 1, 1, num::tan),
    p("atan", 1, 2, num::atan),
    p("square", 1, 1, num::square),
    p("number->string", 1, 2, num::number_to_string),
    p("string->number", 1, 2, num::string_to_number),
    // pairs and lists
    p("cons", 2, 2, lists::p_cons),
    p("car", 1, 1, lists::car),
    p("cdr", 1, 1, lists::cdr),
    p("set-car!", 2, 2, lists::set_car),
    p("set-cdr!", 2, 2, lists::set_cdr),
    p("caar", 1, 1, lists::caar),
    p("cadr", 1, 1, lists::cadr),
    p("cdar", 1, 1, lists::cdar),
    p("cddr", 1, 1, lists::cddr),
    p("caddr", 1, 1, lists::caddr),
    p("cdddr", 1, 1, lists::cdddr),
    p("cadddr", 1, 1, lists::cadddr),
    p("list", 0, MANY, lists::list),
    p("cons*", 1, MANY, lists::cons_star),
    p("length", 1, 1, lists::length),
    p("append", 0, MANY, lists::append),
    p("reverse", 1, 1, lists::reverse),
    p("list-tail", 2, 2, lists::list_tail),
    p("list-ref", 2, 2, lists::list_ref),
    p("list-copy", 1, 1, lists::list_copy),
    p("last-pair", 1, 1, lists::last_pair),
    p("memq", 2, 2, lists::memq),
    p("memv", 2, 2, lists::memv),
    p("member", 2, 3, more::member),
    p("assq", 2, 2, lists::assq),
    p("assv", 2, 2, lists::assv),
    p("assoc", 2, 3, more::assoc),
    p("map", 2, MANY, lists::map),
    p("for-each", 2, MANY, lists::for_each),
    p("filter", 2, 2, lists::filter),
    p("remove", 2, 2, lists::remove),
    p("delete", 2, 2, lists::delete),
    p("fold-left", 3, 3, lists::fold_left),
    p("fold-right", 3, 3, lists::fold_right),
    p("fold", 3, 3, lists::fold),
    p("reduce", 3, 3, lists::reduce),
    p("iota", 1, 3, lists::iota),
    p("list-index", 2, 2, lists::list_index),
    p("apply", 1, MANY, lists::apply),
    p("list?", 1, 1, lists::is_list),
    p("pair?", 1, 1, lists::is_pair),
    p("null?", 1, 1, lists::is_null),
    p("sort", 2, 2, lists::sort),
    p("list-sort", 2, 2, lists::list_sort),
    // symbols, characters and strings
    p("symbol?", 1, 1, text::is_symbol),
    p("symbol->string", 1, 1, text::symbol_to_string),
    p("string->symbol", 1, 1, text::string_to_symbol),
    p("char?", 1, 1, text::is_char),
    p("char->integer", 1, 1, text::char_to_integer),
    p("integer->char", 1, 1, text::integer_to_char),
    p("char=?", 2, MANY, text::char_eq),
    p("char<?", 2, MANY, text::char_lt),
    p("char>?", 2, MANY, text::char_gt),
    p("char<=?", 2, MANY, text::char_le),
    p("char>=?", 2, MANY, text::char_ge),
    p("char-alphabetic?", 1, 1, text::char_alphabetic),
    p("char-numeric?", 1, 1, text::char_numeric),
    p("char-whitespace?", 1, 1, text::char_whitespace),
    p("char-upper-case?", 1, 1, text::char_upper),
    p("char-lower-case?", 1, 1, text::char_lower),
    p("char-upcase", 1, 1, text::char_upcase),
    p("char-downcase", 1, 1, text::char_downcase),
    p("digit-value", 1, 1, text::digit_value),
    p("string?", 1, 1, text::is_string),
    p("make-string", 1, 2, text::make_string),
    p("string", 0, MANY, text::string_of_chars),
    p("string-length", 1, 1, text::string_length),
    p("string-ref", 2, 2, text::string_ref),
    p("string-set!", 3, 3, text::string_set),
    p("substring", 2, 3, text::substring),
    p("string-append", 0, MANY, text::string_append),
    p("string-copy", 1, 3, text::string_copy),
    p("string->list", 1, 3, text::string_to_list),
    p("list->string", 1, 1, text::list_to_string),
    p("string=?", 2, MANY, text::string_eq),
    p("string<?", 2, MANY, text::string_lt),
    p("string>?", 2, MANY, text::string_gt),
    p("string<=?", 2, MANY, text::string_le),
    p("string>=?", 2, MANY, text::string_ge),
    p("string-ci=?", 2, MANY, text::string_ci_eq),
    p("string-upcase", 1, 1, text::string_upcase),
    p("string-downcase", 1, 1, text::string_downcase),
    p("string-index", 2, 2, text::string_index),
    p("string-join", 1, 2, text::string_join),
    // vectors
    p("vector?", 1, 1, vectors::is_vector),
    p("make-vector", 1, 2, vectors::make_vector),
    p("vector", 0, MANY, vectors::vector),
    p("vector-length", 1, 1, vectors::vector_length),
    p("vector-ref", 2, 2, vectors::p_vector_ref),
    p("vector-set!", 3, 3, vectors::vector_set),
    p("vector->list", 1, 3, vectors::vector_to_list),
    p("list->vector", 1, 1, vectors::list_to_vector),
    p("vector-fill!", 2, 2, vectors::vector_fill),
    p("vector-map", 2, MANY, vectors::vector_map),
    p("vector-for-each", 2, MANY, vectors::vector_for_each),
    p("vector-copy", 1, 3, vectors::vector_copy),
    // hash tables (SRFI 69)
    p("make-hash-table", 0, 2, table::make_hash_table),
    p("hash-table?", 1, 1, table::is_hash_table),
    p("hash-table-set!", 3, 3, table::set),
    p("hash-table-ref", 2, 3, table::href),
    p("hash-table-ref/default", 3, 3, table::ref_default),
    p("hash-table-delete!", 2, 2, table::delete),
    p("hash-table-contains?", 2, 2, table::contains),
    p("hash-table-exists?", 2, 2, table::contains),
    p("hash-table-update!", 3, 4, table::update),
    p("hash-table-update!/default", 4, 4, table::update_default),
    p("hash-table-count", 1, 1, table::count),
    p("hash-table-size", 1, 1, table::count),
    p("hash-table-keys", 1, 1, table::keys),
    p("hash-table-values", 1, 1, table::values),
    p("hash-table->alist", 1, 1, table::to_alist),
    p("hash-table-walk", 2, 2, table::walk),
    // equivalence and types
    p("eq?", 2, 2, system::eq),
    p("eqv?", 2, 2, system::eqv),
    p("equal?", 2, 2, system::equal),
    p("not", 1, 1, system::not),
    p("boolean?", 1, 1, system::is_boolean),
    p("procedure?", 1, 1, system::is_procedure),
    p("eof-object", 0, 0, system::eof_object),
    p("eof-object?", 1, 1, system::is_eof),
    // output, errors, events
    p("display", 1, 1, system::display),
    p("write", 1, 1, system::write),
    p("write-shared", 1, 1, system::write_shared),
    p("write-simple", 1, 1, system::write_simple),
    p("newline", 0, 0, system::newline),
    p("write-char", 1, 1, system::write_char),
    p("write-string", 1, 1, system::write_string),
    p("error", 0, MANY, system::error),
    p("exit", 0, 1, system::exit),
    p("spawn-event", 1, MANY, system::spawn_event),
    p("void", 0, MANY, system::void),
    // more of R7RS-small and SRFI 69
    p("make-list", 1, 2, more::make_list_p),
    p("list-set!", 3, 3, more::list_set),
    p("string-map", 2, 2, more::string_map),
    p("string-for-each", 2, 2, more::string_for_each),
    p("string-fill!", 2, 2, more::string_fill),
    p("string->vector", 1, 1, more::string_to_vector),
    p("vector->string", 1, 1, more::vector_to_string),
    p("vector-append", 0, MANY, more::vector_append),
    p("vector-copy!", 3, 5, more::vector_copy_into),
    p("boolean=?", 2, MANY, more::boolean_eq),
    p("symbol=?", 2, MANY, more::symbol_eq),
    p("char-ci=?", 2, MANY, more::char_ci_eq),
    p("char-foldcase", 1, 1, more::char_foldcase),
    p("string-foldcase", 1, 1, more::string_foldcase),
    p("string-ci<?", 2, MANY, more::string_ci_lt),
    p("string-ci>?", 2, MANY, more::string_ci_gt),
    p("floor-quotient", 2, 2, more::floor_quotient),
    p("floor-remainder", 2, 2, more::floor_remainder),
    p("truncate-quotient", 2, 2, num::quotient),
    p("truncate-remainder", 2, 2, num::remainder),
    p("rational?", 1, 1, num::is_number),
    p("nan?", 1, 1, more::is_nan),
    p("infinite?", 1, 1, more::is_infinite),
    p("finite?", 1, 1, more::is_finite),
    p("alist->hash-table", 1, 3, more::alist_to_hash_table),
    p("hash-table-fold", 3, 3, more::hash_table_fold),
    p("hash-table-copy", 1, 2, more::hash_table_copy),
    p("string-hash", 1, 2, more::string_hash),
    p("hash", 1, 2, more::hash),
    p("hash-by-identity", 1, 2, more::hash_by_identity),
];

/// The index of `apply` (the evaluator spreads its arguments itself).
pub(crate) const APPLY: usize = 86;

/// The builtin named `name`.
pub(crate) fn find(name: &str) -> Option<usize> {
    PRIMS.iter().position(|p| p.name == name)
}

/// Check `n` arguments against builtin `p`'s arity.
pub(crate) fn check_arity(p: usize, n: usize) -> Result<(), SchemeError> {
    let pr = &PRIMS[p];
    if n < pr.min || n > pr.max {
        let want = match (pr.min, pr.max) {
            (a, b) if a == b => format!("{a}"),
            (a, MANY) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(SchemeError::new(format!("{}: wrong number of arguments: expected {want}, got {n}", pr.name)));
    }
    Ok(())
}

// ---- helpers shared by the builtins ----

/// A wrong-type error: "`name`: expected `what`, got `v`".
pub(crate) fn type_err<'tx, T>(cx: &mut Ctx<'_, 'tx>, name: &str, what: &str, v: Val<'tx>) -> R<T> {
    let s = cx.show(v)?;
    err(format!("{name}: expected {what}, got {s}"))
}

/// `v` as a heap object of kind `k`, or a wrong-type error.
pub(crate) fn want<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, what: &str, v: Val<'tx>, k: HK) -> R<Gc<'tx, Dyn>> {
    match v {
        Tagged::Ref(g) if classify(g) == k => Ok(g),
        _ => type_err(cx, name, what, v),
    }
}

/// `v` as a fixnum, or a wrong-type error.
/// The optional `start` and `end` arguments at `stack[b + 1]` and
/// `stack[b + 2]` of a call with `n` arguments, over a sequence of `len`
/// items (`vector->list`, `vector-copy`, `string->list`).
pub(crate) fn range<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, b: usize, n: usize, len: usize) -> R<(usize, usize)> {
    let start = if n > 1 { int(cx, name, cx.stack[b + 1])? } else { 0 };
    let end = if n > 2 { int(cx, name, cx.stack[b + 2])? } else { len as i64 };
    if start < 0 || end < start || end as usize > len {
        return err(format!("{name}: bad range {start}..{end} (length {len})"));
    }
    Ok((start as usize, end as usize))
}

pub(crate) fn int<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>) -> R<i64> {
    match v {
        Tagged::Int(i) => Ok(i.get()),
        _ => type_err(cx, name, "an exact integer", v),
    }
}

/// `v` as an index below `len`.
pub(crate) fn index<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, v: Val<'tx>, len: usize) -> R<usize> {
    let i = int(cx, name, v)?;
    if i < 0 || i as usize >= len {
        return err(format!("{name}: index {i} out of range (length {len})"));
    }
    Ok(i as usize)
}

/// The elements of proper list `l`.
pub(crate) fn list_items<'tx>(cx: &mut Ctx<'_, 'tx>, name: &str, l: Val<'tx>) -> R<Vec<Val<'tx>>> {
    let mut out = Vec::new();
    walk_list(cx, name, l, |_, x| {
        out.push(x);
        Ok(())
    })?;
    Ok(out)
}

/// Call `f` on each element of proper list `l`; a wrong-type error for an
/// improper or circular one (Floyd's check: a second cursor at half speed).
pub(crate) fn walk_list<'tx>(
    cx: &mut Ctx<'_, 'tx>,
    name: &str,
    l: Val<'tx>,
    mut f: impl FnMut(&mut Ctx<'_, 'tx>, Val<'tx>) -> R<()>,
) -> R<()> {
    let pair = types().pair;
    let (mut cur, mut slow, mut n) = (l, l, 0u64);
    loop {
        match cur {
            Tagged::Ref(g) if value::is(g, pair) => {
                let x = cx.tx.tagged(g, 0)?;
                f(cx, x)?;
                cur = cx.tx.tagged(g, 1)?;
                n += 1;
                if n % 2 == 0 {
                    if let Tagged::Ref(s) = slow {
                        slow = cx.tx.tagged(s, 1)?;
                    }
                }
                if cur == slow {
                    return type_err(cx, name, "a proper list (this one is circular)", l);
                }
            }
            x if x == nil() => return Ok(()),
            _ => return type_err(cx, name, "a proper list", l),
        }
    }
}

/// A proper list of `items`.
pub(crate) fn make_list<'tx>(tx: &mut Tx<'tx>, items: &[Val<'tx>], tail: Val<'tx>) -> R<Val<'tx>> {
    let mut acc = tail;
    for v in items.iter().rev() {
        acc = cons(tx, *v, acc)?;
    }
    Ok(acc)
}

/// The arguments as a vector (for builtins that call procedures, which
/// move the stack).
pub(crate) fn args<'tx>(cx: &Ctx<'_, 'tx>, base: usize, n: usize) -> Vec<Val<'tx>> {
    cx.stack[base..base + n].to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_apply_index_names_apply() {
        assert_eq!(super::PRIMS[super::APPLY].name, "apply");
        let mut names: Vec<&str> = super::PRIMS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]), "each builtin once");
    }
}
