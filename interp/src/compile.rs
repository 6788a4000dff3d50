//! The compiler: [`Sexp`] to [`Node`] trees, resolving every variable to
//! a frame slot, a captured value or a global (see `code.rs` for the
//! invariants C1-C3 it establishes).
//!
//! Closures are flat: a closure copies the values it captures when it is
//! made. A variable that is both assigned (`set!`, or a `letrec`/internal
//! `define` initialisation) and captured by a lambda lives in a box, so
//! the copies share it (C2). Whether a variable is captured or assigned is
//! decided by a conservative scan of its scope (shadowing is ignored), so
//! a variable is boxed whenever it might need to be.
//!
//! A call to a global that names a builtin and that the program has not
//! defined or assigned so far is compiled to the builtin directly (as
//! compiled code in Guile or Chez integrates its primitives): redefining a
//! builtin affects code compiled after the redefinition.

use std::collections::HashMap;

use tmgc::{DynInit, Tagged, Tx};

use crate::code::{Capture, Lambda, Lit, Node, Op1, Op2};
use crate::error::{Fail, Pos, SchemeError, R};
use crate::prims::{self, PRIMS};
use crate::program::{ensure_chunk, Program};
use crate::reader::{Sexp, SK};
use crate::symbol::{known, Sym};
use crate::value::{self, types, Val};

#[derive(Clone, Copy)]
struct Binding {
    slot: u16,
    boxed: bool,
}

#[derive(Default)]
struct FnCtx {
    scopes: Vec<Vec<(Sym, Binding)>>,
    next: u16,
    max: u16,
    captures: Vec<Capture>,
    capt_boxed: Vec<bool>,
}

enum VarRef {
    Local(Binding),
    Capt(u16, bool),
    Global,
}

/// Compiles forms, allocating their quoted constants in `tx`.
pub(crate) struct Compiler<'c, 'tx> {
    tx: &'c mut Tx<'tx>,
    prog: &'c Program,
    fns: Vec<FnCtx>,
}

fn serr<T>(msg: impl Into<String>, pos: Pos) -> R<T> {
    Err(Fail::user(SchemeError::at(msg, pos)))
}

const MAX_SLOTS: u16 = u16::MAX - 1;

impl<'c, 'tx> Compiler<'c, 'tx> {
    pub(crate) fn new(tx: &'c mut Tx<'tx>, prog: &'c Program) -> Self {
        Compiler { tx, prog, fns: Vec::new() }
    }

    /// Compile a top-level form into a thunk: the id of a lambda of no
    /// parameters whose body is the form.
    pub(crate) fn toplevel(&mut self, x: &Sexp) -> R<u32> {
        self.fns.push(FnCtx::default());
        self.fns.last_mut().expect("pushed").scopes.push(Vec::new());
        let body = self.expr_or_define(x, true, true);
        let f = self.fns.pop().expect("pushed");
        let body = body?;
        Ok(self.prog.add_lambda(Lambda {
            nreq: 0,
            rest: false,
            frame: f.max,
            boxed_params: Box::new([]),
            captures: f.captures.into(),
            body,
            name: None,
            pos: x.pos,
        }))
    }

    // ---- scopes ----

    fn cur(&mut self) -> &mut FnCtx {
        self.fns.last_mut().expect("inside a function")
    }

    /// Reserve a slot in the current frame (not yet visible by name).
    fn reserve(&mut self, pos: Pos) -> R<u16> {
        let f = self.cur();
        if f.next >= MAX_SLOTS {
            return serr("too many local variables in one procedure", pos);
        }
        let s = f.next;
        f.next += 1;
        f.max = f.max.max(f.next);
        Ok(s)
    }

    fn resolve_in(&mut self, fi: usize, s: Sym) -> VarRef {
        for scope in self.fns[fi].scopes.iter().rev() {
            if let Some((_, b)) = scope.iter().rev().find(|(n, _)| *n == s) {
                return VarRef::Local(*b);
            }
        }
        if fi == 0 {
            return VarRef::Global;
        }
        let (src, boxed) = match self.resolve_in(fi - 1, s) {
            VarRef::Global => return VarRef::Global,
            VarRef::Local(b) => (Capture::Local(b.slot), b.boxed),
            VarRef::Capt(i, b) => (Capture::Capt(i), b),
        };
        let f = &mut self.fns[fi];
        let idx = match f.captures.iter().position(|c| *c == src) {
            Some(i) => i,
            None => {
                f.captures.push(src);
                f.capt_boxed.push(boxed);
                f.captures.len() - 1
            }
        };
        VarRef::Capt(idx as u16, boxed)
    }

    fn resolve(&mut self, s: Sym) -> VarRef {
        let fi = self.fns.len() - 1;
        self.resolve_in(fi, s)
    }

    fn is_local(&self, s: Sym) -> bool {
        self.fns.iter().any(|f| f.scopes.iter().any(|sc| sc.iter().any(|(n, _)| *n == s)))
    }

    // ---- expressions ----

    fn expr(&mut self, x: &Sexp, tail: bool) -> R<Node> {
        self.expr_or_define(x, tail, false)
    }

