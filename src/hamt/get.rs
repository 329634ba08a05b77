//! Lookups: the `get` walks and structural equality.

use super::node::{index, Entry, Node, BITS, LEVELS, MASK};
use super::popcnt::popcnt_dispatch;
use core::borrow::Borrow;

/// Looks `key` (hash `hash`) up below `node`. The walk tests the child bit before the entry bit,
/// indexes without bounds checks and takes the rank from the sign-bit shift (see [`get_walk`];
/// `docs/hamt.md` has the measured alternatives).
///
/// Where the CPU has `popcnt` and the target does not, the lookup runs in a copy compiled with
/// it (see the `popcnt` module).
#[inline]
pub(crate) fn get<'a, K, V, Q>(node: &'a Node<K, V>, hash: u64, key: &Q) -> Option<&'a Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    get_walk::<true, true, true, false, K, V, Q>(node, hash, key)
}

popcnt_dispatch! {
    /// Looks `key` up with the walk the const parameters choose: `CF` tests the nodemap bit
    /// before the datamap bit; `UC` indexes the arrays without bounds checks (the bitmaps' counts
    /// equal the live lengths in every node reachable through a shared reference); `SR` computes
    /// the rank as the population count of the bitmap shifted left until the slot's bit is bit
    /// 31, minus one, and tests the bit as the sign of that shifted map; `BL` (with `CF`) reads
    /// the entry at the clamped rank whether or not its bit is set and tests "bit set and stored
    /// hash equal" as one branch. The benchmarks time each combination.
    pub(crate) fn get_walk['a; CF, UC, SR, BL; K, V, Q](
        node: &'a Node<K, V>,
        hash: u64,
        key: &Q,
    ) -> Option<&'a Entry<K, V>>
    where [K: Borrow<Q>, Q: Eq + ?Sized,]
    => get_impl, get_popcnt, get_soft;
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

/// The lookup loop.
#[inline(always)]
fn get_impl<
    'a,
    const P: bool,
    const CF: bool,
    const UC: bool,
    const SR: bool,
    const BL: bool,
    K,
    V,
    Q,
>(
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
