//! `list` (in progress).
