//! Unit tests of the object model.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::flags::vlock;
use crate::*;

/// Collects the references a trace reports.
#[derive(Default)]
struct Collect(Vec<usize>);

impl Visitor for Collect {
    fn visit(&mut self, obj: NonNull<Header>) {
        self.0.push(obj.as_ptr() as usize);
    }
}

fn trace_of<T: Trace>(v: &T) -> Vec<usize> {
    let mut c = Collect::default();
    v.trace(&mut Tracer::new(&mut c));
    c.0
}

#[derive(Trace)]
struct Leaf {
    a: u64,
    b: Value<f64>,
}

#[derive(Trace)]
struct Node {
    key: u64,
    left: Ref<Node>,
    right: Ref<Node>,
    items: Vec<Ref<Leaf>>,
    name: String,
}

#[derive(Trace)]
enum Shape {
    Empty,
    One(Ref<Leaf>),
    Two { a: Ref<Leaf>, b: Ref<Leaf> },
    Data(u32),
}

#[derive(Trace)]
struct Pair<A, B>(A, B);

/// Distinct addresses to point references at (never dereferenced by
/// tracing).
fn headers(n: usize) -> Vec<u128> {
    vec![0; n]
}

fn ptr(h: &u128) -> Option<NonNull<Header>> {
    Some(NonNull::from(h).cast())
}

#[test]
fn derive_traces_every_reference_and_nothing_else() {
    let hs = headers(4);
    let n =
        Node { key: 7, left: Ref::null(), right: Ref::null(), items: vec![Ref::null(), Ref::null()], name: "n".into() };
    assert!(trace_of(&n).is_empty(), "null references are not edges");
    n.left.store(ptr(&hs[0]));
    n.items[1].store(ptr(&hs[1]));
    n.right.store(ptr(&hs[2]));
    let mut got = trace_of(&n);
    got.sort();
    let mut want: Vec<usize> = [0, 1, 2].iter().map(|&i| &hs[i] as *const u128 as usize).collect();
    want.sort();
    assert_eq!(got, want);
    let _ = (n.key, &n.name);
}

#[test]
fn has_refs_is_honest() {
    const {
        assert!(!Leaf::HAS_REFS);
        assert!(Node::HAS_REFS);
        assert!(Shape::HAS_REFS);
        assert!(!<Pair<u8, String>>::HAS_REFS);
        assert!(<Pair<u8, Ref<Leaf>>>::HAS_REFS);
    }
    assert!(!Leaf::TYPE_INFO.has_refs());
    let l = Leaf { a: 1, b: Value::new(2.5) };
    assert_eq!(l.b.load(), 2.5);
    let _ = l.a;
}

#[test]
fn enums_trace_the_live_variant() {
    let hs = headers(2);
    let two = Shape::Two { a: Ref::null(), b: Ref::null() };
    if let Shape::Two { a, b } = &two {
        a.store(ptr(&hs[0]));
        b.store(ptr(&hs[1]));
    }
    assert_eq!(trace_of(&two).len(), 2);
    let one = Shape::One(Ref::null());
    assert!(trace_of(&one).is_empty());
    assert!(trace_of(&Shape::Empty).is_empty());
    assert!(trace_of(&Shape::Data(3)).is_empty());
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Droppy {
    s: String,
}

#[derive(Trace)]
struct Counted(u8);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn drop_flags_and_destructors() {
    assert!(Droppy::TYPE_INFO.flags().contains(ObjFlags::HAS_DROP));
    assert!(!Leaf::TYPE_INFO.flags().contains(ObjFlags::HAS_DROP));
    let mut slot = std::mem::MaybeUninit::new(Counted(1));
    let before = DROPS.load(Ordering::SeqCst);
    // SAFETY: the slot holds an initialised `Counted`, dropped exactly once here.
    unsafe { Counted::TYPE_INFO.drop_payload(NonNull::new(slot.as_mut_ptr().cast()).unwrap()) };
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 1);
    let _ = Droppy { s: String::new() }.s;
}

