//! Dynamic type registration is bounded (issue 17, T3 of gc/src/types.rs):
//! the same name and shape give the same type, so an interpreter that
//! defines a class in a loop registers it once; past `MAX_DYN_TYPES`
//! distinct shapes registration fails with a clear error and loses
//! nothing. Its own test binary: it fills the process-wide registry.

use tmgc::{DynType, DynTypeSpec, Elems, Heap, Tagged, TypeError, MAX_DYN_TYPES};

#[test]
fn registration_is_interned_then_bounded() {
    // The same class defined a million times: one descriptor.
    let first = DynType::register(DynTypeSpec::new("Point").tagged_words(2)).unwrap();
    for _ in 0..1_000_000 {
        let again = DynType::register(DynTypeSpec::new("Point").tagged_words(2)).unwrap();
        assert!(std::ptr::eq(first.info(), again.info()));
    }
    // Another shape or name is another type.
    let other = DynType::register(DynTypeSpec::new("Point").tagged_words(3)).unwrap();
    assert!(!std::ptr::eq(first.info(), other.info()));
    let arr = DynType::register(DynTypeSpec::new("Point").tagged_words(2).array(Elems::Bytes)).unwrap();
    assert!(!std::ptr::eq(first.info(), arr.info()), "an array shape differs from the fixed one");

    // tmgc's own names are reserved.
    let r = DynType::register(DynTypeSpec::new("tmgc::TVec").ref_slots(1).data_words(1));
    assert!(matches!(r, Err(TypeError::ReservedName { .. })), "{r:?}");

    // Distinct names up to the limit, then an error.
    let mut n = 3;
    let err = loop {
        match DynType::register(DynTypeSpec::new(format!("Class{n}")).data_words(1)) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n <= MAX_DYN_TYPES + 1, "the limit holds");
    };
    assert_eq!(err, TypeError::TooManyTypes { limit: MAX_DYN_TYPES });
    assert_eq!(n, MAX_DYN_TYPES, "every distinct type up to the limit was accepted");
    assert!(err.to_string().contains("reuse a DynType"), "{err}");
    // Registered types keep working, and re-registering one never fails.
    let again = DynType::register(DynTypeSpec::new("Point").tagged_words(2)).unwrap();
    assert!(std::ptr::eq(first.info(), again.info()));
    let heap = Heap::new(tmgc::Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let v = m
        .transaction::<_, ()>(|tx| {
            let p = tx.alloc_dyn(first)?;
            tx.set_tagged(p, 0, Tagged::int(7).unwrap())?;
            Ok(tx.tagged(p, 0)? == Tagged::int(7).unwrap())
        })
        .unwrap();
    assert!(v);
    heap.collect().unwrap();
}