    fn expr_or_define(&mut self, x: &Sexp, tail: bool, toplevel: bool) -> R<Node> {
        match &x.kind {
            SK::Sym(s) => self.variable(*s, x.pos),
            SK::List(items, None) if !items.is_empty() => self.combination(x, items, tail, toplevel),
            SK::List(items, _) if items.is_empty() => serr("empty combination ()", x.pos),
            SK::List(_, Some(_)) => serr("a dotted list is not an expression", x.pos),
            SK::Label(n, _) | SK::LabelRef(n) => {
                serr(format!("datum label #{n} outside quoted data (labels are for literals: '#{n}=...)"), x.pos)
            }
            _ => self.quote(x),
        }
    }

    fn variable(&mut self, s: Sym, pos: Pos) -> R<Node> {
        Ok(match self.resolve(s) {
            VarRef::Local(b) if b.boxed => Node::LocalBox(b.slot),
            VarRef::Local(b) => Node::Local(b.slot),
            VarRef::Capt(i, true) => Node::CaptBox(i),
            VarRef::Capt(i, false) => Node::Capt(i),
            VarRef::Global => Node::Global(self.global(s)?, pos),
        })
    }

    fn global(&mut self, s: Sym) -> R<u32> {
        let id = self.prog.global_id(s)?;
        ensure_chunk(self.tx, self.prog, id)?;
        Ok(id)
    }

    fn seq(nodes: Vec<Node>) -> Node {
        match nodes.len() {
            0 => Node::Lit(Lit::of(value::unspec()).expect("immediate")),
            1 => nodes.into_iter().next().expect("one"),
            _ => Node::Seq(nodes.into()),
        }
    }

    fn exprs(&mut self, xs: &[Sexp], tail: bool) -> R<Node> {
        let mut out = Vec::with_capacity(xs.len());
        for (i, x) in xs.iter().enumerate() {
            out.push(self.expr(x, tail && i + 1 == xs.len())?);
        }
        Ok(Self::seq(out))
    }

    fn combination(&mut self, x: &Sexp, items: &[Sexp], tail: bool, toplevel: bool) -> R<Node> {
        let k = known();
        let pos = x.pos;
        if let Some(h) = items[0].sym() {
            let special = [
                k.quote,
                k.quasiquote,
                k.lambda,
                k.define,
                k.set,
                k.if_,
                k.cond,
                k.case,
                k.and,
                k.or,
                k.when,
                k.unless,
                k.let_,
                k.let_star,
                k.letrec,
                k.letrec_star,
                k.begin,
                k.do_,
                k.run_events,
                k.unquote,
                k.unquote_splicing,
            ];
            if special.contains(&h) && !self.is_local(h) {
                return self.special(h, x, items, tail, toplevel);
            }
            if let VarRef::Global = self.resolve(h) {
                let id = self.global(h)?;
                let g = self.prog.globals();
                if let (Some(p), false) = (g.prim[id as usize], g.user[id as usize]) {
                    drop(g);
                    // `apply` in tail position makes a tail call: it goes
                    // through the evaluator's apply loop (`Ctx::apply_loop`).
                    if !(tail && PRIMS[p as usize].name == "apply") {
                        return self.prim_call(p, &items[1..], pos);
                    }
                }
            }
        }
        let f = self.expr(&items[0], false)?;
        let mut args = Vec::with_capacity(items.len() - 1);
        for a in &items[1..] {
            args.push(self.expr(a, false)?);
        }
        Ok(Node::Call { f: Box::new(f), args: args.into(), pos, tail })
    }

    fn prim_call(&mut self, p: u16, args: &[Sexp], pos: Pos) -> R<Node> {
        let mut a = Vec::with_capacity(args.len());
        for x in args {
            a.push(self.expr(x, false)?);
        }
        let name = PRIMS[p as usize].name;
        let op1 = match (name, a.len()) {
            ("car", 1) => Some(Op1::Car),
            ("cdr", 1) => Some(Op1::Cdr),
            ("null?", 1) => Some(Op1::Null),
            ("pair?", 1) => Some(Op1::Pair),
            ("not", 1) => Some(Op1::Not),
            ("zero?", 1) => Some(Op1::Zero),
            _ => None,
        };
        if let Some(op) = op1 {
            return Ok(Node::Op1(op, Box::new(a.pop().expect("one")), pos));
        }
        let op2 = match (name, a.len()) {
            ("+", 2) => Some(Op2::Add),
            ("-", 2) => Some(Op2::Sub),
            ("*", 2) => Some(Op2::Mul),
            ("<", 2) => Some(Op2::Lt),
            (">", 2) => Some(Op2::Gt),
            ("<=", 2) => Some(Op2::Le),
            (">=", 2) => Some(Op2::Ge),
            ("=", 2) => Some(Op2::NumEq),
            ("eq?", 2) => Some(Op2::Eq),
            ("cons", 2) => Some(Op2::Cons),
            ("vector-ref", 2) => Some(Op2::VecRef),
            _ => None,
        };
        if let Some(op) = op2 {
            let b = a.pop().expect("two");
            let x = a.pop().expect("two");
            return Ok(Node::Op2(op, Box::new([x, b]), pos));
        }
        prims::check_arity(p as usize, a.len()).map_err(|e| Fail::user(SchemeError::at(e.msg, pos)))?;
        Ok(Node::PrimCall { prim: p, args: a.into(), pos })
    }

