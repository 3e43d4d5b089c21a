//! The copy-on-write, digest-carrying containers of the machine's state ([`crate::state`]).
//!
//! The explorer clones a machine for every transition and keys every state by a 128-bit
//! digest of it. A step changes one or two parts of a machine, so each part here is shared
//! between clones until it is written (`Arc`), and carries (or memoises) its share of the
//! digest, so that cloning costs refcount bumps and keying a successor rehashes only what
//! the step touched. Each container's `Hash`, `PartialEq`, `Debug` and `Serialize` are
//! exactly those of the plain type it stands for, so state and trace hashes do not depend on
//! this machinery (the tests below compare them).

use serde::Serialize;

use crate::state::Tid;

/// A memoised 128-bit digest: like a `OnceLock<(u64, u64)>`, but cloning it is a plain
/// copy (a `OnceLock`'s clone runs its initialisation machinery again, which cost more than
/// the hashing it saved when the explorer cloned a machine's memos per transition).
///
/// Sound without a lock: the value only ever goes from unset to the digest of the current
/// contents (`clear` needs `&mut`), concurrent initialisers store the same words, and the
/// flag is published with release/acquire after the words.
#[derive(Default)]
pub(crate) struct DigestMemo {
    a: std::sync::atomic::AtomicU64,
    b: std::sync::atomic::AtomicU64,
    set: std::sync::atomic::AtomicBool,
}

impl DigestMemo {
    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> (u64, u64)) -> (u64, u64) {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        if self.set.load(Acquire) {
            return (self.a.load(Relaxed), self.b.load(Relaxed));
        }
        let (a, b) = f();
        self.a.store(a, Relaxed);
        self.b.store(b, Relaxed);
        self.set.store(true, Release);
        (a, b)
    }
    pub(crate) fn clear(&mut self) {
        *self.set.get_mut() = false;
    }
}

impl Clone for DigestMemo {
    fn clone(&self) -> Self {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        let set = self.set.load(Acquire);
        DigestMemo {
            a: self.a.load(Relaxed).into(),
            b: self.b.load(Relaxed).into(),
            set: set.into(),
        }
    }
}

/// A part of the machine shared copy-on-write between clones: reads go through `Deref`,
/// any mutable access (`DerefMut`) first unshares it (`Arc::make_mut`).
///
/// The explorer clones the machine for every transition, and a step changes one or two
/// parts of it (a PTE, one thread, a lock); cloning the others (B-trees of page tables
/// and folios, the VMA list, the TLBs) was most of a transition's cost. Shared, a clone of
/// an unchanged part is a refcount bump. `Hash`, `PartialEq`, `Debug` and `Serialize` are
/// those of the value (state and trace hashes are unchanged).
///
/// It also memoises the part's share of the explorer's state key (dropped by any mutable
/// access, kept by a clone), so that keying a successor rehashes only the parts the step
/// touched.
#[derive(Default)]
pub struct Shared<T> {
    v: std::sync::Arc<T>,
    memo: DigestMemo,
}

impl<T> Shared<T> {
    pub fn new(v: T) -> Self {
        Shared {
            v: std::sync::Arc::new(v),
            memo: DigestMemo::default(),
        }
    }

    /// The value's 128-bit digest by `f`, memoised until the next mutable access. Callers
    /// must pass the same function for a given field every time (only the explorer's
    /// state key uses it), so the memo is always `f` of the current value.
    pub(crate) fn memo_digest(&self, f: impl FnOnce(&T) -> (u64, u64)) -> (u64, u64) {
        self.memo.get_or_init(|| f(&self.v))
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            v: self.v.clone(),
            memo: self.memo.clone(),
        }
    }
}

impl<T> From<T> for Shared<T> {
    fn from(v: T) -> Self {
        Shared::new(v)
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.v
    }
}

impl<T: Clone> std::ops::DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.memo.clear();
        std::sync::Arc::make_mut(&mut self.v)
    }
}

