//! `arbitrary` support (feature `arbitrary`): a cargo-fuzz target can take a [`Hamt`] as input.
//!
//! The map is built from an arbitrary sequence of `(K, V)` pairs by in-place inserts into a map
//! with `S::default()`, so every shape the pairs can produce is reachable, and a key drawn twice
//! keeps its last value.

use core::hash::{BuildHasher, Hash};

use arbitrary::{Arbitrary, Result, Unstructured};

use super::map::Hamt;

#[cfg_attr(docsrs, doc(cfg(feature = "arbitrary")))]
impl<'a, K, V, S> Arbitrary<'a> for Hamt<K, V, S>
where
    K: Arbitrary<'a> + Hash + Eq + Clone,
    V: Arbitrary<'a> + Clone,
    S: BuildHasher + Default,
{
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut map = Hamt::with_hasher(S::default());
        for pair in u.arbitrary_iter::<(K, V)>()? {
            let (k, v) = pair?;
            map.insert_mut(k, v);
        }
        Ok(map)
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> Result<Self> {
        let mut map = Hamt::with_hasher(S::default());
        for pair in u.arbitrary_take_rest_iter::<(K, V)>()? {
            let (k, v) = pair?;
            map.insert_mut(k, v);
        }
        Ok(map)
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        // Any length, down to none.
        (0, None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::map::Hamt;
    use crate::support::rng::Rng;
    use arbitrary::{Arbitrary, Unstructured};
    use std::collections::HashMap;

    /// The map agrees with a `HashMap` built from the same bytes by the same rules.
    #[test]
    fn arbitrary_map_matches_the_pairs_it_was_built_from() {
        let mut rng = Rng::new(7);
        for len in [0usize, 1, 7, 64, 1000, 5000] {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let m = Hamt::<u8, u16>::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
            let model = HashMap::<u8, u16>::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
            m.assert_valid();
            assert_eq!(m.len(), model.len(), "{len} bytes");
            assert!(model.iter().all(|(k, v)| m.get(k) == Some(v)));
            let rest = Hamt::<u16, u8>::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
            let model_rest =
                HashMap::<u16, u8>::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
            rest.assert_valid();
            assert_eq!(rest.len(), model_rest.len());
            assert!(model_rest.iter().all(|(k, v)| rest.get(k) == Some(v)));
        }
        // Input laid out as "continue, key, value" records gives exactly those entries.
        let bytes: Vec<u8> = (0..300u16)
            .flat_map(|k| {
                let [lo, hi] = k.to_le_bytes();
                [1, lo, hi, k as u8 ^ 0x5a]
            })
            .collect();
        let big = Hamt::<u16, u8>::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        big.assert_valid();
        assert_eq!(big.len(), 300);
        assert!((0..300u16).all(|k| big.get(&k) == Some(&(k as u8 ^ 0x5a))));
    }
}
