//! Placeholder; replaced by the HAMT memory-per-entry benchmark.
fn main() {}