#[test]
fn headers_round_trip_type_and_flags() {
    let mut objs = crate::header::TestObjects::new();
    let h = objs.make(Node::TYPE_INFO, ObjFlags::NEW | ObjFlags::HAS_DROP, Node::TYPE_INFO.object_size());
    // SAFETY: an object of `objs`, which lives to the end of the test.
    let h = unsafe { h.as_ref() };
    assert_eq!(h.type_info().size(), std::mem::size_of::<Node>());
    assert!(h.type_info().name().ends_with("Node"));
    assert_eq!(h.flags(), ObjFlags::NEW | ObjFlags::HAS_DROP);
    h.clear_new();
    assert_eq!(h.flags(), ObjFlags::HAS_DROP);
    assert_eq!(h.vlock().load(Ordering::Relaxed), 0);
    assert!(h.try_log() && !h.try_log());
    assert_eq!(h.flags(), ObjFlags::HAS_DROP | ObjFlags::LOGGED);
    h.clear_logged();
    assert_eq!(h.flags(), ObjFlags::HAS_DROP);
    assert!(h.type_info().name().ends_with("Node"), "the flags' changes leave the type");
    // No header bytes in the object (V4 of docs/HEADER.md).
    assert_eq!(Node::TYPE_INFO.payload_offset(), HEADER_BYTES);
    assert_eq!(Node::TYPE_INFO.object_size(), HEADER_BYTES + std::mem::size_of::<Node>());
    // Two objects side by side have slots of their own.
    let h2 = objs.make(Leaf::TYPE_INFO, ObjFlags::empty(), 16);
    // SAFETY: as above.
    let h2 = unsafe { h2.as_ref() };
    h2.vlock().store(7, Ordering::Relaxed);
    assert_eq!((h.vlock().load(Ordering::Relaxed), h2.flags()), (0, ObjFlags::empty()));
    assert!(h2.type_info().name().ends_with("Leaf") && h.type_info().name().ends_with("Node"));
}

#[test]
fn version_lock_words() {
    let w = vlock::stamp(41, 0);
    assert_eq!(vlock::version(w), 41);
    assert!(!vlock::is_held(w));
    assert!(vlock::is_held(w | vlock::LOCKED));
    assert!(vlock::is_held(w | vlock::OWNED));
    let o = vlock::owned_by(7, 3);
    assert!(vlock::is_held(o) && vlock::is_owned_by(o, 3) && !vlock::is_owned_by(o, 4));
    assert_eq!((vlock::owner(o), vlock::version(o)), (Some(3), 7));
    assert!(!vlock::is_owned_by(vlock::stamp(7, 3), 3) && vlock::owner(vlock::stamp(7, 3)).is_none());
    assert!(vlock::owner(vlock::locked_by(o, 5)).is_none());
    assert_eq!(vlock::version(w | vlock::LOCKED), 41);
    let s = vlock::stamp(1 << 40, vlock::MAX_TAG);
    assert_eq!((vlock::version(s), vlock::tag(s)), (1 << 40, vlock::MAX_TAG));
    assert!(!vlock::is_held(s));
    let l = vlock::locked_by(s, 7);
    assert!(vlock::is_held(l));
    assert_eq!((vlock::version(l), vlock::tag(l)), (1 << 40, 7));
}

