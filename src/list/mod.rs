//! An intrusive, circular, doubly linked list with a single owner (CPython's `llist_node`).
//!
//! Nodes embed their own [`Links`] and are reached through the [`Linked`] trait, so linking a
//! node never allocates: the list stores the pointer the node's owning handle (`Box`, `Rc`,
//! `Arc`, ...) turned into, and gives the handle back when the node leaves. The list is
//! circular around a sentinel that lives on the heap, so every insertion and removal rewrites
//! the same neighbour pointers with no special case for the ends, and the [`List`] value can move
//! freely (nodes point to the sentinel, never to the `List`).
//!
//! Unlike CPython's `llist_*` (and Linux `list_head`), misuse is an error, never corruption:
//!
//! * every linked node records which list holds it ([`ListId`]), so removing a node through the
//!   wrong list returns `None` and leaves both lists unchanged;
//! * pushing a node that is already linked (into any list) returns [`AlreadyLinked`] with the
//!   handle;
//! * removing a node that is not linked returns `None`;
//! * dropping the list hands every node's handle back exactly once.
//!
//! There are no atomics in this module and no allocation but the sentinel of each new list
//! ([`List::new`], [`List::split_off`]). The list is single-owner: every mutation takes `&mut List`. See
//! [`docs/list.md`] for the design, the thread-safety argument (why [`Links`] is not `Sync` and
//! [`List::remove_ptr`] is `unsafe`), and the alternatives that were rejected.
//!
//! [`docs/list.md`]: crate::docs::list
//!
//! # Examples
//!
//! ```
//! use core::ptr::NonNull;
//! use loopkit::list::{Linked, Links, List};
//!
//! struct Task {
//!     id: u32,
//!     links: Links<Task>,
//! }
//!
//! // SAFETY: `Box` owns the node and keeps it at one address; `links` projects to the private
//! // field without creating a reference.
//! unsafe impl Linked for Task {
//!     type Handle = Box<Task>;
//!     fn into_ptr(task: Box<Task>) -> NonNull<Task> {
//!         NonNull::from(Box::leak(task))
//!     }
//!     unsafe fn from_ptr(ptr: NonNull<Task>) -> Box<Task> {
//!         // SAFETY: `ptr` came from `into_ptr` (trait contract).
//!         unsafe { Box::from_raw(ptr.as_ptr()) }
//!     }
//!     unsafe fn links(ptr: NonNull<Task>) -> NonNull<Links<Task>> {
//!         // SAFETY: `ptr` points to a live `Task`; no reference is created.
//!         unsafe { NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
//!     }
//! }
//!
//! let mut list: List<Task> = List::new();
//! for id in 0..4 {
//!     list.push_back(Box::new(Task { id, links: Links::new() })).unwrap();
//! }
//! assert_eq!(list.pop_front().map(|t| t.id), Some(0));
//! assert_eq!(list.iter().rev().map(|t| t.id).collect::<Vec<_>>(), [3, 2, 1]);
//! list.assert_valid();
//! ```

mod cursor;
mod doc_node;
mod error;
mod impls;
mod links;
mod ring;

#[cfg(any(test, loopkit_fuzz))]
#[doc(hidden)]
pub mod model;

#[cfg(all(test, not(loopkit_loom)))]
mod tests;

pub use self::cursor::{Cursor, CursorMut, IntoIter, Iter};
pub use self::error::AlreadyLinked;
pub use self::links::{Linked, Links, ListId};
pub use self::ring::List;
