//! A pass-through hasher and a key with a chosen hash.
//!
//! A map generic over `S: BuildHasher` reaches any trie shape through these: a [`Ck`] hashed by
//! [`Pass`] lands exactly where its `hash` field says, so tests build deep paths and full-width
//! collisions on purpose while the map keeps its real layout.

use core::hash::{BuildHasher, Hash, Hasher};

/// Builds [`PassHasher`]s: a written `u64` is the hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass;

/// Returns the last `u64` written to it; other writes fold their bytes in.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassHasher(u64);

impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for Pass {
    type Hasher = PassHasher;
    fn build_hasher(&self) -> PassHasher {
        PassHasher(0)
    }
}

/// A key whose hash the test chooses: equal by `id` and `hash`, hashed as `hash` alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ck {
    /// Tells keys with one hash apart.
    pub id: u32,
    /// The hash [`Pass`] reports for this key.
    pub hash: u64,
}

impl Hash for Ck {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// `Ck { id, hash }`.
pub fn ck(id: u32, hash: u64) -> Ck {
    Ck { id, hash }
}