    fn special(&mut self, h: Sym, x: &Sexp, items: &[Sexp], tail: bool, toplevel: bool) -> R<Node> {
        let k = known();
        let pos = x.pos;
        let n = items.len();
        if h == k.quote {
            if n != 2 {
                return serr("quote takes one datum", pos);
            }
            self.quote(&items[1])
        } else if h == k.quasiquote {
            if n != 2 {
                return serr("quasiquote takes one datum", pos);
            }
            let template = &items[1];
            if has_label(template) {
                // Labels share one table only within one literal: a
                // template with labels is quoted whole, so it can have no
                // unquote.
                return if has_unquote(template) {
                    serr("datum labels in a quasiquote template with unquotes (build the structure instead)", pos)
                } else {
                    self.quote(template)
                };
            }
            self.quasi(template, 1)
        } else if h == k.lambda {
            if n < 3 {
                return serr("lambda needs parameters and a body", pos);
            }
            let id = self.lambda(&items[1], &items[2..], None, pos)?;
            Ok(Node::Lambda(id))
        } else if h == k.define {
            if !toplevel {
                return serr("define is only allowed at the top level or at the start of a body", pos);
            }
            let (name, value) = self.define_parts(items, pos)?;
            let id = self.global(name)?;
            self.prog.globals().user[id as usize] = true;
            Ok(Node::SetGlobal(id, true, Box::new(value), pos))
        } else if h == k.set {
            if n != 3 {
                return serr("set! takes a variable and an expression", pos);
            }
            let Some(s) = items[1].sym() else {
                return serr("set! of a non-variable", items[1].pos);
            };
            let v = Box::new(self.expr(&items[2], false)?);
            Ok(match self.resolve(s) {
                VarRef::Local(b) if b.boxed => Node::SetLocalBox(b.slot, v),
                VarRef::Local(b) => Node::SetLocal(b.slot, v),
                VarRef::Capt(i, true) => Node::SetCaptBox(i, v),
                VarRef::Capt(_, false) => {
                    return serr(format!("internal error: captured variable {} assigned but not boxed", s.name()), pos)
                }
                VarRef::Global => {
                    let id = self.global(s)?;
                    self.prog.globals().user[id as usize] = true;
                    Node::SetGlobal(id, false, v, pos)
                }
            })
        } else if h == k.if_ {
            if !(3..=4).contains(&n) {
                return serr("if takes a test, a consequent and an optional alternative", pos);
            }
            let c = self.expr(&items[1], false)?;
            let t = self.expr(&items[2], tail)?;
            let e = if n == 4 { self.expr(&items[3], tail)? } else { Node::Lit(unspec()) };
            Ok(Node::If(Box::new([c, t, e])))
        } else if h == k.begin {
            if toplevel {
                let mut out = Vec::new();
                for (i, f) in items[1..].iter().enumerate() {
                    out.push(self.expr_or_define(f, tail && i + 2 == n, true)?);
                }
                return Ok(Self::seq(out));
            }
            self.exprs(&items[1..], tail)
        } else if h == k.and || h == k.or {
            let mut v = Vec::new();
            for (i, f) in items[1..].iter().enumerate() {
                v.push(self.expr(f, tail && i + 2 == n)?);
            }
            Ok(match (v.len(), h == k.and) {
                (0, and) => Node::Lit(Lit::of(value::boolean(and)).expect("imm")),
                (1, _) => v.pop().expect("one"),
                (_, true) => Node::And(v.into()),
                (_, false) => Node::Or(v.into()),
            })
        } else if h == k.when || h == k.unless {
            if n < 2 {
                return serr("when/unless need a test", pos);
            }
            let c = self.expr(&items[1], false)?;
            let b = self.exprs(&items[2..], tail)?;
            let (t, e) = if h == k.when { (b, Node::Lit(unspec())) } else { (Node::Lit(unspec()), b) };
            Ok(Node::If(Box::new([c, t, e])))
        } else if h == k.cond {
            self.cond(&items[1..], tail)
        } else if h == k.case {
            self.case(items, tail, pos)
        } else if h == k.let_ {
            self.let_(items, tail, pos)
        } else if h == k.let_star {
            self.let_star(items, tail, pos)
        } else if h == k.letrec || h == k.letrec_star {
            if n < 3 {
                return serr("letrec needs bindings and a body", pos);
            }
            let binds = self.bindings(&items[1])?;
            let defs: Vec<(Sym, &Sexp, Pos)> = binds.iter().map(|(s, e, p)| (*s, *e, *p)).collect();
            self.scoped(|c| c.letrec(&defs, &items[2..], tail, pos))
        } else if h == k.do_ {
            self.do_(items, pos)
        } else if h == k.unquote || h == k.unquote_splicing {
            serr(format!("{} outside a quasiquote", h.name()), pos)
        } else if h == k.run_events {
            serr("(run-events) is only allowed as a top-level form of a program", pos)
        } else {
            serr("unknown special form", pos)
        }
    }

    fn define_parts(&mut self, items: &[Sexp], pos: Pos) -> R<(Sym, Node)> {
        if items.len() < 2 {
            return serr("define needs a name", pos);
        }
        match &items[1].kind {
            SK::Sym(s) => {
                if items.len() > 3 {
                    return serr("define of a variable takes one expression", pos);
                }
                let v = if items.len() == 3 { self.expr(&items[2], false)? } else { Node::Lit(unspec()) };
                Ok((*s, v))
            }
            SK::List(head, tail) if !head.is_empty() => {
                let Some(name) = head[0].sym() else {
                    return serr("define: the procedure's name is not a symbol", head[0].pos);
                };
                if items.len() < 3 {
                    return serr("define of a procedure needs a body", pos);
                }
                let params = Sexp { kind: SK::List(head[1..].to_vec(), tail.clone()), pos: items[1].pos };
                let id = self.lambda(&params, &items[2..], Some(name), pos)?;
                Ok((name, Node::Lambda(id)))
            }
            _ => serr("define: bad syntax", pos),
        }
    }