#[test]
fn dynamic_types_trace_slots_and_tagged_words_not_data() {
    let ty = DynType::register(DynTypeSpec::new("Pair").ref_slots(2).tagged_words(2).data_words(1)).unwrap();
    let shape = ty.info().shape().unwrap();
    assert_eq!((shape.ref_slots, shape.tagged_words, shape.data_words), (2, 2, 1));
    assert_eq!(ty.info().size(), 40);
    assert!(ty.info().has_refs());
    assert_eq!(ty.info().name(), "Pair");
    // An object: 5 words, built by hand (its header words aside).
    #[repr(C)]
    struct Obj {
        slots: [Ref<()>; 2],
        tagged: [Ref<()>; 2],
        data: [std::sync::atomic::AtomicU64; 1],
    }
    let hs = headers(3);
    let mut objs = crate::header::TestObjects::new();
    let h = objs.make(ty.info(), ObjFlags::empty(), ty.info().object_size());
    // SAFETY: the payload of a zero-filled object of 5 words (null
    // references and zero words are valid `Obj` fields), alive while `objs`.
    let o = unsafe { Header::payload(h).cast::<Obj>().as_ref() };
    o.slots[1].store(ptr(&hs[0]));
    // Tagged word 0 holds a reference, word 1 an immediate.
    o.tagged[0].store(ptr(&hs[1]));
    o.tagged[1].word().store(Tagged::int(-5).unwrap().encode(), Ordering::Relaxed);
    // A data word holding an address is plain data: never traced (T2).
    o.data[0].store(&hs[2] as *const u128 as u64, Ordering::Relaxed);
    let mut c = Collect::default();
    // SAFETY: `h` is a live object of this dynamic type.
    unsafe { ty.info().trace(Header::payload(h), &mut Tracer::new(&mut c)) };
    assert_eq!(c.0, vec![&hs[0] as *const u128 as usize, &hs[1] as *const u128 as usize]);
    let plain = DynType::register(DynTypeSpec::new("Bytes").data_words(4)).unwrap();
    assert!(!plain.info().has_refs());
    assert!(DynType::register(DynTypeSpec::new("Huge").ref_slots(usize::MAX).data_words(1)).is_err());
    assert!(
        DynType::register(DynTypeSpec::new("Huge").tagged_words(usize::MAX / 2).data_words(usize::MAX / 2)).is_err()
    );
}

/// A `TaggedField` traces the reference it holds, and nothing for an
/// integer, an immediate or null (TG3).
#[test]
fn tagged_fields_trace_their_reference_only() {
    let hs = headers(1);
    let fields = [
        crate::TaggedField::null(),
        crate::TaggedField::int(-5).unwrap(),
        crate::TaggedField::imm(crate::Imm::new(3, 9).unwrap()),
        crate::TaggedField::null(),
    ];
    fields[3].word().store(ptr(&hs[0]).map_or(std::ptr::null_mut(), NonNull::as_ptr), Ordering::Relaxed);
    let mut c = Collect::default();
    for f in &fields {
        f.trace(&mut Tracer::new(&mut c));
    }
    assert_eq!(c.0, vec![&hs[0] as *const u128 as usize]);
}

