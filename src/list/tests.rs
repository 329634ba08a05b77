//! Unit tests for every list method and error path, drop counting, and the model proptest.

use core::cell::Cell;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use proptest::prelude::*;

use super::error::AlreadyLinked;
use super::links::{Linked, Links};
use super::model::{self, Node, Op};
use super::ring::List;

// ---------------------------------------------------------------------------------------------
// Node types

/// A node owned through `Box`, counting its drops in a shared cell.
struct BoxNode {
    id: u32,
    drops: Rc<Cell<u32>>,
    panic_on_drop: bool,
    links: Links<BoxNode>,
}

impl BoxNode {
    fn new(id: u32) -> (Box<Self>, Rc<Cell<u32>>) {
        let drops = Rc::new(Cell::new(0));
        let node = Box::new(Self {
            id,
            drops: drops.clone(),
            panic_on_drop: false,
            links: Links::new(),
        });
        (node, drops)
    }
}

impl Drop for BoxNode {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panic_on_drop {
            panic!("BoxNode {} panics on drop", self.id);
        }
    }
}

// SAFETY: `Box` owns the node and keeps it at one address; `links` projects without a reference.
unsafe impl Linked for BoxNode {
    type Handle = Box<BoxNode>;
    fn into_ptr(node: Box<BoxNode>) -> NonNull<BoxNode> {
        // SAFETY: `Box::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(Box::into_raw(node)) }
    }
    unsafe fn from_ptr(ptr: NonNull<BoxNode>) -> Box<BoxNode> {
        // SAFETY: `ptr` came from `Box::into_raw` (trait contract).
        unsafe { Box::from_raw(ptr.as_ptr()) }
    }
    unsafe fn links(ptr: NonNull<BoxNode>) -> NonNull<Links<BoxNode>> {
        // SAFETY: `ptr` is live (caller); no reference is created.
        unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
    }
}

/// A node that sits in two lists at once, through two `Links` fields and two tags.
struct TwoNode {
    id: u32,
    by_a: Links<TwoNode>,
    by_b: Links<TwoNode>,
}
struct TagA;
struct TagB;

macro_rules! rc_linked {
    ($tag:ty, $field:ident) => {
        // SAFETY: `Rc` owns the node (shared by both tags) and keeps it at one address; each tag
        // projects to its own field without creating a reference.
        unsafe impl Linked<$tag> for TwoNode {
            type Handle = Rc<TwoNode>;
            fn into_ptr(node: Rc<TwoNode>) -> NonNull<TwoNode> {
                // SAFETY: `Rc::into_raw` never returns null.
                unsafe { NonNull::new_unchecked(Rc::into_raw(node).cast_mut()) }
            }
            unsafe fn from_ptr(ptr: NonNull<TwoNode>) -> Rc<TwoNode> {
                // SAFETY: `ptr` came from `Rc::into_raw` (trait contract).
                unsafe { Rc::from_raw(ptr.as_ptr()) }
            }
            unsafe fn links(ptr: NonNull<TwoNode>) -> NonNull<Links<TwoNode>> {
                // SAFETY: `ptr` is live (caller); no reference is created.
                unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).$field) }
            }
        }
    };
}
rc_linked!(TagA, by_a);
rc_linked!(TagB, by_b);

fn rc_nodes(n: u32) -> Vec<Rc<Node>> {
    (0..n).map(|i| Rc::new(Node::new(i))).collect()
}

fn ids(list: &List<Node>) -> Vec<u32> {
    list.iter().map(Node::id).collect()
}

fn filled(nodes: &[Rc<Node>]) -> List<Node> {
    let mut list = List::new();
    for n in nodes {
        list.push_back(n.clone()).unwrap();
    }
    list
}

// ---------------------------------------------------------------------------------------------
// Basic operations

#[test]
fn new_is_empty_and_valid() {
    let list: List<Node> = List::new();
    assert!(list.is_empty());
    assert_eq!(list.len(), 0);
    assert!(list.front().is_none() && list.back().is_none());
    assert!(list.iter().next().is_none());
    list.assert_valid();
    let d: List<Node> = List::default();
    assert!(d.is_empty());
    assert_ne!(d.id(), list.id());
}

#[test]
fn push_back_and_front_order() {
    let nodes = rc_nodes(4);
    let mut list: List<Node> = List::new();
    list.push_back(nodes[1].clone()).unwrap();
    list.push_back(nodes[2].clone()).unwrap();
    list.push_front(nodes[0].clone()).unwrap();
    list.push_back(nodes[3].clone()).unwrap();
    list.assert_valid();
    assert_eq!(ids(&list), [0, 1, 2, 3]);
    assert_eq!(list.len(), 4);
    assert_eq!(list.front().map(Node::id), Some(0));
    assert_eq!(list.back().map(Node::id), Some(3));
}

