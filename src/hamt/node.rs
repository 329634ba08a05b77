//! CHAMP nodes and the recursive algorithms on them.
//!
//! A node is one heap allocation behind a thin (8-byte) reference-counted pointer, [`Node`]:
//!
//! ```text
//! [ Head: refs, datamap, nodemap, elen, clen, ecap, ccap ][ children: ccap x Node ][ entries: ecap x Entry ]
//! ```
//!
//! `datamap` has a bit for each slot that holds an entry inline, `nodemap` one for each slot that
//! holds a sub-node; the first `elen` entries and the first `clen` children are live, each array in
//! slot order. Every [`Entry`] stores its key's full hash next to the key, so a lookup compares
//! the hash before calling `Eq`, and a split never calls `Hash`. A node at depth `d < LEVELS`
//! indexes its slots with bits `d*BITS .. (d+1)*BITS` of the hash. At depth `LEVELS` the hash is
//! used up: such a node is a *collision node*, its bitmaps are `(0, 0)` and it holds two or more
//! entries with one hash, in no particular order.
//!
//! Canonical form: a sub-node exists only for a slot that holds two or more keys. Inserts split
//! an inline entry into a sub-node; removes pull a sub-node that is down to one entry back into
//! its parent. Capacities beyond the live counts (`ecap - elen`, `ccap - clen`, at most
//! [`MAX_SPARE`] each) appear only through in-place updates and are not part of the shape.
//!
//! Panic safety: user code (`Eq`, `Clone`) runs only before a node is changed. The persistent
//! functions build new nodes and never touch old ones (a [`Builder`] that unwinds drops what it
//! holds and frees its allocation); the in-place functions do all their comparisons first and
//! then move entries around without calling user code.

use crate::loom::{fence, AtomicUsize, Ordering};
use core::borrow::Borrow;
use core::marker::PhantomData;
use core::mem;
use core::ptr::{self, NonNull};
use std::alloc::{self, Layout};

/// Hash bits consumed per level (32-way nodes).
#[cfg(not(any(test, loopkit_fuzz)))]
pub(crate) const BITS: u32 = 5;
/// Hash bits used at all (the full 64-bit hash).
#[cfg(not(any(test, loopkit_fuzz)))]
pub(crate) const HASH_BITS: u32 = 64;
/// Test configuration: 8-way nodes, so small key sets already fill and split nodes.
#[cfg(any(test, loopkit_fuzz))]
pub(crate) const BITS: u32 = 3;
/// Test configuration: a 12-bit hash, so the trie is 4 levels deep and collisions are common.
#[cfg(any(test, loopkit_fuzz))]
pub(crate) const HASH_BITS: u32 = 12;

/// Number of bitmap-indexed levels; nodes at depth `LEVELS` are collision nodes.
pub(crate) const LEVELS: u32 = HASH_BITS.div_ceil(BITS);
/// Mask for one level's slot number.
const MASK: u64 = (1 << BITS) - 1;
/// Mask applied to every hash (all ones in the real configuration).
const HASH_MASK: u64 = if HASH_BITS >= 64 {
    u64::MAX
} else {
    (1 << HASH_BITS) - 1
};
/// Most spare entry slots, and most spare child slots, an in-place update leaves in a node.
pub(crate) const MAX_SPARE: u32 = 2;

/// Hashes `q` with `s` and keeps the bits the trie uses.
#[inline]
pub(crate) fn hash_key<Q: core::hash::Hash + ?Sized, S: core::hash::BuildHasher>(
    s: &S,
    q: &Q,
) -> u64 {
    s.hash_one(q) & HASH_MASK
}

/// The one-bit mask of `hash`'s slot at `depth`.
#[inline(always)]
pub(crate) fn bit_at(hash: u64, depth: u32) -> u32 {
    1u32 << ((hash >> (depth * BITS)) & MASK)
}

/// Rank of `bit` among the set bits of `map` (how many are below it).
#[inline(always)]
pub(crate) fn index(map: u32, bit: u32) -> usize {
    (map & bit.wrapping_sub(1)).count_ones() as usize
}

/// One inline entry: the key's (masked) hash, the key, the value.
pub(crate) struct Entry<K, V> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) value: V,
}

impl<K: Clone, V: Clone> Clone for Entry<K, V> {
    #[inline]
    fn clone(&self) -> Self {
        Entry {
            hash: self.hash,
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

impl<K, V> Entry<K, V> {
    /// Whether this entry holds `key`, whose hash is `hash`: the hash first, `Eq` only on a
    /// full-hash match.
    #[inline(always)]
    pub(crate) fn is<Q: Eq + ?Sized>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.hash == hash && self.key.borrow() == key
    }
}

/// The header at the start of every node allocation.
#[repr(C)]
struct Head {
    /// Number of [`Node`] handles to this allocation.
    refs: AtomicUsize,
    datamap: u32,
    nodemap: u32,
    /// Live entries and children.
    elen: u32,
    clen: u32,
    /// Allocated entry and child slots.
    ecap: u32,
    ccap: u32,
    /// Under loom: a cell that readers and in-place writers of the node touch, so that loom
    /// reports a data race when the reference-count orderings do not order them.
    #[cfg(loopkit_loom)]
    race: crate::loom::UnsafeCell<()>,
}

impl Head {
    fn new(datamap: u32, nodemap: u32, ecap: u32, ccap: u32) -> Head {
        Head {
            refs: AtomicUsize::new(1),
            datamap,
            nodemap,
            elen: 0,
            clen: 0,
            ecap,
            ccap,
            #[cfg(loopkit_loom)]
            race: crate::loom::UnsafeCell::new(()),
        }
    }
}

/// Byte offset of the children array.
const CHILDREN_AT: usize = mem::size_of::<Head>();

/// Byte offset of the entries array in a node with `ccap` child slots.
#[inline(always)]
fn entries_at<K, V>(ccap: u32) -> usize {
    let align = mem::align_of::<Entry<K, V>>();
    let end = CHILDREN_AT + ccap as usize * mem::size_of::<Node<K, V>>();
    (end + align - 1) & !(align - 1)
}

/// The allocation layout of a node with `ecap` entry and `ccap` child slots.
fn layout<K, V>(ecap: u32, ccap: u32) -> Layout {
    let size = entries_at::<K, V>(ccap) + ecap as usize * mem::size_of::<Entry<K, V>>();
    let align = mem::align_of::<Head>().max(mem::align_of::<Entry<K, V>>());
    Layout::from_size_align(size, align).expect("HAMT node layout")
}

/// Allocates a node with no live entries or children and one reference.
fn allocate<K, V>(datamap: u32, nodemap: u32, ecap: u32, ccap: u32) -> NonNull<Head> {
    let l = layout::<K, V>(ecap, ccap);
    // SAFETY: `l` has a non-zero size (it contains a `Head`).
    let p = unsafe { alloc::alloc(l) }.cast::<Head>();
    let Some(p) = NonNull::new(p) else {
        alloc::handle_alloc_error(l)
    };
    // SAFETY: `p` is a fresh allocation of `l`, which starts with a `Head` at offset 0 and is
    // aligned for it.
    unsafe { p.as_ptr().write(Head::new(datamap, nodemap, ecap, ccap)) };
    p
}

/// Drops the live children and entries of the node at `p`, then frees it. A panicking `Drop` of
/// an entry (here or below) does not stop the rest: the other entries and children are still
/// dropped and every node still freed while the panic unwinds (a second panic during that
/// unwinding aborts, as for any container).
///
/// # Safety
/// `p` came from [`allocate`] with the `K`, `V` of this call, its `elen`/`clen` first entries and
/// children are initialised, and no other handle or reference to it is used afterwards.
unsafe fn destroy<K, V>(p: NonNull<Head>) {
    /// Frees the node when dropped, after the children and entries, also while unwinding.
    struct Free<K, V>(NonNull<Head>, PhantomData<Entry<K, V>>);
    impl<K, V> Drop for Free<K, V> {
        fn drop(&mut self) {
            let h = self.0.as_ptr();
            // SAFETY: `destroy`'s caller hands over the node; its contents are dropped by now
            // (or being dropped by the unwinding that runs this); the head is initialised and
            // dropped once, and the block came from `alloc` with the layout its capacities give.
            unsafe {
                let (ecap, ccap) = ((*h).ecap, (*h).ccap);
                ptr::drop_in_place(h);
                alloc::dealloc(h.cast::<u8>(), layout::<K, V>(ecap, ccap));
            }
        }
    }
    /// Drops the live entries when dropped: after the children, also while unwinding from them.
    struct Entries<K, V>(*mut Entry<K, V>, usize);
    impl<K, V> Drop for Entries<K, V> {
        fn drop(&mut self) {
            // SAFETY: the first `elen` entries are initialised and dropped once, here.
            unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.0, self.1)) }
        }
    }
    let h = p.as_ptr();
    // SAFETY: `h` is valid (caller); nothing else accesses it.
    let (elen, clen, ccap) = unsafe { ((*h).elen, (*h).clen, (*h).ccap) };
    let base = h.cast::<u8>();
    let _free = Free::<K, V>(p, PhantomData);
    // SAFETY: the entries array lies at `entries_at(ccap)` inside the allocation.
    let e = unsafe { base.add(entries_at::<K, V>(ccap)) }.cast::<Entry<K, V>>();
    // Its first `elen` elements are initialised (caller); only this guard drops them.
    let _entries = Entries(e, elen as usize);
    // SAFETY: the children array starts at `CHILDREN_AT` inside the allocation and its first
    // `clen` elements are initialised (caller); they are dropped once, here.
    unsafe {
        let c = base.add(CHILDREN_AT).cast::<Node<K, V>>();
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(c, clen as usize));
    }
    // `_entries` drops the entries, then `_free` frees the node (reverse declaration order).
}