/// Issue 24's SIGSEGV route, shrunk for miri: a `Trace` impl that attaches
/// a mutator while the marker traces it, allocates, and would report the
/// (soon rewound) object. Under W0 the attach is refused, so there is
/// nothing to report; the cycle and the verifier finish, and the heap stays
/// sound. A tagged reference and an immediate ride along, so miri also
/// checks that decoding them keeps provenance.
#[test]
fn reentry_from_trace_is_refused() {
    use std::sync::{Arc, Mutex};
    struct Sneaky {
        heap: Heap,
        seen: Arc<Mutex<Vec<String>>>,
    }
    // SAFETY: reports nothing; the body tries (and fails) to re-enter.
    unsafe impl Trace for Sneaky {
        fn trace(&self, _: &mut Tracer<'_>) {
            let r = self.heap.attach().map(|_| ());
            self.seen.lock().unwrap().push(format!("{r:?}"));
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let heap = Heap::new(Config::default().verify(true).background(false)).unwrap();
    let pair = DynType::register(DynTypeSpec::new("MiriPair").tagged_words(2)).unwrap();
    let mut m = heap.attach().unwrap();
    let (_keep, cell) = m
        .transaction::<_, ()>(|tx| {
            let s = tx.alloc(Sneaky { heap: heap.clone(), seen: Arc::clone(&seen) })?;
            let x = tx.alloc_dyn(pair)?;
            tx.set_tagged(x, 0, Tagged::int(-3).unwrap())?;
            let p = tx.alloc_dyn(pair)?;
            tx.set_tagged(p, 1, Tagged::Ref(x))?;
            Ok((tx.root(s), tx.root(p)))
        })
        .unwrap();
    m.collect().unwrap();
    let v = m.transaction::<_, ()>(|tx| {
        let p = tx.get_root(&cell)?;
        let Tagged::Ref(x) = tx.tagged(p, 1)? else { panic!("the reference survived") };
        Ok(tx.tagged(x, 0)? == Tagged::int(-3).unwrap())
    });
    assert!(v.unwrap());
    drop(m);
    let seen = seen.lock().unwrap();
    // Traced by the marker and by the verifier.
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.iter().all(|s| s == "Err(InGcWork)"), "{seen:?}");
}

/// `Tx::alloc_with` (IN1-IN5 of gc/src/tx/init.rs): every kind of word an
/// initial value can fill, written in place and read back after a verified
/// cycle in which the references written only by the initialisation are
/// the only ones to their objects; words not given are zero. Under miri,
/// it checks the raw word addressing.
#[test]
fn alloc_with_through_a_cycle() {
    use crate::Elems;
    let heap = Heap::new(Config::default().verify(true).background(false)).unwrap();
    let rec = DynType::register(DynTypeSpec::new("MiriRec").ref_slots(2).tagged_words(2).data_words(2)).unwrap();
    let pair = DynType::register(DynTypeSpec::new("MiriPair").tagged_words(2)).unwrap();
    let tagged = DynType::register(DynTypeSpec::new("MiriVector").ref_slots(1).array(Elems::Tagged)).unwrap();
    let slots = DynType::register(DynTypeSpec::new("MiriSlots").data_words(1).array(Elems::Slots)).unwrap();
    let words = DynType::register(DynTypeSpec::new("MiriWords").array(Elems::Words)).unwrap();
    let bytes = DynType::register(DynTypeSpec::new("MiriBytes").array(Elems::Bytes)).unwrap();
    let text = b"thirteen byte";
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let mut p = |k: i64| tx.alloc_with(pair, DynInit::new().tagged(&[Tagged::int(k).unwrap()]));
            let (p1, p2, p3) = (p(1)?, p(2)?, p(3)?);
            let s = tx.alloc_with(bytes, DynInit::new().bytes(text))?;
            let w = tx.alloc_with(words, DynInit::new().elem_words(&[7, u64::MAX]))?;
            let v = tx.alloc_with(tagged, DynInit::new().slots(&[Some(s)]).elems(&[Tagged::Ref(p1), Tagged::Null]))?;
            let sl = tx.alloc_with(slots, DynInit::new().data(&[9]).elem_slots(&[None, Some(p2), Some(w)]))?;
            let r = tx.alloc_with(
                rec,
                DynInit::new().slots(&[Some(v), Some(sl)]).tagged(&[Tagged::Ref(p3)]).data(&[u64::MAX - 1]),
            )?;
            Ok(tx.root(r))
        })
        .unwrap();
    let c = m.collect().unwrap();
    assert!(c.marked_objects >= 8, "every object reached through initial words alone");
    let got = m.transaction::<_, ()>(|tx| {
        let r = tx.get_root(&root)?;
        fn int(t: Tagged<'_>) -> Gc<'_, Dyn> {
            match t {
                Tagged::Ref(g) => g,
                other => panic!("a reference, not {other:?}"),
            }
        }
        fn val<'tx>(tx: &mut Tx<'tx>, g: Gc<'tx, Dyn>) -> Result<i64, Conflict> {
            match tx.tagged(g, 0)? {
                Tagged::Int(k) => Ok(k.get()),
                other => panic!("a pair's int, not {other:?}"),
            }
        }
        let (v, sl) = (tx.slot(r, 0)?.unwrap(), tx.slot(r, 1)?.unwrap());
        let p3 = int(tx.tagged(r, 0)?);
        let zeros = (tx.tagged(r, 1)?, tx.data(r, 1)?);
        assert_eq!(zeros, (Tagged::Null, 0), "words not given are zero");
        let d = tx.data(r, 0)?;
        let s = tx.slot(v, 0)?.unwrap();
        let p1 = int(tx.elem(v, 0)?);
        assert_eq!((tx.array_len(v), tx.elem(v, 1)?), (2, Tagged::Null));
        assert_eq!((tx.array_len(sl), tx.data(sl, 0)?, tx.elem_slot(sl, 0)?.is_none()), (3, 9, true));
        let (p2, w) = (tx.elem_slot(sl, 1)?.unwrap(), tx.elem_slot(sl, 2)?.unwrap());
        let ws = (tx.array_len(w), tx.elem_word(w, 0)?, tx.elem_word(w, 1)?);
        let mut out = [0; 13];
        tx.read_bytes(s, 0, &mut out)?;
        Ok(((val(tx, p1)?, val(tx, p2)?, val(tx, p3)?), d, ws, tx.array_len(s), out))
    });
    assert_eq!(got.unwrap(), ((1, 2, 3), u64::MAX - 1, (2, 7, u64::MAX), 13, *text));
}