impl<'a, T> IntoIterator for &'a Shared<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        (&*self.v).into_iter()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.v.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, o: &Self) -> bool {
        // Shared with each other: equal without comparing.
        std::sync::Arc::ptr_eq(&self.v, &o.v) || self.v == o.v
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Shared<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.v.hash(h);
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.v.serialize(s)
    }
}

/// The entries of a PTE table: up to 512 (index, value) pairs, read and written like a
/// `BTreeMap<u16, u64>` (`get`, `iter`, `range`, `keys`, `insert`, `remove`, ...), plus a
/// memo of the table's explorer digest.
///
/// Stored densely (values up to the highest index written, and a presence bitmap) because
/// the explorer copies a table each time a step writes one of its entries (copy-on-write in
/// [`PteTable`](crate::state::PteTable)): one flat copy of at most 4 KiB instead of rebuilding a ~50-node B-tree. `Hash`, `PartialEq` and `Serialize` are
/// exactly those of the `BTreeMap` this replaced (length, then index and value in index
/// order), so state and trace hashes are unchanged.
///
/// The digest: the explorer keys every state by a hash of the whole machine, and hashing a
/// 512-entry table for each state dominated its time. So the entries carry a 128-bit
/// Zobrist-style digest, the wrapping sum over present entries of a strong 128-bit hash of
/// (index, value), kept up to date by `insert`/`remove`/`clear` in O(1): a function of the
/// entries alone, whatever order they were written in.
#[derive(Clone, Default)]
pub struct PteEntries {
    /// Values by index, up to the highest index ever written (absent ones are 0).
    vals: Vec<u64>,
    present: [u64; 8],
    len: u16,
    digest: (u64, u64),
}

/// `&INDEX[i] == &i`: lets the iterators hand out `&u16` keys like a map's.
static INDEX: [u16; 512] = {
    let mut a = [0u16; 512];
    let mut i = 0;
    while i < 512 {
        a[i] = i as u16;
        i += 1;
    }
    a
};