/// The empty node every empty map starts with: no allocation. Its count holds one reference of
/// its own that is never released, so it is never freed and never unique. The alignment keeps
/// the (empty) arrays' addresses aligned and inside the static for entries aligned up to 64.
#[cfg(not(loopkit_loom))]
static EMPTY: EmptyNode = EmptyNode(Head {
    refs: AtomicUsize::new(1),
    datamap: 0,
    nodemap: 0,
    elen: 0,
    clen: 0,
    ecap: 0,
    ccap: 0,
});

#[cfg(not(loopkit_loom))]
#[repr(C, align(64))]
struct EmptyNode(Head);

/// An owning, reference-counted handle to a node (a thin `Arc`).
pub(crate) struct Node<K, V> {
    ptr: NonNull<Head>,
    marker: PhantomData<Entry<K, V>>,
}

// SAFETY: a `Node` shares its entries like an `Arc<[Entry<K, V>]>`: a clone on another thread
// hands out `&K`/`&V` there (needs `Sync`) and the last handle drops them on whichever thread
// drops it (needs `Send`). The count is atomic.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for Node<K, V> {}
// SAFETY: as for `Send`.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Node<K, V> {}

impl<K, V> Node<K, V> {
    /// An empty node (the root of an empty map).
    pub(crate) fn empty() -> Self {
        #[cfg(not(loopkit_loom))]
        if mem::align_of::<Entry<K, V>>() <= mem::align_of::<EmptyNode>() {
            // Relaxed: a new handle made from the static's own reference, as in `clone`.
            EMPTY.0.refs.fetch_add(1, Ordering::Relaxed);
            return Node {
                ptr: NonNull::from(&EMPTY).cast::<Head>(),
                marker: PhantomData,
            };
        }
        Builder::new(0, 0, 0, 0).finish()
    }

    #[inline(always)]
    fn head(&self) -> &Head {
        // SAFETY: the handle keeps the allocation alive; the head is initialised and is only
        // written through a unique handle (`NodeMut`), which cannot coexist with `&self`.
        unsafe { self.ptr.as_ref() }
    }

    /// Records a read of the node's contents for loom's race detector (no-op otherwise).
    #[inline(always)]
    fn touch(&self) {
        #[cfg(loopkit_loom)]
        self.head().race.with(|_| ());
    }

    /// `(datamap, nodemap)`.
    #[inline(always)]
    pub(crate) fn maps(&self) -> (u32, u32) {
        self.touch();
        let h = self.head();
        (h.datamap, h.nodemap)
    }

    /// `(entry slots, child slots)` allocated.
    pub(crate) fn capacity(&self) -> (u32, u32) {
        (self.head().ecap, self.head().ccap)
    }

    /// The live entries, in slot order.
    #[inline(always)]
    pub(crate) fn entries(&self) -> &[Entry<K, V>] {
        let h = self.head();
        // SAFETY: the entries array lies at `entries_at(ccap)` inside the allocation, aligned
        // for `Entry`, and its first `elen` elements are initialised; they are only changed
        // through a unique handle, which cannot coexist with `&self`.
        unsafe {
            let e = self
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(entries_at::<K, V>(h.ccap));
            core::slice::from_raw_parts(e.cast::<Entry<K, V>>(), h.elen as usize)
        }
    }

    /// The live children, in slot order.
    #[inline(always)]
    pub(crate) fn children(&self) -> &[Node<K, V>] {
        let h = self.head();
        // SAFETY: as in `entries`, for the children array at `CHILDREN_AT` (aligned: the head's
        // size is a multiple of its alignment, which is a pointer's).
        unsafe {
            let c = self.ptr.as_ptr().cast::<u8>().add(CHILDREN_AT);
            core::slice::from_raw_parts(c.cast::<Node<K, V>>(), h.clen as usize)
        }
    }

    /// Whether both handles point to one node.
    #[inline(always)]
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// The node's address (for tests).
    #[cfg(any(test, loopkit_fuzz))]
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The node for changes in place, if this handle is its only one.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> Option<NodeMut<'_, K, V>> {
        // Acquire: pairs with the Release `fetch_sub` in `drop` of every other handle this node
        // had, so their reads of it happen before our writes.
        if self.head().refs.load(Ordering::Acquire) == 1 {
            #[cfg(loopkit_loom)]
            self.head().race.with_mut(|_| ());
            Some(NodeMut(self))
        } else {
            None
        }
    }
}

impl<K, V> Clone for Node<K, V> {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed: a handle is made from an existing one, which keeps the node alive; no
        // other memory is published (as `Arc::clone`).
        let old = self.head().refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort();
        }
        Node {
            ptr: self.ptr,
            marker: PhantomData,
        }
    }
}

impl<K, V> Drop for Node<K, V> {
    #[inline]
    fn drop(&mut self) {
        self.touch();
        // Release: our reads of the node happen before the last handle frees it; pairs with
        // the Acquire fence below and the Acquire load in `get_mut`.
        if self.head().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: pairs with the Release `fetch_sub` of every other handle's drop.
        fence(Ordering::Acquire);
        #[cfg(loopkit_loom)]
        self.head().race.with_mut(|_| ());
        // SAFETY: the count went from 1 to 0, so this was the last handle (the empty static
        // keeps a reference of its own and never gets here); the node came from `allocate`,
        // its live slots are initialised, and nothing uses it after this.
        unsafe { destroy::<K, V>(self.ptr) }
    }
}