    fn bindings<'x>(&self, x: &'x Sexp) -> R<Vec<(Sym, &'x Sexp, Pos)>> {
        let Some(list) = x.list() else {
            return serr("bindings must be a list", x.pos);
        };
        let mut out = Vec::new();
        for b in list {
            match b.list() {
                Some([n, e]) if n.sym().is_some() => out.push((n.sym().expect("sym"), e, b.pos)),
                _ => return serr("a binding must be (name expression)", b.pos),
            }
        }
        Ok(out)
    }

    /// Run `f` in a new block scope; its slots are reused afterwards.
    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        let saved = self.cur().next;
        self.cur().scopes.push(Vec::new());
        let r = f(self);
        let c = self.cur();
        c.scopes.pop();
        c.next = saved;
        r
    }

    fn bind(&mut self, s: Sym, slot: u16, boxed: bool) {
        self.cur().scopes.last_mut().expect("a scope").push((s, Binding { slot, boxed }));
    }

    fn let_(&mut self, items: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        if items.len() < 3 {
            return serr("let needs bindings and a body", pos);
        }
        if let Some(name) = items[1].sym() {
            return self.named_let(name, items, tail, pos);
        }
        let binds = self.bindings(&items[1])?;
        let body = &items[2..];
        self.scoped(|c| {
            let mut slots = Vec::new();
            for (_, _, p) in &binds {
                slots.push(c.reserve(*p)?);
            }
            let mut out = Vec::new();
            for ((_, e, _), s) in binds.iter().zip(&slots) {
                let v = c.expr(e, false)?;
                out.push(Node::SetLocal(*s, Box::new(v)));
            }
            for ((name, _, _), s) in binds.iter().zip(&slots) {
                let boxed = needs_box(*name, body);
                if boxed {
                    out.push(Node::MakeBox(*s));
                }
                c.bind(*name, *s, boxed);
            }
            out.push(c.body(body, tail, pos)?);
            Ok(Self::seq(out))
        })
    }

    fn let_star(&mut self, items: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        if items.len() < 3 {
            return serr("let* needs bindings and a body", pos);
        }
        let binds = self.bindings(&items[1])?;
        let body = &items[2..];
        self.scoped(|c| {
            let mut out = Vec::new();
            for (i, (name, e, p)) in binds.iter().enumerate() {
                let s = c.reserve(*p)?;
                let v = c.expr(e, false)?;
                out.push(Node::SetLocal(s, Box::new(v)));
                // Later initialisers are in this variable's scope too.
                let later: Vec<Sexp> = binds[i + 1..].iter().map(|(_, e, _)| (*e).clone()).collect();
                let boxed = needs_box(*name, body) || needs_box(*name, &later);
                if boxed {
                    out.push(Node::MakeBox(s));
                }
                c.bind(*name, s, boxed);
            }
            out.push(c.body(body, tail, pos)?);
            Ok(Self::seq(out))
        })
    }

    fn named_let(&mut self, name: Sym, items: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        if items.len() < 4 {
            return serr("named let needs bindings and a body", pos);
        }
        let binds = self.bindings(&items[2])?;
        let params = Sexp {
            kind: SK::List(binds.iter().map(|(s, _, p)| Sexp { kind: SK::Sym(*s), pos: *p }).collect(), None),
            pos: items[2].pos,
        };
        self.scoped(|c| {
            let slot = c.reserve(pos)?;
            let mut args = Vec::new();
            for (_, e, _) in &binds {
                args.push(c.expr(e, false)?);
            }
            // The loop's own lambda captures its name whenever the body mentions it.
            let boxed = items[3..].iter().any(|x| mentions(name, x));
            c.bind(name, slot, boxed);
            let id = c.lambda(&params, &items[3..], Some(name), pos)?;
            let (init, f) = if boxed {
                (
                    vec![
                        Node::SetLocal(slot, Box::new(Node::Lit(undef()))),
                        Node::MakeBox(slot),
                        Node::SetLocalBox(slot, Box::new(Node::Lambda(id))),
                    ],
                    Node::LocalBox(slot),
                )
            } else {
                (vec![Node::SetLocal(slot, Box::new(Node::Lambda(id)))], Node::Local(slot))
            };
            let mut out = init;
            out.push(Node::Call { f: Box::new(f), args: args.into(), pos, tail });
            Ok(Self::seq(out))
        })
    }

    /// `letrec*` of `defs` around `body` (also internal defines), in the current scope.
    fn letrec(&mut self, defs: &[(Sym, &Sexp, Pos)], body: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        let mut scope_forms: Vec<Sexp> = defs.iter().map(|(_, e, _)| (*e).clone()).collect();
        scope_forms.extend_from_slice(body);
        let mut out = Vec::new();
        let mut slots = Vec::new();
        for (name, _, p) in defs {
            let s = self.reserve(*p)?;
            let boxed = captured(*name, &scope_forms);
            out.push(Node::SetLocal(s, Box::new(Node::Lit(undef()))));
            if boxed {
                out.push(Node::MakeBox(s));
            }
            self.bind(*name, s, boxed);
            slots.push((s, boxed));
        }
        for ((name, e, _), (s, boxed)) in defs.iter().zip(slots) {
            let v = match e.list() {
                Some(l) if !l.is_empty() && l[0].sym() == Some(known().lambda) && !self.is_local(known().lambda) => {
                    if l.len() < 3 {
                        return serr("lambda needs parameters and a body", e.pos);
                    }
                    Node::Lambda(self.lambda(&l[1], &l[2..], Some(*name), e.pos)?)
                }
                _ => self.expr(e, false)?,
            };
            out.push(if boxed { Node::SetLocalBox(s, Box::new(v)) } else { Node::SetLocal(s, Box::new(v)) });
        }
        out.push(self.exprs_checked(body, tail, pos)?);
        Ok(Self::seq(out))
    }

    fn exprs_checked(&mut self, body: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        if body.is_empty() {
            return serr("a body needs at least one expression", pos);
        }
        self.exprs(body, tail)
    }

    /// A lambda or let body: internal defines (at its start or anywhere at
    /// its top level, `begin`s spliced) become a `letrec*`.
    fn body(&mut self, forms: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        let k = known();
        let mut flat: Vec<Sexp> = Vec::new();
        splice_begins(forms, &mut flat);
        let is_define = |x: &Sexp| {
            x.list().is_some_and(|l| !l.is_empty() && l[0].sym() == Some(k.define)) && !self.is_local(k.define)
        };
        if !flat.iter().any(is_define) {
            return self.exprs_checked(forms, tail, pos);
        }
        // Define forms become (name, lambda-or-expression) bindings.
        let mut lambdas: Vec<Sexp> = Vec::new();
        let mut defs_idx: Vec<(Sym, usize, Pos)> = Vec::new();
        let mut rest: Vec<Sexp> = Vec::new();
        for x in &flat {
            if is_define(x) {
                let l = x.list().expect("a list");
                let (name, e) = match l.get(1).map(|d| &d.kind) {
                    Some(SK::Sym(s)) if l.len() == 3 => (*s, l[2].clone()),
                    Some(SK::List(head, tl)) if !head.is_empty() && head[0].sym().is_some() && l.len() >= 3 => {
                        let params = Sexp { kind: SK::List(head[1..].to_vec(), tl.clone()), pos: l[1].pos };
                        let mut lam = vec![Sexp { kind: SK::Sym(k.lambda), pos: x.pos }, params];
                        lam.extend_from_slice(&l[2..]);
                        (head[0].sym().expect("sym"), Sexp { kind: SK::List(lam, None), pos: x.pos })
                    }
                    _ => return serr("define: bad syntax", x.pos),
                };
                lambdas.push(e);
                defs_idx.push((name, lambdas.len() - 1, x.pos));
            } else {
                rest.push(x.clone());
            }
        }
        if rest.is_empty() {
            return serr("a body needs an expression after its definitions", pos);
        }
        let defs: Vec<(Sym, &Sexp, Pos)> = defs_idx.iter().map(|(s, i, p)| (*s, &lambdas[*i], *p)).collect();
        self.scoped(|c| c.letrec(&defs, &rest, tail, pos))
    }

    fn lambda(&mut self, params: &Sexp, body: &[Sexp], name: Option<Sym>, pos: Pos) -> R<u32> {
        let (req, rest) = parse_params(params)?;
        let mut f = FnCtx::default();
        let mut scope = Vec::new();
        let mut boxed_params = Vec::new();
        for (i, s) in req.iter().chain(rest.iter()).enumerate() {
            let boxed = needs_box(*s, body);
            if boxed {
                boxed_params.push(i as u16);
            }
            scope.push((*s, Binding { slot: i as u16, boxed }));
        }
        let n = scope.len();
        if n >= MAX_SLOTS as usize {
            return serr("too many parameters", pos);
        }
        f.next = n as u16;
        f.max = n as u16;
        f.scopes.push(scope);
        self.fns.push(f);
        let body = self.body(body, true, pos);
        let f = self.fns.pop().expect("pushed");
        let body = body?;
        Ok(self.prog.add_lambda(Lambda {
            nreq: req.len() as u16,
            rest: rest.is_some(),
            frame: f.max,
            boxed_params: boxed_params.into(),
            captures: f.captures.into(),
            body,
            name,
            pos,
        }))
    }

    fn cond(&mut self, clauses: &[Sexp], tail: bool) -> R<Node> {
        let k = known();
        let Some((first, rest)) = clauses.split_first() else {
            return Ok(Node::Lit(unspec()));
        };
        let Some(cl) = first.list().filter(|l| !l.is_empty()) else {
            return serr("a cond clause must be a non-empty list", first.pos);
        };
        if cl[0].sym() == Some(k.else_) {
            if !rest.is_empty() {
                return serr("else must be the last cond clause", first.pos);
            }
            return self.exprs_checked(&cl[1..], tail, first.pos);
        }
        let otherwise = self.cond(rest, tail)?;
        if cl.len() == 3 && cl[1].sym() == Some(k.arrow) {
            return self.scoped(|c| {
                let t = c.reserve(first.pos)?;
                let test = c.expr(&cl[0], false)?;
                let f = c.expr(&cl[2], false)?;
                let call = Node::Call { f: Box::new(f), args: Box::new([Node::Local(t)]), pos: cl[2].pos, tail };
                Ok(Node::Seq(Box::new([
                    Node::SetLocal(t, Box::new(test)),
                    Node::If(Box::new([Node::Local(t), call, otherwise])),
                ])))
            });
        }
        if cl.len() == 1 {
            let test = self.expr(&cl[0], false)?;
            return Ok(Node::Or(Box::new([test, otherwise])));
        }
        let test = self.expr(&cl[0], false)?;
        let then = self.exprs(&cl[1..], tail)?;
        Ok(Node::If(Box::new([test, then, otherwise])))
    }

    fn case(&mut self, items: &[Sexp], tail: bool, pos: Pos) -> R<Node> {
        if items.len() < 2 {
            return serr("case needs a key", pos);
        }
        self.scoped(|c| {
            let t = c.reserve(pos)?;
            let key = c.expr(&items[1], false)?;
            let mut chain = Node::Lit(unspec());
            for cl in items[2..].iter().rev() {
                let Some(l) = cl.list().filter(|l| !l.is_empty()) else {
                    return serr("a case clause must be a non-empty list", cl.pos);
                };
                let body = if l.len() == 3 && l[1].sym() == Some(known().arrow) {
                    // `(data => f)` and `(else => f)`: f called on the key.
                    let f = c.expr(&l[2], false)?;
                    Node::Call { f: Box::new(f), args: Box::new([Node::Local(t)]), pos: l[2].pos, tail }
                } else {
                    c.exprs_checked(&l[1..], tail, cl.pos)?
                };
                if l[0].sym() == Some(known().else_) {
                    chain = body;
                    continue;
                }
                let Some(data) = l[0].list() else {
                    return serr("case: a clause's data must be a list", l[0].pos);
                };
                let mut lits = Vec::new();
                for d in data {
                    if let Node::Lit(x) = c.quote(d)? {
                        lits.push(x);
                    }
                }
                chain = Node::If(Box::new([Node::Memv(t, lits.into()), body, chain]));
            }
            Ok(Node::Seq(Box::new([Node::SetLocal(t, Box::new(key)), chain])))
        })
    }

    fn do_(&mut self, items: &[Sexp], pos: Pos) -> R<Node> {
        if items.len() < 3 {
            return serr("do needs variables and a test clause", pos);
        }
        let Some(specs) = items[1].list() else {
            return serr("do: the variables must be a list", items[1].pos);
        };
        let Some(test_clause) = items[2].list().filter(|l| !l.is_empty()) else {
            return serr("do: the test clause must be a non-empty list", items[2].pos);
        };
        let mut vars = Vec::new();
        for s in specs {
            match s.list() {
                Some(l) if (2..=3).contains(&l.len()) && l[0].sym().is_some() => {
                    vars.push((l[0].sym().expect("sym"), &l[1], l.get(2), s.pos));
                }
                _ => return serr("do: a variable must be (name init [step])", s.pos),
            }
        }
        let mut scope_forms: Vec<Sexp> = items[2..].to_vec();
        scope_forms.extend(vars.iter().filter_map(|v| v.2.cloned()));
        self.scoped(|c| {
            let mut slots = Vec::new();
            for v in &vars {
                slots.push(c.reserve(v.3)?);
            }
            let mut out = Vec::new();
            for (v, s) in vars.iter().zip(&slots) {
                let init = c.expr(v.1, false)?;
                out.push(Node::SetLocal(*s, Box::new(init)));
            }
            let mut boxes = Vec::new();
            for (v, s) in vars.iter().zip(&slots) {
                let boxed = needs_box(v.0, &scope_forms);
                if boxed {
                    out.push(Node::MakeBox(*s));
                }
                c.bind(v.0, *s, boxed);
                boxes.push(boxed);
            }
            let test = c.expr(&test_clause[0], false)?;
            let result = c.exprs(&test_clause[1..], false)?;
            let body = c.exprs(&items[3..], false)?;
            let mut steps = Vec::new();
            for ((v, s), boxed) in vars.iter().zip(&slots).zip(&boxes) {
                if let Some(st) = v.2 {
                    steps.push((*s, *boxed, c.expr(st, false)?));
                }
            }
            out.push(Node::Loop {
                test: Box::new(test),
                result: Box::new(result),
                body: Box::new(body),
                steps: steps.into(),
            });
            Ok(Self::seq(out))
        })
    }

    // ---- constants ----

    fn quote(&mut self, x: &Sexp) -> R<Node> {
        let v = self.datum(x)?;
        Ok(match Lit::of(v) {
            Some(l) => Node::Lit(l),
            None => match v {
                Tagged::Ref(g) => Node::Quoted(self.tx.global_root(g)),
                _ => Node::Lit(unspec()),
            },
        })
    }

    /// Build the heap value of a datum.
    pub(crate) fn datum(&mut self, x: &Sexp) -> R<Val<'tx>> {
        datum(self.tx, x)
    }

    fn quasi(&mut self, x: &Sexp, depth: u32) -> R<Node> {
        let k = known();
        let pos = x.pos;
        match &x.kind {
            SK::List(items, tail) if !items.is_empty() => {
                if tail.is_none() && items.len() == 2 && items[0].sym() == Some(k.unquote) {
                    return if depth == 1 {
                        self.expr(&items[1], false)
                    } else {
                        let inner = self.quasi(&items[1], depth - 1)?;
                        let q = self.quote(&items[0])?;
                        Ok(self.list_node(vec![q, inner], pos))
                    };
                }
                if tail.is_none() && items.len() == 2 && items[0].sym() == Some(k.quasiquote) {
                    let inner = self.quasi(&items[1], depth + 1)?;
                    let q = self.quote(&items[0])?;
                    return Ok(self.list_node(vec![q, inner], pos));
                }
                let mut acc = match tail {
                    Some(t) => self.quasi(t, depth)?,
                    None => Node::Lit(Lit::of(value::nil()).expect("imm")),
                };
                for it in items.iter().rev() {
                    let spliced =
                        it.list().filter(|l| l.len() == 2 && l[0].sym() == Some(k.unquote_splicing) && depth == 1);
                    acc = match spliced {
                        Some(l) => {
                            let e = self.expr(&l[1], false)?;
                            self.prim_node("append", vec![e, acc], pos)
                        }
                        None => {
                            let e = self.quasi(it, depth)?;
                            self.prim_node("cons", vec![e, acc], pos)
                        }
                    };
                }
                Ok(acc)
            }
            SK::Vector(items) => {
                let l = Sexp { kind: SK::List(items.clone(), None), pos };
                let lst = self.quasi(&l, depth)?;
                Ok(self.prim_node("list->vector", vec![lst], pos))
            }
            _ => self.quote(x),
        }
    }

    fn prim_node(&self, name: &str, args: Vec<Node>, pos: Pos) -> Node {
        let p = prims::find(name).expect("a builtin") as u16;
        Node::PrimCall { prim: p, args: args.into(), pos }
    }

    fn list_node(&self, items: Vec<Node>, pos: Pos) -> Node {
        self.prim_node("list", items, pos)
    }
}

