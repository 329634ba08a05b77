//! The README snippet for `hamt`, kept compiling (the README itself belongs to the lead).

use loopkit::hamt::Hamt;

#[test]
fn readme_snippet() {
    // Persistent CHAMP hash map: O(1) clone, structural sharing, canonical shape, Send + Sync.
    let a: Hamt<&str, u32> = Hamt::new().insert("x", 1);
    let b = a.insert("y", 2); // `a` is unchanged; `b` shares its nodes
    assert_eq!((a.len(), b.len()), (1, 2));
    assert!(b.insert_with("y", 2, PartialEq::eq).ptr_eq(&b)); // same value: same map, no copy
    assert_eq!(b, Hamt::new().insert("y", 2).insert("x", 1)); // order-independent shape, fast ==
    let mut m = b.clone();
    m.insert_mut("z", 3); // in place where unshared, copies shared nodes
    assert_eq!((b.len(), m.len()), (2, 3));
}
