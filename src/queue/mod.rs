//! `queue` (in progress).
