//! Symbols: interned names, immortal for the process (as in most Scheme
//! systems without symbol GC). A symbol value is an immediate carrying its
//! id, so `eq?` on symbols is a word compare and no heap object is needed.
//!
//! Invariant: an id, once given to a name, names it for the life of the
//! process, on every thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// An interned symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

struct Table {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

fn table() -> &'static Mutex<Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Table { ids: HashMap::new(), names: Vec::new() }))
}

impl Sym {
    /// The symbol named `name`.
    pub fn intern(name: &str) -> Sym {
        let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = t.ids.get(name) {
            return Sym(id);
        }
        let id = u32::try_from(t.names.len()).expect("fewer than 2^32 symbols");
        let name: Arc<str> = Arc::from(name);
        t.names.push(Arc::clone(&name));
        t.ids.insert(name, id);
        Sym(id)
    }

    /// Its name.
    pub fn name(self) -> Arc<str> {
        let t = table().lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&t.names[self.0 as usize])
    }
}

/// The symbols the compiler recognises, interned once.
#[allow(missing_docs)]
pub(crate) struct Known {
    pub quote: Sym,
    pub quasiquote: Sym,
    pub unquote: Sym,
    pub unquote_splicing: Sym,
    pub lambda: Sym,
    pub define: Sym,
    pub set: Sym,
    pub if_: Sym,
    pub cond: Sym,
    pub case: Sym,
    pub and: Sym,
    pub or: Sym,
    pub when: Sym,
    pub unless: Sym,
    pub let_: Sym,
    pub let_star: Sym,
    pub letrec: Sym,
    pub letrec_star: Sym,
    pub begin: Sym,
    pub do_: Sym,
    pub else_: Sym,
    pub arrow: Sym,
    pub run_events: Sym,
    pub dot: Sym,
}

pub(crate) fn known() -> &'static Known {
    static K: OnceLock<Known> = OnceLock::new();
    K.get_or_init(|| Known {
        quote: Sym::intern("quote"),
        quasiquote: Sym::intern("quasiquote"),
        unquote: Sym::intern("unquote"),
        unquote_splicing: Sym::intern("unquote-splicing"),
        lambda: Sym::intern("lambda"),
        define: Sym::intern("define"),
        set: Sym::intern("set!"),
        if_: Sym::intern("if"),
        cond: Sym::intern("cond"),
        case: Sym::intern("case"),
        and: Sym::intern("and"),
        or: Sym::intern("or"),
        when: Sym::intern("when"),
        unless: Sym::intern("unless"),
        let_: Sym::intern("let"),
        let_star: Sym::intern("let*"),
        letrec: Sym::intern("letrec"),
        letrec_star: Sym::intern("letrec*"),
        begin: Sym::intern("begin"),
        do_: Sym::intern("do"),
        else_: Sym::intern("else"),
        arrow: Sym::intern("=>"),
        run_events: Sym::intern("run-events"),
        dot: Sym::intern("."),
    })
}
