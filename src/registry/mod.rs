//! `registry` (in progress).
