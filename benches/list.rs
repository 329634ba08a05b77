//! Placeholder; replaced by the list benchmark.
fn main() {}
