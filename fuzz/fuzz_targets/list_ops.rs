#![no_main]
//! Fuzzes op sequences on two lists against `VecDeque` models (the routine the proptest uses).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loopkit::list::model::run(&loopkit::list::model::decode(data)));