/// Arrays of every kind through transactions and a cycle (run under miri
/// in CI: the element accessors, the chunked marking of an array of more
/// than `CHUNK_MIN` elements and its continuations, and the verifier's
/// whole-array trace).
#[test]
fn arrays_through_a_cycle() {
    use crate::Elems;
    let heap = Heap::new(Config::default().verify(true).background(false)).unwrap();
    let vector = DynType::register(DynTypeSpec::new("MiriVector").ref_slots(1).array(Elems::Tagged)).unwrap();
    let bytes = DynType::register(DynTypeSpec::new("MiriBytes").array(Elems::Bytes)).unwrap();
    let pair = DynType::register(DynTypeSpec::new("MiriPair").tagged_words(2)).unwrap();
    let n = crate::array::CHUNK_MIN + 3;
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(vector, n)?;
            let s = tx.alloc_bytes(bytes, b"miri")?;
            tx.set_slot(v, 0, Some(s))?;
            for i in [0, 1, n - 2, n - 1] {
                let x = tx.alloc_dyn(pair)?;
                tx.set_tagged(x, 0, Tagged::int(i as i64).unwrap())?;
                tx.set_elem(v, i, Tagged::Ref(x))?;
            }
            Ok(tx.root(v))
        })
        .unwrap();
    let c = m.collect().unwrap();
    assert!(c.marked_objects >= 7, "the array's two chunks, its string, four pairs");
    let v = m.transaction::<_, ()>(|tx| {
        let v = tx.get_root(&root)?;
        let mut sum = 0;
        for i in [0, 1, n - 2, n - 1] {
            let Tagged::Ref(x) = tx.elem(v, i)? else { panic!("element {i} survived") };
            let Tagged::Int(k) = tx.tagged(x, 0)? else { panic!("its value") };
            sum += k.get();
        }
        let s = tx.slot(v, 0)?.unwrap();
        tx.write_bytes(s, 1, b"IR")?;
        let mut out = [0; 4];
        tx.read_bytes(s, 0, &mut out)?;
        Ok((sum, out))
    });
    assert_eq!(v.unwrap(), (2 * n as i64 - 2, *b"mIRi"));
}