/// One entry's share of the digest: two independent 64-bit hashes of (index, value).
fn entry_digest(i: usize, v: u64) -> (u64, u64) {
    use crate::hash::fmix64;
    let i = i as u64 + 1;
    (
        fmix64(v ^ fmix64(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        fmix64(
            v.rotate_left(29)
                .wrapping_add(i.wrapping_mul(0xd6e8_feb8_6659_fd93))
                ^ 0x2545_f491_4f6c_dd1d,
        ),
    )
}

impl PteEntries {
    fn add_digest(&mut self, i: usize, v: u64) {
        let (a, b) = entry_digest(i, v);
        self.digest = (self.digest.0.wrapping_add(a), self.digest.1.wrapping_add(b));
    }
    fn sub_digest(&mut self, i: usize, v: u64) {
        let (a, b) = entry_digest(i, v);
        self.digest = (self.digest.0.wrapping_sub(a), self.digest.1.wrapping_sub(b));
    }
    fn has(&self, i: usize) -> bool {
        i < 512 && self.present[i / 64] & (1 << (i % 64)) != 0
    }
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, idx: &u16) -> Option<&u64> {
        let i = *idx as usize;
        self.has(i).then(|| &self.vals[i])
    }
    /// Entries with index in `range`, in index order (walking the presence bitmap).
    pub fn range(
        &self,
        range: impl std::ops::RangeBounds<u16>,
    ) -> impl Iterator<Item = (&u16, &u64)> + '_ {
        use std::ops::Bound;
        let lo = match range.start_bound() {
            Bound::Included(&a) => a as usize,
            Bound::Excluded(&a) => a as usize + 1,
            Bound::Unbounded => 0,
        }
        .min(512);
        let hi = match range.end_bound() {
            Bound::Included(&b) => b as usize + 1,
            Bound::Excluded(&b) => b as usize,
            Bound::Unbounded => 512,
        }
        .min(512);
        // Bits of the present entries still to visit, one bitmap word at a time.
        let mut word = lo / 64;
        let mut bits = if lo < hi {
            self.present[word] & (!0u64 << (lo % 64))
        } else {
            0
        };
        std::iter::from_fn(move || loop {
            if lo >= hi {
                return None;
            }
            if bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if i >= hi {
                    return None;
                }
                return Some((&INDEX[i], &self.vals[i]));
            }
            word += 1;
            if word >= 8 || word * 64 >= hi {
                return None;
            }
            bits = self.present[word];
        })
    }
    /// Every entry, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&u16, &u64)> + '_ {
        self.range(..)
    }
    pub fn keys(&self) -> impl Iterator<Item = &u16> + '_ {
        self.iter().map(|(k, _)| k)
    }
    pub fn values(&self) -> impl Iterator<Item = &u64> + '_ {
        self.iter().map(|(_, v)| v)
    }
    /// Set entry `idx` (< 512; a larger index is a bug); returns the old value if present.
    pub fn insert(&mut self, idx: u16, v: u64) -> Option<u64> {
        let i = idx as usize;
        assert!(i < 512, "PTE index {i} out of range");
        let old = self.has(i).then(|| self.vals[i]);
        match old {
            Some(o) => self.sub_digest(i, o),
            None => {
                self.present[i / 64] |= 1 << (i % 64);
                self.len += 1;
                if self.vals.len() <= i {
                    self.vals.resize(i + 1, 0);
                }
            }
        }
        self.vals[i] = v;
        self.add_digest(i, v);
        old
    }
    pub fn remove(&mut self, idx: &u16) -> Option<u64> {
        let i = *idx as usize;
        if !self.has(i) {
            return None;
        }
        self.present[i / 64] &= !(1 << (i % 64));
        self.len -= 1;
        let old = std::mem::take(&mut self.vals[i]);
        self.sub_digest(i, old);
        Some(old)
    }
    pub fn clear(&mut self) {
        self.vals.clear();
        self.present = [0; 8];
        self.len = 0;
        self.digest = (0, 0);
    }
    /// A 128-bit digest of the entries (see the type's docs): equal entries, equal digest.
    pub fn digest(&self) -> (u64, u64) {
        self.digest
    }
}

impl std::fmt::Debug for PteEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for PteEntries {
    fn eq(&self, o: &Self) -> bool {
        self.present == o.present && self.iter().eq(o.iter())
    }
}

impl Eq for PteEntries {}

impl std::hash::Hash for PteEntries {
    /// Exactly `BTreeMap<u16, u64>`'s hash: the length, then each (index, value).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_usize(self.len());
        for (&k, &v) in self.iter() {
            h.write_u16(k);
            h.write_u64(v);
        }
    }
}

impl Serialize for PteEntries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// A per-page vector of a folio (512 elements for a THP), shared copy-on-write with a memo
/// of its explorer digest.
///
/// Reads go through `Deref` (a `Vec<T>`); any mutable access (`DerefMut`: `v[i] = x`,
/// `iter_mut()`, ...) first unshares the vector and drops the memo. The explorer clones a
/// machine per state and hashes it for the state key; without sharing, every state copied
/// and rehashed the THP's three 512-element vectors although almost no step changes them.
/// `Hash`, `PartialEq` and `Serialize` are those of the `Vec<T>` (state and trace hashes
/// are unchanged).
#[derive(Clone, Default)]
pub struct PageVec<T> {
    v: std::sync::Arc<Vec<T>>,
    digest: DigestMemo,
}

impl<T> From<Vec<T>> for PageVec<T> {
    fn from(v: Vec<T>) -> Self {
        PageVec {
            v: std::sync::Arc::new(v),
            digest: DigestMemo::default(),
        }
    }
}

impl<T> std::ops::Deref for PageVec<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.v
    }
}

