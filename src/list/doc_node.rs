//! A small node type for the examples, defined by a hidden macro so that doctests (which link
//! the library built without `cfg(test)`) and the test-only op routine share one definition.

/// Defines `Node`: an id, one `Links<Node>`, and `Linked` with `Handle = Rc<Node>`.
///
/// Used by the list's doctests (`# loopkit::__list_doc_node!();`) and by `list::model`. Not part
/// of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __list_doc_node {
    () => {
        /// A test node: an id and one set of links; its handle is `Rc<Node>`.
        #[derive(Debug)]
        pub struct Node {
            id: u32,
            links: $crate::list::Links<Node>,
        }

        impl Node {
            /// A new, unlinked node.
            #[must_use]
            pub fn new(id: u32) -> Self {
                Self {
                    id,
                    links: $crate::list::Links::new(),
                }
            }

            /// The node's id.
            #[must_use]
            pub fn id(&self) -> u32 {
                self.id
            }

            /// The node's links (read-only: `is_linked`, `list_id`).
            #[must_use]
            pub fn links(&self) -> &$crate::list::Links<Node> {
                &self.links
            }
        }

        // SAFETY: `Rc` owns the node and keeps it at one address; `from_ptr` only rebuilds what
        // `into_ptr` gave up; `links` projects to the private field without a reference.
        unsafe impl $crate::list::Linked for Node {
            type Handle = ::std::rc::Rc<Node>;

            fn into_ptr(node: ::std::rc::Rc<Node>) -> ::core::ptr::NonNull<Node> {
                // SAFETY: `Rc::into_raw` never returns null.
                unsafe {
                    ::core::ptr::NonNull::new_unchecked(::std::rc::Rc::into_raw(node).cast_mut())
                }
            }

            unsafe fn from_ptr(ptr: ::core::ptr::NonNull<Node>) -> ::std::rc::Rc<Node> {
                // SAFETY: `ptr` came from `Rc::into_raw` in `into_ptr` (trait contract).
                unsafe { ::std::rc::Rc::from_raw(ptr.as_ptr()) }
            }

            unsafe fn links(
                ptr: ::core::ptr::NonNull<Node>,
            ) -> ::core::ptr::NonNull<$crate::list::Links<Node>> {
                // SAFETY: `ptr` points to a live node (caller); no reference is created.
                unsafe { ::core::ptr::NonNull::new_unchecked(&raw mut (*ptr.as_ptr()).links) }
            }
        }
    };
}
