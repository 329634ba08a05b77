//! Placeholder; replaced by the hamt benchmark.
fn main() {}