impl<T: Clone> std::ops::DerefMut for PageVec<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        self.digest.clear();
        std::sync::Arc::make_mut(&mut self.v)
    }
}

impl<T: std::hash::Hash> PageVec<T> {
    /// The 128-bit digest of the elements ([`crate::hash::digest`]), memoised until the
    /// next mutable access.
    pub fn digest(&self) -> (u64, u64) {
        self.digest.get_or_init(|| crate::hash::digest(&self.v[..]))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PageVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.v.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for PageVec<T> {
    fn eq(&self, o: &Self) -> bool {
        self.v == o.v
    }
}

impl<T: Eq> Eq for PageVec<T> {}

impl<T: std::hash::Hash> std::hash::Hash for PageVec<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.v.hash(h);
    }
}

impl<T: Serialize> Serialize for PageVec<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.v.serialize(s)
    }
}

/// One deferred TLB-flush obligation: (thread, start, end) of entries it changed.
pub type Owed = (Tid, u64, u64);

/// The TLB flushes owed (`Machine::flush_owed`), in the order they were incurred, shared
/// copy-on-write in chunks, with a running digest.
///
/// mprotect's PTE walk owes a flush for every entry it changes, so a THP's 512 entries
/// make this list ~12 KiB. The explorer clones a machine per transition and keys every
/// state: as a plain `Vec` this list was most of the copying and of the key's hashing.
/// Here full chunks of [`OWED_CHUNK`] entries are shared and never change, so a clone is
/// two refcount bumps and a push copies at most the last, partial chunk. The digest is the
/// wrapping sum over positions `i` of a 128-bit hash of `(i, entry)`, kept up to date by
/// `push` in O(1) and recomputed by a `retain` that removes something: a function of the
/// sequence alone (order included), like the `Vec`'s equality. `Hash`, `PartialEq` and
/// `Debug` are exactly those of the `Vec` this replaced (state and trace hashes are
/// unchanged).
#[derive(Clone, Default)]
pub struct FlushOwed {
    /// Full chunks, oldest first.
    full: std::sync::Arc<Vec<std::sync::Arc<Vec<Owed>>>>,
    /// The newest entries (fewer than `OWED_CHUNK`).
    tail: std::sync::Arc<Vec<Owed>>,
    len: usize,
    digest: (u64, u64),
    /// The largest `end` of any entry of thread `t` (index `t` for the first
    /// [`OWED_TRACKED`] threads, the last slot for all others; 0 if none): lets
    /// [`FlushOwed::covers`] answer "no" at once for a range reaching past every entry of
    /// its thread — every step of an ascending PTE walk.
    max_end: [u64; OWED_TRACKED + 1],
}

/// Threads whose largest owed `end` [`FlushOwed`] tracks one by one.
const OWED_TRACKED: usize = 7;

/// Entries per shared chunk of [`FlushOwed`] (a push copies up to this many).
pub const OWED_CHUNK: usize = 64;

fn owed_digest(i: usize, o: &Owed) -> (u64, u64) {
    crate::hash::digest(&(i as u64, o.0 as u64, o.1, o.2))
}

