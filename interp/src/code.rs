//! Compiled code: the tree the evaluator walks. Variables are resolved at
//! compile time to a frame slot, a captured-value index or a global
//! number, so no name is looked up while a program runs.
//!
//! Invariants the evaluator relies on:
//! - (C1) A lambda's frame is `frame` slots from its frame pointer; every
//!   `Local`/`LocalBox` slot of its body is below `frame`.
//! - (C2) A `LocalBox`/`CaptBox` slot always holds a box (made at entry
//!   or binding by `MakeBox`, before any read), and an unboxed variable is
//!   never assigned after a closure could have captured it (the compiler
//!   boxes every variable that is both assigned and captured).
//! - (C3) Compiled code is immortal: lambdas are leaked, and the heap
//!   constants they quote are held by global roots for the process.

use tmgc::{Dyn, GlobalRoot, Imm, SmallInt, Tagged};

use crate::error::Pos;
use crate::symbol::Sym;
use crate::value::Val;

/// A constant that needs no heap object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Lit {
    Int(SmallInt),
    Imm(Imm),
}

impl Lit {
    #[inline]
    pub(crate) fn val<'tx>(self) -> Val<'tx> {
        match self {
            Lit::Int(i) => Tagged::Int(i),
            Lit::Imm(m) => Tagged::Imm(m),
        }
    }

    pub(crate) fn of(v: Val<'_>) -> Option<Lit> {
        match v {
            Tagged::Int(i) => Some(Lit::Int(i)),
            Tagged::Imm(m) => Some(Lit::Imm(m)),
            _ => None,
        }
    }
}

/// Where a closure's captured value comes from, in the enclosing frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capture {
    Local(u16),
    Capt(u16),
}

/// Operators with one operand, inlined when their name is an unredefined builtin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op1 {
    Car,
    Cdr,
    Null,
    Pair,
    Not,
    Zero,
}

/// Operators with two operands, inlined likewise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op2 {
    Add,
    Sub,
    Mul,
    Lt,
    Gt,
    Le,
    Ge,
    NumEq,
    Eq,
    Cons,
    VecRef,
}

/// A compiled expression.
pub(crate) enum Node {
    Lit(Lit),
    Quoted(GlobalRoot<Dyn>),
    Local(u16),
    LocalBox(u16),
    Capt(u16),
    CaptBox(u16),
    Global(u32, Pos),
    SetLocal(u16, Box<Node>),
    SetLocalBox(u16, Box<Node>),
    SetCaptBox(u16, Box<Node>),
    /// `define` (true) or `set!` (false) of a global.
    SetGlobal(u32, bool, Box<Node>, Pos),
    /// Replace the slot's value by a new box holding it.
    MakeBox(u16),
    If(Box<[Node; 3]>),
    Seq(Box<[Node]>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Lambda(u32),
    Call {
        f: Box<Node>,
        args: Box<[Node]>,
        pos: Pos,
        tail: bool,
    },
    PrimCall {
        prim: u16,
        args: Box<[Node]>,
        pos: Pos,
    },
    Op1(Op1, Box<Node>, Pos),
    Op2(Op2, Box<[Node; 2]>, Pos),
    /// `case`: whether the slot's value is `eqv?` to one of the constants.
    Memv(u16, Box<[Lit]>),
    /// `do`: until `test`, run `body` then the steps (all computed before any is stored).
    Loop {
        test: Box<Node>,
        result: Box<Node>,
        body: Box<Node>,
        steps: Box<[(u16, bool, Node)]>,
    },
}

/// A compiled `lambda`.
pub(crate) struct Lambda {
    /// Required parameters.
    pub(crate) nreq: u16,
    /// Whether a rest list follows them.
    pub(crate) rest: bool,
    /// Frame size (C1).
    pub(crate) frame: u16,
    /// Parameter slots to box at entry (C2).
    pub(crate) boxed_params: Box<[u16]>,
    pub(crate) captures: Box<[Capture]>,
    pub(crate) body: Node,
    pub(crate) name: Option<Sym>,
    pub(crate) pos: Pos,
}

impl Lambda {
    pub(crate) fn describe(&self) -> String {
        match self.name {
            Some(n) => format!("#<procedure {}>", n.name()),
            None => format!("#<procedure at {}>", self.pos),
        }
    }
}