/// A node being filled: entries and children are appended in slot order. Dropping an
/// unfinished builder (a panicking `Clone`) drops what it holds and frees the node.
pub(crate) struct Builder<K, V> {
    ptr: NonNull<Head>,
    marker: PhantomData<Entry<K, V>>,
}

impl<K, V> Builder<K, V> {
    /// A node with the given bitmaps and room for exactly `ecap` entries and `ccap` children.
    #[inline]
    pub(crate) fn new(datamap: u32, nodemap: u32, ecap: usize, ccap: usize) -> Self {
        let (ecap, ccap) = (u32::try_from(ecap), u32::try_from(ccap));
        let (Ok(ecap), Ok(ccap)) = (ecap, ccap) else {
            panic!("HAMT collision node too large")
        };
        Builder {
            ptr: allocate::<K, V>(datamap, nodemap, ecap, ccap),
            marker: PhantomData,
        }
    }

    fn head(&mut self) -> &mut Head {
        // SAFETY: the builder owns the fresh node alone; the head is initialised.
        unsafe { self.ptr.as_mut() }
    }

    /// Appends an entry.
    #[inline]
    pub(crate) fn entry(&mut self, e: Entry<K, V>) {
        let (elen, ecap, ccap) = {
            let h = self.head();
            (h.elen, h.ecap, h.ccap)
        };
        assert!(elen < ecap, "HAMT builder: entry array full");
        // SAFETY: slot `elen < ecap` of the entries array is inside the allocation and
        // uninitialised; counting it live right after the write keeps `destroy` exact.
        unsafe {
            let at = self.ptr.as_ptr().cast::<u8>().add(entries_at::<K, V>(ccap));
            at.cast::<Entry<K, V>>().add(elen as usize).write(e);
        }
        self.head().elen = elen + 1;
    }

    /// Appends clones of `es`.
    #[inline]
    pub(crate) fn clone_entries(&mut self, es: &[Entry<K, V>])
    where
        K: Clone,
        V: Clone,
    {
        for e in es {
            self.entry(e.clone());
        }
    }

    /// Appends a child.
    #[inline]
    pub(crate) fn child(&mut self, c: Node<K, V>) {
        let (clen, ccap) = {
            let h = self.head();
            (h.clen, h.ccap)
        };
        assert!(clen < ccap, "HAMT builder: child array full");
        // SAFETY: slot `clen < ccap` of the children array is inside the allocation and
        // uninitialised; it is counted live right after the write.
        unsafe {
            let at = self.ptr.as_ptr().cast::<u8>().add(CHILDREN_AT);
            at.cast::<Node<K, V>>().add(clen as usize).write(c);
        }
        self.head().clen = clen + 1;
    }

    /// Appends new handles to `cs`.
    #[inline]
    pub(crate) fn clone_children(&mut self, cs: &[Node<K, V>]) {
        for c in cs {
            self.child(c.clone());
        }
    }

    /// The finished node.
    #[inline]
    pub(crate) fn finish(self) -> Node<K, V> {
        // The lookup indexes without bounds checks on the strength of this (see `child_at`).
        // SAFETY: the builder owns the fresh node alone; the head is initialised.
        let h = unsafe { self.ptr.as_ref() };
        assert!(
            h.clen == h.nodemap.count_ones()
                && (h.datamap == 0 || h.elen == h.datamap.count_ones()),
            "HAMT builder: bitmaps and live counts differ"
        );
        let n = Node {
            ptr: self.ptr,
            marker: PhantomData,
        };
        mem::forget(self);
        n
    }
}

impl<K, V> Drop for Builder<K, V> {
    fn drop(&mut self) {
        // SAFETY: the builder owns the node alone; its live slots are initialised.
        unsafe { destroy::<K, V>(self.ptr) }
    }
}

/// A node that this handle owns alone, for changes in place.
pub(crate) struct NodeMut<'a, K, V>(&'a mut Node<K, V>);

impl<'a, K, V> NodeMut<'a, K, V> {
    fn head(&mut self) -> &mut Head {
        // SAFETY: the handle is the only one (checked in `get_mut`) and is borrowed mutably.
        unsafe { self.0.ptr.as_mut() }
    }

    fn base(&self) -> *mut u8 {
        self.0.ptr.as_ptr().cast::<u8>()
    }

    fn entries_ptr(&mut self) -> *mut Entry<K, V> {
        let ccap = self.head().ccap;
        // SAFETY: the entries array lies inside the allocation at this offset.
        unsafe { self.base().add(entries_at::<K, V>(ccap)).cast() }
    }

    fn children_ptr(&mut self) -> *mut Node<K, V> {
        // SAFETY: the children array lies inside the allocation at this offset.
        unsafe { self.base().add(CHILDREN_AT).cast() }
    }

    /// `(datamap, nodemap)`.
    #[inline]
    pub(crate) fn maps(&self) -> (u32, u32) {
        self.0.maps()
    }

    /// Sets the bitmaps.
    #[inline]
    pub(crate) fn set_maps(&mut self, datamap: u32, nodemap: u32) {
        let h = self.head();
        h.datamap = datamap;
        h.nodemap = nodemap;
        // The bitmaps' counts equal the live lengths again before the unique borrow ends; the
        // lookup's unchecked indexing relies on it (`Node::child_at`).
        debug_assert!(h.clen == nodemap.count_ones() && h.elen == datamap.count_ones());
    }

    /// The live entries.
    #[inline]
    pub(crate) fn entries(&self) -> &[Entry<K, V>] {
        self.0.entries()
    }

    /// The live entries, mutably.
    #[inline]
    pub(crate) fn entries_mut(&mut self) -> &mut [Entry<K, V>] {
        let elen = self.head().elen as usize;
        let e = self.entries_ptr();
        // SAFETY: the first `elen` entries are initialised; the handle is unique and borrowed
        // mutably for the slice's lifetime.
        unsafe { core::slice::from_raw_parts_mut(e, elen) }
    }

    /// `(live entries, live children)`.
    #[inline]
    pub(crate) fn lens(&mut self) -> (usize, usize) {
        let h = self.head();
        (h.elen as usize, h.clen as usize)
    }

    /// Child `t`, mutably (for the descent).
    #[inline]
    pub(crate) fn child_mut(&mut self, t: usize) -> &mut Node<K, V> {
        let clen = self.head().clen as usize;
        assert!(t < clen, "HAMT: child index out of range");
        let c = self.children_ptr();
        // SAFETY: `t < clen`: an initialised child; unique handle, borrowed mutably.
        unsafe { &mut *c.add(t) }
    }

