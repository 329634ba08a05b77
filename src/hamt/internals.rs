//! Internals exposed, hidden, for the benchmarks and downstream checks (`hamt::__layout`,
//! `hamt::__walks`). Not part of the API.

/// The trie's layout as this build compiled it, for checks outside the crate (a downstream build
/// must get the real layout whatever cfgs it sets). Not part of the API.
#[doc(hidden)]
pub mod layout {
    /// Hash bits consumed per level (a node has `1 << BITS` slots).
    pub const BITS: u32 = super::super::node::BITS;
    /// Hash bits used in all; past them, equal-hash keys share a collision node.
    pub const HASH_BITS: u32 = super::super::node::HASH_BITS;
    /// Bitmap levels above the collision nodes.
    pub const LEVELS: u32 = super::super::node::LEVELS;
}

/// The lookup walks the benchmarks compare (`benches/hamt.rs`, `HAMT_WALKS`). Not part of the API.
#[doc(hidden)]
pub mod walks {
    use super::super::get;
    use super::super::map::Hamt;
    use super::super::node::hash_key;
    use core::borrow::Borrow;
    use core::hash::{BuildHasher, Hash};

    /// [`Hamt::get`] with the walk the const parameters choose: `CF` tests the child bit first,
    /// `UC` skips the bounds checks, `SR` takes the rank from the sign-bit shift, `BL` tests an
    /// entry slot with one branch. `get::<true, true, true, false, ..>` is the walk `Hamt::get`
    /// uses.
    #[inline]
    pub fn get<'a, const CF: bool, const UC: bool, const SR: bool, const BL: bool, K, V, S, Q>(
        map: &'a Hamt<K, V, S>,
        key: &Q,
    ) -> Option<&'a V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        S: BuildHasher,
    {
        let hash = hash_key(&*map.hasher, key);
        get::get_walk::<CF, UC, SR, BL, K, V, Q>(&map.root, hash, key).map(|e| &e.value)
    }
}
