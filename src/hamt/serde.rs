//! `serde` support (feature `serde`): a [`Hamt`] serializes as a map and deserializes from one.
//!
//! Serialization walks the trie in its iteration order; deserialization inserts in place, one
//! entry at a time, into a map built with `S::default()`. A key that appears twice keeps its
//! last value, as with `std::collections::HashMap`.

use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::map::Hamt;

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<K: Serialize, V: Serialize, S> Serialize for Hamt<K, V, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de, K, V, S> Deserialize<'de> for Hamt<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq + Clone,
    V: Deserialize<'de> + Clone,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HamtVisitor(PhantomData))
    }
}

/// Builds the map; `fn() -> _` keeps the visitor `Send`/`Sync` whatever `K`, `V`, `S` are.
struct HamtVisitor<K, V, S>(Produces<Hamt<K, V, S>>);

type Produces<T> = PhantomData<fn() -> T>;

impl<'de, K, V, S> Visitor<'de> for HamtVisitor<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq + Clone,
    V: Deserialize<'de> + Clone,
    S: BuildHasher + Default,
{
    type Value = Hamt<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Hamt::with_hasher(S::default());
        while let Some((k, v)) = access.next_entry()? {
            map.insert_mut(k, v);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::super::map::Hamt;
    use crate::support::hash::Pass;

    #[test]
    fn json_round_trip() {
        let m: Hamt<String, Vec<u32>> = (0..200u32)
            .map(|i| (format!("key{i}"), vec![i; (i % 4) as usize]))
            .collect();
        let json = serde_json::to_string(&m).unwrap();
        let back: Hamt<String, Vec<u32>> = serde_json::from_str(&json).unwrap();
        back.assert_valid();
        assert_eq!(back, m);
        assert_eq!(serde_json::to_string(&back).unwrap().len(), json.len());
        // Integer keys (quoted by JSON) and an empty map.
        let n: Hamt<u64, u64> = (0..1000).map(|i| (i * 7919, i)).collect();
        let back: Hamt<u64, u64> =
            serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
        let e: Hamt<u8, u8> = serde_json::from_str("{}").unwrap();
        assert!(e.is_empty());
    }

    #[test]
    fn deserialize_last_duplicate_wins_and_errors_are_reported() {
        let m: Hamt<String, u8> = serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!((m.len(), m.get("a"), m.get("b")), (2, Some(&3), Some(&2)));
        assert!(serde_json::from_str::<Hamt<String, u8>>("[1, 2]").is_err());
        assert!(serde_json::from_str::<Hamt<String, u8>>(r#"{"a": 300}"#).is_err());
    }

    #[test]
    fn round_trip_through_deep_paths_and_collisions() {
        // `Pass` hashes a `u64` to itself: keys that differ only in high bits share every level
        // but the last (and collide where the trie uses fewer hash bits than 64).
        let keys = [
            0u64,
            1 << 12,
            1 << 40,
            1 << 63,
            5,
            5 | 1 << 63,
            (1 << 63) | (1 << 40),
        ];
        let m: Hamt<u64, u64, Pass> = keys.iter().map(|&k| (k, !k)).collect();
        let json = serde_json::to_string(&m).unwrap();
        let back: Hamt<u64, u64, Pass> = serde_json::from_str(&json).unwrap();
        back.assert_valid();
        assert_eq!(back, m);
        assert_eq!(back.len(), keys.len());
    }
}