    /// Child `t`, mutably, for as long as the node was borrowed (for a descent that returns a
    /// reference from below).
    #[inline]
    pub(crate) fn into_child_mut(self, t: usize) -> &'a mut Node<K, V> {
        let node = self.0;
        let clen = node.head().clen as usize;
        assert!(t < clen, "HAMT: child index out of range");
        // SAFETY: `t < clen`: an initialised child; the handle is unique and borrowed mutably
        // for `'a`, which the returned reference inherits.
        unsafe {
            &mut *node
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(CHILDREN_AT)
                .cast::<Node<K, V>>()
                .add(t)
        }
    }

    /// Entry `r`, mutably, for as long as the node was borrowed.
    #[inline]
    pub(crate) fn into_entry_mut(self, r: usize) -> &'a mut Entry<K, V> {
        let node = self.0;
        let h = node.head();
        let (elen, ccap) = (h.elen as usize, h.ccap);
        assert!(r < elen, "HAMT: entry index out of range");
        // SAFETY: `r < elen`: an initialised entry of the array at `entries_at(ccap)`; unique
        // handle, borrowed mutably for `'a`.
        unsafe {
            &mut *node
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(entries_at::<K, V>(ccap))
                .cast::<Entry<K, V>>()
                .add(r)
        }
    }

    /// Moves the node to a new allocation with `ecap` entry and `ccap` child slots (at least the
    /// live counts). No user code.
    fn resize(&mut self, ecap: u32, ccap: u32) {
        let (datamap, nodemap) = self.maps();
        let (elen, clen) = {
            let h = self.head();
            (h.elen, h.clen)
        };
        debug_assert!(elen <= ecap && clen <= ccap);
        let new = allocate::<K, V>(datamap, nodemap, ecap, ccap);
        let (old_e, old_c) = (self.entries_ptr(), self.children_ptr());
        let old = self.0.ptr;
        let (oldecap, oldccap) = (self.head().ecap, self.head().ccap);
        // SAFETY: the new node has room for `elen` entries and `clen` children; the old ones are
        // moved bit for bit (the new node counts them live, the old one is freed without
        // dropping them); the old node is unique, so no other handle sees it go.
        unsafe {
            let nb = new.as_ptr().cast::<u8>();
            let ne = nb.add(entries_at::<K, V>(ccap)).cast::<Entry<K, V>>();
            let nc = nb.add(CHILDREN_AT).cast::<Node<K, V>>();
            ptr::copy_nonoverlapping(old_e, ne, elen as usize);
            ptr::copy_nonoverlapping(old_c, nc, clen as usize);
            (*new.as_ptr()).elen = elen;
            (*new.as_ptr()).clen = clen;
            ptr::drop_in_place(old.as_ptr());
            alloc::dealloc(old.as_ptr().cast(), layout::<K, V>(oldecap, oldccap));
        }
        self.0.ptr = new;
    }

    /// Inserts `e` at entry index `i`, growing the entry array by one slot if it is full.
    pub(crate) fn insert_entry(&mut self, i: usize, e: Entry<K, V>) {
        let h = self.head();
        let (elen, ecap, ccap) = (h.elen, h.ecap, h.ccap);
        assert!(i <= elen as usize, "HAMT: entry index out of range");
        if elen == ecap {
            self.resize(ecap + 1, ccap);
        }
        let p = self.entries_ptr();
        // SAFETY: `elen < ecap` now: shift `i..elen` up by one inside the array, then fill `i`.
        unsafe {
            ptr::copy(p.add(i), p.add(i + 1), elen as usize - i);
            p.add(i).write(e);
        }
        self.head().elen = elen + 1;
    }

    /// Removes and returns entry `i`; its slot becomes spare.
    pub(crate) fn remove_entry(&mut self, i: usize) -> Entry<K, V> {
        let elen = self.head().elen as usize;
        assert!(i < elen, "HAMT: entry index out of range");
        let p = self.entries_ptr();
        // SAFETY: `i < elen`: read the entry out, close the gap; it is no longer counted live.
        let e = unsafe {
            let e = p.add(i).read();
            ptr::copy(p.add(i + 1), p.add(i), elen - i - 1);
            e
        };
        self.head().elen = elen as u32 - 1;
        e
    }

    /// Inserts `c` at child index `t`, growing the child array by one slot if it is full.
    pub(crate) fn insert_child(&mut self, t: usize, c: Node<K, V>) {
        let h = self.head();
        let (clen, ecap, ccap) = (h.clen, h.ecap, h.ccap);
        assert!(t <= clen as usize, "HAMT: child index out of range");
        if clen == ccap {
            self.resize(ecap, ccap + 1);
        }
        let p = self.children_ptr();
        // SAFETY: `clen < ccap` now: shift `t..clen` up by one, then fill `t`.
        unsafe {
            ptr::copy(p.add(t), p.add(t + 1), clen as usize - t);
            p.add(t).write(c);
        }
        self.head().clen = clen + 1;
    }

    /// Removes and returns child `t`; its slot becomes spare.
    pub(crate) fn remove_child(&mut self, t: usize) -> Node<K, V> {
        let clen = self.head().clen as usize;
        assert!(t < clen, "HAMT: child index out of range");
        let p = self.children_ptr();
        // SAFETY: `t < clen`: read the child out, close the gap; it is no longer counted live.
        let c = unsafe {
            let c = p.add(t).read();
            ptr::copy(p.add(t + 1), p.add(t), clen - t - 1);
            c
        };
        self.head().clen = clen as u32 - 1;
        c
    }

    /// Shrinks the node to its live counts if either array has more than [`MAX_SPARE`] spare
    /// slots.
    pub(crate) fn trim(&mut self) {
        let h = self.head();
        let (elen, clen, ecap, ccap) = (h.elen, h.clen, h.ecap, h.ccap);
        if ecap - elen > MAX_SPARE || ccap - clen > MAX_SPARE {
            self.resize(elen, clen);
        }
    }
}

/// The canonical sub-tree at `depth` for two entries with different keys. No user code.
fn pair<K, V>(depth: u32, e0: Entry<K, V>, e1: Entry<K, V>) -> Node<K, V> {
    if depth == LEVELS {
        let mut b = Builder::new(0, 0, 2, 0);
        b.entry(e0);
        b.entry(e1);
        return b.finish();
    }
    let (b0, b1) = (bit_at(e0.hash, depth), bit_at(e1.hash, depth));
    if b0 == b1 {
        let sub = pair(depth + 1, e0, e1);
        let mut b = Builder::new(0, b0, 0, 1);
        b.child(sub);
        return b.finish();
    }
    let (e0, e1) = if b0 < b1 { (e0, e1) } else { (e1, e0) };
    let mut b = Builder::new(b0 | b1, 0, 2, 0);
    b.entry(e0);
    b.entry(e1);
    b.finish()
}

/// Looks `key` (hash `hash`) up below `node`. The walk tests the child bit before the entry bit,
/// indexes without bounds checks and takes the rank from the sign-bit shift (see [`get_walk`];
/// `docs/hamt.md` has the measured alternatives).
///
/// The x86-64 baseline has no `popcnt` instruction, and `count_ones` then costs about 20
/// instructions a level; where the CPU has it (detected once, cached by std), the lookup runs
/// in a copy compiled with it.
#[inline]
pub(crate) fn get<'a, K, V, Q>(node: &'a Node<K, V>, hash: u64, key: &Q) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    get_walk::<true, true, true, false, K, V, Q>(node, hash, key)
}

/// Looks `key` up with the walk the const parameters choose: `CF` tests the nodemap bit before
/// the datamap bit; `UC` indexes the arrays without bounds checks (the bitmaps' counts equal the
/// live lengths in every node reachable through a shared reference); `SR` computes the rank as
/// the population count of the bitmap shifted left until the slot's bit is bit 31, minus one,
/// and tests the bit as the sign of that shifted map; `BL` (with `CF`) reads the entry at the
/// clamped rank whether or not its bit is set and tests "bit set and stored hash equal" as one
/// branch. The benchmarks time each combination.
#[inline]
pub(crate) fn get_walk<
    'a,
    const CF: bool,
    const UC: bool,
    const SR: bool,
    const BL: bool,
    K,
    V,
    Q,
