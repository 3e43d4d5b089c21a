//! Size code, standing in for `std::collections::BTreeMap` (and for `slice::sort_by_key`,
//! [`sort_small_by_key`]) in the first-load wasm; its tests compare both with what they stand
//! in for. [`VecMap`] is an ordered map kept as one sorted vector, for the model's small maps
//! (PMD entries, PTE tables, folios, PMD locks, per-page last writes, scenario notes).
//!
//! Why not `BTreeMap`: every `BTreeMap<K, V>` instantiation brings its own node code
//! (insert, split, the rebalancing of remove, clone, drop), about 5 KB of wasm per key and
//! value type; the model had eight of them, 42 KB of the first-load wasm. These maps hold a
//! handful of entries (a PMD per 2 MiB of a scenario, a folio per mapped page), so a sorted
//! vector is as fast (a binary search; an insert or remove moves a few words) and its
//! clone, the explorer's most frequent operation on a machine, is one allocation.
//!
//! It behaves exactly like the `BTreeMap` it replaced wherever the model can tell:
//! iteration in key order, and `Hash`, `PartialEq`, `Debug` and `Serialize` the same as
//! `BTreeMap`'s (state hashes, trace hashes and JSON are unchanged; a test below compares
//! them on random operations).

use std::borrow::Borrow;
use std::fmt;
use std::ops::{Bound, RangeBounds};

