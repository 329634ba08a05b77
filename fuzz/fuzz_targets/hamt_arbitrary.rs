#![no_main]
// A `Hamt` taken straight from the fuzzer's input through `Arbitrary` (loopkit's `arbitrary`
// feature), as a user's fuzz target would take one, then edited by more input. After every step
// the map must agree with a `HashMap` model and pass `assert_valid`, and a version kept before
// an edit must not change. The hasher is fixed (SipHash with zero keys) so a crash reproduces.
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use libfuzzer_sys::fuzz_target;
use loopkit::hamt::Hamt;

type Map = Hamt<u16, u8, BuildHasherDefault<DefaultHasher>>;

fuzz_target!(|input: (Map, Vec<(u8, u16, u8)>)| {
    let (mut map, edits) = input;
    map.assert_valid();
    let mut model: HashMap<u16, u8> = map.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(map.len(), model.len(), "duplicate keys in iteration");
    for (op, k, v) in edits {
        let before = map.clone();
        let before_model = model.clone();
        match op % 3 {
            0 => assert_eq!(map.insert_mut(k, v), model.insert(k, v)),
            1 => assert_eq!(map.remove_mut(&k), model.remove(&k)),
            _ => {
                map = map.insert(k, v);
                model.insert(k, v);
            }
        }
        map.assert_valid();
        assert_eq!(map.len(), model.len());
        assert_eq!(map.get(&k), model.get(&k));
        assert_eq!(before.len(), before_model.len());
        assert!(before_model.iter().all(|(k, v)| before.get(k) == Some(v)));
    }
    assert!(model.iter().all(|(k, v)| map.get(k) == Some(v)));
    let rebuilt: Map = model.into_iter().collect();
    assert_eq!(map, rebuilt);
});
