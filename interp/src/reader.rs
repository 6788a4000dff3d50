//! The reader: source text to [`Sexp`] data with positions. It runs
//! outside any transaction; the compiler turns the data into code and
//! quoted constants into heap objects.
//!
//! Datum labels (R7RS 2.4): `#n=` labels the datum after it and `#n#`
//! stands for that datum, so quoted data can share structure and be
//! circular (`'#0=(a . #0#)`), as `write` prints it. A label's scope is the
//! rest of the outermost datum it appears in; the reader refuses a
//! reference before its label, a label defined twice in one datum, and
//! `#n=#n#`, which labels nothing. The tree keeps them as
//! [`SK::Label`] and [`SK::LabelRef`]; the compiler builds the shared
//! objects, and refuses labels outside quoted data.

use std::collections::HashSet;

use crate::error::{Pos, SchemeError};
use crate::symbol::{known, Sym};

/// A datum read from source, with the position of its first character.
#[derive(Clone, Debug, PartialEq)]
pub struct Sexp {
    /// The datum.
    pub kind: SK,
    /// Where it starts.
    pub pos: Pos,
}

/// The kinds of datum.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SK {
    /// A fixnum literal.
    Int(i64),
    /// A flonum literal.
    Float(f64),
    /// `#t` or `#f`.
    Bool(bool),
    /// `#\a`.
    Char(char),
    /// `"text"`.
    Str(String),
    /// A symbol.
    Sym(Sym),
    /// A proper list (`tail` None) or an improper one.
    List(Vec<Sexp>, Option<Box<Sexp>>),
    /// `#(...)`.
    Vector(Vec<Sexp>),
    /// `#n=datum`: the datum, labelled `n`.
    Label(u64, Box<Sexp>),
    /// `#n#`: the datum labelled `n` earlier in the same outermost datum.
    LabelRef(u64),
}

