//! `MemoryStore`: jobs in slots, due jobs in an ordered index. The default store.
//!
//! Built for the hot path of the in-memory scheduler: a claim pops due entries off the
//! earliest millisecond bucket of the due index (integer keys, even when 100,000 jobs
//! share an instant), decides with the policy, puts each job back at the end of a later
//! bucket, and hands out the job as a shared `Arc` — no string is cloned or hashed per
//! run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    check_declared, merge_declared, AcquireRequest, Acquired, CancelRequest, Census, Change,
    ClaimedRun, JobStore, RunEnd, RunId, Runnable, SkippedRuns, SyncReport, RETRY_RECHECK,
};
use crate::error::{Error, Result};
use crate::job::{Job, JobId};
use crate::policy::claim::{Candidate, NextRun, Planner};
use crate::support::{FastHash, Mutex};

/// An in-process store: fast, and gone with the process. The default store.
///
/// Due jobs are kept ordered by next run time, so a claim touches only the jobs it
/// returns, whatever the number of jobs. It keeps no run history.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// `Inner::removed` is not empty (read without the lock).
    removed: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Job entries; a slot is reused once its job is gone and its runs have ended.
    slots: Vec<Entry>,
    free: Vec<u32>,
    /// The slot of each job id held.
    index: IdIndex,
    /// (next run time, slot) of every job that is not paused and has a next run time.
    due: DueIndex,
    /// Runs executing, in slots: a run id is `(sequence << 32) | slot`, so finding a
    /// run costs no hash, and a stale id never matches a later run in its slot.
    runs: Vec<Option<Run>>,
    free_runs: Vec<u32>,
    next_run_id: i64,
    /// The last claiming node's name, shared by its runs.
    node: Option<Arc<str>>,
    /// The waiting run of each job that has one (`Overlap::QueueOne` /
    /// `CancelPrevious`), by slot: kept beside the entries, so jobs without one pay
    /// nothing for it (while it is empty, a claim does not even look).
    waiting: HashMap<u32, DateTime<Utc>, FastHash>,
    /// Pending retry attempts by (when a claim looks at it, sequence): its due time, or,
    /// once it came due while its job had no instance free, a [`RETRY_RECHECK`] later
    /// (and `claim_waiting` starts it as soon as a run of the job ends). Empty unless a
    /// job with a retry policy failed (a claim then does not look).
    retries: BTreeMap<RetryKey, Pending>,
    retry_seq: u64,
    /// The occurrences each job (by slot) ran by backfill: a store without history
    /// knows no other past runs, and runs an occurrence by backfill once. Empty unless
    /// a job was backfilled.
    backfilled: HashMap<u32, BTreeSet<DateTime<Utc>>, FastHash>,
    /// The declared set (`sync_jobs`) of each job in one, by slot.
    sets: HashMap<u32, Arc<str>, FastHash>,
    /// Parked jobs removed when their last run ended, for `take_removed`.
    removed: Vec<JobId>,
    /// The last claim's filter of runnable tasks (held, so that its address names it
    /// while `filter_epoch` counts it) and its number: an entry whose `allowed` is
    /// that number was found runnable under it, and a claim does not read its task
    /// name again (a string elsewhere in memory, each run, at a million jobs).
    filter: Option<Arc<Runnable>>,
    filter_epoch: u32,
}

/// Where a pending retry sorts: when a claim looks at it, then the order recorded.
type RetryKey = (DateTime<Utc>, u64);