#[test]
fn pop_both_ends() {
    let nodes = rc_nodes(3);
    let mut list = filled(&nodes);
    assert_eq!(list.pop_front().map(|n| n.id()), Some(0));
    assert_eq!(list.pop_back().map(|n| n.id()), Some(2));
    list.assert_valid();
    assert_eq!(list.pop_back().map(|n| n.id()), Some(1));
    assert!(list.pop_back().is_none() && list.pop_front().is_none());
    list.assert_valid();
    assert!(nodes
        .iter()
        .all(|n| !n.links().is_linked() && Rc::strong_count(n) == 1));
}

#[test]
fn is_linked_single_element() {
    let node = Rc::new(Node::new(9));
    let mut list: List<Node> = List::new();
    assert!(!node.links().is_linked());
    list.push_back(node.clone()).unwrap();
    // The only node: its next and prev are both the sentinel; it must still read as linked.
    assert!(node.links().is_linked());
    assert_eq!(node.links().list_id(), Some(list.id()));
    assert!(list.contains(&node));
    list.pop_back().unwrap();
    assert!(!node.links().is_linked());
    assert_eq!(node.links().list_id(), None);
    assert!(!list.contains(&node));
}

#[test]
fn remove_held_node() {
    let nodes = rc_nodes(5);
    let mut list = filled(&nodes);
    for (i, want) in [
        (2usize, vec![0, 1, 3, 4]),
        (0, vec![1, 3, 4]),
        (4, vec![1, 3]),
        (1, vec![3]),
    ] {
        let h = list.remove(&nodes[i]).expect("held");
        assert!(Rc::ptr_eq(&h, &nodes[i]));
        list.assert_valid();
        assert_eq!(ids(&list), want);
    }
    // Single element, then empty.
    assert!(list.remove(&nodes[3]).is_some());
    assert!(list.is_empty());
    list.assert_valid();
}

#[test]
fn remove_unlinked_returns_none() {
    let nodes = rc_nodes(3);
    let mut list = filled(&nodes[..2]);
    assert!(list.remove(&nodes[2]).is_none());
    assert_eq!(ids(&list), [0, 1]);
    // Removed twice: the second is None.
    assert!(list.remove(&nodes[0]).is_some());
    assert!(list.remove(&nodes[0]).is_none());
    assert_eq!(ids(&list), [1]);
    list.assert_valid();
}

#[test]
fn remove_through_wrong_list_changes_nothing() {
    let nodes = rc_nodes(4);
    let mut a = filled(&nodes[..2]);
    let mut b = filled(&nodes[2..]);
    assert!(b.remove(&nodes[0]).is_none());
    assert!(a.remove(&nodes[3]).is_none());
    a.assert_valid();
    b.assert_valid();
    assert_eq!(ids(&a), [0, 1]);
    assert_eq!(ids(&b), [2, 3]);
    assert_eq!(nodes[0].links().list_id(), Some(a.id()));
    assert_eq!(Rc::strong_count(&nodes[0]), 2);
}

#[test]
fn remove_ptr_checks_owner() {
    let nodes = rc_nodes(2);
    let mut a = filled(&nodes[..1]);
    let mut b: List<Node> = List::new();
    // `Rc::as_ptr` has the handle's provenance, as `remove_ptr` requires.
    let p0 = NonNull::new(Rc::as_ptr(&nodes[0]).cast_mut()).unwrap();
    let p1 = NonNull::new(Rc::as_ptr(&nodes[1]).cast_mut()).unwrap();
    // SAFETY: the pool keeps both nodes alive; single thread.
    unsafe {
        assert!(b.remove_ptr(p0).is_none());
        assert!(a.remove_ptr(p1).is_none());
        let h = a.remove_ptr(p0).expect("held by a");
        assert!(Rc::ptr_eq(&h, &nodes[0]));
    }
    a.assert_valid();
    assert!(a.is_empty());
}

#[test]
fn push_of_linked_node_is_refused() {
    let nodes = rc_nodes(2);
    let mut a = filled(&nodes);
    let mut b: List<Node> = List::new();
    // Same list, both ends.
    let e = a.push_back(nodes[0].clone()).unwrap_err();
    assert!(Rc::ptr_eq(&e.0, &nodes[0]));
    drop(e);
    let e = a.push_front(nodes[1].clone()).unwrap_err();
    assert!(Rc::ptr_eq(&e.0, &nodes[1]));
    // Another list.
    assert!(b.push_back(nodes[1].clone()).is_err());
    assert!(b.push_front(nodes[0].clone()).is_err());
    drop(e);
    a.assert_valid();
    b.assert_valid();
    assert_eq!(ids(&a), [0, 1]);
    assert!(b.is_empty());
    assert!(nodes.iter().all(|n| Rc::strong_count(n) == 2));
}