impl Sexp {
    /// The symbol, if this is one.
    pub fn sym(&self) -> Option<Sym> {
        match self.kind {
            SK::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a proper list.
    pub fn list(&self) -> Option<&[Sexp]> {
        match &self.kind {
            SK::List(v, None) => Some(v),
            _ => None,
        }
    }
}

/// Read every datum of `src`.
pub fn read_all(src: &str) -> Result<Vec<Sexp>, SchemeError> {
    let mut r = Reader {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        labels: HashSet::new(),
        label_log: Vec::new(),
        depth: 0,
    };
    let mut out = Vec::new();
    loop {
        r.skip_atmosphere()?;
        if r.peek().is_none() {
            return Ok(out);
        }
        r.forget_labels(0); // a label's scope ends with its outermost datum
        out.push(r.datum()?);
    }
}

struct Reader {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    /// The labels defined so far in the outermost datum being read.
    labels: HashSet<u64>,
    /// The same, in the order defined (a datum comment forgets its own).
    label_log: Vec<u64>,
    /// Data being read, one inside the other (bounded: [`MAX_NESTING`]).
    depth: usize,
}

/// How deep data may nest: past it, reading is an error rather than a
/// stack overflow of the reader, or of the compiler that walks the datum.
pub(crate) const MAX_NESTING: usize = 10_000;

fn delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | ';' | '\'' | '`' | ',')
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_atmosphere(&mut self) -> Result<(), SchemeError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.chars.get(self.i + 1) == Some(&'|') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 {
                        match self.bump() {
                            None => return Err(SchemeError::at("unterminated block comment", start)),
                            Some('|') if self.peek() == Some('#') => {
                                self.bump();
                                depth -= 1;
                            }
                            Some('#') if self.peek() == Some('|') => {
                                self.bump();
                                depth += 1;
                            }
                            _ => {}
                        }
                    }
                }
                Some('#') if self.chars.get(self.i + 1) == Some(&';') => {
                    self.bump();
                    self.bump();
                    self.skip_atmosphere()?;
                    let kept = self.label_log.len();
                    self.datum()?;
                    self.forget_labels(kept); // a comment defines nothing
                }
                _ => return Ok(()),
            }
        }
    }

    /// Forget the labels defined after the first `kept`.
    fn forget_labels(&mut self, kept: usize) {
        for n in self.label_log.drain(kept..) {
            self.labels.remove(&n);
        }
    }

    fn datum(&mut self) -> Result<Sexp, SchemeError> {
        if self.depth >= MAX_NESTING {
            return Err(SchemeError::at(format!("data nested deeper than {MAX_NESTING} levels"), self.pos()));
        }
        self.depth += 1;
        let d = self.datum_here();
        self.depth -= 1;
        d
    }

    fn datum_here(&mut self) -> Result<Sexp, SchemeError> {
        self.skip_atmosphere()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Err(SchemeError::at("unexpected end of input", pos));
        };
        let k = known();
        let prefixed = |r: &mut Reader, s: Sym, n: usize| -> Result<Sexp, SchemeError> {
            for _ in 0..n {
                r.bump();
            }
            let d = r.datum()?;
            Ok(Sexp { kind: SK::List(vec![Sexp { kind: SK::Sym(s), pos }, d], None), pos })
        };
        match c {
            '(' | '[' => {
                self.bump();
                self.list_tail(pos, if c == '(' { ')' } else { ']' })
            }
            ')' | ']' => Err(SchemeError::at(format!("unexpected '{c}'"), pos)),
            '\'' => prefixed(self, k.quote, 1),
            '`' => prefixed(self, k.quasiquote, 1),
            ',' if self.chars.get(self.i + 1) == Some(&'@') => prefixed(self, k.unquote_splicing, 2),
            ',' => prefixed(self, k.unquote, 1),
            '"' => self.string(pos),
            '#' => self.hash(pos),
            _ => self.atom(pos),
        }
    }

    fn list_tail(&mut self, pos: Pos, close: char) -> Result<Sexp, SchemeError> {
        let mut items = Vec::new();
        loop {
            self.skip_atmosphere()?;
            match self.peek() {
                None => return Err(SchemeError::at("unterminated list", pos)),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(Sexp { kind: SK::List(items, None), pos });
                }
                Some(')') | Some(']') => return Err(SchemeError::at("mismatched closing bracket", self.pos())),
                _ => {}
            }
            let d = self.datum()?;
            if d.sym() == Some(known().dot) {
                if items.is_empty() {
                    return Err(SchemeError::at("'.' at the start of a list", d.pos));
                }
                let tail = self.datum()?;
                self.skip_atmosphere()?;
                if self.bump() != Some(close) {
                    return Err(SchemeError::at("expected ')' after the tail of a dotted list", self.pos()));
                }
                return Ok(Sexp { kind: SK::List(items, Some(Box::new(tail))), pos });
            }
            items.push(d);
        }
    }

    fn string(&mut self, pos: Pos) -> Result<Sexp, SchemeError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(SchemeError::at("unterminated string", pos)),
                Some('"') => return Ok(Sexp { kind: SK::Str(s), pos }),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('0') => s.push('\0'),
                    Some('\\') => s.push('\\'),
                    Some('"') => s.push('"'),
                    Some('a') => s.push('\u{7}'),
                    Some('b') => s.push('\u{8}'),
                    Some('|') => s.push('|'),
                    Some('x' | 'X') => {
                        // R7RS: `\x<hex>;`, a Unicode scalar value.
                        let mut hex = String::new();
                        loop {
                            match self.bump() {
                                Some(';') => break,
                                Some(c) if c.is_ascii_hexdigit() && hex.len() < 8 => hex.push(c),
                                _ => {
                                    return Err(SchemeError::at(
                                        "bad string escape: \\x takes hex digits and a ';' (\\x41; is A)",
                                        self.pos(),
                                    ))
                                }
                            }
                        }
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) => s.push(c),
                            None => {
                                return Err(SchemeError::at(
                                    format!("bad string escape: \\x{hex}; is not a character"),
                                    self.pos(),
                                ))
                            }
                        }
                    }
                    Some('\n') => {
                        while matches!(self.peek(), Some(' ' | '\t')) {
                            self.bump();
                        }
                    }
                    Some(c) => return Err(SchemeError::at(format!("unknown string escape '\\{c}'"), self.pos())),
                    None => return Err(SchemeError::at("unterminated string", pos)),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn token(&mut self) -> String {
        let mut t = String::new();
        while let Some(c) = self.peek() {
            if delimiter(c) || c == '[' || c == ']' {
                break;
            }
            t.push(c);
            self.bump();
        }
        t
    }

    /// `#n=datum` or `#n#`, the `#` at `pos` (the module docs' rules).
    fn label(&mut self, pos: Pos) -> Result<Sexp, SchemeError> {
        self.bump(); // '#'
        let mut n: u64 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(|| SchemeError::at("a datum label past 64 bits", pos))?;
            self.bump();
        }
        match self.bump() {
            Some('=') => {
                if !self.labels.insert(n) {
                    return Err(SchemeError::at(format!("datum label #{n}= defined twice in one datum"), pos));
                }
                self.label_log.push(n);
                let d = self.datum()?;
                // An alias chain (`#0=#1=...`) must end in a datum, not in
                // a reference to one of its own labels.
                let mut end = &d;
                let mut chain = vec![n];
                while let SK::Label(m, inner) = &end.kind {
                    chain.push(*m);
                    end = inner;
                }
                if let SK::LabelRef(m) = end.kind {
                    if chain.contains(&m) {
                        return Err(SchemeError::at(format!("#{n}= labels nothing (it ends in #{m}#)"), pos));
                    }
                }
                Ok(Sexp { kind: SK::Label(n, Box::new(d)), pos })
            }
            Some('#') if self.labels.contains(&n) => Ok(Sexp { kind: SK::LabelRef(n), pos }),
            Some('#') => Err(SchemeError::at(format!("#{n}# before its label #{n}= in this datum"), pos)),
            _ => Err(SchemeError::at(format!("bad datum label: #{n} is followed by neither '=' nor '#'"), pos)),
        }
    }

    fn hash(&mut self, pos: Pos) -> Result<Sexp, SchemeError> {
        match self.chars.get(self.i + 1) {
            Some(d) if d.is_ascii_digit() => self.label(pos),
            Some('(') => {
                self.bump();
                self.bump();
                let l = self.list_tail(pos, ')')?;
                match l.kind {
                    SK::List(v, None) => Ok(Sexp { kind: SK::Vector(v), pos }),
                    _ => Err(SchemeError::at("a dotted vector literal", pos)),
                }
            }
            Some('\\') => {
                self.bump();
                self.bump();
                let first = self.bump().ok_or_else(|| SchemeError::at("unterminated character", pos))?;
                let mut name = String::from(first);
                while let Some(c) = self.peek() {
                    if delimiter(c) {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
                let c = if name.chars().count() == 1 {
                    first
                } else {
                    match name.as_str() {
                        "space" => ' ',
                        "newline" | "linefeed" => '\n',
                        "tab" => '\t',
                        "return" => '\r',
                        "null" | "nul" => '\0',
                        "alarm" => '\u{7}',
                        "backspace" => '\u{8}',
                        "delete" => '\u{7f}',
                        "escape" => '\u{1b}',
                        n if n.starts_with('x') && n.len() > 1 => u32::from_str_radix(&n[1..], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| SchemeError::at(format!("bad character #\\{n}"), pos))?,
                        n => return Err(SchemeError::at(format!("unknown character name #\\{n}"), pos)),
                    }
                };
                Ok(Sexp { kind: SK::Char(c), pos })
            }
            _ => {
                let t = self.token();
                match t.as_str() {
                    "#t" | "#true" => Ok(Sexp { kind: SK::Bool(true), pos }),
                    "#f" | "#false" => Ok(Sexp { kind: SK::Bool(false), pos }),
                    _ => parse_number(&t)
                        .map(|kind| Sexp { kind, pos })
                        .ok_or_else(|| SchemeError::at(format!("bad syntax '{t}'"), pos)),
                }
            }
        }
    }

    fn atom(&mut self, pos: Pos) -> Result<Sexp, SchemeError> {
        let t = self.token();
        if t.is_empty() {
            let c = self.bump().unwrap_or(' ');
            return Err(SchemeError::at(format!("unexpected character '{c}'"), pos));
        }
        if let Some(kind) = parse_number(&t) {
            return Ok(Sexp { kind, pos });
        }
        if looks_rational(&t) {
            return Err(SchemeError::at(format!("'{t}': exact rationals are not supported (write a flonum)"), pos));
        }
        let name = if t.starts_with('|') && t.ends_with('|') && t.len() >= 2 {
            t[1..t.len() - 1].to_string()
        } else {
            t // R7RS symbols are case-sensitive
        };
        Ok(Sexp { kind: SK::Sym(Sym::intern(&name)), pos })
    }
}

/// Whether `t` is written like an exact rational (`1/3`).
fn looks_rational(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    t.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// A number literal (`#x`/`#e`/`#i` prefixes included), or None.
pub(crate) fn parse_number(t: &str) -> Option<SK> {
    let (radix, exactness, body) = prefixes(t)?;
    if body.is_empty() {
        return None;
    }
    if radix == 10 {
        if let Some(i) = integer(body, 10) {
            return Some(match exactness {
                Some('i') => SK::Float(body.parse::<f64>().unwrap_or(i as f64)),
                _ => SK::Int(i),
            });
        }
        let looks_float = body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            && body.chars().any(|c| c.is_ascii_digit());
        if looks_float {
            if let Ok(f) = body.parse::<f64>() {
                return match exactness {
                    // Saturating: past i64 is past the fixnums too.
                    Some('e') if f.fract() == 0.0 => Some(SK::Int(f as i64)),
                    // No exact rationals: #e1.5 is not a number here.
                    Some('e') => None,
                    _ => Some(SK::Float(f)),
                };
            }
        }
        return match body {
            "+inf.0" => Some(SK::Float(f64::INFINITY)),
            "-inf.0" => Some(SK::Float(f64::NEG_INFINITY)),
            "+nan.0" | "-nan.0" => Some(SK::Float(f64::NAN)),
            _ => None,
        };
    }
    integer(body, radix).map(SK::Int)
}

/// An integer written in `radix` (an optional sign, then digits). One
/// past the range of `i64` reads as `i64::MAX` or `i64::MIN`: it is out of
/// the fixnums' range either way, and the compiler and `string->number`
/// say so (an error, not a flonum nor "bad syntax").
fn integer(body: &str, radix: u32) -> Option<i64> {
    let digits = body.strip_prefix(['-', '+']).unwrap_or(body);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(i64::from_str_radix(body, radix).unwrap_or(if body.starts_with('-') { i64::MIN } else { i64::MAX }))
}

fn prefixes(t: &str) -> Option<(u32, Option<char>, &str)> {
    let (mut radix, mut exact, mut s) = (10, None, t);
    while let Some(rest) = s.strip_prefix('#') {
        let mut cs = rest.chars();
        let c = cs.next()?.to_ascii_lowercase();
        match c {
            'x' => radix = 16,
            'b' => radix = 2,
            'o' => radix = 8,
            'd' => radix = 10,
            'e' | 'i' => exact = Some(c),
            _ => return None,
        }
        s = &rest[1..];
    }
    Some((radix, exact, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_data_with_positions() {
        let d = read_all("(a . b)\n  #(1 2.5 #\\x \"s\\n\") 'q").unwrap();
        assert_eq!(d.len(), 3);
        assert!(matches!(&d[0].kind, SK::List(v, Some(_)) if v.len() == 1));
        assert_eq!(d[1].pos, Pos { line: 2, col: 3 });
        match &d[1].kind {
            SK::Vector(v) => {
                assert_eq!(v[0].kind, SK::Int(1));
                assert_eq!(v[1].kind, SK::Float(2.5));
                assert_eq!(v[2].kind, SK::Char('x'));
                assert_eq!(v[3].kind, SK::Str("s\n".into()));
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(d[2].list().unwrap()[0].sym(), Some(known().quote));
    }

    #[test]
    fn reads_datum_labels() {
        let d = read_all("#0=(a . #0#) (#1=#(x) #1# . #2=b) #0=5").unwrap();
        let SK::Label(0, l) = &d[0].kind else { panic!("{:?}", d[0]) };
        assert!(matches!(&l.kind, SK::List(v, Some(t)) if v.len() == 1 && t.kind == SK::LabelRef(0)));
        let SK::List(v, Some(t)) = &d[1].kind else { panic!("{:?}", d[1]) };
        assert!(matches!(&v[0].kind, SK::Label(1, x) if matches!(x.kind, SK::Vector(_))));
        assert_eq!((&v[1].kind, v[1].pos), (&SK::LabelRef(1), Pos { line: 1, col: 23 }));
        assert!(matches!(&t.kind, SK::Label(2, b) if b.sym() == Some(Sym::intern("b"))));
        // A label's scope is its outermost datum: 0 is free again.
        assert!(matches!(&d[2].kind, SK::Label(0, x) if x.kind == SK::Int(5)));
        // A datum comment's labels are forgotten with it.
        let d = read_all("(#;#0=a #0=b #0#)").unwrap();
        assert!(matches!(&d[0].kind, SK::List(v, None) if v.len() == 2 && v[1].kind == SK::LabelRef(0)));
    }

    #[test]
    fn nesting_is_bounded() {
        // Deep nesting is an error, not a crash. The bound's depth needs
        // more stack than a test thread has in a debug build (the binary
        // runs on `STACK_BYTES`).
        let t = std::thread::Builder::new().stack_size(256 << 20).spawn(|| {
            let deep = "(".repeat(MAX_NESTING + 1);
            assert!(read_all(&deep).unwrap_err().to_string().contains("nested deeper"));
            let ok = format!("{}{}", "(".repeat(MAX_NESTING - 1), ")".repeat(MAX_NESTING - 1));
            assert!(read_all(&ok).is_ok());
        });
        t.unwrap().join().unwrap();
        for (bad, why) in [
            ("(#0# #0=a)", "#0# before its label"),
            ("(#0=a) #0#", "#0# before its label"),
            ("(#0=a #0=b)", "defined twice"),
            ("#0=#0#", "labels nothing"),
            ("#0=#1=#0#", "labels nothing"),
            ("#0=#1=#1#", "labels nothing"),
            ("(#;#0=a #0#)", "#0# before its label"),
            ("#7x", "followed by neither"),
            ("#99999999999999999999=a", "past 64 bits"),
        ] {
            let e = read_all(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_position() {
        let e = read_all("(1 2\n (3").unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 2, col: 2 }));
        assert!(read_all(")").is_err());
        assert_eq!(read_all("-").unwrap()[0].sym(), Some(Sym::intern("-")));
        assert_eq!(read_all("#xff").unwrap()[0].kind, SK::Int(255));
    }
}
