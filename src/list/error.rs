//! The error of a push.

use core::fmt;

/// The error from a push of a node that is already linked (into this or any other list).
///
/// It carries the handle back; no list was changed.
///
/// # Examples
///
/// ```
/// # use std::rc::Rc;
/// # use loopkit::list::List;
/// # loopkit::__list_doc_node!();
/// let node = Rc::new(Node::new(1));
/// let mut a: List<Node> = List::new();
/// let mut b: List<Node> = List::new();
/// a.push_back(node.clone()).unwrap();
/// let err = b.push_back(node.clone()).unwrap_err();
/// assert!(Rc::ptr_eq(&err.0, &node));
/// assert_eq!(err.to_string(), "node is already linked into a list");
/// assert!(b.is_empty() && a.len() == 1);
/// ```
///
/// Like crossbeam-channel's `SendError`, its `Debug` does not require `H: Debug` (so `unwrap()`
/// works for any handle) and prints `AlreadyLinked(..)`.
#[derive(Clone, PartialEq, Eq)]
pub struct AlreadyLinked<H>(pub H);

impl<H> fmt::Debug for AlreadyLinked<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlreadyLinked(..)")
    }
}

impl<H> fmt::Display for AlreadyLinked<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("node is already linked into a list")
    }
}

impl<H> std::error::Error for AlreadyLinked<H> {}
