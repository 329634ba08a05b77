//! `hamt` (in progress).