#[test]
fn already_linked_error_traits() {
    let e = AlreadyLinked(5u8);
    assert_eq!(e.clone(), AlreadyLinked(5));
    assert_eq!(e.to_string(), "node is already linked into a list");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.source().is_none());
    assert_eq!(format!("{:?}", AlreadyLinked(1u8)), "AlreadyLinked(..)");
}

#[test]
fn contains_and_ids() {
    let nodes = rc_nodes(2);
    let a = filled(&nodes[..1]);
    let b = filled(&nodes[1..]);
    assert!(a.contains(&nodes[0]) && !a.contains(&nodes[1]));
    assert!(b.contains(&nodes[1]) && !b.contains(&nodes[0]));
    let id = a.id();
    let moved = a; // moving a list keeps its id and its nodes' records
    assert_eq!(moved.id(), id);
    assert_eq!(nodes[0].links().list_id(), Some(id));
    moved.assert_valid();
}

// ---------------------------------------------------------------------------------------------
// append

#[test]
fn append_moves_all_and_restamps_owner() {
    let nodes = rc_nodes(5);
    let mut a = filled(&nodes[..2]);
    let mut b = filled(&nodes[2..]);
    a.append(&mut b);
    a.assert_valid();
    b.assert_valid();
    assert_eq!(ids(&a), [0, 1, 2, 3, 4]);
    assert!(b.is_empty() && a.len() == 5);
    assert!(nodes.iter().all(|n| n.links().list_id() == Some(a.id())));
    // The moved nodes now belong to `a` only.
    assert!(b.remove(&nodes[3]).is_none());
    assert!(a.remove(&nodes[3]).is_some());
    // `b` is usable after being emptied.
    b.push_back(nodes[3].clone()).unwrap();
    b.assert_valid();
    assert_eq!(ids(&b), [3]);
}

#[test]
fn append_empty_cases() {
    let nodes = rc_nodes(2);
    let mut a: List<Node> = List::new();
    let mut b = filled(&nodes);
    let mut empty: List<Node> = List::new();
    b.append(&mut empty); // other empty: no-op
    assert_eq!(ids(&b), [0, 1]);
    a.append(&mut b); // self empty
    a.assert_valid();
    b.assert_valid();
    assert_eq!(ids(&a), [0, 1]);
    assert!(b.is_empty());
    let mut c: List<Node> = List::new();
    c.append(&mut b); // both empty
    assert!(c.is_empty());
    c.assert_valid();
}

// ---------------------------------------------------------------------------------------------
// Iterators

#[test]
fn iter_both_directions_and_exact_size() {
    let nodes = rc_nodes(5);
    let list = filled(&nodes);
    let mut it = list.iter();
    assert_eq!(it.len(), 5);
    assert_eq!(it.next().map(Node::id), Some(0));
    assert_eq!(it.next_back().map(Node::id), Some(4));
    assert_eq!(it.next().map(Node::id), Some(1));
    assert_eq!(it.next_back().map(Node::id), Some(3));
    assert_eq!(it.len(), 1);
    let rest = it.clone();
    assert_eq!(it.next().map(Node::id), Some(2));
    assert!(it.next().is_none() && it.next_back().is_none());
    assert_eq!(rest.map(Node::id).collect::<Vec<_>>(), [2]);
    assert_eq!(
        list.iter().rev().map(Node::id).collect::<Vec<_>>(),
        [4, 3, 2, 1, 0]
    );
    assert_eq!((&list).into_iter().count(), 5);
    assert!(format!("{:?}", list.iter()).contains("remaining: 5"));
}

#[test]
fn into_iter_gives_handles_back() {
    let nodes = rc_nodes(4);
    let list = filled(&nodes);
    let mut it = list.into_iter();
    assert_eq!(it.len(), 4);
    assert_eq!(it.next().map(|n| n.id()), Some(0));
    assert_eq!(it.next_back().map(|n| n.id()), Some(3));
    assert!(format!("{it:?}").contains("remaining: 2"));
    drop(it); // the two left are given back by the drop
    assert!(nodes
        .iter()
        .all(|n| Rc::strong_count(n) == 1 && !n.links().is_linked()));
}

// ---------------------------------------------------------------------------------------------
// Cursor

