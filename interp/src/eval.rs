//! The evaluator: walks [`Node`] trees inside one transaction.
//!
//! Every value a running evaluation holds is a `Tagged<'tx>` of the
//! transaction it runs in: frames live on `Ctx::stack`, a Rust vector that
//! the transaction owns, so no frame outlives its transaction and the
//! collector never needs to see it (a running transaction never meets the
//! collector; tmgc keeps what it reaches alive until its commit point).
//! What outlives a transaction is in the heap, reached from global roots
//! (the global directory, quoted constants, queued events).
//!
//! Proper tail calls: a call in tail position leaves its procedure and
//! arguments on the stack and returns to the `apply` loop of its caller's
//! frame, which reuses the frame (`Ctx::tail`). Non-tail calls nest Rust
//! calls, bounded by `Options::max_depth` and by the stack the thread may
//! use (`Options::stack_bytes`): a Scheme error past either, never a
//! stack overflow.

use tmgc::{Dyn, DynInit, Gc, GlobalRoot, Tagged, Tx};

use crate::code::{Capture, Lambda, Node, Op1, Op2};
use crate::error::{at_pos, err, Fail, Pos, R};
use crate::prims::{self, PRIMS};
use crate::print::{Labels, Printer};
use crate::program::{Program, CHUNK};
use crate::value::{self, imm_of, kind, nil, types, undef, unspec, Val};

/// How output reaches standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputMode {
    /// Buffered, written after the transaction commits (one thread runs).
    AfterCommit,
    /// The transaction becomes inevitable at its first output, takes the
    /// output lock, and writes after its commit while still holding it:
    /// outputs appear in commit order (several workers).
    Inevitable,
}

/// What a transaction's evaluation produced besides its value.
#[derive(Default)]
pub(crate) struct Effects {
    /// Text to write after the commit.
    pub(crate) out: String,
    /// Events spawned (queued after the commit).
    pub(crate) spawned: Vec<GlobalRoot<Dyn>>,
    /// Whether it became inevitable.
    pub(crate) inevitable: bool,
}

/// One evaluation in one transaction.
pub(crate) struct Ctx<'a, 'tx> {
    pub(crate) tx: &'a mut Tx<'tx>,
    pub(crate) prog: &'a Program,
    pub(crate) stack: Vec<Val<'tx>>,
    chunks: Vec<Option<Gc<'tx, Dyn>>>,
    /// Global values this transaction has read or written, by number
    /// (`Null`: not yet). A global read twice is read once: its value
    /// cannot change under the transaction (its snapshot), and the read
    /// set does not grow with every reference in a loop.
    seen: Vec<Val<'tx>>,
    lambdas: &'a mut Vec<&'static Lambda>,
    pub(crate) fx: Effects,
    pub(crate) output: OutputMode,
    /// Taken when the transaction became inevitable for output.
    pub(crate) out_lock: &'a mut Option<std::sync::MutexGuard<'static, ()>>,
    tail: Option<(Val<'tx>, usize, Pos)>,
    depth: u32,
    limits: Limits,
    /// The lowest stack address nested calls may reach (the stack grows
    /// down): `limits.stack_bytes` below where this evaluation started.
    stack_floor: usize,
}

/// How deep an evaluation may nest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Non-tail calls.
    pub(crate) max_depth: u32,
    /// Bytes of the thread's stack the evaluation may use.
    pub(crate) stack_bytes: usize,
}

/// The address of a local: how deep this thread's stack is now.
#[inline(always)]
pub(crate) fn stack_here() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker).addr()
}

/// The process-wide output lock (`OutputMode::Inevitable`).
pub(crate) static OUTPUT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Clone, Copy)]
struct Env<'tx> {
    fp: usize,
    clo: Option<Gc<'tx, Dyn>>,
}

impl<'a, 'tx> Ctx<'a, 'tx> {
    pub(crate) fn new(
        tx: &'a mut Tx<'tx>,
        prog: &'a Program,
        lambdas: &'a mut Vec<&'static Lambda>,
        output: OutputMode,
        out_lock: &'a mut Option<std::sync::MutexGuard<'static, ()>>,
        limits: Limits,
    ) -> Self {
        Ctx {
            tx,
            prog,
            stack: Vec::with_capacity(256),
            chunks: Vec::new(),
            seen: Vec::new(),
            lambdas,
            fx: Effects::default(),
            output,
            out_lock,
            tail: None,
            depth: 0,
            limits,
            stack_floor: stack_here().saturating_sub(limits.stack_bytes),
        }
    }

