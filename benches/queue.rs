//! Placeholder; replaced by the queue benchmark.
fn main() {}
