//! `display`, `write`, `write-shared` and `write-simple`: a value's
//! external representation (R7RS 6.13.3).
//!
//! Printing reads the heap through the transaction, so what is printed is
//! part of the transaction's read set.
//!
//! Invariants:
//! - *Termination.* `write` and `display` ([`Labels::Cycles`]) label every
//!   pair and vector that a depth-first walk, in print order, reaches again
//!   while it is still inside it (a back edge). Every cycle holds such an
//!   object, and a labelled object is printed whole once (`#n=`), then
//!   named (`#n#`), so no print runs for ever. `write-shared`
//!   ([`Labels::Shared`]) labels every pair and vector reached twice.
//! - Labels are numbered in the order they are printed, from 0.
//! - `write-simple` ([`Labels::None`]) has no labels, and, like the
//!   messages' short form, stops after a budget of elements ("..."). A
//!   labelled print fails past [`MAX_LABELLED_ITEMS`] elements (acyclic
//!   sharing can make its output exponential), never runs out of memory.
//! - Nesting through cars and vector elements recurses; the printer fails
//!   with an error before it passes the stack floor it is given (a
//!   structure nested deeper than the interpreter's stack), never crashes.
//!   The walk that finds the labels keeps its own stack on the heap.

use std::collections::HashMap;
use std::fmt::Write as _;

use tmgc::{Dyn, Gc, Tagged, Tx};

use crate::code::Lambda;
use crate::error::{err, R};
use crate::eval::stack_here;
use crate::prims;
use crate::symbol::Sym;
use crate::value::{classify, imm_of, kind, nil, types, Val, HK};

/// Which pairs and vectors a print names with datum labels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Labels {
    /// None (`write-simple`, and the messages' short form).
    None,
    /// Those in a cycle (`write`, `display`).
    Cycles,
    /// Those reached more than once (`write-shared`).
    Shared,
}

/// Elements `write-simple` prints before "..." (a guard against cycles).
pub(crate) const MAX_ITEMS: usize = 1_000_000;

/// Elements past which a labelled print (`write`, `display`) is an error:
/// acyclic structure shared many times over (`(cons x x)` nested 40 deep)
/// prints each share again, 2^40 elements in all; `write-shared` prints it
/// once.
pub(crate) const MAX_LABELLED_ITEMS: usize = 10_000_000;

/// One print's settings and the labels its walk found.
pub(crate) struct Printer<'p> {
    write: bool,
    lambdas: &'p [&'static Lambda],
    /// The lowest stack address the printer may recurse to.
    floor: usize,
    /// Elements left to print before "..." (or the error).
    budget: usize,
    /// At the budget's end: "..." (`at_most`), or an error.
    cut: bool,
    /// The labelled objects, by address: `None` until printed whole, then
    /// the label's number.
    marks: HashMap<usize, Option<u32>>,
    next: u32,
}

/// Where the walk that finds the labels is.
enum Step<'tx> {
    /// Reach a value (its object, if any, is entered if not seen yet).
    Enter(Val<'tx>),
    /// Every value under this object has been walked.
    Leave(usize),
}

fn addr(g: Gc<'_, Dyn>) -> usize {
    g.as_ptr().addr()
}

