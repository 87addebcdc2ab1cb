//! Subject counting: distinct keys in any order, the first 1,000 listed as keyed hashes.

use std::sync::Arc;

use super::Subjects;
use crate::trail::record::hex_encode;

const KEY: [u8; 32] = [9; 32];

/// A DataRow payload with two fields: the subject key (or NULL) and a name.
fn row(key: Option<&str>) -> Vec<u8> {
    let mut p = 2i16.to_be_bytes().to_vec();
    match key {
        Some(k) => {
            p.extend_from_slice(&i32::try_from(k.len()).unwrap().to_be_bytes());
            p.extend_from_slice(k.as_bytes());
        }
        None => p.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    p.extend_from_slice(&3i32.to_be_bytes());
    p.extend_from_slice(b"abc");
    p
}

fn count(keys: &[Option<&str>]) -> Subjects {
    let mut s = Subjects::new(0, Arc::new(KEY));
    for k in keys {
        s.see_row(&row(*k));
    }
    s
}

fn hashed(key: &str) -> String {
    hex_encode(blake3::keyed_hash(&KEY, key.as_bytes()).as_bytes())
}

#[test]
fn ascending_keys_are_all_distinct() {
    let s = count(&[
        Some("1"),
        Some("2"),
        Some("9"),
        Some("10"),
        None,
        Some("11"),
    ]);
    assert_eq!(s.total, 5);
    assert_eq!(s.list, ["1", "2", "9", "10", "11"].map(hashed));
}

#[test]
fn keys_out_of_order_are_counted_once_each() {
    let s = count(&[
        Some("1"),
        Some("2"),
        Some("3"),
        Some("2"),
        Some("4"),
        Some("1"),
        None,
        Some("10"),
        Some("4"),
    ]);
    assert_eq!(s.total, 5);
    assert_eq!(s.list, ["1", "2", "3", "4", "10"].map(hashed));
    let s = count(&[Some("b"), Some("a"), Some("b"), Some(""), Some("")]);
    assert_eq!(s.total, 3);
    assert_eq!(s.list, ["b", "a", ""].map(hashed));
}

#[test]
fn repeated_key_in_a_row_counts_once() {
    let s = count(&[Some("7"), Some("7"), Some("7")]);
    assert_eq!(s.total, 1);
    assert_eq!(s.list, [hashed("7")]);
}

#[test]
fn at_most_a_thousand_are_listed() {
    let keys: Vec<String> = (0..1500)
        .map(|i| format!("k{:05}", (i * 7919) % 1500))
        .collect();
    let mut s = Subjects::new(0, Arc::new(KEY));
    for k in keys.iter().chain(keys.iter()) {
        s.see_row(&row(Some(k)));
    }
    assert_eq!(s.total, 1500);
    assert_eq!(s.list.len(), 1000);
    assert_eq!(s.list.first(), Some(&hashed(&keys[0])));
}
