//! The default hasher of [`Hamt`](super::Hamt).

use core::fmt;
use core::hash::{BuildHasher, Hasher};

/// The default [`BuildHasher`] of [`Hamt`](super::Hamt): a fast, randomly seeded hasher for in-memory maps
/// (it is not meant to resist hash flooding by an attacker who sees timings). Each
/// `DefaultHashBuilder::default()` gets its own seed; clones hash alike. (hashbrown's name: it
/// builds hashers, it is not one; the [`Hasher`] it builds is [`HamtHasher`].)
///
/// # Examples
///
/// ```
/// use core::hash::BuildHasher;
/// use loopkit::hamt::DefaultHashBuilder;
///
/// let s = DefaultHashBuilder::default();
/// assert_eq!(s.hash_one(7u64), s.clone().hash_one(7u64));
/// ```
#[derive(Clone, Default, Debug)]
pub struct DefaultHashBuilder(foldhash::fast::RandomState);

/// The former name of [`DefaultHashBuilder`].
#[deprecated(
    since = "0.1.1",
    note = "renamed `DefaultHashBuilder`: it is a `BuildHasher`, where std's `DefaultHasher` is a `Hasher`"
)]
pub type DefaultHasher = DefaultHashBuilder;

impl BuildHasher for DefaultHashBuilder {
    type Hasher = HamtHasher;
    #[inline]
    fn build_hasher(&self) -> HamtHasher {
        HamtHasher(self.0.build_hasher())
    }
}

/// The [`Hasher`] that [`DefaultHashBuilder`] builds.
///
/// # Examples
///
/// ```
/// use core::hash::{BuildHasher, Hasher};
/// use loopkit::hamt::DefaultHashBuilder;
///
/// let mut h = DefaultHashBuilder::default().build_hasher();
/// h.write_u32(1);
/// let _ = h.finish();
/// ```
#[derive(Clone)]
pub struct HamtHasher(foldhash::fast::FoldHasher<'static>);

impl fmt::Debug for HamtHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HamtHasher").finish_non_exhaustive()
    }
}

impl Hasher for HamtHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i)
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.0.write_u16(i)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i)
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.0.write_u128(i)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i)
    }
}
