#![no_main]
// Op sequences from the fuzzer (set, reset with any token, get, copy, nested and panicking runs)
// checked against a model of nested HashMap snapshots after every step, by the same routine the
// proptest uses (`src/context/ops.rs`, exposed by `--cfg loopkit_fuzz`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loopkit::context::ops::run(&loopkit::context::ops::decode(data)));