#[test]
fn cursor_moves_through_ghost() {
    let nodes = rc_nodes(3);
    let mut list = filled(&nodes);
    let mut c = list.cursor_front_mut();
    assert_eq!(c.current().map(Node::id), Some(0));
    c.move_prev();
    assert!(c.current().is_none());
    assert!(c.remove_current().is_none()); // ghost: nothing to remove, cursor stays
    assert!(c.current().is_none());
    c.move_prev();
    assert_eq!(c.current().map(Node::id), Some(2));
    c.move_next();
    c.move_next();
    assert_eq!(c.current().map(Node::id), Some(0));
    assert_eq!(c.as_list().len(), 3);
    assert!(format!("{c:?}").contains("ghost: false"));
    let mut c = list.cursor_back_mut();
    assert_eq!(c.current().map(Node::id), Some(2));
    c.move_next();
    assert!(c.current().is_none());
    let mut empty: List<Node> = List::new();
    let mut c = empty.cursor_front_mut();
    assert!(c.current().is_none() && c.remove_current().is_none());
    c.move_next();
    assert!(c.current().is_none());
}

#[test]
fn cursor_removal_keeps_going() {
    let nodes = rc_nodes(6);
    let mut list = filled(&nodes);
    let mut c = list.cursor_front_mut();
    // Remove 0 (front), then 1: the cursor lands on the next node each time.
    assert_eq!(c.remove_current().map(|n| n.id()), Some(0));
    assert_eq!(c.current().map(Node::id), Some(1));
    assert_eq!(c.remove_current().map(|n| n.id()), Some(1));
    c.move_next(); // on 3
    assert_eq!(c.remove_current().map(|n| n.id()), Some(3));
    c.move_next(); // on 5 (the back)
    assert_eq!(c.remove_current().map(|n| n.id()), Some(5));
    assert!(c.current().is_none()); // removal of the back lands on the ghost
    list.assert_valid();
    assert_eq!(ids(&list), [2, 4]);
    // Remove everything through a cursor from the back.
    let mut c = list.cursor_back_mut();
    assert_eq!(c.remove_current().map(|n| n.id()), Some(4));
    assert!(c.current().is_none());
    c.move_prev();
    assert_eq!(c.remove_current().map(|n| n.id()), Some(2));
    assert!(list.is_empty());
    list.assert_valid();
    assert!(nodes.iter().all(|n| Rc::strong_count(n) == 1));
}

// ---------------------------------------------------------------------------------------------
// Ownership: every handle back exactly once

#[test]
fn drop_and_clear_hand_back_each_box_once() {
    let mut counters = Vec::new();
    let mut list: List<BoxNode> = List::new();
    for i in 0..5 {
        let (node, drops) = BoxNode::new(i);
        counters.push(drops);
        list.push_back(node).unwrap();
    }
    let popped = list.pop_front().unwrap();
    assert_eq!(counters[0].get(), 0);
    drop(popped);
    assert_eq!(counters[0].get(), 1);
    list.clear();
    assert!(list.is_empty());
    list.assert_valid();
    assert!(
        counters.iter().all(|c| c.get() == 1),
        "clear: each node dropped once"
    );

    let mut counters = Vec::new();
    let mut list: List<BoxNode> = List::new();
    for i in 0..5 {
        let (node, drops) = BoxNode::new(i);
        counters.push(drops);
        list.push_front(node).unwrap();
    }
    drop(list);
    assert!(
        counters.iter().all(|c| c.get() == 1),
        "drop: each node dropped once"
    );
}

#[test]
fn box_handles_through_append_and_wrong_list_remove() {
    let (n0, c0) = BoxNode::new(0);
    let (n1, c1) = BoxNode::new(1);
    let mut a: List<BoxNode> = List::new();
    let mut b: List<BoxNode> = List::new();
    a.push_back(n0).unwrap();
    b.push_back(n1).unwrap();
    b.append(&mut a);
    // A `&T` to a `Box` node exists only while its list is borrowed; another list can still be
    // asked to remove it, and must refuse.
    let moved = b.iter().nth(1).unwrap();
    assert_eq!(moved.id, 0);
    assert!(a.remove(moved).is_none() && !a.contains(moved) && b.contains(moved));
    let mut cursor = b.cursor_back_mut();
    let h = cursor.remove_current().expect("moved to b");
    assert_eq!(h.id, 0);
    drop(h);
    assert_eq!(c0.get(), 1);
    assert_eq!(b.iter().map(|n| n.id).collect::<Vec<_>>(), [1]);
    drop(b);
    assert_eq!(c1.get(), 1);
}