impl FlushOwed {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Owed> + '_ {
        self.full
            .iter()
            .flat_map(|c| c.iter())
            .chain(self.tail.iter())
    }

    pub fn push(&mut self, o: Owed) {
        let (a, b) = owed_digest(self.len, &o);
        self.digest = (self.digest.0.wrapping_add(a), self.digest.1.wrapping_add(b));
        let slot = &mut self.max_end[o.0.min(OWED_TRACKED)];
        *slot = (*slot).max(o.2);
        self.len += 1;
        if std::sync::Arc::get_mut(&mut self.tail).is_none() {
            let mut t = Vec::with_capacity(OWED_CHUNK);
            t.extend_from_slice(&self.tail);
            self.tail = std::sync::Arc::new(t);
        }
        let tail = std::sync::Arc::get_mut(&mut self.tail).expect("unshared above");
        tail.push(o);
        if tail.len() >= OWED_CHUNK {
            let chunk = std::mem::take(&mut self.tail);
            std::sync::Arc::make_mut(&mut self.full).push(chunk);
        }
    }

    /// Keep the obligations `f` accepts (order kept); unshares only if one is dropped.
    pub fn retain(&mut self, mut f: impl FnMut(&Owed) -> bool) {
        if self.iter().all(&mut f) {
            return;
        }
        let kept: Vec<Owed> = self.iter().copied().filter(|o| f(o)).collect();
        *self = kept.into();
    }

    /// Whether `tid` already owes a flush covering all of `[start, end)`.
    pub fn covers(&self, tid: Tid, start: u64, end: u64) -> bool {
        // Newest first: a step that owes a range often owed it just before (`set_pte`,
        // then the walk's own gather).
        end <= self.max_end[tid.min(OWED_TRACKED)]
            && self
                .tail
                .iter()
                .rev()
                .chain(self.full.iter().rev().flat_map(|c| c.iter().rev()))
                .any(|&(o, s, e)| o == tid && s <= start && end <= e)
    }

    /// A 128-bit digest of the sequence (see the type's docs).
    pub fn digest(&self) -> (u64, u64) {
        self.digest
    }
}

impl From<Vec<Owed>> for FlushOwed {
    fn from(v: Vec<Owed>) -> Self {
        let mut f = FlushOwed::default();
        for o in v {
            f.push(o);
        }
        f
    }
}

impl std::fmt::Debug for FlushOwed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for FlushOwed {
    fn eq(&self, o: &Self) -> bool {
        self.len == o.len && self.digest == o.digest && self.iter().eq(o.iter())
    }
}

impl Eq for FlushOwed {}