>(
    node: &'a Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the only obligation of a `target_feature` function is that the CPU has the
        // feature, which was just checked.
        return unsafe { get_popcnt::<CF, UC, SR, BL, K, V, Q>(node, hash, key) };
    }
    get_soft::<CF, UC, SR, BL, K, V, Q>(node, hash, key)
}

/// [`get_impl`] as compiled for the target (a software population count on the x86-64
/// baseline), out of line there so that the caller's fast path stays small: inlined, it made the
/// caller spill registers around the call to the `popcnt` copy, about 2 ns a lookup.
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "popcnt")),
    inline(never)
)]
fn get_soft<'a, const CF: bool, const UC: bool, const SR: bool, const BL: bool, K, V, Q>(
    node: &'a Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    get_impl::<CF, UC, SR, BL, K, V, Q>(node, hash, key)
}

/// [`get_impl`] compiled with `popcnt`.
///
/// # Safety
/// The CPU supports `popcnt`.
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
#[target_feature(enable = "popcnt")]
unsafe fn get_popcnt<'a, const CF: bool, const UC: bool, const SR: bool, const BL: bool, K, V, Q>(
    node: &'a Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    get_impl::<CF, UC, SR, BL, K, V, Q>(node, hash, key)
}

/// Whether `slot`'s bit is set in `map`, and its rank among the set bits (how many are below it).
#[inline(always)]
fn probe<const SR: bool>(map: u32, slot: u32) -> (bool, usize) {
    if SR {
        // The slot's bit lands in bit 31: the sign tells presence, and the bits left in the
        // word are the slot's and those below it.
        let shifted = map << (31 - slot);
        (
            (shifted as i32) < 0,
            (shifted.count_ones() as usize).wrapping_sub(1),
        )
    } else {
        let bit = 1u32 << slot;
        (map & bit != 0, index(map, bit))
    }
}

impl<K, V> Node<K, V> {
    /// Child `t`; without the bounds check when `UC`.
    #[inline(always)]
    fn child_at<const UC: bool>(&self, t: usize) -> &Node<K, V> {
        if !UC {
            return &self.children()[t];
        }
        debug_assert!(t < self.head().clen as usize);
        // SAFETY: callers pass the rank of a set nodemap bit, and in every node reachable
        // through a shared reference the nodemap has exactly `clen` bits set (`NodeMut`
        // changes the two together before the unique borrow ends; `assert_valid` checks it), so
        // `t < clen` and the child is initialised; the array starts at `CHILDREN_AT`.
        unsafe {
            &*self
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(CHILDREN_AT)
                .cast::<Node<K, V>>()
                .add(t)
        }
    }

    /// Entry `r`; without the bounds check when `UC`.
    #[inline(always)]
    fn entry_at<const UC: bool>(&self, r: usize) -> &Entry<K, V> {
        if !UC {
            return &self.entries()[r];
        }
        let h = self.head();
        debug_assert!(r < h.elen as usize);
        // SAFETY: as in `child_at`: `r` is the rank of a set datamap bit, which has exactly
        // `elen` bits set, so `r < elen`; the entries array lies at `entries_at(ccap)`.
        unsafe {
            &*self
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(entries_at::<K, V>(h.ccap))
                .cast::<Entry<K, V>>()
                .add(r)
        }
    }
}

/// The lookup loop.
#[inline(always)]
fn get_impl<'a, const CF: bool, const UC: bool, const SR: bool, const BL: bool, K, V, Q>(
    mut node: &'a Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    let mut depth = 0;
    while depth < LEVELS {
        let (datamap, nodemap) = node.maps();
        let slot = ((hash >> (depth * BITS)) & MASK) as u32;
        if CF {
            let (has_child, t) = probe::<SR>(nodemap, slot);
            if has_child {
                node = node.child_at::<UC>(t);
                depth += 1;
                continue;
            }
        }
        let (has_entry, r) = probe::<SR>(datamap, slot);
        if BL && CF {
            // One branch for "the slot holds an entry with this hash": the entry at a clamped
            // rank is read whether or not the bit is set, so a miss does not branch on the bit.
            let last = node.entries().len().checked_sub(1)?;
            let e = node.entry_at::<UC>(r.min(last));
            return if has_entry & (e.hash == hash) && e.key.borrow() == key {
                Some(e)
            } else {
                None
            };
        }
        if has_entry {
            let e = node.entry_at::<UC>(r);
            return if e.is(hash, key) { Some(e) } else { None };
        }
        if CF {
            return None;
        }
        let (has_child, t) = probe::<SR>(nodemap, slot);
        if !has_child {
            return None;
        }
        node = node.child_at::<UC>(t);
        depth += 1;
    }
    node.entries().iter().find(|e| e.is(hash, key))
}

/// Structural equality; sub-trees shared by pointer are skipped.
pub(crate) fn eq_tree<K: Eq, V: PartialEq>(a: &Node<K, V>, b: &Node<K, V>, depth: u32) -> bool {
    if Node::ptr_eq(a, b) {
        return true;
    }
    if a.maps() != b.maps() {
        return false;
    }
    let (ea, eb) = (a.entries(), b.entries());
    let (ca, cb) = (a.children(), b.children());
    if ea.len() != eb.len() || ca.len() != cb.len() {
        return false;
    }
    if depth == LEVELS {
        return ea.iter().all(|x| {
            eb.iter()
                .any(|y| x.is(y.hash, &y.key) && x.value == y.value)
        });
    }
    ea.iter()
        .zip(eb)
        .all(|(x, y)| x.is(y.hash, &y.key) && x.value == y.value)
        && ca.iter().zip(cb).all(|(x, y)| eq_tree(x, y, depth + 1))
}

/// What a persistent remove found: what is left of the node, and the removed entry.
pub(crate) type Found<'a, K, V> = (Removed<K, V>, &'a Entry<K, V>);

/// What a persistent remove left of a node.
pub(crate) enum Removed<K, V> {
    /// The node, still holding two or more entries (or the root).
    Node(Node<K, V>),
    /// The node is down to this one entry, which belongs inline in its parent.
    Single(Entry<K, V>),
}

/// Persistent insert below `n`. `None` when `key` is present and `same(old, &value)` holds
/// (nothing changes); otherwise the new node and a reference to the replaced value, if any.
#[inline]
pub(crate) fn inserted<K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the only obligation of a `target_feature` function is that the CPU has the
        // feature, which was just checked.
        return unsafe { inserted_popcnt(n, depth, hash, key, value, same) };
    }
    inserted_rec::<false, _, _, _>(n, depth, hash, key, value, same)
}

/// [`inserted_impl`] compiled with `popcnt` (see [`get`]).
///
/// # Safety
/// The CPU supports `popcnt`.
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
#[target_feature(enable = "popcnt")]
unsafe fn inserted_popcnt<K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    inserted_impl::<true, _, _, _>(n, depth, hash, key, value, same)
}

/// [`inserted_impl`] as compiled for the target, out of line on the x86-64 baseline so that
/// the dispatcher's fast path stays small (see [`get_soft`]).
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "popcnt")),
    inline(never)
)]
fn inserted_soft<K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    inserted_impl::<false, _, _, _>(n, depth, hash, key, value, same)
}

/// One level down: the `popcnt` copy stays in the `popcnt` copy without detecting again.
#[inline]
fn inserted_rec<const P: bool, K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if P {
        // SAFETY: `P` is true only in the body as compiled into `inserted_popcnt`, which runs
        // only where the CPU has `popcnt`.
        return unsafe { inserted_popcnt(n, depth, hash, key, value, same) };
    }
    inserted_soft(n, depth, hash, key, value, same)
}

