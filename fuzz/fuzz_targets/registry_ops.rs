#![no_main]
// Op sequences from the fuzzer against the HashSet model (the same routine as the proptest).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loopkit::registry::ops::run(&loopkit::registry::ops::decode(data)));