fn unspec() -> Lit {
    Lit::of(value::unspec()).expect("imm")
}

fn undef() -> Lit {
    Lit::of(value::undef()).expect("imm")
}

/// The labels built so far while building one literal.
type Labels<'tx> = HashMap<u64, Val<'tx>>;

/// Build the heap value of datum `x` in `tx`. Its datum labels (the
/// reader's module docs) become shared objects: a labelled pair or vector
/// is allocated before its contents are built, so a `#n#` inside it finds
/// it (a circular literal). Contents are built in reading order, as labels
/// are defined.
pub(crate) fn datum<'tx>(tx: &mut Tx<'tx>, x: &Sexp) -> R<Val<'tx>> {
    datum_in(tx, x, &mut HashMap::new())
}

/// [`datum`] with the labels built so far.
fn datum_in<'tx>(tx: &mut Tx<'tx>, x: &Sexp, labels: &mut Labels<'tx>) -> R<Val<'tx>> {
    let t = types();
    Ok(match &x.kind {
        SK::Int(i) => match Tagged::int(*i) {
            Some(v) => v,
            None => return serr("integer literal out of the fixnum range (61 bits; no bignums)", x.pos),
        },
        SK::Float(f) => prims::flonum(tx, *f)?,
        SK::Bool(b) => value::boolean(*b),
        SK::Char(c) => value::char_val(*c),
        SK::Sym(s) => value::sym_val(*s),
        SK::Str(s) => prims::string(tx, s)?,
        SK::List(items, tail) => {
            let vals = items.iter().map(|it| datum_in(tx, it, labels)).collect::<R<Vec<_>>>()?;
            let tail = match tail {
                Some(t) => datum_in(tx, t, labels)?,
                None => value::nil(),
            };
            cons_all(tx, &vals, tail)?
        }
        SK::Vector(items) => {
            let elems = items.iter().map(|it| datum_in(tx, it, labels)).collect::<R<Vec<_>>>()?;
            Tagged::Ref(tx.alloc_with(t.vector, DynInit::new().elems(&elems))?)
        }
        SK::Label(..) => labelled(tx, x, labels)?,
        SK::LabelRef(n) => match labels.get(n) {
            Some(&v) => v,
            None => return serr(format!("#{n}# refers to a label outside its quoted datum"), x.pos),
        },
    })
}