/// The body of [`inserted`].
#[inline(always)]
fn inserted_impl<const P: bool, K, V, F>(
    n: &Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
    same: F,
) -> Option<(Node<K, V>, Option<&V>)>
where
    K: Eq + Clone,
    V: Clone,
    F: FnOnce(&V, &V) -> bool,
{
    let (es, cs) = (n.entries(), n.children());
    if depth == LEVELS {
        let i = es.iter().position(|e| e.is(hash, &key));
        let mut b = Builder::new(0, 0, es.len() + usize::from(i.is_none()), 0);
        let old = match i {
            Some(i) => {
                let e = &es[i];
                if same(&e.value, &value) {
                    return None;
                }
                b.clone_entries(&es[..i]);
                b.entry(Entry {
                    hash,
                    key: e.key.clone(),
                    value,
                });
                b.clone_entries(&es[i + 1..]);
                Some(&e.value)
            }
            None => {
                b.clone_entries(es);
                b.entry(Entry { hash, key, value });
                None
            }
        };
        return Some((b.finish(), old));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &es[r];
        if e.is(hash, &key) {
            if same(&e.value, &value) {
                return None;
            }
            let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
            b.clone_entries(&es[..r]);
            b.entry(Entry {
                hash,
                key: e.key.clone(),
                value,
            });
            b.clone_entries(&es[r + 1..]);
            b.clone_children(cs);
            return Some((b.finish(), Some(&e.value)));
        }
        let sub = pair(depth + 1, e.clone(), Entry { hash, key, value });
        let t = index(nodemap, bit);
        let mut b = Builder::new(datamap ^ bit, nodemap | bit, es.len() - 1, cs.len() + 1);
        b.clone_entries(&es[..r]);
        b.clone_entries(&es[r + 1..]);
        b.clone_children(&cs[..t]);
        b.child(sub);
        b.clone_children(&cs[t..]);
        return Some((b.finish(), None));
    }
    if nodemap & bit != 0 {
        let t = index(nodemap, bit);
        let (sub, old) = inserted_rec::<P, _, _, _>(&cs[t], depth + 1, hash, key, value, same)?;
        let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
        b.clone_entries(es);
        b.clone_children(&cs[..t]);
        b.child(sub);
        b.clone_children(&cs[t + 1..]);
        return Some((b.finish(), old));
    }
    let r = index(datamap, bit);
    let mut b = Builder::new(datamap | bit, nodemap, es.len() + 1, cs.len());
    b.clone_entries(&es[..r]);
    b.entry(Entry { hash, key, value });
    b.clone_entries(&es[r..]);
    b.clone_children(cs);
    Some((b.finish(), None))
}

/// What an in-place insert returns: the replaced value, if any, and a node handle the insert
/// took out of the trie (a shared node replaced by its changed copy), which the caller drops
/// once the whole map is consistent again: other maps may have dropped their handles since
/// (user `Clone` can), and then dropping it runs the entries' `Drop`.
pub(crate) type InsertedMut<K, V> = (Option<V>, Option<Node<K, V>>);

/// Insert below `node` in place where this handle owns the node alone, through a persistent
/// copy of the sub-tree where it is shared. Uniqueness is checked at every level: a node owned
/// alone may still hold a child that another map shares.
#[inline]
pub(crate) fn insert_mut<K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the only obligation of a `target_feature` function is that the CPU has the
        // feature, which was just checked.
        return unsafe { insert_mut_popcnt(node, depth, hash, key, value) };
    }
    insert_mut_rec::<false, _, _>(node, depth, hash, key, value)
}

/// [`insert_mut_impl`] compiled with `popcnt` (see [`get`]).
///
/// # Safety
/// The CPU supports `popcnt`.
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
#[target_feature(enable = "popcnt")]
unsafe fn insert_mut_popcnt<K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    insert_mut_impl::<true, _, _>(node, depth, hash, key, value)
}

/// [`insert_mut_impl`] as compiled for the target, out of line on the x86-64 baseline so that
/// the dispatcher's fast path stays small (see [`get_soft`]).
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "popcnt")),
    inline(never)
)]
fn insert_mut_soft<K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    insert_mut_impl::<false, _, _>(node, depth, hash, key, value)
}

/// One level down: the `popcnt` copy stays in the `popcnt` copy without detecting again.
#[inline]
fn insert_mut_rec<const P: bool, K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if P {
        // SAFETY: `P` is true only in the body as compiled into `insert_mut_popcnt`, which runs
        // only where the CPU has `popcnt`.
        return unsafe { insert_mut_popcnt(node, depth, hash, key, value) };
    }
    insert_mut_soft(node, depth, hash, key, value)
}

/// The body of [`insert_mut`].
#[inline(always)]
fn insert_mut_impl<const P: bool, K, V>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: K,
    value: V,
) -> InsertedMut<K, V>
where
    K: Eq + Clone,
    V: Clone,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(mut n) = node.get_mut() else {
        let (new, old) = inserted_rec::<P, _, _, _>(node, depth, hash, key, value, |_, _| false)
            .expect("an insert that never compares values always changes the node");
        let old = old.cloned();
        // The old handle goes to the caller: see `InsertedMut`.
        return (old, Some(mem::replace(node, new)));
    };
    if depth == LEVELS {
        if let Some(e) = n.entries_mut().iter_mut().find(|e| e.is(hash, &key)) {
            return (Some(mem::replace(&mut e.value, value)), None);
        }
        let end = n.entries().len();
        n.insert_entry(end, Entry { hash, key, value });
        return (None, None);
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &mut n.entries_mut()[r];
        if e.is(hash, &key) {
            return (Some(mem::replace(&mut e.value, value)), None);
        }
        // No user code from here on. The entry at `r` moves into a new sub-node at `t`.
        let t = index(nodemap, bit);
        let e0 = n.remove_entry(r);
        n.insert_child(t, pair(depth + 1, e0, Entry { hash, key, value }));
        n.set_maps(datamap ^ bit, nodemap | bit);
        n.trim();
        return (None, None);
    }
    if nodemap & bit != 0 {
        let t = index(nodemap, bit);
        return insert_mut_rec::<P, _, _>(n.child_mut(t), depth + 1, hash, key, value);
    }
    n.insert_entry(index(datamap, bit), Entry { hash, key, value });
    n.set_maps(datamap | bit, nodemap);
    (None, None)
}

/// Persistent remove below `n`. `None` when `key` is absent; otherwise what is left of the node
/// and a reference to the removed entry. A `root` never collapses to `Single`.
#[inline]
pub(crate) fn removed<'a, K, V, Q>(
    n: &'a Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the only obligation of a `target_feature` function is that the CPU has the
        // feature, which was just checked.
        return unsafe { removed_popcnt(n, depth, hash, key, root) };
    }
    removed_rec::<false, _, _, _>(n, depth, hash, key, root)
}

/// [`removed_impl`] compiled with `popcnt` (see [`get`]).
///
/// # Safety
/// The CPU supports `popcnt`.
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
#[target_feature(enable = "popcnt")]
unsafe fn removed_popcnt<'a, K, V, Q>(
    n: &'a Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    removed_impl::<true, _, _, _>(n, depth, hash, key, root)
}

/// [`removed_impl`] as compiled for the target, out of line on the x86-64 baseline so that
/// the dispatcher's fast path stays small (see [`get_soft`]).
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "popcnt")),
    inline(never)
)]
fn removed_soft<'a, K, V, Q>(
    n: &'a Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    removed_impl::<false, _, _, _>(n, depth, hash, key, root)
}

