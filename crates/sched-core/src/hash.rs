//! A fast, non-cryptographic hash for the hot maps of the scheduler (job ids, task
//! names). The application chooses these keys, so SipHash's resistance to flooding
//! buys nothing, and they are hashed once per run.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's step, a word at a time (names are long-ish: `closure:<node>:<id>`).
#[derive(Debug, Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut hash = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for byte in chunks.remainder() {
            hash = (hash.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(K);
        }
        self.0 = hash;
    }
}

/// A `BuildHasher` for `HashMap<_, _, FastHash>`.
pub type FastHash = BuildHasherDefault<FastHasher>;