/// `vals` consed in front of `tail`.
fn cons_all<'tx>(tx: &mut Tx<'tx>, vals: &[Val<'tx>], tail: Val<'tx>) -> R<Val<'tx>> {
    let pair = types().pair;
    let mut acc = tail;
    for &v in vals.iter().rev() {
        acc = Tagged::Ref(tx.alloc_with(pair, DynInit::new().tagged(&[v, acc]))?);
    }
    Ok(acc)
}

/// The value of `#n=...`, an alias chain `#n=#m=...` included: every
/// name of the chain is registered before the contents of a labelled pair
/// or vector are built (so it can contain itself under any of them), and
/// after the value of anything else.
fn labelled<'tx>(tx: &mut Tx<'tx>, x: &Sexp, labels: &mut Labels<'tx>) -> R<Val<'tx>> {
    let t = types();
    let mut names = Vec::new();
    let mut inner = x;
    while let SK::Label(n, i) = &inner.kind {
        names.push(*n);
        inner = i;
    }
    let name = |labels: &mut Labels<'tx>, v: Val<'tx>| {
        for &n in &names {
            labels.insert(n, v);
        }
        v
    };
    match &inner.kind {
        SK::List(items, tail) if !items.is_empty() => {
            let first = tx.alloc_dyn(t.pair)?;
            name(labels, Tagged::Ref(first));
            let vals = items.iter().map(|it| datum_in(tx, it, labels)).collect::<R<Vec<_>>>()?;
            let tail = match tail {
                Some(t) => datum_in(tx, t, labels)?,
                None => value::nil(),
            };
            let rest = cons_all(tx, &vals[1..], tail)?;
            tx.set_tagged(first, 0, vals[0])?;
            tx.set_tagged(first, 1, rest)?;
            Ok(Tagged::Ref(first))
        }
        SK::Vector(items) => {
            let v = tx.alloc_array(t.vector, items.len())?;
            name(labels, Tagged::Ref(v));
            for (i, it) in items.iter().enumerate() {
                let e = datum_in(tx, it, labels)?;
                tx.set_elem(v, i, e)?;
            }
            Ok(Tagged::Ref(v))
        }
        _ => {
            let v = datum_in(tx, inner, labels)?;
            Ok(name(labels, v))
        }
    }
}

