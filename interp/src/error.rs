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

/// Why an evaluation stopped: an abort (a Scheme error, a conflict, the
/// heap limit), boxed, so that `R<Val>` is three words instead of five
/// (the evaluator returns one per node).
#[derive(Debug)]
pub(crate) struct Fail(Box<Abort<SchemeError>>);

impl Fail {
    pub(crate) fn into_abort(self) -> Abort<SchemeError> {
        *self.0
    }

    pub(crate) fn user(e: SchemeError) -> Fail {
        Fail(Box::new(Abort::User(e)))
    }

    /// Whether it is a Scheme error (not a conflict or the heap limit).
    pub(crate) fn is_user(&self) -> bool {
        matches!(*self.0, Abort::User(_))
    }
}

impl From<Abort<SchemeError>> for Fail {
    #[cold]
    fn from(a: Abort<SchemeError>) -> Fail {
        Fail(Box::new(a))
    }
}

impl From<tmgc::Conflict> for Fail {
    #[cold]
    fn from(c: tmgc::Conflict) -> Fail {
        Fail(Box::new(c.into()))
    }
}

impl From<tmgc::AllocError> for Fail {
    #[cold]
    fn from(a: tmgc::AllocError) -> Fail {
        Fail(Box::new(a.into()))
    }
}

impl From<tmgc::RootMisuse> for Fail {
    #[cold]
    fn from(r: tmgc::RootMisuse) -> Fail {
        Fail(Box::new(r.into()))
    }
}

impl From<Fail> for Abort<SchemeError> {
    fn from(f: Fail) -> Abort<SchemeError> {
        f.into_abort()
    }
}

/// What evaluation returns: a value, or why it stopped.
pub(crate) type R<T> = Result<T, Fail>;

/// Raise a Scheme error.
#[cold]
pub(crate) fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(Fail::user(SchemeError::new(msg)))
}

/// Give an error without a position the position `pos`.
#[cold]
pub(crate) fn at_pos(mut e: Fail, pos: Pos) -> Fail {
    if let Abort::User(s) = &mut *e.0 {
        if s.pos.is_none() {
            s.pos = Some(pos);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    /// The point of `Fail`: a result is three words (an `Abort` inline
    /// made it five).
    #[test]
    fn a_result_is_three_words() {
        assert_eq!(std::mem::size_of::<super::R<tmgc::Tagged<'static>>>(), 24);
        assert_eq!(std::mem::size_of::<Result<tmgc::Tagged<'static>, tmgc::Abort<super::SchemeError>>>(), 40);
    }
}
