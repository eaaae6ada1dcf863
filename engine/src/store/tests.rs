use super::*;
use proptest::prelude::*;
use std::sync::Arc;

#[test]
fn sled_store_keeps_writes_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.put("agents", b"k1", b"v1").unwrap();
        s.put("teams", b"k1", b"t1").unwrap();
        s.put("agents", b"k2", b"v2").unwrap();
        s.delete("agents", b"k2").unwrap();
        s.flush().unwrap();
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.get("agents", b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s.get("teams", b"k1").unwrap(), Some(b"t1".to_vec()));
    assert_eq!(s.get("agents", b"k2").unwrap(), None);
}

#[test]
fn sled_store_refuses_a_data_dir_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("already in use by another running acd"),
        "{msg}"
    );
    assert!(
        msg.contains("stop that process or choose another data dir"),
        "{msg}"
    );
}

#[test]
fn sled_store_reopens_after_the_holder_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    SledStore::open(dir.path()).unwrap();
}

#[test]
fn sled_store_records_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn sled_store_refuses_a_newer_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.set_schema_version(SCHEMA_VERSION + 1).unwrap();
    }
    let err = SledStore::open(dir.path()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade acd"));
}

#[test]
fn sled_store_concurrent_flushes_all_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Arc::new(SledStore::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        let key = (t * 1000 + i).to_be_bytes();
                        s.put("log", &key, b"x").unwrap();
                        s.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.scan_prefix("log", b"").unwrap().len(), 400);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>, Vec<u8>),
    Delete(u8, Vec<u8>),
    Get(u8, Vec<u8>),
    ScanPrefix(u8, Vec<u8>),
    ScanFrom(u8, Vec<u8>, usize),
    Flush,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..2, key(), prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(s, k, v)| Op::Put(s, k, v)),
        (0u8..2, key()).prop_map(|(s, k)| Op::Delete(s, k)),
        (0u8..2, key()).prop_map(|(s, k)| Op::Get(s, k)),
        (0u8..2, key()).prop_map(|(s, k)| Op::ScanPrefix(s, k)),
        (0u8..2, key(), 0usize..5).prop_map(|(s, k, n)| Op::ScanFrom(s, k, n)),
        Just(Op::Flush),
    ]
}

/// Runs `ops` against `store` and a `BTreeMap` model, comparing every read.
fn check_against_model(store: &dyn Store, ops: &[Op]) -> [BTreeMap<Vec<u8>, Vec<u8>>; 2] {
    let name = |s: u8| if s == 0 { "a" } else { "b" };
    let mut model: [BTreeMap<Vec<u8>, Vec<u8>>; 2] = Default::default();
    for op in ops {
        match op {
            Op::Put(s, k, v) => {
                store.put(name(*s), k, v).unwrap();
                model[*s as usize].insert(k.clone(), v.clone());
            }
            Op::Delete(s, k) => {
                store.delete(name(*s), k).unwrap();
                model[*s as usize].remove(k);
            }
            Op::Get(s, k) => {
                assert_eq!(
                    store.get(name(*s), k).unwrap(),
                    model[*s as usize].get(k).cloned()
                );
            }
            Op::ScanPrefix(s, p) => {
                let want: Pairs = model[*s as usize]
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(store.scan_prefix(name(*s), p).unwrap(), want);
            }
            Op::ScanFrom(s, start, n) => {
                let want: Pairs = model[*s as usize]
                    .range(start.clone()..)
                    .take(*n)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(store.scan_from(name(*s), start, *n).unwrap(), want);
            }
            Op::Flush => store.flush().unwrap(),
        }
    }
    model
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mem_store_matches_a_btreemap(ops in prop::collection::vec(op(), 0..60)) {
        let _ = check_against_model(&MemStore::new(), &ops);
    }

    #[test]
    fn sled_store_matches_a_btreemap(ops in prop::collection::vec(op(), 0..60)) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let model = check_against_model(&store, &ops);
        store.flush().unwrap();
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        for (s, name) in [(0, "a"), (1, "b")] {
            let want: Pairs = model[s].iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(store.scan_prefix(name, b"").unwrap(), want);
        }
    }
}