/// One level down: the `popcnt` copy stays in the `popcnt` copy without detecting again.
#[inline]
fn removed_rec<'a, const P: bool, K, V, Q>(
    n: &'a Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if P {
        // SAFETY: `P` is true only in the body as compiled into `removed_popcnt`, which runs
        // only where the CPU has `popcnt`.
        return unsafe { removed_popcnt(n, depth, hash, key, root) };
    }
    removed_soft(n, depth, hash, key, root)
}

/// The body of [`removed`].
#[inline(always)]
fn removed_impl<'a, const P: bool, K, V, Q>(
    n: &'a Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<Found<'a, K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    let (es, cs) = (n.entries(), n.children());
    if depth == LEVELS {
        let i = es.iter().position(|e| e.is(hash, key))?;
        let out = if es.len() == 2 {
            Removed::Single(es[1 - i].clone())
        } else {
            let mut b = Builder::new(0, 0, es.len() - 1, 0);
            b.clone_entries(&es[..i]);
            b.clone_entries(&es[i + 1..]);
            Removed::Node(b.finish())
        };
        return Some((out, &es[i]));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        let e = &es[r];
        if !e.is(hash, key) {
            return None;
        }
        let out = if !root && es.len() == 2 && cs.is_empty() {
            Removed::Single(es[1 - r].clone())
        } else {
            let mut b = Builder::new(datamap ^ bit, nodemap, es.len() - 1, cs.len());
            b.clone_entries(&es[..r]);
            b.clone_entries(&es[r + 1..]);
            b.clone_children(cs);
            Removed::Node(b.finish())
        };
        return Some((out, e));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let t = index(nodemap, bit);
    let (r, e) = removed_rec::<P, _, _, _>(&cs[t], depth + 1, hash, key, false)?;
    let out = match r {
        Removed::Node(sub) => {
            let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
            b.clone_entries(es);
            b.clone_children(&cs[..t]);
            b.child(sub);
            b.clone_children(&cs[t + 1..]);
            Removed::Node(b.finish())
        }
        Removed::Single(s) if !root && es.is_empty() && cs.len() == 1 => Removed::Single(s),
        Removed::Single(s) => {
            let dm = datamap | bit;
            let p = index(dm, bit);
            let mut b = Builder::new(dm, nodemap ^ bit, es.len() + 1, cs.len() - 1);
            b.clone_entries(&es[..p]);
            b.entry(s);
            b.clone_entries(&es[p..]);
            b.clone_children(&cs[..t]);
            b.clone_children(&cs[t + 1..]);
            Removed::Node(b.finish())
        }
    };
    Some((out, e))
}

/// What an in-place remove returns: the removed entry; when the (non-root) node is left with a
/// single entry, that entry, which the caller must inline; and a node handle the remove took out
/// of the trie, which the caller drops once the whole map is consistent again (it may be the
/// last handle to a node that other maps shared, and dropping it runs the entries' `Drop`).
pub(crate) type RemovedMut<K, V> = (Entry<K, V>, Option<Entry<K, V>>, Option<Node<K, V>>);

/// In-place remove below `node` (persistent where shared, checked at every level).
#[inline]
pub(crate) fn remove_mut<K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the only obligation of a `target_feature` function is that the CPU has the
        // feature, which was just checked.
        return unsafe { remove_mut_popcnt(node, depth, hash, key, root) };
    }
    remove_mut_rec::<false, _, _, _>(node, depth, hash, key, root)
}

/// [`remove_mut_impl`] compiled with `popcnt` (see [`get`]).
///
/// # Safety
/// The CPU supports `popcnt`.
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
#[target_feature(enable = "popcnt")]
unsafe fn remove_mut_popcnt<K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    remove_mut_impl::<true, _, _, _>(node, depth, hash, key, root)
}

/// [`remove_mut_impl`] as compiled for the target, out of line on the x86-64 baseline so that
/// the dispatcher's fast path stays small (see [`get_soft`]).
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "popcnt")),
    inline(never)
)]
fn remove_mut_soft<K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    remove_mut_impl::<false, _, _, _>(node, depth, hash, key, root)
}

/// One level down: the `popcnt` copy stays in the `popcnt` copy without detecting again.
#[inline]
fn remove_mut_rec<const P: bool, K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    if P {
        // SAFETY: `P` is true only in the body as compiled into `remove_mut_popcnt`, which runs
        // only where the CPU has `popcnt`.
        return unsafe { remove_mut_popcnt(node, depth, hash, key, root) };
    }
    remove_mut_soft(node, depth, hash, key, root)
}

/// The body of [`remove_mut`].
#[inline(always)]
fn remove_mut_impl<const P: bool, K, V, Q>(
    node: &mut Node<K, V>,
    depth: u32,
    hash: u64,
    key: &Q,
    root: bool,
) -> Option<RemovedMut<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    // The uniqueness check: see `docs/hamt.md` and `loom_models.rs`.
    let Some(mut n) = node.get_mut() else {
        let (r, e) = removed_rec::<P, _, _, _>(node, depth, hash, key, root)?;
        // Clone before changing anything: `Clone` may panic.
        let out = e.clone();
        return Some(match r {
            // The old handle goes to the caller: see `RemovedMut`.
            Removed::Node(new) => (out, None, Some(mem::replace(node, new))),
            Removed::Single(s) => (out, Some(s), None),
        });
    };
    if depth == LEVELS {
        let i = n.entries().iter().position(|e| e.is(hash, key))?;
        let out = n.remove_entry(i);
        if n.entries().len() == 1 {
            return Some((out, Some(n.remove_entry(0)), None));
        }
        n.trim();
        return Some((out, None, None));
    }
    let (datamap, nodemap) = n.maps();
    let bit = bit_at(hash, depth);
    if datamap & bit != 0 {
        let r = index(datamap, bit);
        if !n.entries()[r].is(hash, key) {
            return None;
        }
        let out = n.remove_entry(r);
        if !root && n.lens() == (1, 0) {
            return Some((out, Some(n.remove_entry(0)), None));
        }
        n.set_maps(datamap ^ bit, nodemap);
        n.trim();
        return Some((out, None, None));
    }
    if nodemap & bit == 0 {
        return None;
    }
    let t = index(nodemap, bit);
    let (out, single, garbage) =
        remove_mut_rec::<P, _, _, _>(n.child_mut(t), depth + 1, hash, key, false)?;
    let Some(single) = single else {
        return Some((out, None, garbage));
    };
    if !root && n.lens() == (0, 1) {
        // This node held only that sub-node: it is down to one entry as well.
        return Some((out, Some(single), garbage));
    }
    // The sub-node at `t` becomes an entry at `p`. The sub-node's handle is not dropped here:
    // it may be the last one to a node another map shared (that map may have been dropped by
    // user code since), and its entries' `Drop` must not run, or unwind, before the bitmaps
    // agree with the live counts again. A sub-node that returned `single` hands back no garbage
    // of its own (only a node replaced by a copy does, and that one returns no `single`).
    debug_assert!(garbage.is_none());
    let dm = datamap | bit;
    let old = n.remove_child(t);
    n.insert_entry(index(dm, bit), single);
    n.set_maps(dm, nodemap ^ bit);
    n.trim();
    Some((out, None, Some(old)))
}

