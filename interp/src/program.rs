//! What every thread running a program shares: the global variables'
//! names and numbers, the compiled lambdas, and the heap directory of
//! global values.
//!
//! Global values live in the heap, so that events read and write them
//! transactionally: a directory array (a global root) of chunk arrays of
//! [`CHUNK`] values each. A global's number never changes (G1), and its
//! chunk exists before any code that names it runs (G2: the compiler makes
//! it, in the transaction that compiles the code).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};

use tmgc::{Dyn, GlobalRoot, Tagged, Tx};

use crate::code::Lambda;
use crate::error::{err, R};
use crate::symbol::Sym;
use crate::value::types;

/// Global values per chunk.
pub(crate) const CHUNK: usize = 256;
/// Chunks in the directory: at most `CHUNK * DIR` globals.
pub(crate) const DIR: usize = 4096;

pub(crate) struct Globals {
    ids: HashMap<Sym, u32>,
    pub(crate) names: Vec<Sym>,
    /// Whether user code defines or assigns it (then calls to it are not inlined).
    pub(crate) user: Vec<bool>,
    /// The builtin it names at start, if any.
    pub(crate) prim: Vec<Option<u16>>,
}

/// A program's shared state.
pub(crate) struct Program {
    pub(crate) globals: Mutex<Globals>,
    lambdas: RwLock<Vec<&'static Lambda>>,
    pub(crate) dir: GlobalRoot<Dyn>,
}

impl Program {
    pub(crate) fn new(dir: GlobalRoot<Dyn>) -> Program {
        Program {
            globals: Mutex::new(Globals { ids: HashMap::new(), names: Vec::new(), user: Vec::new(), prim: Vec::new() }),
            lambdas: RwLock::new(Vec::new()),
            dir,
        }
    }

    pub(crate) fn globals(&self) -> std::sync::MutexGuard<'_, Globals> {
        self.globals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of global `s`, made if new (its chunk is made by [`ensure_chunk`]).
    pub(crate) fn global_id(&self, s: Sym) -> R<u32> {
        let mut g = self.globals();
        if let Some(&id) = g.ids.get(&s) {
            return Ok(id);
        }
        let id = g.names.len();
        if id >= CHUNK * DIR {
            return err(format!("too many global variables (at most {})", CHUNK * DIR));
        }
        let id = id as u32;
        g.ids.insert(s, id);
        g.names.push(s);
        g.user.push(false);
        g.prim.push(None);
        Ok(id)
    }

    pub(crate) fn global_name(&self, id: u32) -> Sym {
        self.globals().names[id as usize]
    }

    /// Add a compiled lambda (C3: it lives for the process); its id.
    pub(crate) fn add_lambda(&self, l: Lambda) -> u32 {
        let l: &'static Lambda = Box::leak(Box::new(l));
        let mut t = self.lambdas.write().unwrap_or_else(PoisonError::into_inner);
        t.push(l);
        (t.len() - 1) as u32
    }

    /// Refresh a thread's copy of the lambda table.
    pub(crate) fn lambdas_into(&self, cache: &mut Vec<&'static Lambda>) {
        let t = self.lambdas.read().unwrap_or_else(PoisonError::into_inner);
        cache.extend_from_slice(&t[cache.len()..]);
    }
}

/// Make the chunk of global `id` if it is missing (G2).
pub(crate) fn ensure_chunk<'tx>(tx: &mut Tx<'tx>, prog: &Program, id: u32) -> R<()> {
    let dir = tx.get_global(&prog.dir)?;
    let c = id as usize / CHUNK;
    if tx.elem(dir, c)? == Tagged::Null {
        let chunk = tx.alloc_array(types().vector, CHUNK)?;
        tx.set_elem(dir, c, Tagged::Ref(chunk))?;
    }
    Ok(())
}
