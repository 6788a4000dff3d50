//! Scheme errors: a message and, where known, the source position of the
//! expression that raised it. A Scheme error aborts the transaction that
//! raised it (`Abort::User`), so the heap effects of the failed top-level
//! form or event are rolled back; the host never panics on one.

use std::fmt;

use tmgc::Abort;

/// A position in a source text: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A Scheme error (syntax, unbound variable, wrong type, arity, `error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeError {
    /// What went wrong.
    pub msg: String,
    /// Where, if known.
    pub pos: Option<Pos>,
}

impl SchemeError {
    /// An error with no position yet (the caller's call site adds one).
    pub fn new(msg: impl Into<String>) -> Self {
        SchemeError { msg: msg.into(), pos: None }
    }

    /// An error at `pos`.
    pub fn at(msg: impl Into<String>, pos: Pos) -> Self {
        SchemeError { msg: msg.into(), pos: Some(pos) }
    }
}

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{p}: {}", self.msg),
            None => write!(f, "{}", self.msg),
        }
    }
}

impl std::error::Error for SchemeError {}

/// What evaluation returns: a value, or an abort (a Scheme error, a
/// conflict, the heap limit).
pub(crate) type R<T> = Result<T, Abort<SchemeError>>;

/// Raise a Scheme error.
pub(crate) fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(Abort::User(SchemeError::new(msg)))
}

/// Give an error without a position the position `pos`.
#[inline]
pub(crate) fn at_pos(e: Abort<SchemeError>, pos: Pos) -> Abort<SchemeError> {
    match e {
        Abort::User(mut s) if s.pos.is_none() => {
            s.pos = Some(pos);
            Abort::User(s)
        }
        e => e,
    }
}