/// Pauses are timed on the wall clock always, and on the thread's CPU
/// clock with the `pause-cputime` feature (`cargo test -p tmgc --lib
/// --features pause-cputime pause_`): then every pause has both.
#[test]
fn pause_cpu_times_are_recorded_with_their_feature_only() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let l = tx.alloc(Leaf { a: 1, b: Value::new(2.0) })?;
            Ok(tx.root(l))
        })
        .unwrap();
    for _ in 0..3 {
        // Parked between transactions: the collector answers for us, and
        // our next commit point catches up with the word (a pause).
        heap.collect().unwrap();
        m.transaction::<_, ()>(|tx| {
            let l = tx.get_root(&root)?;
            tx.set(l, |l| &l.b, 3.0)?;
            Ok(())
        })
        .unwrap();
    }
    drop(m);
    let st = heap.stats();
    assert!(!st.pauses.is_empty(), "no pause was recorded");
    if cfg!(feature = "pause-cputime") {
        assert_eq!(st.pause_cpu.len(), st.pauses.len(), "a pause without its CPU time");
    } else {
        assert!(st.pause_cpu.is_empty(), "CPU times recorded without the feature");
    }
    // The detached thread's pauses reach the MMU: below 1 at every window,
    // since each was at least a nanosecond (`collector::mmu` tests the
    // figures themselves).
    assert_eq!(st.mmu.iter().map(|m| m.window.as_millis()).collect::<Vec<_>>(), [1, 10, 100]);
    for m in &st.mmu {
        assert!((0.0..1.0).contains(&m.utilisation), "{m:?}");
    }
}

/// Giving way (`Config::give_way`): on only while attached mutators plus
/// the collector's marker threads outnumber the cores.
#[test]
fn mutators_give_way_only_when_threads_outnumber_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let crowded_with = |config: Config, mutators: usize| -> bool {
        let heap = Heap::new(config).unwrap();
        let attached = std::sync::Barrier::new(mutators + 1);
        let done = std::sync::Barrier::new(mutators + 1);
        std::thread::scope(|s| {
            for _ in 0..mutators {
                s.spawn(|| {
                    let _m = heap.attach().unwrap();
                    attached.wait();
                    done.wait();
                });
            }
            attached.wait();
            let crowded = heap.inner.collector.crowded();
            done.wait();
            crowded
        })
    };
    // No mutator yet: crowded only if the markers alone are (2 on 1 core).
    assert_eq!(crowded_with(Config::default().marker(MarkerKind::Parallel(2)), 0), cores < 2);
    // The serial marker keeps one collector thread busy.
    assert!(!crowded_with(Config::default(), cores - 1), "{cores} threads on {cores} cores");
    assert!(crowded_with(Config::default(), cores), "{} threads on {cores} cores", cores + 1);
    assert!(!crowded_with(Config::default().give_way(false), cores), "give_way off");
    assert!(crowded_with(Config::default().marker(MarkerKind::Parallel(2)), cores - 1), "two marker threads");
    assert!(!crowded_with(Config::default().background(false), cores), "no collector thread");
    assert!(
        crowded_with(Config::default().background(false).marker(MarkerKind::Parallel(2)), cores - 1),
        "parallel markers run whoever starts the cycle"
    );
    // Detaching uncrowds.
    let heap = Heap::new(Config::default()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| drop(heap.attach().unwrap()));
        }
    });
    assert!(!heap.inner.collector.crowded(), "every mutator detached");
}

