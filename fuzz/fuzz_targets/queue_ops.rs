#![no_main]
//! Op sequences from the fuzzer, applied to the queue and a `VecDeque` model (the same routine
//! as the proptest in `src/queue/tests.rs`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loopkit::queue::ops::run(&loopkit::queue::ops::decode(data)));