/// A list of `n` boxed nodes, node `panics` panicking on drop, and their drop counters.
fn list_with_panicking_node(n: u32, panics: u32) -> (List<BoxNode>, Vec<Rc<Cell<u32>>>) {
    let mut counters = Vec::new();
    let mut list: List<BoxNode> = List::new();
    for i in 0..n {
        let (mut node, drops) = BoxNode::new(i);
        node.panic_on_drop = i == panics;
        counters.push(drops);
        list.push_back(node).unwrap();
    }
    (list, counters)
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn panicking_drop_in_clear_still_drops_the_rest_then_resumes() {
    let (mut list, counters) = list_with_panicking_node(5, 1);
    let err = catch_unwind(AssertUnwindSafe(|| list.clear())).unwrap_err();
    assert_eq!(panic_message(&*err), "BoxNode 1 panics on drop");
    // Every node was unlinked and dropped exactly once; the list is empty, valid and usable.
    assert_eq!(counters.iter().map(|c| c.get()).collect::<Vec<_>>(), [1; 5]);
    list.assert_valid();
    assert!(list.is_empty());
    let (node, again) = BoxNode::new(9);
    list.push_back(node).unwrap();
    assert_eq!(list.len(), 1);
    drop(list);
    assert_eq!(again.get(), 1);
}

#[test]
fn panicking_drop_in_list_drop_still_drops_the_rest_then_resumes() {
    for panics in [0, 2, 4] {
        let (list, counters) = list_with_panicking_node(5, panics);
        let err = catch_unwind(AssertUnwindSafe(move || drop(list))).unwrap_err();
        assert_eq!(
            panic_message(&*err),
            format!("BoxNode {panics} panics on drop")
        );
        // The sentinel is freed too (Miri's leak check runs on this test).
        assert!(counters.iter().all(|c| c.get() == 1), "panic at {panics}");
    }
}

// ---------------------------------------------------------------------------------------------
// One node in two lists (tags)

#[test]
fn one_node_in_two_lists_through_tags() {
    let nodes: Vec<Rc<TwoNode>> = (0..4)
        .map(|id| {
            Rc::new(TwoNode {
                id,
                by_a: Links::new(),
                by_b: Links::new(),
            })
        })
        .collect();
    let mut a: List<TwoNode, TagA> = List::new();
    let mut b: List<TwoNode, TagB> = List::new();
    for n in &nodes {
        a.push_back(n.clone()).unwrap();
    }
    for n in nodes.iter().rev() {
        b.push_back(n.clone()).unwrap();
    }
    // Linked in `a` does not stop a push into `b` (other field), but a second push into `a` fails.
    assert!(a.push_back(nodes[0].clone()).is_err());
    assert!(b.push_front(nodes[0].clone()).is_err());
    a.assert_valid();
    b.assert_valid();
    assert_eq!(a.iter().map(|n| n.id).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(b.iter().map(|n| n.id).collect::<Vec<_>>(), [3, 2, 1, 0]);
    assert!(nodes.iter().all(|n| Rc::strong_count(n) == 3));
    // Removing from one list leaves the other untouched.
    assert!(b.remove(&nodes[1]).is_some());
    assert!(b.remove(&nodes[1]).is_none());
    assert!(a.contains(&nodes[1]) && !b.contains(&nodes[1]));
    assert_eq!(nodes[1].by_a.list_id(), Some(a.id()));
    assert_eq!(nodes[1].by_b.list_id(), None);
    let mut cursor = a.cursor_front_mut();
    while cursor.current().is_some() {
        cursor.remove_current();
    }
    a.assert_valid();
    b.assert_valid();
    assert_eq!(b.iter().map(|n| n.id).collect::<Vec<_>>(), [3, 2, 0]);
    drop(b);
    assert!(nodes.iter().all(|n| Rc::strong_count(n) == 1));
}

// ---------------------------------------------------------------------------------------------
// Traits and assert_valid itself

#[test]
fn send_sync_and_debug() {
    fn is_send<T: Send>() {}
    fn is_sync<T: Sync>() {}
    struct Plain {
        links: Links<Plain>,
    }
    // SAFETY: `Box` handle; `links` projects without a reference.
    unsafe impl Linked for Plain {
        type Handle = Box<Plain>;
        fn into_ptr(node: Box<Plain>) -> NonNull<Plain> {
            NonNull::from(Box::leak(node))
        }
        unsafe fn from_ptr(ptr: NonNull<Plain>) -> Box<Plain> {
            // SAFETY: `ptr` came from a leaked box (trait contract).
            unsafe { Box::from_raw(ptr.as_ptr()) }
        }
        unsafe fn links(ptr: NonNull<Plain>) -> NonNull<Links<Plain>> {
            // SAFETY: `ptr` is live (caller); no reference is created.
            unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
        }
    }
    is_send::<Links<Plain>>();
    is_send::<List<Plain>>(); // Box<Plain>: Send, so the list can move to another thread
    is_sync::<super::links::ListId>();
    let mut list: List<Plain> = List::new();
    list.push_back(Box::new(Plain {
        links: Links::new(),
    }))
    .unwrap();
    let list = std::thread::spawn(move || {
        list.assert_valid();
        list
    })
    .join()
    .unwrap();
    assert_eq!(list.len(), 1);
    assert!(list.front().unwrap().links.is_linked());

    let nodes = rc_nodes(2);
    let list = filled(&nodes);
    assert_eq!(format!("{list:?}").matches("Node").count(), 2);
    let s = format!("{:?}", nodes[0].links());
    assert!(s.starts_with("Links { list_id: Some(ListId("), "{s}");
    assert_eq!(
        format!("{:?}", Links::<Node>::default()),
        "Links { list_id: None }"
    );
}

#[test]
#[should_panic(expected = "list: forward walk counted 2, len is 3")]
fn assert_valid_catches_wrong_len() {
    let nodes = rc_nodes(2);
    let mut list = filled(&nodes);
    list.len = 3;
    // Leave `len` wrong: the panic unwinds through the list's drop, which pops until the ring is
    // empty (the saturating count is not checked there) -- so fix it first in a guard.
    struct Fix<'a>(&'a mut List<Node>);
    impl Drop for Fix<'_> {
        fn drop(&mut self) {
            self.0.len = 2;
        }
    }
    let fix = Fix(&mut list);
    fix.0.assert_valid();
}