/// A pending retry: attempt `attempt` of the occurrence `scheduled` of the job in `slot`,
/// due at `due`.
#[derive(Clone, Copy, Debug)]
struct Pending {
    slot: u32,
    scheduled: DateTime<Utc>,
    attempt: u32,
    due: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Entry {
    /// The job (its `next_run_time` and `paused` are kept in `next` and `paused`), and
    /// so the slot's id. Kept once the job is gone (`live` false) while runs of it
    /// still execute: the slot is still found by its id (no second copy of it here).
    held: Option<Arc<Job>>,
    /// `held` is the job stored (not one removed or replaced, its runs executing).
    live: bool,
    next: Option<DateTime<Utc>>,
    paused: bool,
    /// Scheduled times of this job's runs still executing (on any node). Survives the
    /// job's removal or replacement: those runs still count for `max_instances`.
    running: Running,
    /// The latest occurrence a run was started for. Survives replacement: an occurrence
    /// made due again (a stale write, a run claimed ahead then the next run time moved
    /// back) is not run twice.
    last_claimed: Option<DateTime<Utc>>,
    /// Its trigger is done, but a run of it may still be retried: kept (unscheduled)
    /// until its last run ended with no retry pending.
    parked: bool,
    /// The claim filter (`Inner::filter_epoch`) under which its job was last found
    /// runnable; 0: not known (reset when the job changes).
    allowed: u32,
}

// One per job, in a vector: every byte counts a megabyte at a million jobs.
const _: () = assert!(std::mem::size_of::<Entry>() <= 56);

/// The scheduled times of a job's runs executing: most jobs have none or one (16 bytes
/// in the entry, where a `Vec` takes 24).
#[derive(Debug, Default)]
enum Running {
    #[default]
    None,
    One(DateTime<Utc>),
    // Boxed: the entry keeps one pointer, not a vector's three words.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<DateTime<Utc>>>),
}

impl Running {
    fn as_slice(&self) -> &[DateTime<Utc>] {
        match self {
            Self::None => &[],
            Self::One(at) => std::slice::from_ref(at),
            Self::Many(times) => times,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn is_empty(&self) -> bool {
        matches!(self, Self::None)
    }

    fn contains(&self, at: &DateTime<Utc>) -> bool {
        self.as_slice().contains(at)
    }

    fn push(&mut self, at: DateTime<Utc>) {
        *self = match std::mem::take(self) {
            Self::None => Self::One(at),
            Self::One(first) => Self::Many(Box::new(vec![first, at])),
            Self::Many(mut times) => {
                times.push(at);
                Self::Many(times)
            }
        };
    }

    /// Takes out one run scheduled at `at`, if there is one.
    fn remove(&mut self, at: DateTime<Utc>) {
        match self {
            Self::One(only) if *only == at => *self = Self::None,
            Self::Many(times) => {
                if let Some(i) = times.iter().position(|t| *t == at) {
                    times.swap_remove(i);
                }
                match times.len() {
                    0 => *self = Self::None,
                    1 => *self = Self::One(times[0]),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
struct Run {
    id: i64,
    slot: u32,
    node: Arc<str>,
    scheduled: DateTime<Utc>,
    attempt: u32,
}

/// The slot of each id held: a hash table of slots alone (4 bytes a place, against 24
/// for a map from the id), whose ids are read from the slots' entries. At a million
/// jobs it holds 2²¹ places: 10 MB instead of 50 MB.
#[derive(Debug, Default)]
struct IdIndex(hashbrown::HashTable<u32>);

impl IdIndex {
    fn hash(id: &str) -> u64 {
        use std::hash::BuildHasher;
        FastHash::default().hash_one(id)
    }

    /// The id of the entry in `slot` (every slot in the table has one).
    fn id(slots: &[Entry], slot: u32) -> &str {
        slots[slot as usize].id().map_or("", JobId::as_str)
    }

    fn get(&self, slots: &[Entry], id: &str) -> Option<u32> {
        let found = self
            .0
            .find(Self::hash(id), |&slot| Self::id(slots, slot) == id);
        found.copied()
    }

    /// Adds `slot`, whose entry holds an id not in the table.
    fn insert(&mut self, slots: &[Entry], slot: u32) {
        let hash = Self::hash(Self::id(slots, slot));
        self.0
            .insert_unique(hash, slot, |&slot| Self::hash(Self::id(slots, slot)));
    }

    /// The slot of `job`, about to be added, in one probe: the slot the table holds
    /// for its id if the job there is gone (its runs still executing), else a new slot
    /// from `new`, holding `job` and added to the table. `None` if a job holds the id.
    fn slot_for_new(
        &mut self,
        slots: &mut Vec<Entry>,
        job: &Arc<Job>,
        new: impl FnOnce(&mut Vec<Entry>) -> u32,
    ) -> Option<u32> {
        let id = &job.id;
        let hash = Self::hash(id);
        let found = self.0.entry(
            hash,
            |&slot| Self::id(slots, slot) == id.as_str(),
            |&slot| Self::hash(Self::id(slots, slot)),
        );
        match found {
            hashbrown::hash_table::Entry::Occupied(held) => {
                let slot = *held.get();
                (!slots[slot as usize].live).then_some(slot)
            }
            hashbrown::hash_table::Entry::Vacant(place) => {
                let slot = new(slots);
                slots[slot as usize].held = Some(Arc::clone(job));
                place.insert(slot);
                Some(slot)
            }
        }
    }

    fn remove(&mut self, slots: &[Entry], id: &str) {
        let found = self
            .0
            .find_entry(Self::hash(id), |&slot| Self::id(slots, slot) == id);
        if let Ok(entry) = found {
            entry.remove();
        }
    }

    fn reserve(&mut self, slots: &[Entry], more: usize) {
        self.0
            .reserve(more, |&slot| Self::hash(Self::id(slots, slot)));
    }
}

/// `(next run time, slot)` of the jobs waiting for their next run, in order: buckets
/// of 2²⁰ ns (about a millisecond) in an ordered map, each a vector of its keys.
///
/// A claim pops keys off the earliest bucket and puts each job back about a period
/// later, at the end of a later bucket: a push onto a vector, and a lookup among the
/// buckets (a thousand for runs spread over a second), not among the keys (a million).
/// A bucket is sorted once, when it becomes the earliest; jobs are put back in the
/// order they were claimed, so it usually is already. A key is 8 bytes (the time
/// within its bucket, then the slot); the time itself is read back from the slot's
/// entry (`Entry::next`). A bucket of one key (jobs spread thinly over time: a million
/// over an hour are one or none a bucket) keeps it inline, with no vector.
///
/// Keys are taken from and put back at the front of the earliest bucket in constant
/// time; any other change inside a bucket of more than [`Bucket::BIG`] keys (a
/// million jobs due at one instant, paused or removed one by one) first turns it into
/// an ordered set, so that no change costs more than a logarithm of the bucket, as the
/// appends and front takes of the common case cost nothing more.
#[derive(Debug, Default)]
struct DueIndex {
    buckets: BTreeMap<u64, Bucket>,
}

/// The keys of one bucket, `(time within the bucket, slot)` as one integer each.
#[derive(Debug)]
enum Bucket {
    One(u64),
    Many(Keys),
    /// A large bucket changed other than at its ends.
    Set(BTreeSet<u64>),
}

/// The keys of a bucket that has had more than one.
#[derive(Debug)]
struct Keys {
    keys: Vec<u64>,
    /// The keys before it are taken (the earliest bucket is consumed from the front).
    head: u32,
    /// `keys[head..]` are in order. Always so in the earliest bucket.
    sorted: bool,
}

impl Bucket {
    /// Above this many keys, a change in the middle (or of a bucket not sorted yet)
    /// makes the bucket a [`Bucket::Set`]: below it, moving keys costs at most a few
    /// microseconds.
    const BIG: usize = 4096;

    fn first(&self) -> Option<u64> {
        match self {
            Self::One(key) => Some(*key),
            Self::Many(keys) => keys.live().first().copied(),
            Self::Set(set) => set.first().copied(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::One(_) => false,
            Self::Many(keys) => keys.live().is_empty(),
            Self::Set(set) => set.is_empty(),
        }
    }

    /// The keys in order (one not sorted yet is sorted in a copy).
    fn sorted_keys(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Self::One(key) => Box::new(std::iter::once(*key)),
            Self::Many(keys) if keys.sorted => Box::new(keys.live().iter().copied()),
            Self::Many(keys) => {
                let mut copy = keys.live().to_vec();
                copy.sort_unstable();
                Box::new(copy.into_iter())
            }
            Self::Set(set) => Box::new(set.iter().copied()),
        }
    }

    fn sort(&mut self) {
        if let Self::Many(keys) = self {
            keys.sort();
        }
    }

    /// Makes a large vector of keys an ordered set (before a change in its middle).
    fn make_set_if_big(&mut self) {
        if let Self::Many(keys) = self {
            if keys.live().len() > Self::BIG {
                *self = Self::Set(keys.live().iter().copied().collect());
            }
        }
    }

    /// Adds `key`; `earliest`: this is the earliest bucket, kept in order.
    fn add(&mut self, key: u64, earliest: bool) {
        if let Self::One(first) = *self {
            *self = Self::Many(Keys {
                keys: vec![first],
                head: 0,
                sorted: true,
            });
        }
        match self {
            Self::One(_) => unreachable!("made a vector of keys above"),
            Self::Set(set) => {
                set.insert(key);
            }
            Self::Many(keys) => {
                if !keys.add_at_an_end(key, earliest) {
                    // In the middle of the earliest bucket.
                    self.make_set_if_big();
                    match self {
                        Self::Set(set) => {
                            set.insert(key);
                        }
                        Self::Many(keys) => keys.insert_in_order(key),
                        Self::One(_) => unreachable!("a bucket of keys stays one"),
                    }
                }
            }
        }
    }

    /// Removes `key` if it is here; whether the bucket is now empty.
    fn remove(&mut self, key: u64) -> bool {
        match self {
            Self::One(only) => return *only == key,
            Self::Many(keys) if keys.live().first() == Some(&key) => {
                keys.head += 1;
            }
            Self::Many(_) => {
                self.make_set_if_big();
                match self {
                    Self::Set(set) => {
                        set.remove(&key);
                    }
                    Self::Many(keys) => keys.remove(key),
                    Self::One(_) => unreachable!("a bucket of keys stays one"),
                }
            }
            Self::Set(set) => {
                set.remove(&key);
            }
        }
        self.is_empty()
    }

    /// Takes the first key; whether the bucket is now empty.
    fn pop_first(&mut self) -> bool {
        match self {
            Self::One(_) => return true,
            Self::Many(keys) => keys.head += 1,
            Self::Set(set) => {
                set.pop_first();
            }
        }
        self.is_empty()
    }
}

impl Keys {
    fn live(&self) -> &[u64] {
        &self.keys[self.head as usize..]
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.keys.drain(..self.head as usize);
            self.head = 0;
            self.keys.sort_unstable();
            self.sorted = true;
        }
    }

    /// Adds `key` after the last key, or (the earliest bucket, kept in order) before
    /// the first in a place taken from the front; `false`: it belongs in the middle.
    fn add_at_an_end(&mut self, key: u64, earliest: bool) -> bool {
        let in_order = self.live().last().is_none_or(|last| *last <= key);
        if in_order || !earliest {
            self.sorted &= in_order;
            self.keys.push(key);
            if earliest && !self.sorted {
                self.sort();
            }
            return true;
        }
        if self.head > 0 && self.live().first().is_some_and(|first| key <= *first) {
            // A job put back where it was just taken from (a claim that skipped it).
            self.head -= 1;
            self.keys[self.head as usize] = key;
            return true;
        }
        false
    }

    /// Inserts `key` in its place (a sorted vector).
    fn insert_in_order(&mut self, key: u64) {
        let at = self.head as usize + self.live().partition_point(|k| *k < key);
        self.keys.insert(at, key);
    }

    fn remove(&mut self, key: u64) {
        let head = self.head as usize;
        let found = if self.sorted {
            self.live().binary_search(&key).ok()
        } else {
            self.live().iter().position(|k| *k == key)
        };
        if let Some(at) = found {
            if self.sorted {
                self.keys.remove(head + at);
            } else {
                self.keys.swap_remove(head + at);
            }
        }
    }
}

impl DueIndex {
    /// Bits of a bucket: 2²⁰ ns.
    const SHIFT: u32 = 20;

    /// The bucket of `at` (seconds since the epoch, offset to be unsigned, then the
    /// nanoseconds' high bits: below 2¹¹, as they are below 2·10⁹ with a leap second)
    /// and its key there (the nanoseconds' low bits, then the slot).
    fn key(at: DateTime<Utc>, slot: u32) -> (u64, u64) {
        // chrono's instants lie within ±2⁴⁴ s of the epoch.
        let seconds = (at.timestamp() + (1 << 44)) as u64;
        let nanos = u64::from(at.timestamp_subsec_nanos());
        let bucket = (seconds << 11) | (nanos >> Self::SHIFT);
        let within = ((nanos & ((1 << Self::SHIFT) - 1)) << 32) | u64::from(slot);
        (bucket, within)
    }

    /// Below this many, entries added together are inserted one by one.
    const BULK: usize = 1024;

    fn insert(&mut self, at: DateTime<Utc>, slot: u32) {
        let (number, key) = Self::key(at, slot);
        self.insert_key(number, key);
    }

    /// Adds many entries: a batch of at least [`BULK`](Self::BULK), and a quarter of the
    /// buckets held, is sorted and merged with the buckets in one pass, which are then
    /// built again in bulk (a million jobs spread over an hour are a million buckets:
    /// one insert each would walk the map down a million times, missing the cache).
    fn extend(&mut self, entries: impl Iterator<Item = (DateTime<Utc>, u32)>) {
        let mut keys: Vec<(u64, u64)> = entries.map(|(at, slot)| Self::key(at, slot)).collect();
        if keys.len() < Self::BULK || keys.len() < self.buckets.len() / 4 {
            for (number, key) in keys {
                self.insert_key(number, key);
            }
            return;
        }
        keys.sort_unstable();
        let mut held = std::mem::take(&mut self.buckets).into_iter().peekable();
        let mut merged: Vec<(u64, Bucket)> = Vec::with_capacity(held.len() + keys.len());
        let mut new = keys.into_iter().peekable();
        while let Some((number, first)) = new.next() {
            while let Some(before) = held.next_if(|(n, _)| *n < number) {
                merged.push(before);
            }
            let mut bucket = match held.next_if(|(n, _)| *n == number) {
                Some((_, mut bucket)) => {
                    bucket.add(first, merged.is_empty());
                    bucket
                }
                None => Bucket::One(first),
            };
            while let Some((_, key)) = new.next_if(|(n, _)| *n == number) {
                bucket.add(key, merged.is_empty());
            }
            merged.push((number, bucket));
        }
        merged.extend(held);
        // In order, without duplicates: built in bulk, not sorted again.
        self.buckets = merged.into_iter().collect();
    }

    fn insert_key(&mut self, number: u64, key: u64) {
        let earliest = self
            .buckets
            .first_key_value()
            .is_none_or(|(n, _)| number <= *n);
        match self.buckets.entry(number) {
            std::collections::btree_map::Entry::Vacant(vacant) => {
                vacant.insert(Bucket::One(key));
            }
            std::collections::btree_map::Entry::Occupied(mut bucket) => {
                bucket.get_mut().add(key, earliest);
            }
        }
    }

    fn remove(&mut self, at: DateTime<Utc>, slot: u32) {
        let (number, key) = Self::key(at, slot);
        let Some(bucket) = self.buckets.get_mut(&number) else {
            return;
        };
        if bucket.remove(key) {
            self.buckets.remove(&number);
            self.sort_earliest();
        }
    }

    /// Keeps the earliest bucket in order (after the one before it went).
    fn sort_earliest(&mut self) {
        if let Some(mut first) = self.buckets.first_entry() {
            first.get_mut().sort();
        }
    }

    /// The slot of the earliest entry.
    fn first(&self) -> Option<u32> {
        let (_, bucket) = self.buckets.first_key_value()?;
        bucket.first().map(|key| key as u32)
    }

    fn pop_first(&mut self) {
        let Some(mut first) = self.buckets.first_entry() else {
            return;
        };
        if first.get_mut().pop_first() {
            first.remove();
            self.sort_earliest();
        }
    }

    /// The slots, earliest first (buckets not sorted yet are sorted in a copy).
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets
            .values()
            .flat_map(Bucket::sorted_keys)
            .map(|key| key as u32)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Entry {
    /// The job stored in this slot, if one is.
    fn job(&self) -> Option<&Arc<Job>> {
        self.held.as_ref().filter(|_| self.live)
    }

    /// The id the slot is found by: its job's, or that of the job whose runs still
    /// hold it.
    fn id(&self) -> Option<&JobId> {
        self.held.as_ref().map(|job| &job.id)
    }

    /// The job as stored, with its current next run time and paused flag.
    fn snapshot(&self) -> Option<Job> {
        let mut job = Job::clone(self.job()?);
        job.next_run_time = self.next;
        job.paused = self.paused;
        Some(job)
    }
}

impl Inner {
    fn allows(&self, slot: u32, filter: &Runnable) -> bool {
        self.slots[slot as usize]
            .job()
            .is_some_and(|job| filter.allows(&job.task))
    }

    /// [`allows`](Self::allows) for a claim's `filter`, remembered per entry while the
    /// filter stays the same `Arc` (the runtime hands the same one until its tasks
    /// change): a claim then reads no task name.
    #[inline]
    fn allows_cached(&mut self, slot: u32, filter: &Arc<Runnable>) -> bool {
        if !self.filter.as_ref().is_some_and(|f| Arc::ptr_eq(f, filter)) {
            self.filter = Some(Arc::clone(filter));
            self.filter_epoch = self.filter_epoch.wrapping_add(1).max(1);
            if self.filter_epoch == 1 {
                // Wrapped (or the first filter): no entry's mark may match by chance.
                self.slots.iter_mut().for_each(|entry| entry.allowed = 0);
            }
        }
        let epoch = self.filter_epoch;
        if self.slots[slot as usize].allowed == epoch {
            return true;
        }
        let allowed = self.allows(slot, filter);
        if allowed {
            self.entry(slot).allowed = epoch;
        }
        allowed
    }

    fn slot_of(&self, id: &str) -> Option<u32> {
        self.index.get(&self.slots, id)
    }

    fn entry(&mut self, slot: u32) -> &mut Entry {
        &mut self.slots[slot as usize]
    }

    fn job(&self, id: &str) -> Option<&Entry> {
        let slot = self.slot_of(id)?;
        let entry = &self.slots[slot as usize];
        entry.live.then_some(entry)
    }

    fn unindex(&mut self, slot: u32) {
        if let Some(at) = self.slots[slot as usize].next {
            self.due.remove(at, slot);
        }
    }

    fn reindex(&mut self, slot: u32) {
        let entry = &self.slots[slot as usize];
        if let (Some(at), false, true) = (entry.next, entry.paused, entry.live) {
            self.due.insert(at, slot);
        }
    }

    /// Stores `job` under its id, in its old slot if it has one.
    fn put(&mut self, job: Job) {
        let job = Arc::new(job);
        let slot = match self.slot_of(&job.id) {
            Some(slot) => {
                self.unindex(slot);
                slot
            }
            None => self.allocate(&job),
        };
        if job.paused && !self.waiting.is_empty() {
            // Paused: no run starts, a waiting one included.
            self.waiting.remove(&slot);
        }
        self.fill(slot, job);
    }

    /// Adds `job`, new (bulk adds: validated and looked up in one probe), not yet in
    /// the due index (see [`DueIndex::extend`]); its slot, or the error (nothing
    /// changed).
    fn add_new(&mut self, job: Arc<Job>) -> Result<u32> {
        job.validate()?;
        let Self {
            index, slots, free, ..
        } = self;
        let new = |slots: &mut Vec<Entry>| {
            free.pop().unwrap_or_else(|| {
                slots.push(Entry::default());
                u32::try_from(slots.len() - 1).expect("fewer than 4 billion jobs")
            })
        };
        let Some(slot) = index.slot_for_new(slots, &job, new) else {
            return Err(Error::DuplicateJobId(job.id.clone()));
        };
        self.hold(slot, job);
        Ok(slot)
    }

    /// Makes `job` the entry of `slot` (unindexed), and indexes it.
    fn fill(&mut self, slot: u32, job: Arc<Job>) {
        self.hold(slot, job);
        self.reindex(slot);
    }

    /// Makes `job` the entry of `slot`, not indexed.
    fn hold(&mut self, slot: u32, job: Arc<Job>) {
        let entry = self.entry(slot);
        entry.next = job.next_run_time;
        entry.paused = job.paused;
        entry.parked = false;
        entry.allowed = 0;
        entry.held = Some(job);
        entry.live = true;
    }

    /// Indexes the new entries in `slots` (see [`add_new`](Self::add_new)).
    fn index_new(&mut self, slots: &[u32]) {
        let entries = &self.slots;
        let due = slots.iter().filter_map(|&slot| {
            let entry = &entries[slot as usize];
            let at = entry.next.filter(|_| !entry.paused)?;
            Some((at, slot))
        });
        self.due.extend(due);
    }

    fn allocate(&mut self, job: &Arc<Job>) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Entry::default());
                u32::try_from(self.slots.len() - 1).expect("fewer than 4 billion jobs")
            }
        };
        self.entry(slot).held = Some(Arc::clone(job));
        self.index.insert(&self.slots, slot);
        slot
    }

    /// Drops the job in `slot`; the slot itself goes once its runs have ended.
    fn take(&mut self, slot: u32) -> Option<Job> {
        self.unindex(slot);
        if !self.waiting.is_empty() {
            self.waiting.remove(&slot);
        }
        if !self.retries.is_empty() {
            // Its pending retries go with it.
            self.retries.retain(|_, pending| pending.slot != slot);
        }
        if !self.backfilled.is_empty() {
            self.backfilled.remove(&slot);
        }
        let entry = self.entry(slot);
        let job = entry.snapshot();
        entry.live = false;
        entry.next = None;
        entry.parked = false;
        if !self.sets.is_empty() {
            self.sets.remove(&slot);
        }
        self.release_slot(slot);
        job
    }

    fn release_slot(&mut self, slot: u32) {
        let entry = &self.slots[slot as usize];
        if !entry.live && entry.running.is_empty() {
            if let Some(id) = entry.id().cloned() {
                // Found by its entry's id: removed while the entry still names it.
                self.index.remove(&self.slots, &id);
            }
            let entry = self.entry(slot);
            entry.held = None;
            entry.last_claimed = None;
            self.free.push(slot);
        }
    }

    // Inlined into the claim, its hot caller (`claim_now` is the other).
    #[inline(always)]
    fn start_run(
        &mut self,
        slot: u32,
        node: &Arc<str>,
        scheduled: DateTime<Utc>,
        attempt: u32,
    ) -> RunId {
        let index = match self.free_runs.pop() {
            Some(index) => index,
            None => {
                self.runs.push(None);
                u32::try_from(self.runs.len() - 1).expect("fewer than 4 billion runs at once")
            }
        };
        self.next_run_id = (self.next_run_id + 1) & 0x7fff_ffff;
        let id = (self.next_run_id << 32) | i64::from(index);
        self.runs[index as usize] = Some(Run {
            id,
            slot,
            node: Arc::clone(node),
            scheduled,
            attempt,
        });
        self.entry(slot).running.push(scheduled);
        RunId(id)
    }

    fn finish_run(&mut self, run_id: RunId) -> Option<Run> {
        let index = usize::try_from(run_id.0 & 0xffff_ffff).ok()?;
        let cell = self.runs.get_mut(index)?;
        if cell.as_ref().map(|run| run.id) != Some(run_id.0) {
            return None;
        }
        let run = cell.take()?;
        self.free_runs.push(u32::try_from(index).ok()?);
        self.entry(run.slot).running.remove(run.scheduled);
        self.release_slot(run.slot);
        Some(run)
    }

    /// Gives back `run_id`, claimed ahead and not started (see [`JobStore::unclaim`]):
    /// forgotten, its occurrence made the job's next run time again where the job
    /// restores it. Whether it was running.
    fn unclaim(&mut self, run_id: RunId) -> bool {
        let Some(run) = self.finish_run(run_id) else {
            return false;
        };
        let slot = run.slot;
        let entry = &self.slots[slot as usize];
        let Some(job) = entry.job().cloned() else {
            return true; // removed: nothing to give it back to
        };
        let restore = job.restores_with(entry.next, run.scheduled);
        let entry = self.entry(slot);
        if entry.last_claimed == Some(run.scheduled) {
            entry.last_claimed = None;
        }
        if restore {
            self.unindex(slot);
            self.entry(slot).next = Some(run.scheduled);
            self.reindex(slot);
        }
        true
    }

    /// Records the end of `end.run_id`: frees its instance, keeps its next attempt
    /// pending if it is retried (and its job is still here), and removes a parked job
    /// whose last run this was.
    #[inline]
    fn end_run(&mut self, end: &RunEnd) -> Result<()> {
        let run = self
            .finish_run(end.run_id)
            .ok_or(Error::RunNotFound(end.run_id.0))?;
        // Most runs are not retried, of jobs not parked: nothing more to do.
        if end.retry_at().is_some() || self.slots[run.slot as usize].parked {
            self.after_end(&run, end);
        }
        Ok(())
    }

    /// The rest of [`end_run`](Self::end_run), for a run retried or of a parked job.
    #[cold]
    fn after_end(&mut self, run: &Run, end: &RunEnd) {
        if let Some(due) = end.retry_at() {
            if self.slots[run.slot as usize].live {
                self.retry_seq += 1;
                let pending = Pending {
                    slot: run.slot,
                    scheduled: run.scheduled,
                    attempt: run.attempt.saturating_add(1),
                    due,
                };
                self.retries.insert((due, self.retry_seq), pending);
            }
        }
        if let Some(id) = self.settle(run.slot) {
            self.removed.push(id);
        }
    }

    /// Removes the parked job in `slot` once nothing of it can run any more (no run
    /// executing, waiting or pending a retry); its id if it did.
    fn settle(&mut self, slot: u32) -> Option<JobId> {
        let entry = &self.slots[slot as usize];
        if !entry.parked || !entry.running.is_empty() || self.waiting.contains_key(&slot) {
            return None;
        }
        if self.retries.values().any(|pending| pending.slot == slot) {
            return None;
        }
        self.take(slot).map(|job| job.id)
    }

    /// Whether the job in `slot` has no instance free.
    fn at_limit(&self, slot: u32, job: &Job) -> bool {
        let running = self.slots[slot as usize].running.len();
        u32::try_from(running).unwrap_or(u32::MAX) >= job.options.max_instances
    }

    /// Starts the pending retries due by `request.now` (at most `limit`) whose job has
    /// an instance free; those at the limit are looked at again [`RETRY_RECHECK`] later.
    /// Those of paused jobs, or of tasks this node lacks, stay pending.
    #[cold]
    fn claim_retries(
        &mut self,
        request: &AcquireRequest,
        node: &Arc<str>,
        limit: usize,
        acquired: &mut Acquired,
    ) -> usize {
        let due: Vec<RetryKey> = self
            .retries
            .range(..=(request.now, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        let mut started = 0;
        for key in due {
            if started >= limit {
                break;
            }
            let Some(&pending) = self.retries.get(&key) else {
                continue;
            };
            let entry = &self.slots[pending.slot as usize];
            let Some(job) = entry.job().cloned() else {
                self.retries.remove(&key);
                continue;
            };
            if entry.paused
                || request
                    .runnable
                    .as_deref()
                    .is_some_and(|f| !f.allows(&job.task))
            {
                continue;
            }
            self.retries.remove(&key);
            if self.at_limit(pending.slot, &job) {
                self.retry_seq += 1;
                let again = request.now + RETRY_RECHECK;
                self.retries.insert((again, self.retry_seq), pending);
                continue;
            }
            self.start_pending(pending, job, node, acquired);
            started += 1;
        }
        started
    }

    fn start_pending(
        &mut self,
        pending: Pending,
        job: Arc<Job>,
        node: &Arc<str>,
        acquired: &mut Acquired,
    ) {
        let run_id = self.start_run(pending.slot, node, pending.scheduled, pending.attempt);
        let run = ClaimedRun::new(run_id, job, pending.scheduled).attempt(pending.attempt);
        acquired.runs.push(run);
    }

    /// Starts the retries of the job in `slot` that are due by `now` (in order) while it
    /// has instances free; a paused job's stay pending.
    #[cold]
    fn start_due_retries(
        &mut self,
        slot: u32,
        job: &Arc<Job>,
        now: DateTime<Utc>,
        node: &Arc<str>,
        acquired: &mut Acquired,
    ) {
        if self.slots[slot as usize].paused {
            return;
        }
        let mut due: Vec<(RetryKey, DateTime<Utc>)> = self
            .retries
            .iter()
            .filter(|(_, pending)| pending.slot == slot && pending.due <= now)
            .map(|(key, pending)| (*key, pending.due))
            .collect();
        due.sort_by_key(|(key, at)| (*at, key.1));
        for (key, _) in due {
            if self.at_limit(slot, job) {
                return;
            }
            if let Some(pending) = self.retries.remove(&key) {
                self.start_pending(pending, Arc::clone(job), node, acquired);
            }
        }
    }

    /// Runs of `job_id` standing for `times`, whatever its schedule and paused flag, if
    /// it has an instance free (otherwise a `MaxInstances` skip): "run now", or a
    /// `backfill` (one backlog as wide as the instances free; an occurrence running,
    /// or backfilled before, passed over).
    fn claim_at(
        &mut self,
        job_id: &str,
        times: &[DateTime<Utc>],
        request: &AcquireRequest,
        backfill: bool,
    ) -> Result<Acquired> {
        let slot = self
            .job(job_id)
            .and_then(|_| self.slot_of(job_id))
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?;
        let node = self.node(&request.node);
        let entry = &self.slots[slot as usize];
        let Some(job) = entry.job().cloned() else {
            return Err(Error::JobNotFound(job_id.into()));
        };
        let id = job.id.clone();
        let mut acquired = Acquired::default();
        let running = u32::try_from(entry.running.len()).unwrap_or(u32::MAX);
        let free = job.options.max_instances.saturating_sub(running);
        if free == 0 {
            let skip = SkippedRuns::max_instances(id, request.now);
            acquired.skipped.push(skip);
            return Ok(acquired);
        }
        for &at in times {
            if backfill {
                let done = self
                    .backfilled
                    .get(&slot)
                    .is_some_and(|ran| ran.contains(&at));
                if done || self.slots[slot as usize].running.contains(&at) {
                    continue;
                }
                self.backfilled.entry(slot).or_default().insert(at);
            }
            let run_id = self.start_run(slot, &node, at, 1);
            let run = ClaimedRun::new(run_id, Arc::clone(&job), at);
            acquired.runs.push(if backfill {
                run.catch_up(Some(free)).backfill(true)
            } else {
                run
            });
        }
        Ok(acquired)
    }

    fn node(&mut self, node: &str) -> Arc<str> {
        match &self.node {
            Some(known) if &**known == node => Arc::clone(known),
            _ => {
                let node: Arc<str> = Arc::from(node);
                self.node = Some(Arc::clone(&node));
                node
            }
        }
    }

    /// Claims the job in `slot` (due at `due`, taken out of the due index) with the
    /// claim planner, and carries out its plan. Returns whether the plan did anything
    /// (a job claimed ahead that had no free instance is left as it was).
    fn claim(
        &mut self,
        slot: u32,
        due: DateTime<Utc>,
        planner: &Planner,
        node: &Arc<str>,
        acquired: &mut Acquired,
    ) -> bool {
        let entry = &self.slots[slot as usize];
        let Some(job) = entry.job().cloned() else {
            return false;
        };
        let waiting = if self.waiting.is_empty() {
            None
        } else {
            self.waiting.get(&slot).copied()
        };
        let plan = planner.plan_job(Candidate {
            job: &job,
            due,
            running: entry.running.as_slice(),
            last_claimed: entry.last_claimed,
            waiting,
        });
        let touched = plan.next != NextRun::Unchanged || !plan.runs.is_empty();
        if !plan.skipped.is_empty() {
            acquired.skipped.extend(plan.skipped);
        }
        match plan.waiting {
            None => {}
            Some(Some(at)) => {
                self.waiting.insert(slot, at);
            }
            Some(None) => {
                self.waiting.remove(&slot);
            }
        }
        if let Some(at) = plan.supersede {
            let run = self.runs.iter().flatten();
            let mut run = run.filter(|run| run.slot == slot && run.scheduled == at);
            acquired.cancel.extend(run.next().map(|run| RunId(run.id)));
        }
        for scheduled in plan.runs {
            let run_id = self.start_run(slot, node, scheduled, 1);
            let last = &mut self.entry(slot).last_claimed;
            *last = (*last).max(Some(scheduled));
            acquired.runs.push(ClaimedRun {
                run_id,
                job_id: job.id.clone(),
                job: Arc::clone(&job),
                scheduled,
                catch_up: plan.catch_up,
                attempt: 1,
                backfill: false,
            });
        }
        match plan.next {
            NextRun::Unchanged => self.reindex(slot),
            NextRun::At(at) => {
                self.entry(slot).next = Some(at);
                self.reindex(slot);
            }
            NextRun::Unknown => {
                // Kept, not claimed again: no next run time.
                self.entry(slot).next = None;
                acquired.errors.push(Error::NoNextFireTime {
                    job_id: job.id.clone(),
                });
            }
            // Nothing here can be abandoned: parked only while a run waits (its trigger
            // done), until `claim_waiting` starts it, or while a run may be retried,
            // until the last one ended.
            NextRun::Parked if job.options.retry.is_some() => {
                let entry = self.entry(slot);
                entry.next = None;
                entry.parked = true;
                // Nothing of it left to run (no run started now, none pending): gone.
                if self.settle(slot).is_some() {
                    acquired.finished.push(job.id.clone());
                }
            }
            NextRun::Parked if self.waiting.contains_key(&slot) => {
                self.entry(slot).next = None;
            }
            NextRun::Finished | NextRun::Parked => {
                acquired.finished.push(job.id.clone());
                self.take(slot);
            }
        }
        touched
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()> {
        job.validate()?;
        let mut inner = self.inner.lock();
        if !replace_existing && inner.job(&job.id).is_some() {
            return Err(Error::DuplicateJobId(job.id));
        }
        inner.put(job);
        Ok(())
    }

    /// Each job is checked, looked up and added in one pass (one probe of the id table
    /// each); on an error, those added before it are taken out again.
    async fn add_jobs(&self, jobs: Vec<Arc<Job>>) -> Result<()> {
        let mut inner = self.inner.lock();
        let free = inner.free.len();
        inner.slots.reserve(jobs.len().saturating_sub(free));
        let Inner { index, slots, .. } = &mut *inner;
        index.reserve(slots, jobs.len());
        let mut added = Vec::with_capacity(jobs.len());
        let mut failed = None;
        for job in jobs {
            match inner.add_new(job) {
                Ok(slot) => added.push(slot),
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        inner.index_new(&added);
        if let Some(error) = failed {
            for slot in added.into_iter().rev() {
                inner.take(slot);
            }
            return Err(error);
        }
        Ok(())
    }

    async fn update_job(&self, job: Job) -> Result<()> {
        job.validate()?;
        let mut inner = self.inner.lock();
        if inner.job(&job.id).is_none() {
            return Err(Error::JobNotFound(job.id));
        }
        inner.put(job);
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<Job> {
        let mut inner = self.inner.lock();
        let slot = inner.job(id).and_then(|_| inner.slot_of(id));
        slot.and_then(|slot| inner.take(slot))
            .ok_or_else(|| Error::JobNotFound(id.into()))
    }

    async fn remove_all_jobs(&self) -> Result<u64> {
        let mut inner = self.inner.lock();
        let slots: Vec<u32> = (0..inner.slots.len())
            .filter_map(|s| u32::try_from(s).ok())
            .filter(|s| inner.slots[*s as usize].live)
            .collect();
        for slot in &slots {
            inner.take(*slot);
        }
        Ok(slots.len() as u64)
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        self.inner
            .lock()
            .job(id)
            .and_then(Entry::snapshot)
            .ok_or_else(|| Error::JobNotFound(id.into()))
    }

    async fn list_jobs(&self) -> Result<Vec<Job>> {
        let mut jobs: Vec<Job> = self
            .inner
            .lock()
            .slots
            .iter()
            .filter_map(Entry::snapshot)
            .collect();
        jobs.sort_by(|a, b| {
            // Unscheduled jobs sort after scheduled ones: `None` is "never".
            let key = |j: &Job| {
                let never = j.next_run_time.is_none();
                (j.paused || never, never, j.next_run_time)
            };
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(jobs)
    }

    async fn census(&self, runnable: &Runnable) -> Result<Census> {
        let inner = self.inner.lock();
        let mut census = Census::default();
        for entry in &inner.slots {
            let Some(job) = entry.job() else { continue };
            census.jobs += 1;
            if !runnable.allows(&job.task) {
                census.unrunnable.push((job.id.clone(), job.task.clone()));
            }
        }
        Ok(census)
    }

    async fn next_due(&self, runnable: Option<&Runnable>) -> Result<Option<DateTime<Utc>>> {
        let inner = self.inner.lock();
        let next = match runnable {
            None => inner
                .due
                .first()
                .and_then(|slot| inner.slots[slot as usize].next),
            Some(filter) => {
                let first = inner.due.iter().find(|slot| inner.allows(*slot, filter));
                first.and_then(|slot| inner.slots[slot as usize].next)
            }
        };
        if inner.retries.is_empty() {
            return Ok(next);
        }
        // The first pending retry this node could start (not of a paused job), when a
        // claim looks at it.
        let retry = inner.retries.iter().find(|(_, pending)| {
            let entry = &inner.slots[pending.slot as usize];
            !entry.paused && runnable.is_none_or(|filter| inner.allows(pending.slot, filter))
        });
        let retry = retry.map(|((at, _), _)| *at);
        Ok(match (next, retry) {
            (Some(next), Some(retry)) => Some(next.min(retry)),
            (next, retry) => next.or(retry),
        })
    }

    async fn acquire(&self, request: AcquireRequest) -> Result<Acquired> {
        let mut inner = self.inner.lock();
        let node = inner.node(&request.node);
        let mut acquired = Acquired::default();
        let filter = request.runnable.as_ref();
        // Due jobs this node cannot run are set aside and put back: they stay due, for
        // another node.
        let mut elsewhere = Vec::new();
        let mut claimed = 0;
        if !inner.retries.is_empty() {
            // Retries first: their occurrences are older.
            claimed = inner.claim_retries(&request, &node, request.limit, &mut acquired);
        }
        let horizon = request.horizon();
        let planner = Planner::new(request.now, horizon);
        // Jobs claimed by this call (kept when claiming ahead: a job claimed here whose
        // next run falls inside the horizon is not taken twice).
        let mut taken = std::collections::HashSet::<u32, FastHash>::default();
        while claimed < request.limit {
            let Some(slot) = inner.due.first() else {
                break;
            };
            let Some(due) = inner.slots[slot as usize].next else {
                inner.due.pop_first(); // not due (never indexed so)
                continue;
            };
            if due > horizon {
                break;
            }
            inner.due.pop_first();
            if filter.is_some_and(|f| !inner.allows_cached(slot, f)) {
                elsewhere.push((due, slot));
                continue;
            }
            if due > request.now && taken.contains(&slot) {
                // Claimed ahead once per claim (the planner decides whether it can be).
                elsewhere.push((due, slot));
                continue;
            }
            if !request.ahead.is_zero() {
                taken.insert(slot);
            }
            // Only jobs the claim did something with count toward its limit.
            if inner.claim(slot, due, &planner, &node, &mut acquired) {
                claimed += 1;
            }
        }
        for (at, slot) in elsewhere {
            inner.due.insert(at, slot);
        }
        if acquired
            .runs
            .windows(2)
            .any(|w| w[0].scheduled > w[1].scheduled)
        {
            acquired.runs.sort_by_key(|run| run.scheduled);
        }
        Ok(acquired)
    }

    async fn claim_now(&self, job_id: &str, request: AcquireRequest) -> Result<Acquired> {
        self.inner
            .lock()
            .claim_at(job_id, &[request.now], &request, false)
    }

    /// Without a history, an occurrence counts as recorded while it runs, or once a
    /// backfill ran it.
    async fn claim_backfill(
        &self,
        job_id: &str,
        times: &[DateTime<Utc>],
        request: AcquireRequest,
    ) -> Result<Acquired> {
        self.inner.lock().claim_at(job_id, times, &request, true)
    }

    async fn claim_waiting(&self, job_ids: &[JobId], request: AcquireRequest) -> Result<Acquired> {
        let mut inner = self.inner.lock();
        let mut acquired = Acquired::default();
        if inner.waiting.is_empty() && inner.retries.is_empty() {
            return Ok(acquired);
        }
        let node = inner.node(&request.node);
        for job_id in job_ids {
            let Some(slot) = inner.job(job_id).and_then(|_| inner.slot_of(job_id)) else {
                continue;
            };
            let Some(job) = inner.slots[slot as usize].job().cloned() else {
                continue;
            };
            if !inner.retries.is_empty() {
                inner.start_due_retries(slot, &job, request.now, &node, &mut acquired);
            }
            let Some(&at) = inner.waiting.get(&slot) else {
                continue;
            };
            if inner.at_limit(slot, &job) {
                continue;
            }
            inner.waiting.remove(&slot);
            let run_id = inner.start_run(slot, &node, at, 1);
            let last = &mut inner.entry(slot).last_claimed;
            *last = (*last).max(Some(at));
            acquired
                .runs
                .push(ClaimedRun::new(run_id, Arc::clone(&job), at));
            let entry = &inner.slots[slot as usize];
            if entry.next.is_none() && !entry.parked {
                // Kept only for this run: its trigger is done.
                acquired.finished.push(job.id.clone());
                inner.take(slot);
            }
        }
        Ok(acquired)
    }

    async fn complete_many(&self, done: Vec<RunEnd>) -> Vec<Result<()>> {
        let mut inner = self.inner.lock();
        let results = done.iter().map(|end| inner.end_run(end)).collect();
        if !inner.removed.is_empty() {
            self.removed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        results
    }

    fn take_removed(&self) -> Vec<JobId> {
        if !self
            .removed
            .swap(false, std::sync::atomic::Ordering::Acquire)
        {
            return Vec::new();
        }
        std::mem::take(&mut self.inner.lock().removed)
    }

    async fn unclaim(&self, runs: &[RunId]) -> Result<u64> {
        let mut inner = self.inner.lock();
        Ok(runs.iter().filter(|run| inner.unclaim(**run)).count() as u64)
    }

    async fn release(&self, node: &str) -> Result<u64> {
        let mut inner = self.inner.lock();
        let mine: Vec<i64> = inner
            .runs
            .iter()
            .flatten()
            .filter(|run| &*run.node == node)
            .map(|run| run.id)
            .collect();
        for run_id in &mine {
            inner.finish_run(RunId(*run_id));
        }
        Ok(mine.len() as u64)
    }

    /// A running run is reported with its node; a run that ended is forgotten, so
    /// an id this store issued is [`CancelRequest::Ended`], any other is unknown.
    /// (One process holds a memory store: its scheduler cancels its own runs.)
    async fn request_cancel(&self, run_id: RunId) -> Result<CancelRequest> {
        let inner = self.inner.lock();
        let index = usize::try_from(run_id.0 & 0xffff_ffff).unwrap_or(usize::MAX);
        if let Some(Some(run)) = inner.runs.get(index) {
            if run.id == run_id.0 {
                return Ok(CancelRequest::Running {
                    node: run.node.to_string(),
                });
            }
        }
        let sequence = run_id.0 >> 32;
        if run_id.0 > 0 && sequence >= 1 && sequence <= inner.next_run_id {
            Ok(CancelRequest::Ended)
        } else {
            Err(Error::RunNotFound(run_id.0))
        }
    }

    /// Also drops the job's pending retries (none of them has started).
    async fn request_cancel_job(&self, job_id: &str) -> Result<Vec<RunId>> {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.slot_of(job_id) else {
            return Ok(Vec::new());
        };
        if !inner.retries.is_empty() {
            inner.retries.retain(|_, pending| pending.slot != slot);
            inner.settle(slot);
        }
        Ok(inner
            .runs
            .iter()
            .flatten()
            .filter(|run| run.slot == slot)
            .map(|run| RunId(run.id))
            .collect())
    }

    async fn sync_jobs(&self, set: &str, jobs: Vec<Job>, now: DateTime<Utc>) -> Result<SyncReport> {
        check_declared(&jobs)?;
        let mut inner = self.inner.lock();
        // Everything is decided before anything changes: an error changes nothing.
        let mut merged = Vec::with_capacity(jobs.len());
        for job in jobs {
            let stored = inner.job(&job.id);
            if stored.is_some() {
                let owner = inner
                    .slot_of(&job.id)
                    .and_then(|slot| inner.sets.get(&slot));
                if owner.map(|owner| &**owner) != Some(set) {
                    return Err(Error::JobOutsideSet {
                        job_id: job.id.clone(),
                        set: set.to_owned(),
                        owner: owner.map(|owner| owner.to_string()),
                    });
                }
            }
            let snapshot = stored.and_then(Entry::snapshot);
            merged.push(merge_declared(job, snapshot.as_ref(), now)?);
        }
        let declared: HashSet<&str> = merged.iter().map(|(job, _)| job.id.as_str()).collect();
        let gone: Vec<JobId> = inner
            .sets
            .iter()
            .filter(|(_, owner)| &***owner == set)
            .map(|(slot, _)| &inner.slots[*slot as usize])
            .filter_map(|e| e.job().map(|job| job.id.clone()))
            .filter(|id| !declared.contains(id.as_str()))
            .collect();
        let mut gone = gone;
        gone.sort();
        let mut report = SyncReport::default();
        let name: Arc<str> = Arc::from(set);
        for (job, change) in merged {
            let id = job.id.clone();
            if change != Change::Unchanged {
                inner.put(job);
                if let Some(slot) = inner.slot_of(&id) {
                    inner.sets.insert(slot, Arc::clone(&name));
                }
            }
            report.note(id, change);
        }
        for id in gone {
            if let Some(slot) = inner.slot_of(&id) {
                inner.take(slot);
            }
            report.removed.push(id);
        }
        Ok(report)
    }

    async fn running(&self, job_id: &str) -> Result<u32> {
        let inner = self.inner.lock();
        let count = inner
            .slot_of(job_id)
            .map_or(0, |slot| inner.slots[slot as usize].running.len());
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, NaiveDate, Utc};

    use super::{Bucket, DueIndex, MemoryStore};
    use crate::store::{contract, JobStore};

    #[test]
    fn due_index_keys_order_as_time_then_slot() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("test time");
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second")
            .and_utc();
        // In order: far past, before the epoch, around the epoch, sub-second steps, a
        // leap second, far future; each time with two slots.
        let times = [
            DateTime::<Utc>::MIN_UTC,
            at("1900-01-01T00:00:00Z"),
            at("1969-12-31T23:59:59.999999999Z"),
            at("1970-01-01T00:00:00Z"),
            at("2016-12-31T23:59:59.000000001Z"),
            at("2016-12-31T23:59:59.999999999Z"),
            leap,
            at("2017-01-01T00:00:00Z"),
            DateTime::<Utc>::MAX_UTC,
        ];
        let keys: Vec<(u64, u64)> = times
            .iter()
            .flat_map(|t| [DueIndex::key(*t, 0), DueIndex::key(*t, u32::MAX)])
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let mut index = DueIndex::default();
        for (slot, t) in times.iter().enumerate().rev() {
            index.insert(*t, slot as u32);
        }
        assert_eq!(index.iter().collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
        index.remove(times[0], 0);
        assert_eq!(index.first(), Some(1));
    }

    /// The bucketed index against an ordered set of `(time, slot)`, over a long run of
    /// inserts (in order, out of order, into the earliest bucket and later ones, many
    /// at one instant), removals and pops.
    #[test]
    fn due_index_orders_as_a_sorted_set() {
        use std::collections::BTreeSet;

        let base = "2026-03-29T00:59:59.990Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let mut next = xorshift(0x2545_f491_4f6c_dd1d_u64);
        let mut index = DueIndex::default();
        let mut model = BTreeSet::<(DateTime<Utc>, u32)>::new();
        for step in 0..40_000u32 {
            match next(10) {
                0..=4 => {
                    // Mostly a few instants (same bucket, same time), some spread
                    // over 30 ms (several buckets), some over 10 s (buckets of one).
                    let offset = match next(4) {
                        0 => [0, 1, 1_048_575, 1_048_576][next(4) as usize],
                        // Buckets of one key, now and then a second.
                        1 => next(10_000_000_000) as i64,
                        _ => next(30_000_000) as i64,
                    };
                    let at = base + chrono::Duration::nanoseconds(offset);
                    let slot = next(500) as u32;
                    if model.insert((at, slot)) {
                        index.insert(at, slot);
                    }
                }
                5..=6 => {
                    let k = if next(2) == 0 {
                        next(8)
                    } else {
                        next(model.len() as u64 + 1)
                    };
                    if let Some(&(at, slot)) = model.iter().nth(k as usize) {
                        model.remove(&(at, slot));
                        index.remove(at, slot);
                    }
                }
                _ => {
                    let first = model.pop_first();
                    assert_eq!(index.first(), first.map(|(_, slot)| slot), "step {step}");
                    index.pop_first();
                }
            }
            same_order(&index, &model, step, step % 997 == 0);
        }
        assert!(!model.is_empty(), "the run ends with keys left to compare");
    }

    /// Buckets far above `Bucket::BIG` (most jobs due at one instant): filled in
    /// ascending and descending slot order, changed in their middle, taken from and put
    /// back at their front — in order throughout, as an ordered set is.
    #[test]
    fn due_index_keeps_large_buckets_in_order() {
        use std::collections::BTreeSet;

        let base = "2026-03-29T01:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let times = [
            base,
            base + chrono::Duration::nanoseconds(1),
            base + chrono::Duration::milliseconds(2),
        ];
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15_u64);
        let mut index = DueIndex::default();
        let mut model = BTreeSet::<(DateTime<Utc>, u32)>::new();
        let slots = 3 * Bucket::BIG as u32;
        // The later bucket fills in descending order (not sorted until it is the
        // earliest), the earliest in ascending order.
        for slot in (0..slots).rev() {
            model.insert((times[2], slot));
            index.insert(times[2], slot);
        }
        for slot in 0..slots {
            model.insert((times[0], slot));
            index.insert(times[0], slot);
        }
        for step in 0..60_000u32 {
            match next(8) {
                0 | 1 => {
                    let at = times[next(3) as usize];
                    let slot = next(u64::from(slots)) as u32;
                    if model.insert((at, slot)) {
                        index.insert(at, slot);
                    }
                }
                2 | 3 => {
                    let at = times[next(3) as usize];
                    let slot = next(u64::from(slots)) as u32;
                    if model.remove(&(at, slot)) {
                        index.remove(at, slot);
                    }
                }
                4 | 5 => {
                    // Taken and put back (a claim that passed the job over).
                    if let Some(&(at, slot)) = model.first() {
                        assert_eq!(index.first(), Some(slot), "step {step}");
                        index.pop_first();
                        index.insert(at, slot);
                    }
                }
                _ => {
                    let first = model.pop_first();
                    assert_eq!(index.first(), first.map(|(_, slot)| slot), "step {step}");
                    index.pop_first();
                }
            }
            same_order(&index, &model, step, step % 4_999 == 0);
        }
        assert!(model.len() > Bucket::BIG, "large buckets to the end");
        same_order(&index, &model, u32::MAX, true);
    }

    /// Batches added at once (`extend`: merged in bulk above `DueIndex::BULK`, one by
    /// one below it), into an empty index and into one holding buckets they share —
    /// the earliest among them, partly taken — then taken and changed: in order
    /// throughout, as an ordered set is.
    #[test]
    fn due_index_merges_batches_in_order() {
        use std::collections::BTreeSet;

        let base = "2026-10-25T00:59:59.999Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let mut next = xorshift(0x6a09_e667_f3bc_c908_u64);
        let mut index = DueIndex::default();
        let mut model = BTreeSet::<(DateTime<Utc>, u32)>::new();
        let mut slot = 0u32;
        let mut merged = 0;
        for round in 0..40u32 {
            // A batch of 0 to ~3 × BULK entries over 50 ms or 2 s, out of order, some
            // at one instant (one bucket): buckets new and held, before and after the
            // earliest.
            let size = next(3 * DueIndex::BULK as u64) as usize;
            let span = if next(2) == 0 {
                50_000_000
            } else {
                2_000_000_000
            };
            let batch: Vec<(DateTime<Utc>, u32)> = (0..size)
                .map(|_| {
                    slot += 1;
                    let offset = if next(5) == 0 { 7 } else { next(span) as i64 };
                    (base + chrono::Duration::nanoseconds(offset), slot)
                })
                .collect();
            merged += usize::from(size >= DueIndex::BULK && size >= index.buckets.len() / 4);
            model.extend(batch.iter().copied());
            index.extend(batch.into_iter());
            same_order(&index, &model, round, true);
            // Some taken from the front, some removed from the middle.
            for step in 0..next(400) {
                if next(3) == 0 {
                    let k = next(model.len() as u64 + 1) as usize;
                    if let Some(&(at, slot)) = model.iter().nth(k) {
                        model.remove(&(at, slot));
                        index.remove(at, slot);
                    }
                } else {
                    let first = model.pop_first();
                    assert_eq!(
                        index.first(),
                        first.map(|(_, s)| s),
                        "round {round} step {step}"
                    );
                    index.pop_first();
                }
            }
            same_order(&index, &model, round, true);
        }
        assert!(merged >= 5, "batches merged in bulk: {merged}");
        assert!(!model.is_empty(), "keys left to compare");
    }

    /// A reproducible stream of numbers below `n` (xorshift64).
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// The index's first slot is the model's; with `whole`, so is every slot in order.
    fn same_order(
        index: &DueIndex,
        model: &std::collections::BTreeSet<(DateTime<Utc>, u32)>,
        step: u32,
        whole: bool,
    ) {
        assert_eq!(
            index.first(),
            model.first().map(|(_, slot)| *slot),
            "step {step}"
        );
        if whole {
            let slots: Vec<u32> = model.iter().map(|(_, slot)| *slot).collect();
            assert_eq!(index.iter().collect::<Vec<_>>(), slots, "step {step}");
        }
    }

    #[test]
    fn running_times_go_from_none_to_many_and_back() {
        use super::Running;

        let at = |s: u32| DateTime::<Utc>::from_timestamp(i64::from(s), 0).expect("time");
        let mut running = Running::default();
        assert!(running.is_empty());
        running.push(at(1));
        assert!(matches!(running, Running::One(_)));
        running.push(at(2));
        running.push(at(1)); // the same occurrence twice (a backfill and a run now)
        assert_eq!(running.len(), 3);
        running.remove(at(1));
        assert_eq!(running.len(), 2);
        assert!(running.contains(&at(1)) && running.contains(&at(2)));
        running.remove(at(3)); // not running: nothing changes
        assert_eq!(running.len(), 2);
        running.remove(at(2));
        assert_eq!(running.as_slice(), [at(1)]);
        assert!(matches!(running, Running::One(_)), "back inline");
        running.remove(at(1));
        assert!(running.is_empty() && matches!(running, Running::None));
    }

    fn fresh() -> Arc<dyn JobStore> {
        Arc::new(MemoryStore::new())
    }

    #[tokio::test]
    async fn passes_the_contract() {
        contract::run_all(|| async { fresh() }).await;
    }

    /// The suite's futures are `Send`: a store's tests may spawn them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_runs_on_a_spawned_task() {
        tokio::spawn(contract::concurrent_claims(fresh()))
            .await
            .expect("the contract check panicked");
    }

    /// A job claimed ahead without a free instance is left for later and does not use
    /// up the claim's limit: the next job inside the horizon is claimed instead.
    #[tokio::test]
    async fn a_job_at_max_instances_does_not_use_up_a_claim_ahead() {
        use std::time::Duration;

        use crate::job::Job;
        use crate::store::AcquireRequest;
        use crate::trigger::Trigger;

        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("test time");
        let store = MemoryStore::new();
        let every_second = |id: &str, start: &str| {
            Job::new(
                id,
                "t",
                Trigger::interval(Duration::from_secs(1)).start(at(start)),
            )
            .schedule(at(start))
            .expect("valid")
        };
        store
            .add_job(every_second("busy", "2026-01-01T00:00:00Z"), false)
            .await
            .expect("added");
        store
            .add_job(every_second("free", "2026-01-01T00:00:01.300Z"), false)
            .await
            .expect("added");
        // `busy` runs its 00:00 occurrence: at max_instances (1) from then on.
        let first = store
            .acquire(AcquireRequest::new("n", at("2026-01-01T00:00:00Z")))
            .await
            .expect("claimed");
        assert_eq!(first.runs.len(), 1);
        let ahead = AcquireRequest::new("n", at("2026-01-01T00:00:00.900Z"))
            .limit(1)
            .ahead(Duration::from_millis(500));
        let acquired = store.acquire(ahead).await.expect("claimed");
        let claimed: Vec<&str> = acquired.runs.iter().map(|r| r.job_id.as_str()).collect();
        assert_eq!(
            claimed,
            ["free"],
            "busy is due first (00:01) but has no instance free"
        );
        assert_eq!(
            acquired.runs[0].scheduled,
            at("2026-01-01T00:00:01.300Z"),
            "claimed ahead, at its own time"
        );
    }

    /// A bulk add may reuse the id of a removed job whose run still executes (that run
    /// still counts for the new job's instances); one refused takes out what it added.
    #[tokio::test]
    async fn a_bulk_add_takes_the_id_of_a_removed_job_still_running() {
        use std::time::Duration;

        use crate::error::Error;
        use crate::job::Job;
        use crate::store::AcquireRequest;
        use crate::trigger::Trigger;

        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("test time");
        let start = at("2026-01-01T00:00:00Z");
        let job = |id: &str| {
            Job::new(
                id,
                "t",
                Trigger::interval(Duration::from_secs(60)).start(start),
            )
            .schedule(start)
            .expect("valid")
        };
        let store = MemoryStore::new();
        store.add_job(job("a"), false).await.expect("added");
        let claimed = store
            .acquire(AcquireRequest::new("n", start))
            .await
            .expect("claimed");
        assert_eq!(claimed.runs.len(), 1);
        store.remove_job("a").await.expect("removed");
        store
            .add_jobs(vec![job("a").into(), job("b").into()])
            .await
            .expect("a's id is free: its job is gone");
        assert_eq!(store.running("a").await.expect("count"), 1, "a's run");
        match store
            .add_jobs(vec![job("c").into(), job("d").into(), job("b").into()])
            .await
        {
            Err(Error::DuplicateJobId(id)) => assert_eq!(id.as_str(), "b"),
            other => panic!("b is held: {other:?}"),
        }
        let ids: Vec<String> = store
            .list_jobs()
            .await
            .expect("listed")
            .into_iter()
            .map(|job| job.id.to_string())
            .collect();
        assert_eq!(ids, ["a", "b"], "c and d taken out again");
        for id in ["c", "d"] {
            assert!(matches!(
                store.get_job(id).await,
                Err(Error::JobNotFound(_))
            ));
        }
        store
            .add_jobs(vec![job("c").into()])
            .await
            .expect("c's id was freed");
    }

    #[tokio::test]
    async fn ten_thousand_jobs_each_claimed_once() {
        contract::claims_each_due_job_once(fresh(), 10_000).await;
    }
}