/// A map ordered by key, stored as a vector of `(key, value)` sorted by key, keys unique.
#[derive(Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced, as `BTreeMap::insert`.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value at `key`, inserted with `default()` first if missing (what
    /// `entry(key).or_insert_with(default)` does on a `BTreeMap`).
    pub fn get_or_insert_with(&mut self, key: K, default: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, default()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// `entry(key).or_default()`.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entries whose keys are in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        let lo = match range.start_bound() {
            Bound::Included(k) => self.find(k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => self.find(k).map_or_else(|i| i, |i| i + 1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(k) => self.find(k).map_or_else(|i| i, |i| i + 1),
            Bound::Excluded(k) => self.find(k).unwrap_or_else(|i| i),
            Bound::Unbounded => self.entries.len(),
        };
        self.entries[lo..hi.max(lo)].iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// Later duplicates replace earlier ones, as collecting into a `BTreeMap` does.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = VecMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

/// `map[&key]`: panics if the key is missing, as `BTreeMap`'s.
impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> std::ops::Index<&Q> for VecMap<K, V> {
    type Output = V;
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

/// `BTreeMap`'s: the length, then each `(key, value)` in key order.
impl<K: std::hash::Hash, V: std::hash::Hash> std::hash::Hash for VecMap<K, V> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // `BTreeMap` calls `write_length_prefix`, whose default (the only one a stable
        // hasher can have) is `write_usize`.
        h.write_usize(self.entries.len());
        for (k, v) in &self.entries {
            k.hash(h);
            v.hash(h);
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for VecMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// Reads a JSON object (or any serde map) of at most `max` entries, refusing the entry
    /// after them with "at most {max} {what}"; a key written twice keeps its last value, as
    /// `BTreeMap` does. There is no unbounded `Deserialize`: each entry goes in at its place,
    /// so a map written out of order costs time quadratic in its length, which `max` bounds
    /// (tens of thousands of entries fit in a scenario's 256 KiB).
    pub fn deserialize_at_most<'de, D>(
        d: D,
        max: usize,
        what: &'static str,
    ) -> Result<Self, D::Error>
    where
        D: serde::Deserializer<'de>,
        K: serde::Deserialize<'de>,
        V: serde::Deserialize<'de>,
    {
        struct Visit<K, V> {
            max: usize,
            what: &'static str,
            _kv: std::marker::PhantomData<(K, V)>,
        }
        impl<'de, K, V> serde::de::Visitor<'de> for Visit<K, V>
        where
            K: Ord + serde::Deserialize<'de>,
            V: serde::Deserialize<'de>,
        {
            type Value = VecMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a map of at most {} {}", self.max, self.what)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut m = VecMap::new();
                while let Some((k, v)) = a.next_entry()? {
                    m.insert(k, v);
                    if m.len() > self.max {
                        return Err(serde::de::Error::custom(format!(
                            "at most {} {}",
                            self.max, self.what
                        )));
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(Visit {
            max,
            what,
            _kv: std::marker::PhantomData,
        })
    }
}

#[cfg(feature = "schema")]
impl<K: schemars::JsonSchema, V: schemars::JsonSchema> schemars::JsonSchema for VecMap<K, V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<K, V> as schemars::JsonSchema>::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<K, V> as schemars::JsonSchema>::schema_id()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<K, V> as schemars::JsonSchema>::json_schema(g)
    }
    fn inline_schema() -> bool {
        <std::collections::BTreeMap<K, V> as schemars::JsonSchema>::inline_schema()
    }
}

/// Size code, standing in for `slice::sort_by_key` (each `sort`/`sort_unstable` instantiation
/// is 1–3 KB of wasm, this one a few hundred bytes): sorts a short slice by `key`, stably
/// (insertion sort), for the model's few-element lists (the VMAs of a scenario, the
/// invariants broken at a step). A test compares it with `sort_by_key`.
pub fn sort_small_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use std::collections::BTreeMap;
    use std::hash::{Hash, Hasher};

    fn hash_of<T: Hash>(t: &T) -> u64 {
        let mut h = crate::hash::StableHasher::default();
        t.hash(&mut h);
        h.finish()
    }

    /// Random inserts, replaces, removes and range queries on a `VecMap` and a `BTreeMap`
    /// side by side: the same answers, iteration order, hash, `Debug` and JSON after each.
    #[test]
    fn behaves_like_the_btreemap_it_replaced() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut v: VecMap<u64, u64> = VecMap::new();
        let mut b: BTreeMap<u64, u64> = BTreeMap::new();
        for step in 0..4_000 {
            let k = rnd(64);
            match rnd(5) {
                0 | 1 => assert_eq!(v.insert(k, step), b.insert(k, step)),
                2 => assert_eq!(v.remove(&k), b.remove(&k)),
                3 => {
                    let hi = k + rnd(20);
                    assert!(v.range(k..hi).eq(b.range(k..hi)));
                    assert!(v.range(k..=hi).eq(b.range(k..=hi)));
                    assert!(v.range(..k).rev().eq(b.range(..k).rev()));
                    assert!(v.range(k..).eq(b.range(k..)));
                }
                _ => {
                    *v.get_or_insert_with(k, || 7) += 1;
                    *b.entry(k).or_insert_with(|| 7) += 1;
                }
            }
            assert_eq!(v.get(&k), b.get(&k));
            assert_eq!(v.contains_key(&k), b.contains_key(&k));
            assert_eq!(v.len(), b.len());
            assert!(v.iter().eq(b.iter()));
            assert_eq!(hash_of(&v), hash_of(&b), "step {step}");
            if step % 97 == 0 {
                assert_eq!(format!("{v:?}"), format!("{b:?}"));
                let json = serde_json::to_string(&v).unwrap();
                assert_eq!(json, serde_json::to_string(&b).unwrap());
                let back = VecMap::<u64, u64>::deserialize_at_most(
                    &mut serde_json::Deserializer::from_str(&json),
                    usize::MAX,
                    "entries",
                )
                .unwrap();
                assert!(back == v);
            }
        }
        v.retain(|k, _| k % 3 == 0);
        b.retain(|k, _| k % 3 == 0);
        assert!(v.iter().eq(b.iter()));
        let collected: VecMap<u64, u64> = b.clone().into_iter().rev().collect();
        assert!(collected.iter().eq(b.iter()));
    }

    #[test]
    fn sort_small_is_a_stable_sort() {
        let mut seed = 7u64;
        for n in 0..40 {
            let mut v: Vec<(u8, usize)> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 60) as u8, i)
                })
                .collect();
            let mut w = v.clone();
            super::sort_small_by_key(&mut v, |e| e.0);
            w.sort_by_key(|e| e.0);
            assert_eq!(v, w);
        }
    }

    /// JSON object keys are strings; a map keyed by numbers (scenario `notes`) reads them
    /// as `BTreeMap` does, and a duplicate key keeps the last value as it does.
    #[test]
    fn reads_json_objects_like_a_btreemap() {
        fn read(text: &str, max: usize) -> Result<VecMap<usize, String>, serde_json::Error> {
            let mut d = serde_json::Deserializer::from_str(text);
            VecMap::deserialize_at_most(&mut d, max, "notes")
        }
        for text in [
            r#"{"3": "c", "1": "a", "3": "d"}"#,
            r#"{"5": "e", "2": "b", "5": "f", "1": "a", "2": "c", "9": "z"}"#,
        ] {
            let v = read(text, 10).unwrap();
            let b: BTreeMap<usize, String> = serde_json::from_str(text).unwrap();
            assert!(v.iter().eq(b.iter()));
        }
        let bad = read(r#"{"x": "a"}"#, 10).unwrap_err();
        let bad_b = serde_json::from_str::<BTreeMap<usize, String>>(r#"{"x": "a"}"#).unwrap_err();
        assert_eq!(bad.to_string(), bad_b.to_string());
        // The limit counts distinct keys and refuses the entry after it.
        assert_eq!(
            read(r#"{"1": "a", "1": "b", "2": "c"}"#, 2).unwrap().len(),
            2
        );
        let e = read(r#"{"1": "a", "2": "b", "3": "c"}"#, 2).unwrap_err();
        assert!(e.to_string().starts_with("at most 2 notes"), "{e}");
    }
}