#[test]
#[should_panic(expected = "list: node 1: owner is not this list")]
fn assert_valid_catches_wrong_owner() {
    let nodes = rc_nodes(3);
    let list = filled(&nodes);
    // SAFETY: node 1 is live and linked; single thread; the owner is put back by the guard.
    let links = unsafe { <Node as Linked>::links(NonNull::from(&*nodes[1])) };
    struct Fix(NonNull<Links<Node>>, *const ());
    impl Drop for Fix {
        fn drop(&mut self) {
            // SAFETY: the node is still alive (held by the pool and the list).
            unsafe { Links::set_owner(self.0, self.1) };
        }
    }
    // SAFETY: as above.
    let _fix = Fix(links, unsafe { Links::owner(links) });
    // SAFETY: as above.
    unsafe { Links::set_owner(links, core::ptr::null()) };
    list.assert_valid();
}

#[test]
#[should_panic(expected = "list: node 0: next.prev is not the node")]
fn assert_valid_catches_broken_back_link() {
    let nodes = rc_nodes(2);
    let list = filled(&nodes);
    // SAFETY: both nodes are live; single thread; the guard restores the link.
    let l0 = unsafe { <Node as Linked>::links(NonNull::from(&*nodes[0])) };
    // SAFETY: as above.
    let l1 = unsafe { <Node as Linked>::links(NonNull::from(&*nodes[1])) };
    struct Fix(NonNull<Links<Node>>, NonNull<Links<Node>>);
    impl Drop for Fix {
        fn drop(&mut self) {
            // SAFETY: both nodes are still alive.
            unsafe { Links::set_prev(self.0, self.1) };
        }
    }
    // SAFETY: as above.
    let _fix = Fix(l0, unsafe { Links::prev(l0) });
    // SAFETY: as above.
    unsafe { Links::set_prev(l0, l1) };
    list.assert_valid();
}

// ---------------------------------------------------------------------------------------------
// Read-only cursor, cursor peek and insert, split_off

fn box_ids<Tag>(list: &List<BoxNode, Tag>) -> Vec<u32>
where
    BoxNode: Linked<Tag>,
{
    list.iter().map(|n| n.id).collect()
}

#[test]
fn read_only_cursor_on_empty_and_full_lists() {
    let list: List<BoxNode> = List::new();
    let mut c = list.cursor_front();
    assert!(c.current().is_none() && c.peek_next().is_none() && c.peek_prev().is_none());
    c.move_next();
    c.move_prev();
    assert!(c.current().is_none(), "an empty list has only the ghost");
    assert!(list.cursor_back().current().is_none());

    let mut list: List<BoxNode> = List::new();
    let (a, _) = BoxNode::new(1);
    let (b, _) = BoxNode::new(2);
    list.push_back(a).unwrap();
    list.push_back(b).unwrap();
    let mut c = list.cursor_back();
    let mut back = Vec::new();
    while let Some(n) = c.current() {
        back.push(n.id);
        c.move_prev();
    }
    assert_eq!(back, [2, 1]);
    // The references outlive the cursor (they borrow the list).
    let first = {
        let c = list.cursor_front();
        c.current().unwrap()
    };
    assert_eq!(first.id, 1);
    assert_eq!(
        format!("{:?}", list.cursor_front()),
        "Cursor { ghost: false, len: 2 }"
    );
}

