//! Placeholder; replaced by the registry benchmark.
fn main() {}
