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
        match op % 8 {
            0 => assert_eq!(map.insert_mut(k, v), model.insert(k, v)),
            1 => assert_eq!(map.remove_mut(&k), model.remove(&k)),
            2 => {
                if let (Some(x), Some(y)) = (map.get_mut(&k), model.get_mut(&k)) {
                    (*x, *y) = (v, v);
                }
            }
            3 => {
                map.retain(|key, val| (key ^ k) % 7 != u16::from(*val % 7));
                model.retain(|key, val| (key ^ k) % 7 != u16::from(*val % 7));
            }
            4 => {
                // Union with an edited copy (same hasher: node by node), larger value wins.
                let mut other = map.clone();
                other.insert_mut(k, v);
                other.remove_mut(&k.wrapping_add(u16::from(v)));
                let other_model: HashMap<u16, u8> = other.iter().map(|(k, v)| (*k, *v)).collect();
                map = map.union_with(&other, |_, a, b| *a.max(b));
                for (k, v) in other_model {
                    let e = model.entry(k).or_insert(v);
                    *e = (*e).max(v);
                }
            }
            5 => {
                let got: HashMap<u16, u8> = map.clone().into_iter().collect();
                assert_eq!(got, model);
                let taken = std::mem::take(&mut map);
                map = taken.into_iter().collect();
            }
            6 => {
                let same = model.get(&k) == Some(&v);
                let next = map.insert_with(k, v, PartialEq::eq);
                assert_eq!(next.ptr_eq(&map), same);
                map = next;
                model.insert(k, v);
            }
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