impl std::hash::Hash for FlushOwed {
    /// Exactly `Vec<(Tid, u64, u64)>`'s hash: the length, then each entry.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_usize(self.len);
        for o in self.iter() {
            o.hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::StableHasher;
    use std::collections::BTreeMap;
    use std::hash::{Hash, Hasher};

    fn stable<T: Hash>(x: &T) -> u64 {
        let mut h = StableHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    /// The dense PTE-table entries hash, compare and serialise exactly like the
    /// `BTreeMap<u16, u64>` they replaced (state and trace hashes depend on it), through
    /// inserts, overwrites (including zero values), removes and clears.
    #[test]
    fn pte_entries_behave_like_the_btreemap_they_replaced() {
        let mut rng = crate::explore::SplitMix64::new(7);
        let mut dense = PteEntries::default();
        let mut map: BTreeMap<u16, u64> = BTreeMap::new();
        for round in 0..3000 {
            let idx = rng.below(512) as u16;
            let v = if rng.below(5) == 0 { 0 } else { rng.next_u64() };
            match rng.below(10) {
                0 => assert_eq!(dense.remove(&idx), map.remove(&idx)),
                1 if round % 500 == 0 => {
                    dense.clear();
                    map.clear();
                }
                _ => assert_eq!(dense.insert(idx, v), map.insert(idx, v)),
            }
            assert_eq!(dense.len(), map.len());
            assert_eq!(dense.get(&idx), map.get(&idx));
            if round % 97 == 0 {
                assert_eq!(stable(&dense), stable(&map));
                assert_eq!(
                    serde_json::to_string(&dense).unwrap(),
                    serde_json::to_string(&map).unwrap()
                );
                let lo = rng.below(512) as u16;
                let hi = lo + rng.below(512 - lo as u64) as u16;
                assert!(dense.range(lo..=hi).eq(map.range(lo..=hi)));
                assert!(dense.range(lo..hi).eq(map.range(lo..hi)));
                assert!(dense.range(lo + 1..).eq(map.range(lo + 1..)));
            }
        }
        let other = dense.clone();
        assert_eq!(other, dense);
        // The digest is a function of the entries: rebuilt in another order, it is equal.
        let mut rebuilt = PteEntries::default();
        for (&k, &v) in map.iter().rev() {
            rebuilt.insert(k, v ^ 1);
            rebuilt.insert(k, v);
        }
        assert_eq!(rebuilt.digest(), dense.digest());
        assert_ne!(dense.digest(), (0, 0));
        // A zero value present differs from an absent entry.
        let mut a = PteEntries::default();
        let b = PteEntries::default();
        a.insert(7, 0);
        assert_ne!(a.digest(), b.digest());
        a.remove(&7);
        assert_eq!(a.digest(), b.digest());
    }

    /// The chunked flush list hashes, compares and prints exactly like the `Vec` it
    /// replaced; its digest is a function of the sequence; `covers` agrees with a scan.
    #[test]
    fn flush_owed_behaves_like_the_vec_it_replaced() {
        let mut rng = crate::explore::SplitMix64::new(11);
        let mut f = FlushOwed::default();
        let mut v: Vec<Owed> = Vec::new();
        for round in 0..2000 {
            let (snapshot, before) = (f.clone(), v.clone());
            let t = rng.below(3) as Tid;
            let s = rng.below(600) << 12;
            let e = s + ((1 + rng.below(3)) << 12);
            if rng.below(40) == 0 {
                f.retain(|&(o, _, _)| o != t);
                v.retain(|&(o, _, _)| o != t);
            } else {
                assert_eq!(
                    f.covers(t, s, e),
                    v.iter().any(|&(o, a, b)| o == t && a <= s && e <= b)
                );
                f.push((t, s, e));
                v.push((t, s, e));
            }
            assert_eq!(f.len(), v.len());
            assert!(f.iter().eq(v.iter()));
            assert!(
                snapshot.iter().eq(before.iter()),
                "a clone is not changed by a push"
            );
            if round % 37 == 0 {
                assert_eq!(stable(&f), stable(&v));
                assert_eq!(format!("{f:?}"), format!("{v:?}"));
                // Rebuilt from scratch: equal, with the same digest.
                let rebuilt: FlushOwed = v.clone().into();
                assert_eq!(rebuilt, f);
                assert_eq!(rebuilt.digest(), f.digest());
            }
        }
        // Order matters, as for the Vec.
        let a: FlushOwed = vec![(0, 0, 4096), (1, 0, 4096)].into();
        let b: FlushOwed = vec![(1, 0, 4096), (0, 0, 4096)].into();
        assert_ne!(a, b);
        assert_ne!(a.digest(), b.digest());
    }

    /// A folio's per-page vectors hash and serialise like plain vectors; a write through
    /// `DerefMut` unshares the copy and drops the memoised digest.
    #[test]
    fn page_vec_is_a_copy_on_write_vec_with_a_memo() {
        let v: PageVec<u64> = vec![1, 2, 3].into();
        assert_eq!(stable(&v), stable(&vec![1u64, 2, 3]));
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1,2,3]");
        assert_eq!(v.digest(), crate::hash::digest(&[1u64, 2, 3][..]));
        let plain: Vec<u64> = (0..64).collect();
        let v: PageVec<u64> = plain.clone().into();
        let mut w = v.clone();
        let d = v.digest();
        assert_eq!(d, crate::hash::digest(&plain[..]));
        assert_eq!(w.digest(), d, "a clone keeps it");
        w[1] = 5;
        assert_eq!(v[1], 1, "the original is unchanged");
        let mut changed = plain.clone();
        changed[1] = 5;
        assert_eq!(
            w.digest(),
            crate::hash::digest(&changed[..]),
            "a write drops the memo"
        );
        assert_eq!(v.digest(), d);
        w.iter_mut().for_each(|x| *x = 0);
        assert_eq!(w.digest(), crate::hash::digest(&[0u64; 64][..]));
    }
}