impl<'p> Printer<'p> {
    /// A printer in `write`'s style (or `display`'s, if `write` is false)
    /// that fails rather than recurse below `floor` on the stack.
    pub(crate) fn new(write: bool, lambdas: &'p [&'static Lambda], floor: usize) -> Self {
        Printer { write, lambdas, floor, budget: MAX_LABELLED_ITEMS, cut: false, marks: HashMap::new(), next: 0 }
    }

    /// Print at most `items` elements, then "..." (instead of an error
    /// past [`MAX_LABELLED_ITEMS`]).
    pub(crate) fn at_most(mut self, items: usize) -> Self {
        self.budget = items;
        self.cut = true;
        self
    }

    /// Append the representation of `v` to `out`, with `labels`.
    pub(crate) fn print<'tx>(&mut self, tx: &mut Tx<'tx>, v: Val<'tx>, labels: Labels, out: &mut String) -> R<()> {
        self.marks.clear();
        self.next = 0;
        let compound = matches!(v, Tagged::Ref(g) if matches!(classify(g), HK::Pair | HK::Vector));
        if labels != Labels::None && compound {
            self.find_labels(tx, v, labels == Labels::Shared)?;
        }
        self.pr(tx, v, out)
    }

    /// The depth-first walk, in print order (car before cdr, elements in
    /// order), that marks the objects to label: those met again while
    /// inside them, and with `shared`, those met again at all.
    fn find_labels<'tx>(&mut self, tx: &mut Tx<'tx>, root: Val<'tx>, shared: bool) -> R<()> {
        // An object's entry: whether the walk is inside it still.
        let mut inside: HashMap<usize, bool> = HashMap::new();
        let mut todo = vec![Step::Enter(root)];
        while let Some(step) = todo.pop() {
            let v = match step {
                Step::Leave(a) => {
                    inside.insert(a, false);
                    continue;
                }
                Step::Enter(v) => v,
            };
            let Tagged::Ref(g) = v else { continue };
            let k = classify(g);
            if !matches!(k, HK::Pair | HK::Vector) {
                continue;
            }
            let a = addr(g);
            if let Some(&within) = inside.get(&a) {
                if within || shared {
                    self.marks.insert(a, None);
                }
                continue;
            }
            inside.insert(a, true);
            todo.push(Step::Leave(a));
            if k == HK::Pair {
                let (car, cdr) = (tx.tagged(g, 0)?, tx.tagged(g, 1)?);
                todo.push(Step::Enter(cdr));
                todo.push(Step::Enter(car));
            } else {
                for i in (0..tx.array_len(g)).rev() {
                    todo.push(Step::Enter(tx.elem(g, i)?));
                }
            }
        }
        Ok(())
    }

    /// Whether `g` is labelled and printed already: then its reference
    /// (`#n#`) is written. A labelled object met the first time gets its
    /// number and `#n=` before it is printed whole.
    fn named(&mut self, g: Gc<'_, Dyn>, out: &mut String) -> bool {
        match self.marks.get_mut(&addr(g)) {
            None => false,
            Some(Some(n)) => {
                let _ = write!(out, "#{n}#");
                true
            }
            Some(slot @ None) => {
                let n = self.next;
                self.next += 1;
                *slot = Some(n);
                let _ = write!(out, "#{n}=");
                false
            }
        }
    }

    fn pr<'tx>(&mut self, tx: &mut Tx<'tx>, v: Val<'tx>, out: &mut String) -> R<()> {
        if self.budget == 0 {
            if !self.cut {
                return err(format!(
                    "printing: more than {MAX_LABELLED_ITEMS} elements (structure shared many times? write-shared prints each share once)"
                ));
            }
            out.push_str("...");
            return Ok(());
        }
        self.budget -= 1;
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
                    if self.write {
                        out.push_str(&char_name(c));
                    } else {
                        out.push(c);
                    }
                }
                kind::SYM => {
                    let name = Sym(m.payload() as u32).name();
                    if self.write && needs_bars(&name) {
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
                k @ (HK::Pair | HK::Vector) => {
                    if stack_here() < self.floor {
                        return err("printing: a structure nested deeper than the stack allows");
                    }
                    if self.named(g, out) {
                        return Ok(());
                    }
                    if k == HK::Pair {
                        self.list(tx, g, out)?;
                    } else {
                        out.push_str("#(");
                        for i in 0..tx.array_len(g) {
                            if i > 0 {
                                out.push(' ');
                            }
                            let e = tx.elem(g, i)?;
                            self.pr(tx, e, out)?;
                        }
                        out.push(')');
                    }
                }
                HK::Str => {
                    let s = prims::read_string(tx, g)?;
                    if self.write {
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
                    match imm_of(code, kind::CODE).and_then(|id| self.lambdas.get(id as usize)) {
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

    /// The list that starts at pair `p` (its label, if any, written
    /// already): the cdr chain in a loop, up to a tail that is not a pair
    /// or is labelled (written after " . ").
    fn list<'tx>(&mut self, tx: &mut Tx<'tx>, p: Gc<'tx, Dyn>, out: &mut String) -> R<()> {
        out.push('(');
        let car = tx.tagged(p, 0)?;
        self.pr(tx, car, out)?;
        let mut cur = tx.tagged(p, 1)?;
        loop {
            match cur {
                Tagged::Ref(q) if classify(q) == HK::Pair && !self.marks.contains_key(&addr(q)) => {
                    if self.budget == 0 && self.cut {
                        out.push_str(" ...");
                        break;
                    }
                    out.push(' ');
                    let car = tx.tagged(q, 0)?;
                    self.pr(tx, car, out)?;
                    cur = tx.tagged(q, 1)?;
                }
                x if x == nil() => break,
                x => {
                    out.push_str(" . ");
                    self.pr(tx, x, out)?;
                    break;
                }
            }
        }
        out.push(')');
        Ok(())
    }
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
        || name.starts_with('#') // else `#0#` would read as a label, `#t` as a boolean
        || name.chars().any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | ';' | '\'' | '|'))
        || crate::reader::parse_number(name).is_some()
}
