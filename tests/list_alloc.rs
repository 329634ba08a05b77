//! Proves that no list operation after `List::new` allocates or frees: a counting global
//! allocator (per thread, so parallel tests do not interfere) watches every operation.

use std::ptr::NonNull;

use loopkit::list::{Linked, Links, List};
use support::alloc::{thread_calls as calls, CountingAlloc};

mod support;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

struct Node {
    id: u32,
    links: Links<Node>,
}

// SAFETY: the nodes are leaked (`&'static`), so they never move or die; `links` projects
// without a reference.
unsafe impl Linked for Node {
    type Handle = &'static Node;
    fn into_ptr(node: &'static Node) -> NonNull<Node> {
        NonNull::from(node)
    }
    unsafe fn from_ptr(ptr: NonNull<Node>) -> &'static Node {
        // SAFETY: `ptr` came from a `&'static Node` (trait contract).
        unsafe { ptr.as_ref() }
    }
    unsafe fn links(ptr: NonNull<Node>) -> NonNull<Links<Node>> {
        // SAFETY: `ptr` is live (caller); no reference is created.
        unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
    }
}

#[test]
fn no_list_operation_allocates_or_frees() {
    // `&'static` handles into boxes we free at the end, through the original raw pointers.
    let raws: Vec<*mut Node> = (0..64)
        .map(|id| {
            Box::into_raw(Box::new(Node {
                id,
                links: Links::new(),
            }))
        })
        .collect();
    // SAFETY: each box stays allocated until the end of the test, after every handle is gone.
    let mut nodes: Vec<&'static Node> = raws.iter().map(|&p| unsafe { &*p }).collect();
    let ptrs: Vec<NonNull<Node>> = nodes.iter().map(|n| NonNull::from(*n)).collect();
    let mut a: List<Node> = List::new();
    let mut b: List<Node> = List::new();
    let mut back: Vec<&'static Node> = Vec::with_capacity(64);
    let mut sum = 0u64;

    let before = calls();
    for (i, n) in nodes.drain(..).enumerate() {
        let res = if i % 2 == 0 {
            a.push_back(n)
        } else {
            b.push_front(n)
        };
        assert!(res.is_ok());
    }
    a.append(&mut b);
    for n in a.iter().rev() {
        sum += u64::from(n.id);
    }
    // SAFETY: the nodes are alive (held by `a`); single thread.
    unsafe {
        for p in ptrs.iter().step_by(3) {
            assert!(b.remove_ptr(*p).is_none());
            back.push(a.remove_ptr(*p).unwrap());
        }
    }
    let again = back.pop().unwrap();
    let first = a.pop_front().unwrap(); // pop then re-push: no allocation
    assert!(a.push_back(first).is_ok());
    back.push(again);
    let mut cursor = a.cursor_front_mut();
    while let Some(n) = cursor.current() {
        if n.id % 5 == 0 {
            back.push(cursor.remove_current().unwrap());
        } else {
            cursor.move_next();
        }
    }
    back.push(a.pop_back().unwrap());
    assert!(a.contains(a.front().unwrap()));
    // The read-only cursor, peeks, and cursor inserts (before, after, at the ghost).
    let mut ro = a.cursor_back();
    let mut walked = 0;
    while ro.current().is_some() {
        walked += usize::from(ro.peek_prev().is_some());
        ro.move_prev();
    }
    assert_eq!(
        walked + 1,
        a.len(),
        "every node but the front has a previous node"
    );
    let mut cursor = a.cursor_front_mut();
    cursor.move_next();
    assert!(cursor.peek_next().is_some() && cursor.peek_prev().is_some());
    let (x, y, z) = (
        back.pop().unwrap(),
        back.pop().unwrap(),
        back.pop().unwrap(),
    );
    assert!(cursor.insert_before(x).is_ok());
    assert!(cursor.insert_after(y).is_ok());
    cursor.move_prev();
    cursor.move_prev();
    cursor.move_prev(); // the ghost
    assert!(cursor.current().is_none());
    assert!(cursor.insert_before(z).is_ok());
    assert!(cursor.insert_after(z).is_err()); // linked: handed back
    let after = calls();

    assert_eq!(
        after - before,
        0,
        "list operations allocated or freed {} times",
        after - before
    );
    assert_eq!(sum, (0..64).sum::<u64>());
    a.assert_valid();
    assert_eq!(a.len() + back.len(), 64);
    drop((a, b, back, nodes, ptrs));
    for p in raws {
        // SAFETY: every list and handle is gone; each pointer came from `Box::into_raw` once.
        drop(unsafe { Box::from_raw(p) });
    }
}
