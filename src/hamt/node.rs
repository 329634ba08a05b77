//! CHAMP nodes: the allocation layout, the reference-counted [`Node`] handle, the [`Builder`]
//! that fills a new node and the [`NodeMut`] that changes an unshared one in place. The
//! algorithms on them are in the sibling files `get`, `insert`, `remove` and `union`.
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
//! algorithms build new nodes and never touch old ones (a [`Builder`] that unwinds drops what it
//! holds and frees its allocation); the in-place ones do all their comparisons first and
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
pub(crate) const MASK: u64 = (1 << BITS) - 1;
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
    pub(crate) fn into_child_mut(mut self, t: usize) -> &'a mut Node<K, V> {
        let clen = self.head().clen as usize;
        assert!(t < clen, "HAMT: child index out of range");
        let c = self.children_ptr();
        // SAFETY: `t < clen`: an initialised child; the handle is unique and borrowed mutably
        // for `'a`, and `self` is consumed, so the returned reference inherits that borrow.
        unsafe { &mut *c.add(t) }
    }

    /// Entry `r`, mutably, for as long as the node was borrowed.
    #[inline]
    pub(crate) fn into_entry_mut(mut self, r: usize) -> &'a mut Entry<K, V> {
        let elen = self.head().elen as usize;
        assert!(r < elen, "HAMT: entry index out of range");
        let e = self.entries_ptr();
        // SAFETY: `r < elen`: an initialised entry; the handle is unique and borrowed mutably
        // for `'a`, and `self` is consumed, so the returned reference inherits that borrow.
        unsafe { &mut *e.add(r) }
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

impl<K, V> Node<K, V> {
    /// Child `t`; without the bounds check when `UC`.
    #[inline(always)]
    pub(crate) fn child_at<const UC: bool>(&self, t: usize) -> &Node<K, V> {
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
    pub(crate) fn entry_at<const UC: bool>(&self, r: usize) -> &Entry<K, V> {
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