/// Makes `node` owned by this handle alone: a shared node is replaced by a copy (clones of its
/// entries, new handles to its children). The copy is complete before it replaces the handle,
/// so a panicking `Clone` leaves `node` as it was.
fn make_unique<K: Clone, V: Clone>(node: &mut Node<K, V>) -> NodeMut<'_, K, V> {
    if node.get_mut().is_none() {
        let (datamap, nodemap) = node.maps();
        let (es, cs) = (node.entries(), node.children());
        let mut b = Builder::new(datamap, nodemap, es.len(), cs.len());
        b.clone_entries(es);
        b.clone_children(cs);
        *node = b.finish();
    }
    node.get_mut().expect("a node just copied has one handle")
}

/// The entry for `key` below `node`, mutably, copying each shared node on the way down (the
/// caller has checked that the key is present, so every copy is needed). Uniqueness is checked at
/// every level, as in [`insert_mut`].
pub(crate) fn entry_mut<'a, K, V, Q>(
    mut node: &'a mut Node<K, V>,
    hash: u64,
    key: &Q,
) -> Option<&'a mut Entry<K, V>>
where
    K: Borrow<Q> + Clone,
    V: Clone,
    Q: Eq + ?Sized,
{
    let mut depth = 0;
    loop {
        let n = make_unique(node);
        if depth == LEVELS {
            let i = n.entries().iter().position(|e| e.is(hash, key))?;
            return Some(n.into_entry_mut(i));
        }
        let (datamap, nodemap) = n.maps();
        let bit = bit_at(hash, depth);
        if datamap & bit != 0 {
            let r = index(datamap, bit);
            if !n.entries()[r].is(hash, key) {
                return None;
            }
            return Some(n.into_entry_mut(r));
        }
        if nodemap & bit == 0 {
            return None;
        }
        node = n.into_child_mut(index(nodemap, bit));
        depth += 1;
    }
}

/// Number of entries below `node`. O(entries).
pub(crate) fn count<K, V>(node: &Node<K, V>) -> usize {
    node.entries().len() + node.children().iter().map(count).sum::<usize>()
}

/// Looks `key` up below `node`, which sits at `depth`.
fn get_below<'a, K, V, Q>(
    mut node: &'a Node<K, V>,
    mut depth: u32,
    hash: u64,
    key: &Q,
) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    while depth < LEVELS {
        let (datamap, nodemap) = node.maps();
        let bit = bit_at(hash, depth);
        if datamap & bit != 0 {
            let e = &node.entries()[index(datamap, bit)];
            return if e.is(hash, key) { Some(e) } else { None };
        }
        if nodemap & bit == 0 {
            return None;
        }
        node = &node.children()[index(nodemap, bit)];
        depth += 1;
    }
    node.entries().iter().find(|e| e.is(hash, key))
}

/// One slot of a union being built: an entry, or a sub-node.
enum Merged<K, V> {
    Entry(Entry<K, V>),
    Child(Node<K, V>),
}

/// The union of two sub-tries at `depth` whose keys were hashed by the same function, as a new
/// node. Keys in both get `f(key, a's value, b's value)`, stored with `a`'s key; sub-tries that
/// are the same node on both sides are shared as they are, without calling `f`. Adds to `added`
/// the number of `b`'s keys that `a` lacks. Never changes `a` or `b`; a panicking `f` or `Clone`
/// drops what was built so far.
pub(crate) fn union<K, V, F>(
    a: &Node<K, V>,
    b: &Node<K, V>,
    depth: u32,
    f: &mut F,
    added: &mut usize,
) -> Node<K, V>
where
    K: Eq + Clone,
    V: Clone,
    F: FnMut(&K, &V, &V) -> V,
{
    if Node::ptr_eq(a, b) {
        return a.clone();
    }
    let (ea, eb) = (a.entries(), b.entries());
    if depth == LEVELS {
        // Collision nodes of one hash: a's entries (merged where b has the key), then b's others.
        let mut out: Vec<Entry<K, V>> = Vec::with_capacity(ea.len() + eb.len());
        for x in ea {
            match eb.iter().find(|y| x.is(y.hash, &y.key)) {
                Some(y) => out.push(Entry {
                    hash: x.hash,
                    key: x.key.clone(),
                    value: f(&x.key, &x.value, &y.value),
                }),
                None => out.push(x.clone()),
            }
        }
        for y in eb {
            if !ea.iter().any(|x| x.is(y.hash, &y.key)) {
                out.push(y.clone());
                *added += 1;
            }
        }
        let mut nb = Builder::new(0, 0, out.len(), 0);
        for e in out {
            nb.entry(e);
        }
        return nb.finish();
    }
    let (da, na) = a.maps();
    let (db, nb_) = b.maps();
    let (ca, cb) = (a.children(), b.children());
    let mut slots: Vec<Merged<K, V>> =
        Vec::with_capacity(((da | na) | (db | nb_)).count_ones() as usize);
    let (mut datamap, mut nodemap) = (0u32, 0u32);
    let mut all = da | na | db | nb_;
    while all != 0 {
        let bit = all & all.wrapping_neg();
        all &= all - 1;
        let m = if da & bit != 0 {
            let x = &ea[index(da, bit)];
            if db & bit != 0 {
                let y = &eb[index(db, bit)];
                if x.is(y.hash, &y.key) {
                    Merged::Entry(Entry {
                        hash: x.hash,
                        key: x.key.clone(),
                        value: f(&x.key, &x.value, &y.value),
                    })
                } else {
                    *added += 1;
                    Merged::Child(pair(depth + 1, x.clone(), y.clone()))
                }
            } else if nb_ & bit != 0 {
                // a's entry goes into b's sub-trie.
                let c = &cb[index(nb_, bit)];
                let (value, found) = match get_below(c, depth + 1, x.hash, &x.key) {
                    Some(y) => (f(&x.key, &x.value, &y.value), true),
                    None => (x.value.clone(), false),
                };
                *added += count(c) - usize::from(found);
                let (n, _) = inserted(c, depth + 1, x.hash, x.key.clone(), value, |_, _| false)
                    .expect("an insert that never compares values always changes the node");
                Merged::Child(n)
            } else {
                Merged::Entry(x.clone())
            }
        } else if na & bit != 0 {
            let c = &ca[index(na, bit)];
            if db & bit != 0 {
                // b's entry goes into a's sub-trie.
                let y = &eb[index(db, bit)];
                let (key, value) = match get_below(c, depth + 1, y.hash, &y.key) {
                    Some(x) => (x.key.clone(), f(&x.key, &x.value, &y.value)),
                    None => {
                        *added += 1;
                        (y.key.clone(), y.value.clone())
                    }
                };
                let (n, _) = inserted(c, depth + 1, y.hash, key, value, |_, _| false)
                    .expect("an insert that never compares values always changes the node");
                Merged::Child(n)
            } else if nb_ & bit != 0 {
                Merged::Child(union(c, &cb[index(nb_, bit)], depth + 1, f, added))
            } else {
                Merged::Child(c.clone())
            }
        } else if db & bit != 0 {
            *added += 1;
            Merged::Entry(eb[index(db, bit)].clone())
        } else {
            let c = &cb[index(nb_, bit)];
            *added += count(c);
            Merged::Child(c.clone())
        };
        match m {
            Merged::Entry(_) => datamap |= bit,
            Merged::Child(_) => nodemap |= bit,
        }
        slots.push(m);
    }
    let (elen, clen) = (datamap.count_ones() as usize, nodemap.count_ones() as usize);
    let mut out = Builder::new(datamap, nodemap, elen, clen);
    let mut children = Vec::with_capacity(clen);
    for m in slots {
        match m {
            Merged::Entry(e) => out.entry(e),
            Merged::Child(c) => children.push(c),
        }
    }
    for c in children {
        out.child(c);
    }
    out.finish()
}