#[test]
fn cursor_insert_before_and_after_own_their_handles() {
    let mut list: List<BoxNode> = List::new();
    let mut counters = Vec::new();
    let mut node = |id| {
        let (n, d) = BoxNode::new(id);
        counters.push(d);
        n
    };
    let mut c = list.cursor_front_mut();
    c.insert_before(node(3)).unwrap(); // ghost: back
    c.insert_after(node(1)).unwrap(); // ghost: front
    c.move_next(); // on 1
    assert_eq!(c.peek_prev().map(|n| n.id), None);
    assert_eq!(c.peek_next().map(|n| n.id), Some(3));
    c.insert_after(node(2)).unwrap();
    c.insert_before(node(0)).unwrap();
    assert_eq!(
        c.current().map(|n| n.id),
        Some(1),
        "inserts do not move the cursor"
    );
    c.move_prev();
    c.move_prev(); // the ghost
    c.insert_before(node(4)).unwrap();
    list.assert_valid();
    assert_eq!(box_ids(&list), [0, 1, 2, 3, 4]);
    // A linked node is refused with its own handle back, and nothing changes.
    let shared = Rc::new(Node::new(7));
    let mut a: List<Node> = List::new();
    let mut b: List<Node> = List::new();
    a.push_back(shared.clone()).unwrap();
    b.push_back(Rc::new(Node::new(8))).unwrap();
    for after in [false, true] {
        let mut c = b.cursor_front_mut();
        let res = if after {
            c.insert_after(shared.clone())
        } else {
            c.insert_before(shared.clone())
        };
        let AlreadyLinked(back) = res.unwrap_err();
        assert!(Rc::ptr_eq(&back, &shared));
    }
    assert_eq!(
        Rc::strong_count(&shared),
        2,
        "the refused handles were given back"
    );
    assert!(a.contains(&shared) && b.len() == 1);
    a.assert_valid();
    b.assert_valid();
    drop(list);
    assert!(
        counters.iter().all(|d| d.get() == 1),
        "every node dropped exactly once"
    );
}

#[test]
fn split_off_moves_the_tail_and_drops_each_node_once() {
    let mut list: List<BoxNode> = List::new();
    let mut counters = Vec::new();
    for id in 0..6 {
        let (n, d) = BoxNode::new(id);
        counters.push(d);
        list.push_back(n).unwrap();
    }
    assert!(list.split_off(7).is_none());
    assert_eq!(
        box_ids(&list),
        [0, 1, 2, 3, 4, 5],
        "a refused split changes nothing"
    );
    let mut tail = list.split_off(4).unwrap();
    list.assert_valid();
    tail.assert_valid();
    assert_eq!(box_ids(&list), [0, 1, 2, 3]);
    assert_eq!(box_ids(&tail), [4, 5]);
    let n4 = tail.front().unwrap();
    assert!(tail.contains(n4) && !list.contains(n4));
    assert!(
        list.remove(n4).is_none(),
        "the old list refuses a moved node"
    );
    let all = list.split_off(0).unwrap();
    assert!(list.is_empty());
    list.assert_valid();
    all.assert_valid();
    assert_eq!(box_ids(&all), [0, 1, 2, 3]);
    // The emptied list keeps working (its cached ends were reset).
    let (n, d) = BoxNode::new(10);
    counters.push(d);
    list.push_back(n).unwrap();
    list.append(&mut tail);
    assert_eq!(box_ids(&list), [10, 4, 5]);
    list.assert_valid();
    drop(all);
    drop(list);
    drop(tail);
    assert!(
        counters.iter().all(|d| d.get() == 1),
        "every node dropped exactly once"
    );
}

#[test]
fn split_off_part_with_a_panicking_drop_still_drops_the_rest() {
    let mut list: List<BoxNode> = List::new();
    let mut counters = Vec::new();
    for id in 0..4 {
        let (mut n, d) = BoxNode::new(id);
        n.panic_on_drop = id == 2;
        counters.push(d);
        list.push_back(n).unwrap();
    }
    let part = list.split_off(1).unwrap();
    let r = catch_unwind(AssertUnwindSafe(move || drop(part)));
    assert!(r.is_err(), "the node's panic propagates");
    assert_eq!(box_ids(&list), [0]);
    drop(list);
    assert!(
        counters.iter().all(|d| d.get() == 1),
        "every node dropped exactly once"
    );
}

// ---------------------------------------------------------------------------------------------
// The model test (same routine as the fuzz target)

