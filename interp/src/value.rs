//! Scheme values on the tmgc heap.
//!
//! A value is a [`Tagged`] word: fixnums are `Tagged::Int` (61 bits;
//! overflow is an error, there are no bignums), the constants (booleans,
//! the empty list, characters, symbols, primitives) are `Tagged::Imm` of
//! the kinds below, and everything else is a reference to a dynamic object
//! of one of the types in [`Types`]:
//!
//! | type | shape |
//! |---|---|
//! | pair | 2 tagged words (car, cdr) |
//! | box | 1 tagged word (an assigned variable captured by a closure) |
//! | closure | 1 tagged word (its code, an immediate) + a tagged array (captured values); frozen |
//! | vector | a tagged array |
//! | string | 1 data word (its length in characters) + a byte array (UTF-8) |
//! | flonum | 1 data word (the f64's bits); frozen |
//! | hash table | 2 tagged words (equivalence kind, bucket vector) |
//!
//! Closures and flonums never change once made: their types are frozen
//! (`DynTypeSpec::frozen`), so reading them costs a transaction no read
//! set entry and no validation (every call reads its closure).
//!
//! Invariant: these are the only dynamic types the interpreter allocates,
//! and a value's meaning depends only on its word (and the object it
//! references), never on Rust-side state, so every value survives a
//! transaction's commit as long as something in the heap or a root holds
//! it.

use std::sync::OnceLock;

use tmgc::{Dyn, DynType, DynTypeSpec, Elems, Gc, Imm, Tagged};

/// A Scheme value, valid in transaction `'tx`.
pub(crate) type Val<'tx> = Tagged<'tx>;

/// The immediate kinds (1 to 14).
pub(crate) mod kind {
    pub(crate) const BOOL: u8 = 1;
    pub(crate) const NIL: u8 = 2;
    pub(crate) const UNSPEC: u8 = 3;
    pub(crate) const CHAR: u8 = 4;
    pub(crate) const SYM: u8 = 5;
    pub(crate) const PRIM: u8 = 6;
    pub(crate) const EOF: u8 = 7;
    /// A closure's code: an index into the program's lambda table.
    pub(crate) const CODE: u8 = 8;
    /// A variable bound but not yet initialised (`letrec`), or unbound.
    pub(crate) const UNDEF: u8 = 9;
}

const fn imm<'tx>(k: u8, p: u64) -> Val<'tx> {
    match Imm::new(k, p) {
        Some(i) => Tagged::Imm(i),
        None => panic!("immediate out of range"),
    }
}

#[inline]
pub(crate) const fn false_<'tx>() -> Val<'tx> {
    imm(kind::BOOL, 0)
}
#[inline]
pub(crate) const fn true_<'tx>() -> Val<'tx> {
    imm(kind::BOOL, 1)
}
#[inline]
pub(crate) const fn nil<'tx>() -> Val<'tx> {
    imm(kind::NIL, 0)
}
#[inline]
pub(crate) const fn unspec<'tx>() -> Val<'tx> {
    imm(kind::UNSPEC, 0)
}
#[inline]
pub(crate) const fn undef<'tx>() -> Val<'tx> {
    imm(kind::UNDEF, 0)
}
#[inline]
pub(crate) const fn eof<'tx>() -> Val<'tx> {
    imm(kind::EOF, 0)
}

#[inline]
pub(crate) fn boolean<'tx>(b: bool) -> Val<'tx> {
    if b {
        true_()
    } else {
        false_()
    }
}

#[inline]
pub(crate) fn truthy(v: Val<'_>) -> bool {
    v != false_()
}

pub(crate) fn char_val<'tx>(c: char) -> Val<'tx> {
    imm(kind::CHAR, c as u64)
}

pub(crate) fn sym_val<'tx>(s: crate::symbol::Sym) -> Val<'tx> {
    imm(kind::SYM, u64::from(s.0))
}

pub(crate) fn prim_val<'tx>(p: usize) -> Val<'tx> {
    imm(kind::PRIM, p as u64)
}

pub(crate) fn code_val<'tx>(id: usize) -> Val<'tx> {
    imm(kind::CODE, id as u64)
}

/// The immediate of `kind`, if `v` is one.
#[inline]
pub(crate) fn imm_of(v: Val<'_>, k: u8) -> Option<u64> {
    match v {
        Tagged::Imm(i) if i.kind() == k => Some(i.payload()),
        _ => None,
    }
}

/// The dynamic types, registered once per process.
pub(crate) struct Types {
    pub(crate) pair: DynType,
    pub(crate) boxed: DynType,
    pub(crate) closure: DynType,
    pub(crate) vector: DynType,
    pub(crate) string: DynType,
    pub(crate) flonum: DynType,
    pub(crate) table: DynType,
}

pub(crate) fn types() -> &'static Types {
    static T: OnceLock<Types> = OnceLock::new();
    T.get_or_init(|| {
        let reg = |s: DynTypeSpec| DynType::register(s).expect("the interpreter's types register");
        Types {
            pair: reg(DynTypeSpec::new("scheme:pair").tagged_words(2)),
            boxed: reg(DynTypeSpec::new("scheme:box").tagged_words(1)),
            closure: reg(DynTypeSpec::new("scheme:closure").tagged_words(1).array(Elems::Tagged).frozen()),
            vector: reg(DynTypeSpec::new("scheme:vector").array(Elems::Tagged)),
            string: reg(DynTypeSpec::new("scheme:string").data_words(1).array(Elems::Bytes)),
            flonum: reg(DynTypeSpec::new("scheme:flonum").data_words(1).frozen()),
            table: reg(DynTypeSpec::new("scheme:hash-table").tagged_words(2)),
        }
    })
}

/// What a heap value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HK {
    Pair,
    Box,
    Closure,
    Vector,
    Str,
    Flo,
    Table,
}

#[inline]
pub(crate) fn is(g: Gc<'_, Dyn>, t: DynType) -> bool {
    g.is(t)
}

pub(crate) fn classify(g: Gc<'_, Dyn>) -> HK {
    let t = types();
    let ti = g.header().type_info();
    if std::ptr::eq(ti, t.pair.info()) {
        HK::Pair
    } else if std::ptr::eq(ti, t.closure.info()) {
        HK::Closure
    } else if std::ptr::eq(ti, t.vector.info()) {
        HK::Vector
    } else if std::ptr::eq(ti, t.string.info()) {
        HK::Str
    } else if std::ptr::eq(ti, t.flonum.info()) {
        HK::Flo
    } else if std::ptr::eq(ti, t.table.info()) {
        HK::Table
    } else {
        HK::Box
    }
}

/// `v` as a heap object of type `t`.
#[inline]
pub(crate) fn obj_of(v: Val<'_>, t: DynType) -> Option<Gc<'_, Dyn>> {
    match v {
        Tagged::Ref(g) if is(g, t) => Some(g),
        _ => None,
    }
}