/// Whether `x` holds a datum label or reference anywhere.
fn has_label(x: &Sexp) -> bool {
    match &x.kind {
        SK::Label(..) | SK::LabelRef(_) => true,
        SK::List(l, tail) => l.iter().any(has_label) || tail.as_deref().is_some_and(has_label),
        SK::Vector(v) => v.iter().any(has_label),
        _ => false,
    }
}

/// Whether `x` mentions `unquote` or `unquote-splicing` anywhere (at any
/// quasiquote depth: a conservative test).
fn has_unquote(x: &Sexp) -> bool {
    let k = known();
    match &x.kind {
        SK::Sym(s) => *s == k.unquote || *s == k.unquote_splicing,
        SK::Label(_, d) => has_unquote(d),
        SK::List(l, tail) => l.iter().any(has_unquote) || tail.as_deref().is_some_and(has_unquote),
        SK::Vector(v) => v.iter().any(has_unquote),
        _ => false,
    }
}

fn parse_params(p: &Sexp) -> R<(Vec<Sym>, Option<Sym>)> {
    let sym = |x: &Sexp| x.sym().ok_or_else(|| Fail::user(SchemeError::at("a parameter must be a symbol", x.pos)));
    let (req, rest) = match &p.kind {
        SK::Sym(s) => return Ok((Vec::new(), Some(*s))),
        SK::List(items, tail) => {
            let req = items.iter().map(sym).collect::<R<Vec<_>>>()?;
            let rest = tail.as_deref().map(sym).transpose()?;
            (req, rest)
        }
        _ => return serr("parameters must be a list or a symbol", p.pos),
    };
    let mut all: Vec<Sym> = req.iter().chain(rest.iter()).copied().collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return serr("a parameter appears twice", p.pos);
    }
    Ok((req, rest))
}