#[test]
fn ops_fixed_sequences() {
    use Op::*;
    model::run(&[
        PushBack { list: 0, node: 1 },
        PushBack { list: 0, node: 1 },
        PushFront { list: 1, node: 1 },
        PushFront { list: 1, node: 2 },
        Remove { list: 0, node: 2 },
        Append { into: 0 },
        CursorRemove { list: 0, steps: 1 },
        PushBack { list: 1, node: 3 },
        PushBack { list: 1, node: 4 },
        CursorSweep { list: 1, mask: 1 },
        PopBack { list: 0 },
        PopFront { list: 1 },
        Clear { list: 0 },
        CursorInsert {
            list: 0,
            steps: 0,
            node: 5,
            after: false,
        }, // empty: ghost, back
        CursorInsert {
            list: 0,
            steps: 0,
            node: 6,
            after: true,
        }, // front
        CursorInsert {
            list: 0,
            steps: 1,
            node: 7,
            after: true,
        }, // after the middle
        CursorInsert {
            list: 0,
            steps: 3,
            node: 8,
            after: false,
        }, // ghost: back
        CursorInsert {
            list: 0,
            steps: 2,
            node: 8,
            after: false,
        }, // linked: refused
        CursorInsert {
            list: 1,
            steps: 9,
            node: 4,
            after: true,
        }, // linked in the other list
        SplitOff { list: 0, at: 1 },
        SplitOff { list: 1, at: 0 },
        SplitOff { list: 1, at: 200 }, // past the end
        SplitOff { list: 0, at: 1 },   // at == len
    ]);
    model::run(&model::decode(&[
        0, 1, 0x10, 2, 5, 6, 3, 7, 0, 8, 4, 1, 2, 3,
    ]));
    model::run(&model::decode(&[]));
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let l = 0u8..2;
    let n = 0u8..(model::NODES as u8);
    prop_oneof![
        4 => (l.clone(), n.clone()).prop_map(|(list, node)| Op::PushBack { list, node }),
        3 => (l.clone(), n.clone()).prop_map(|(list, node)| Op::PushFront { list, node }),
        2 => l.clone().prop_map(|list| Op::PopFront { list }),
        2 => l.clone().prop_map(|list| Op::PopBack { list }),
        3 => (l.clone(), n).prop_map(|(list, node)| Op::Remove { list, node }),
        1 => l.clone().prop_map(|into| Op::Append { into }),
        2 => (l.clone(), any::<u8>()).prop_map(|(list, steps)| Op::CursorRemove { list, steps }),
        1 => (l.clone(), any::<u8>()).prop_map(|(list, mask)| Op::CursorSweep { list, mask }),
        1 => l.clone().prop_map(|list| Op::Clear { list }),
        3 => (l.clone(), any::<u8>(), 0u8..(model::NODES as u8), any::<bool>()).prop_map(
            |(list, steps, node, after)| Op::CursorInsert { list, steps, node, after }
        ),
        1 => (l, 0u8..14).prop_map(|(list, at)| Op::SplitOff { list, at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 3 } else { 256 },
        failure_persistence: if cfg!(miri) {
            None
        } else {
            Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel(
                "proptest-regressions",
            )))
        },
        ..ProptestConfig::default()
    })]

    #[test]
    fn ops_agree_with_vecdeque_model(ops in prop::collection::vec(op_strategy(), 0..if cfg!(miri) { 16 } else { 120 })) {
        model::run(&ops);
    }

    /// The fuzz target's input path: `decode` of any bytes, then the same routine.
    #[test]
    fn decoded_bytes_agree(bytes in prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 24 } else { 240 })) {
        model::run(&model::decode(&bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// A broken `Linked::links` (different fields for different nodes) is caught, not trusted

crate::loom::thread_local! {
    static USE_SECOND_FIELD: Cell<bool> = const { Cell::new(false) };
}

struct Fickle {
    first: Links<Fickle>,
    second: Links<Fickle>,
}

// SAFETY: deliberately violates point 3 (the field depends on a flag), to test that the list
// detects it; everything else holds (`Rc` handles, projection without references).
unsafe impl Linked for Fickle {
    type Handle = Rc<Fickle>;
    fn into_ptr(node: Rc<Fickle>) -> NonNull<Fickle> {
        // SAFETY: `Rc::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(Rc::into_raw(node).cast_mut()) }
    }
    unsafe fn from_ptr(ptr: NonNull<Fickle>) -> Rc<Fickle> {
        // SAFETY: `ptr` came from `Rc::into_raw` (trait contract).
        unsafe { Rc::from_raw(ptr.as_ptr()) }
    }
    unsafe fn links(ptr: NonNull<Fickle>) -> NonNull<Links<Fickle>> {
        let p = ptr.as_ptr();
        // SAFETY: `ptr` is live (caller); no reference is created.
        unsafe {
            if USE_SECOND_FIELD.with(Cell::get) {
                NonNull::new_unchecked(&raw mut (*p).second)
            } else {
                NonNull::new_unchecked(&raw mut (*p).first)
            }
        }
    }
}

#[test]
#[should_panic(expected = "list: Linked::links returned offset 24, expected 0")]
fn links_at_two_offsets_panics_instead_of_corrupting() {
    let fickle = || {
        Rc::new(Fickle {
            first: Links::new(),
            second: Links::new(),
        })
    };
    let a = fickle();
    let b = fickle();
    let mut list: List<Fickle> = List::new();
    list.push_back(a.clone()).unwrap();
    USE_SECOND_FIELD.with(|f| f.set(true));
    // The second node reports another field: the push panics (handle given back) and the list,
    // still holding `a` at the first offset, unwinds and drops cleanly.
    let _ = list.push_back(b.clone());
}
