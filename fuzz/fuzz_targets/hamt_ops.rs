#![no_main]
// Op sequences from the fuzzer, checked against a std HashMap model after every step by the
// same routine the proptest uses (`src/hamt/model.rs`); `--cfg loopkit_fuzz` selects the narrow test
// configuration (8-way nodes, 12-bit hash) so collisions and deep paths are common.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loopkit::hamt::model::run(&loopkit::hamt::model::decode(data)));