    pub(crate) fn lambda(&mut self, id: usize) -> &'static Lambda {
        if id >= self.lambdas.len() {
            self.prog.lambdas_into(self.lambdas);
        }
        self.lambdas[id]
    }

    /// Write program output (see [`OutputMode`]).
    pub(crate) fn write_out(&mut self, s: &str) -> R<()> {
        if self.output == OutputMode::Inevitable && !self.fx.inevitable {
            self.tx.become_inevitable()?;
            self.fx.inevitable = true;
            if self.out_lock.is_none() {
                *self.out_lock = Some(OUTPUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            }
        }
        self.fx.out.push_str(s);
        Ok(())
    }

    // ---- globals ----

    #[inline]
    fn chunk(&mut self, c: usize) -> R<Gc<'tx, Dyn>> {
        if let Some(Some(g)) = self.chunks.get(c) {
            return Ok(*g);
        }
        let dir = self.tx.get_global(&self.prog.dir)?;
        let Tagged::Ref(g) = self.tx.elem(dir, c)? else {
            return err("internal error: a global's chunk is missing");
        };
        if self.chunks.len() <= c {
            self.chunks.resize(c + 1, None);
        }
        self.chunks[c] = Some(g);
        Ok(g)
    }

    #[inline]
    pub(crate) fn global(&mut self, id: u32) -> R<Val<'tx>> {
        if let Some(&v) = self.seen.get(id as usize) {
            if v != Tagged::Null {
                return Ok(v);
            }
        }
        let c = self.chunk(id as usize / CHUNK)?;
        let v = self.tx.elem(c, id as usize % CHUNK)?;
        if v == Tagged::Null || v == undef() {
            let name = self.prog.global_name(id);
            return err(format!("unbound variable: {}", name.name()));
        }
        self.remember(id, v);
        Ok(v)
    }

    fn remember(&mut self, id: u32, v: Val<'tx>) {
        let i = id as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, Tagged::Null);
        }
        self.seen[i] = v;
    }

    pub(crate) fn set_global(&mut self, id: u32, v: Val<'tx>, define: bool) -> R<()> {
        let c = self.chunk(id as usize / CHUNK)?;
        if !define {
            let old = self.tx.elem(c, id as usize % CHUNK)?;
            if old == Tagged::Null || old == undef() {
                let name = self.prog.global_name(id);
                return err(format!("set!: unbound variable: {}", name.name()));
            }
        }
        self.tx.set_elem(c, id as usize % CHUNK, v)?;
        self.remember(id, v);
        Ok(())
    }

    // ---- boxes ----

    fn make_box(&mut self, v: Val<'tx>) -> R<Val<'tx>> {
        Ok(Tagged::Ref(self.tx.alloc_with(types().boxed, DynInit::new().tagged(&[v]))?))
    }

    #[inline]
    fn unbox(&mut self, b: Val<'tx>) -> R<Val<'tx>> {
        match b {
            Tagged::Ref(g) => {
                let v = self.tx.tagged(g, 0)?;
                if v == undef() {
                    return err("a variable was used before its definition (letrec)");
                }
                Ok(v)
            }
            _ => err("internal error: a boxed variable holds no box"),
        }
    }

    #[inline]
    fn set_box(&mut self, b: Val<'tx>, v: Val<'tx>) -> R<()> {
        match b {
            Tagged::Ref(g) => Ok(self.tx.set_tagged(g, 0, v)?),
            _ => err("internal error: a boxed variable holds no box"),
        }
    }

    #[inline]
    fn capt(&mut self, env: Env<'tx>, i: u16) -> R<Val<'tx>> {
        match env.clo {
            Some(c) => Ok(self.tx.elem(c, i as usize)?),
            None => err("internal error: a captured variable outside a closure"),
        }
    }

    // ---- evaluation ----

    /// Run thunk `id` (a compiled top-level form) with no closure.
    pub(crate) fn run_thunk(&mut self, id: u32) -> R<Val<'tx>> {
        let lam = self.lambda(id as usize);
        let fp = self.stack.len();
        self.stack.resize(fp + lam.frame as usize, unspec());
        let r = self.eval(&lam.body, Env { fp, clo: None });
        let r = match r {
            Ok(v) => self.finish_tail(v, fp),
            Err(e) => Err(e),
        };
        self.stack.truncate(fp);
        r
    }

    /// If the body left a tail call, make it now.
    fn finish_tail(&mut self, v: Val<'tx>, fp: usize) -> R<Val<'tx>> {
        match self.tail.take() {
            None => Ok(v),
            Some((f, n, pos)) => {
                let top = self.stack.len();
                self.stack.copy_within(top - n..top, fp);
                self.stack.truncate(fp + n);
                self.apply_at(f, fp, n).map_err(|e| at_pos(e, pos))
            }
        }
    }

    /// Call `f` on `args` (from Rust: primitives that call procedures).
    pub(crate) fn call(&mut self, f: Val<'tx>, args: &[Val<'tx>]) -> R<Val<'tx>> {
        let base = self.stack.len();
        self.stack.extend_from_slice(args);
        self.apply_at(f, base, args.len())
    }

    /// Apply `f` to the `n` arguments at `stack[base..]`; pops them.
    pub(crate) fn apply_at(&mut self, mut f: Val<'tx>, base: usize, mut n: usize) -> R<Val<'tx>> {
        self.depth += 1;
        if self.depth > self.limits.max_depth || stack_here() < self.stack_floor {
            self.depth -= 1;
            self.stack.truncate(base);
            return self.too_deep();
        }
        let mut pos = None;
        let r = self.apply_loop(&mut f, base, &mut n, &mut pos);
        let r = match (r, pos) {
            (Err(e), Some(p)) => Err(at_pos(e, p)),
            (r, _) => r,
        };
        self.depth -= 1;
        self.stack.truncate(base);
        r
    }

    /// `pos`: the position of the tail call being made, once one is.
    fn apply_loop(&mut self, f: &mut Val<'tx>, base: usize, n: &mut usize, pos: &mut Option<Pos>) -> R<Val<'tx>> {
        loop {
            let clo = match *f {
                Tagged::Ref(g) if value::is(g, types().closure) => g,
                Tagged::Imm(i) if i.kind() == kind::PRIM && i.payload() as usize == prims::APPLY => {
                    // `(apply g a ... list)`: spread the arguments in place
                    // and loop, so an `apply` in tail position is a tail call.
                    (*f, *n) = self.spread_apply(base, *n)?;
                    continue;
                }
                Tagged::Imm(i) if i.kind() == kind::PRIM => return self.apply_prim(i.payload() as usize, base, *n),
                other => return self.not_a_procedure(other),
            };
            let code = self.tx.tagged(clo, 0)?;
            let Some(id) = imm_of(code, kind::CODE) else {
                return err("internal error: a closure without code");
            };
            let lam = self.lambda(id as usize);
            let nreq = lam.nreq as usize;
            if *n != nreq || lam.rest {
                self.spread(lam, base, *n)?;
            }
            let frame = base + lam.frame as usize;
            if self.stack.len() != frame {
                self.stack.resize(frame, unspec());
            }
            if !lam.boxed_params.is_empty() {
                self.box_params(lam, base)?;
            }
            *pos = None;
            let v = self.eval(&lam.body, Env { fp: base, clo: Some(clo) })?;
            match self.tail.take() {
                None => return Ok(v),
                Some((g, m, p)) => {
                    *pos = Some(p);
                    let top = self.stack.len();
                    self.stack.copy_within(top - m..top, base);
                    self.stack.truncate(base + m);
                    *f = g;
                    *n = m;
                }
            }
        }
    }

    /// Whether this thread has used the stack the interpreter may use: a
    /// builtin that recurses on a structure (`equal?`) stops there.
    pub(crate) fn stack_exhausted(&self) -> bool {
        stack_here() < self.stack_floor
    }

    /// The lowest stack address this evaluation may use.
    pub(crate) fn stack_floor(&self) -> usize {
        self.stack_floor
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self) -> R<Val<'tx>> {
        if self.depth >= self.limits.max_depth {
            err(format!("recursion too deep (more than {} nested calls)", self.limits.max_depth))
        } else {
            err(format!(
                "recursion too deep ({} nested calls used the {} MiB of stack the interpreter may use)",
                self.depth,
                self.limits.stack_bytes >> 20
            ))
        }
    }

    #[inline(never)]
    fn apply_prim(&mut self, p: usize, base: usize, n: usize) -> R<Val<'tx>> {
        prims::check_arity(p, n).map_err(Fail::user)?;
        (PRIMS[p].f)(self, base, n)
    }

    /// Rewrite `stack[base..base + n]`, the arguments of `apply`, into the
    /// call it makes: its procedure and its spread arguments.
    #[inline(never)]
    fn spread_apply(&mut self, base: usize, n: usize) -> R<(Val<'tx>, usize)> {
        prims::check_arity(prims::APPLY, n).map_err(Fail::user)?;
        let g = self.stack[base];
        let last = self.stack[base + n - 1];
        let items = if n > 1 { prims::list_items(self, "apply", last)? } else { Vec::new() };
        let fixed = n.saturating_sub(2);
        self.stack.copy_within(base + 1..base + 1 + fixed, base);
        self.stack.truncate(base + fixed);
        self.stack.extend_from_slice(&items);
        Ok((g, fixed + items.len()))
    }

    #[cold]
    #[inline(never)]
    fn not_a_procedure(&mut self, v: Val<'tx>) -> R<Val<'tx>> {
        let s = self.show(v)?;
        err(format!("not a procedure: {s}"))
    }

    /// Check the arity of a call of `lam` with `n` arguments, and gather
    /// the rest list.
    #[inline(never)]
    fn spread(&mut self, lam: &Lambda, base: usize, n: usize) -> R<()> {
        let nreq = lam.nreq as usize;
        if n != nreq && !(lam.rest && n > nreq) {
            let expected = if lam.rest { format!("at least {nreq}") } else { format!("{nreq}") };
            return err(format!("{}: wrong number of arguments: expected {expected}, got {n}", lam.describe()));
        }
        if lam.rest {
            let mut l = nil();
            for i in (nreq..n).rev() {
                let v = self.stack[base + i];
                l = prims::cons(self.tx, v, l)?;
            }
            self.stack.truncate(base + nreq);
            self.stack.push(l);
        }
        Ok(())
    }

    #[inline(never)]
    fn box_params(&mut self, lam: &Lambda, base: usize) -> R<()> {
        for &s in lam.boxed_params.iter() {
            let v = self.stack[base + s as usize];
            self.stack[base + s as usize] = self.make_box(v)?;
        }
        Ok(())
    }

    /// Evaluate `args` onto the stack; where they start. On an error the
    /// stack is as it was.
    #[inline]
    fn push_args(&mut self, args: &[Node], env: Env<'tx>) -> R<usize> {
        let base = self.stack.len();
        for a in args {
            match self.eval(a, env) {
                Ok(v) => self.stack.push(v),
                Err(e) => {
                    self.stack.truncate(base);
                    return Err(e);
                }
            }
        }
        Ok(base)
    }

    fn eval(&mut self, node: &Node, env: Env<'tx>) -> R<Val<'tx>> {
        match node {
            Node::Lit(l) => Ok(l.val()),
            Node::Local(s) => Ok(self.stack[env.fp + *s as usize]),
            Node::LocalBox(s) => {
                let b = self.stack[env.fp + *s as usize];
                self.unbox(b)
            }
            Node::Capt(i) => self.capt(env, *i),
            Node::CaptBox(i) => {
                let b = self.capt(env, *i)?;
                self.unbox(b)
            }
            Node::Global(id, pos) => self.global(*id).map_err(|e| at_pos(e, *pos)),
            Node::If(b) => {
                let [c, t, e] = &**b;
                if value::truthy(self.eval(c, env)?) {
                    self.eval(t, env)
                } else {
                    self.eval(e, env)
                }
            }
            Node::Seq(xs) => {
                let (last, init) = xs.split_last().expect("a sequence is not empty");
                for x in init {
                    self.eval(x, env)?;
                }
                self.eval(last, env)
            }
            Node::And(xs) => {
                let (last, init) = xs.split_last().expect("not empty");
                for x in init {
                    if !value::truthy(self.eval(x, env)?) {
                        return Ok(value::false_());
                    }
                }
                self.eval(last, env)
            }
            Node::Or(xs) => {
                let (last, init) = xs.split_last().expect("not empty");
                for x in init {
                    let v = self.eval(x, env)?;
                    if value::truthy(v) {
                        return Ok(v);
                    }
                }
                self.eval(last, env)
            }
            Node::Call { f, args, pos, tail } => {
                let fv = self.eval(f, env)?;
                let base = self.push_args(args, env)?;
                if *tail {
                    self.tail = Some((fv, args.len(), *pos));
                    return Ok(unspec());
                }
                self.apply_at(fv, base, args.len()).map_err(|e| at_pos(e, *pos))
            }
            Node::PrimCall { prim, args, pos } => {
                let base = self.push_args(args, env)?;
                let r = (PRIMS[*prim as usize].f)(self, base, args.len());
                self.stack.truncate(base);
                r.map_err(|e| at_pos(e, *pos))
            }
            Node::Op1(op, a, pos) => {
                let v = self.eval(a, env)?;
                self.op1(*op, v).map_err(|e| at_pos(e, *pos))
            }
            Node::Op2(op, ab, pos) => {
                let [a, b] = &**ab;
                let x = self.eval(a, env)?;
                let y = self.eval(b, env)?;
                self.op2(*op, x, y).map_err(|e| at_pos(e, *pos))
            }
            _ => self.eval_rare(node, env),
        }
    }

    /// The forms that are not in the inner loops (kept out of `eval`, whose
    /// stack frame every nested evaluation pays for).
    #[inline(never)]
    fn eval_rare(&mut self, node: &Node, env: Env<'tx>) -> R<Val<'tx>> {
        match node {
            Node::Quoted(r) => Ok(Tagged::Ref(self.tx.get_global(r)?)),
            Node::SetLocal(s, e) => {
                let v = self.eval(e, env)?;
                self.stack[env.fp + *s as usize] = v;
                Ok(unspec())
            }
            Node::SetLocalBox(s, e) => {
                let v = self.eval(e, env)?;
                let b = self.stack[env.fp + *s as usize];
                self.set_box(b, v)?;
                Ok(unspec())
            }
            Node::SetCaptBox(i, e) => {
                let v = self.eval(e, env)?;
                let b = self.capt(env, *i)?;
                self.set_box(b, v)?;
                Ok(unspec())
            }
            Node::SetGlobal(id, define, e, pos) => {
                let v = self.eval(e, env)?;
                self.set_global(*id, v, *define).map_err(|e| at_pos(e, *pos))?;
                Ok(unspec())
            }
            Node::MakeBox(s) => {
                let i = env.fp + *s as usize;
                self.stack[i] = self.make_box(self.stack[i])?;
                Ok(unspec())
            }
            Node::Lambda(id) => self.closure(*id, env),
            Node::Memv(s, lits) => {
                let v = self.stack[env.fp + *s as usize];
                Ok(value::boolean(lits.iter().any(|l| l.val() == v)))
            }
            Node::Loop { test, result, body, steps } => {
                let mut tmp = Vec::with_capacity(steps.len());
                loop {
                    if value::truthy(self.eval(test, env)?) {
                        return self.eval(result, env);
                    }
                    self.eval(body, env)?;
                    tmp.clear();
                    for (_, _, st) in steps.iter() {
                        tmp.push(self.eval(st, env)?);
                    }
                    for ((s, boxed, _), v) in steps.iter().zip(&tmp) {
                        let v = if *boxed { self.make_box(*v)? } else { *v };
                        self.stack[env.fp + *s as usize] = v;
                    }
                }
            }
            _ => unreachable!("eval handles the other nodes"),
        }
    }

    fn closure(&mut self, id: u32, env: Env<'tx>) -> R<Val<'tx>> {
        let lam = self.lambda(id as usize);
        let c = self.tx.alloc_array(types().closure, lam.captures.len())?;
        self.tx.set_tagged(c, 0, value::code_val(id as usize))?;
        for (i, cap) in lam.captures.iter().enumerate() {
            let v = match cap {
                Capture::Local(s) => self.stack[env.fp + *s as usize],
                Capture::Capt(j) => self.capt(env, *j)?,
            };
            self.tx.set_elem(c, i, v)?;
        }
        Ok(Tagged::Ref(c))
    }

    #[inline]
    fn op1(&mut self, op: Op1, v: Val<'tx>) -> R<Val<'tx>> {
        match op {
            Op1::Car | Op1::Cdr => match v {
                Tagged::Ref(g) if value::is(g, types().pair) => {
                    Ok(self.tx.tagged(g, if op == Op1::Car { 0 } else { 1 })?)
                }
                _ => prims::type_err(self, if op == Op1::Car { "car" } else { "cdr" }, "a pair", v),
            },
            Op1::Null => Ok(value::boolean(v == nil())),
            Op1::Pair => Ok(value::boolean(matches!(v, Tagged::Ref(g) if value::is(g, types().pair)))),
            Op1::Not => Ok(value::boolean(v == value::false_())),
            Op1::Zero => match v {
                Tagged::Int(i) => Ok(value::boolean(i.get() == 0)),
                _ => prims::num_cmp(self, "zero?", v, Tagged::int(0).expect("0"), |o| o.is_eq()),
            },
        }
    }

    #[inline]
    fn op2(&mut self, op: Op2, x: Val<'tx>, y: Val<'tx>) -> R<Val<'tx>> {
        if let (Tagged::Int(a), Tagged::Int(b)) = (x, y) {
            let (a, b) = (a.get(), b.get());
            let fix = |v: i64| Tagged::int(v).ok_or(());
            let r = match op {
                Op2::Add => fix(a + b),
                Op2::Sub => fix(a - b),
                Op2::Mul => a.checked_mul(b).ok_or(()).and_then(fix),
                Op2::Lt => Ok(value::boolean(a < b)),
                Op2::Gt => Ok(value::boolean(a > b)),
                Op2::Le => Ok(value::boolean(a <= b)),
                Op2::Ge => Ok(value::boolean(a >= b)),
                Op2::NumEq | Op2::Eq => Ok(value::boolean(a == b)),
                Op2::Cons => return prims::cons(self.tx, x, y),
                Op2::VecRef => return prims::vector_ref(self, x, y),
            };
            return r.or_else(|()| prims::overflow());
        }
        match op {
            Op2::Add => prims::arith(self, "+", x, y),
            Op2::Sub => prims::arith(self, "-", x, y),
            Op2::Mul => prims::arith(self, "*", x, y),
            Op2::Lt => prims::num_cmp(self, "<", x, y, |o| o.is_lt()),
            Op2::Gt => prims::num_cmp(self, ">", x, y, |o| o.is_gt()),
            Op2::Le => prims::num_cmp(self, "<=", x, y, |o| o.is_le()),
            Op2::Ge => prims::num_cmp(self, ">=", x, y, |o| o.is_ge()),
            Op2::NumEq => prims::num_cmp(self, "=", x, y, |o| o.is_eq()),
            Op2::Eq => Ok(value::boolean(x == y)),
            Op2::Cons => prims::cons(self.tx, x, y),
            Op2::VecRef => prims::vector_ref(self, x, y),
        }
    }

    /// `v` as `write` shows it, whole.
    pub(crate) fn show_full(&mut self, v: Val<'tx>) -> R<String> {
        let mut s = String::new();
        self.prog.lambdas_into(self.lambdas);
        Printer::new(true, self.lambdas, self.stack_floor).print(self.tx, v, Labels::Cycles, &mut s)?;
        Ok(s)
    }

    /// `v` as `write` shows it, for messages (at most 50 elements, cut at
    /// 200 bytes).
    pub(crate) fn show(&mut self, v: Val<'tx>) -> R<String> {
        let mut s = String::new();
        self.prog.lambdas_into(self.lambdas);
        Printer::new(true, self.lambdas, self.stack_floor).at_most(50).print(self.tx, v, Labels::None, &mut s)?;
        if s.len() > 200 {
            let mut cut = 200;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
        }
        Ok(s)
    }

    pub(crate) fn lambdas_ref(&mut self) -> &[&'static Lambda] {
        self.prog.lambdas_into(self.lambdas);
        self.lambdas
    }
}
