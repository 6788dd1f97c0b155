//! Building blocks the sched crates share, and that a store implementor may use. Not
//! needed to use sched: nothing here is part of scheduling's own API.
//!
//! - [`Mutex`]: a mutex whose lock ignores poisoning, for state that every holder
//!   leaves consistent before anything can panic (the pattern of tokio's
//!   `loom/std/mutex.rs`).
//! - [`RwLock`]: the same for a reader-writer lock.
//! - [`FastHash`]: a fast, non-cryptographic hasher for maps keyed by job ids and task
//!   names.
//! - [`Attachment`]: the cache slot a runtime keeps in a [`Job`](crate::job::Job) value.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, MutexGuard, RwLockReadGuard, RwLockWriteGuard};

/// A `std::sync::Mutex` whose [`lock`](Self::lock) never fails: a panic while it was
/// held does not poison it for others.
///
/// Use it only for state that every critical section leaves consistent before it can
/// panic (plain collections, counters): then a poisoned lock carries no broken
/// invariant, and taking it over is right.
///
/// ```
/// let counts = sched_core::support::Mutex::new(Vec::new());
/// counts.lock().push(1);
/// assert_eq!(*counts.lock(), [1]);
/// ```
#[derive(Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// The value, once nobody can lock it any more.
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks it, blocking the thread until it is free. Never hold the guard across an
    /// `.await`.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_lock() {
            Ok(value) => f.debug_tuple("Mutex").field(&&*value).finish(),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                f.debug_tuple("Mutex").field(&&*p.into_inner()).finish()
            }
            Err(std::sync::TryLockError::WouldBlock) => f.write_str("Mutex(<locked>)"),
        }
    }
}

/// A `std::sync::RwLock` whose locks never fail, like [`Mutex`].
#[derive(Default)]
pub struct RwLock<T: ?Sized>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    /// A lock holding `value`.
    pub const fn new(value: T) -> Self {
        Self(std::sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, blocking the thread while a writer holds it.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Exclusive access, blocking the thread while anyone holds it.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLock(..)")
    }
}

/// A folded multiply a word at a time (the step of foldhash and of aHash's fallback):
/// each word is XORed into the state, which is multiplied by a constant into 128 bits,
/// and the two halves are XORed together. The application chooses these keys, so
/// SipHash's resistance to flooding buys nothing, and they are hashed once per run.
///
/// Every output bit depends on every input bit. FxHash's step (`(h.rotl(5) ^ w) * K`),
/// used before, carries a word's high bits only upward: on sequential ids such as
/// `job-{n}` a million keys fell on 35,000 values of the low 21 bits (where `HashMap`
/// places a key; a uniform hash gives 795,000), and of a million `bulk-{n:08}` ids
/// 270,000 had another's whole hash. The
/// length is mixed in first, as a step of its own, so a tail's zero padding is not
/// mistaken for bytes.
#[derive(Debug, Default)]
pub struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline]
    fn mix(state: u64, word: u64) -> u64 {
        let product = u128::from(state ^ word) * u128::from(Self::K);
        // Truncations meant: the low and the high half of the product.
        (product as u64) ^ ((product >> 64) as u64)
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = Self::mix(self.0, bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            hash = Self::mix(hash, word);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            hash = Self::mix(hash, u64::from_le_bytes(word));
        }
        self.0 = hash;
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        // `str`'s `Hash` ends with `write_u8(0xff)`: one step, not a slice's.
        self.0 = Self::mix(self.0, u64::from(i) | 1 << 8);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = Self::mix(self.0, u64::from(i) | 1 << 32);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = Self::mix(self.0, i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A `BuildHasher` for `HashMap<_, _, FastHash>`.
pub type FastHash = BuildHasherDefault<FastHasher>;

/// A cache slot carried by a [`Job`](crate::job::Job) value for the runtime that runs
/// it (sched-tokio keeps the job's task there, so a run does not look it up by name).
///
/// Not stored, not compared ([`PartialEq`] ignores it), and empty in a clone: it belongs
/// to one in-memory value of the job, which a store may hand out for many runs. What it
/// holds tells its owner itself whether it is still valid (sched-tokio's tasks know when
/// they were replaced), so the slot is one pointer and a lock.
#[derive(Default)]
pub struct Attachment(Mutex<Option<Arc<dyn std::any::Any + Send + Sync>>>);

impl Attachment {
    /// What was last set, if it is a `T`.
    pub fn get<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let value = Arc::clone(self.0.lock().as_ref()?);
        value.downcast::<T>().ok()
    }

    /// Replaces what the slot holds.
    pub fn set<T: std::any::Any + Send + Sync>(&self, value: Arc<T>) {
        *self.0.lock() = Some(value);
    }
}

impl Clone for Attachment {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Attachment {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attachment")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::{FastHash, Mutex};

    /// The whole hashes of `ids` that differ, and the different values of their low
    /// `bits` bits (where `HashMap` puts a key).
    fn spread(ids: impl Iterator<Item = String>, bits: u32) -> (usize, usize) {
        let hasher = FastHash::default();
        let hashes: Vec<u64> = ids.map(|id| hasher.hash_one(id.as_str())).collect();
        let whole: HashSet<u64> = hashes.iter().copied().collect();
        let low: HashSet<u64> = hashes.iter().map(|h| h & ((1 << bits) - 1)).collect();
        (whole.len(), low.len())
    }

    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        // 2^16 keys into 2^17 places: a uniform hash fills 1 - e^-0.5 ≈ 39.3 % of them
        // (51,543). FxHash's step, used before, filled 2,042 with `job-{n}`, 32 with
        // `j{n:07}` and 45,883 with `bulk-{n:08}`, and gave 2 % of the `job-{n}` and 4 %
        // of the `tenant-..` ids another id's whole hash.
        let n = 1 << 16;
        let formats: [fn(u32) -> String; 4] = [
            |i| format!("job-{i}"),
            |i| format!("j{i:07}"),
            |i| format!("bulk-{i:08}"),
            |i| format!("tenant-{}-report-{}", i % 100, i / 100),
        ];
        for (k, format) in formats.iter().enumerate() {
            let (whole, low) = spread((0..n).map(format), 17);
            assert_eq!(whole, n as usize, "format {k}: every id its own hash");
            assert!(
                low > 50_000,
                "format {k}: {low} low-bit values of 51,543 expected"
            );
        }
    }

    #[test]
    fn a_tail_is_not_mistaken_for_a_longer_id() {
        let hasher = FastHash::default();
        assert_ne!(hasher.hash_one("job-123"), hasher.hash_one("job-123\0"));
        assert_ne!(hasher.hash_one(""), hasher.hash_one("\0"));
        assert_ne!(hasher.hash_one(7u32), hasher.hash_one(7u64));
        // The length is a step of its own: it cannot cancel against the first bytes.
        assert_ne!(hasher.hash_one("b"), hasher.hash_one("a\0"));
        assert_ne!(hasher.hash_one("aaaaaaaab"), hasher.hash_one("baaaaaaab\0"));
    }

    #[test]
    fn a_panic_while_locked_does_not_poison() {
        let shared = std::sync::Arc::new(Mutex::new(vec![1]));
        let holder = std::sync::Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.lock();
            panic!("while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        shared.lock().push(2);
        assert_eq!(*shared.lock(), [1, 2]);
        assert!(format!("{shared:?}").contains("[1, 2]"));
    }
}