fn splice_begins(forms: &[Sexp], out: &mut Vec<Sexp>) {
    for f in forms {
        match f.list() {
            Some(l) if !l.is_empty() && l[0].sym() == Some(known().begin) => splice_begins(&l[1..], out),
            _ => out.push(f.clone()),
        }
    }
}

// ---- the conservative scans (C2) ----

/// Whether `s` must live in a box in the scope `body`: assigned and captured.
fn needs_box(s: Sym, body: &[Sexp]) -> bool {
    body.iter().any(|x| assigned(s, x)) && captured(s, body)
}

fn is_quote(l: &[Sexp]) -> bool {
    l.first().and_then(Sexp::sym) == Some(known().quote)
}

fn assigned(s: Sym, x: &Sexp) -> bool {
    match &x.kind {
        SK::List(l, _) if is_quote(l) => false,
        SK::List(l, tail) => {
            (l.len() >= 2 && l[0].sym() == Some(known().set) && l[1].sym() == Some(s))
                || l.iter().any(|y| assigned(s, y))
                || tail.as_deref().is_some_and(|t| assigned(s, t))
        }
        SK::Vector(_) => false,
        _ => false,
    }
}

fn mentions(s: Sym, x: &Sexp) -> bool {
    match &x.kind {
        SK::Sym(y) => *y == s,
        SK::List(l, _) if is_quote(l) => false,
        SK::List(l, tail) => l.iter().any(|y| mentions(s, y)) || tail.as_deref().is_some_and(|t| mentions(s, t)),
        _ => false,
    }
}

/// Whether a form that makes a closure (a lambda, a procedure define, a
/// named let) inside `body` mentions `s`.
fn captured(s: Sym, body: &[Sexp]) -> bool {
    body.iter().any(|x| captured1(s, x))
}

fn captured1(s: Sym, x: &Sexp) -> bool {
    let k = known();
    let SK::List(l, tail) = &x.kind else {
        return false;
    };
    if is_quote(l) {
        return false;
    }
    let head = l.first().and_then(Sexp::sym);
    let closure = head == Some(k.lambda)
        || (head == Some(k.define) && l.get(1).is_some_and(|d| matches!(d.kind, SK::List(..))))
        || (head == Some(k.let_) && l.get(1).is_some_and(|d| d.sym().is_some()));
    if closure {
        return mentions(s, x);
    }
    l.iter().any(|y| captured1(s, y)) || tail.as_deref().is_some_and(|t| captured1(s, t))
}