/// Giving way in action: with the machine crowded, the marker yields while
/// it traces a heap that takes well over a quantum to mark, and mutators
/// committing during marking yield between transactions; with
/// `give_way` off, nobody does.
#[test]
fn crowded_threads_give_way_while_marking() {
    #[derive(Trace)]
    struct Link {
        next: Ref<Link>,
        n: Value<u64>,
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = |give_way: bool| -> u64 {
        let config = Config::default().give_way(give_way).verify(false).min_trigger_bytes(u64::MAX / 4);
        let heap = Heap::new(config).unwrap();
        // A 200,000-node list: marking it takes milliseconds.
        let head = {
            let mut m = heap.attach().unwrap();
            let mut head: Option<GlobalRoot<Link>> = None;
            for _ in 0..20 {
                head = Some(
                    m.transaction::<_, ()>(|tx| {
                        let mut next = match &head {
                            Some(h) => Some(tx.get_global(h)?),
                            None => None,
                        };
                        for _ in 0..10_000 {
                            let l = tx.alloc(Link { next: Ref::null(), n: Value::new(0) })?;
                            tx.store(l, |l| &l.next, next)?;
                            next = Some(l);
                        }
                        Ok(tx.global_root(next.unwrap()))
                    })
                    .unwrap(),
                );
            }
            head.unwrap()
        };
        let attached = std::sync::Barrier::new(cores + 1);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for i in 0..cores {
                let (heap, head, attached, stop) = (&heap, &head, &attached, &stop);
                s.spawn(move || {
                    let mut m = heap.attach().unwrap();
                    attached.wait();
                    while !stop.load(Ordering::Relaxed) {
                        if i == 0 {
                            m.transaction::<_, ()>(|tx| {
                                let h = tx.get_global(head)?;
                                let n = tx.get(h, |h| &h.n)?;
                                tx.set(h, |h| &h.n, n + 1)?;
                                Ok(())
                            })
                            .unwrap();
                        } else {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                    }
                });
            }
            attached.wait(); // crowded from here: cores mutators + the collector thread
            for _ in 0..3 {
                heap.collect().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        heap.stats().gave_way
    };
    assert!(run(true) > 0, "nobody gave way on a crowded machine");
    assert_eq!(run(false), 0, "threads gave way with give_way off");
}

/// The statistics serialise (the `serde` feature).
#[cfg(feature = "serde")]
#[test]
fn stats_serialise() {
    let heap = Heap::new(Config::default()).unwrap();
    heap.collect().unwrap();
    let v = serde_json::to_value(heap.stats()).unwrap();
    assert_eq!(v["cycles"], 1);
    assert!(v["pauses"]["p99"].is_u64());
    assert_eq!(v["recent"][0]["cycle"], 1);
    assert_eq!(v["mmu"][2]["utilisation"], 1.0);
}

/// Frozen objects (F1 of `DynTypeSpec::frozen`) under miri: written while
/// NEW, read after publication with plain loads, traced through a cycle,
/// and a write after publication refused with a panic.
#[test]
fn frozen_objects_read_plainly_and_refuse_late_writes() {
    use crate::Elems;
    let heap = Heap::new(Config::default().verify(true).background(false)).unwrap();
    let clo =
        DynType::register(DynTypeSpec::new("MiriFrozen").tagged_words(1).data_words(1).array(Elems::Tagged).frozen())
            .unwrap();
    let pair = DynType::register(DynTypeSpec::new("MiriPair").tagged_words(2)).unwrap();
    assert!(clo.info().is_frozen() && !pair.info().is_frozen());
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc_array(clo, 2)?;
            let x = tx.alloc_dyn(pair)?;
            tx.set_tagged(x, 0, Tagged::int(5).unwrap())?;
            tx.set_tagged(c, 0, Tagged::int(1).unwrap())?;
            tx.set_data(c, 0, 2)?;
            tx.set_elem(c, 0, Tagged::Ref(x))?;
            tx.set_elem(c, 1, Tagged::int(3).unwrap())?;
            // Read back while NEW.
            assert_eq!(tx.data(c, 0)?, 2);
            Ok(tx.root(c))
        })
        .unwrap();
    m.collect().unwrap();
    let sum = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_root(&root)?;
            let (Tagged::Int(a), Tagged::Ref(x), Tagged::Int(b)) = (tx.tagged(c, 0)?, tx.elem(c, 0)?, tx.elem(c, 1)?)
            else {
                panic!("the frozen object's words")
            };
            let Tagged::Int(k) = tx.tagged(x, 0)? else { panic!("the pair survived") };
            Ok(a.get() + b.get() + k.get() + tx.data(c, 0)? as i64)
        })
        .unwrap();
    assert_eq!(sum, 11);
    let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let c = tx.get_root(&root)?;
            tx.set_elem(c, 1, Tagged::int(4).unwrap())?;
            Ok(())
        })
    }));
    let msg = late.expect_err("a write to a published frozen object panics");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("is frozen"), "{msg}");
}
