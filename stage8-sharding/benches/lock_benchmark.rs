//! What one balance increment costs when several threads increment at once, for the five
//! ways of sharing the balances that stages 7 and 8 discuss, and a control for the fifth:
//!
//! - `mutex`: one `Mutex<HashMap<String, i64>>` (stage 7's ledger);
//! - `rwlock`: one `RwLock<HashMap<String, i64>>`, write-locked for every increment;
//! - `sharded`: the hand-rolled [`ShardedMap`] (stage 8's `--map sharded`);
//! - `dashmap`: `DashMap<String, i64>` (stage 8's default);
//! - `atomics`: a `HashMap<String, AtomicI64>` built once and then only read, each
//!   increment a `fetch_add`;
//! - `padded_atomics`: the same counters, each on a cache line of its own, apart from the
//!   keys (a control for false sharing in `atomics`; see its type).
//!
//! Each runs with 1, 2, 4, 8 and 16 threads, on two key sets: `spread` picks one of 1024
//! users per increment, `hot` always picks the same user.
//!
//! Run it with
//!
//! ```text
//! cargo bench -p stage8
//! cargo bench -p stage8 -- spread/dashmap    # one map, one key set
//! ```
//!
//! The reported time is wall-clock time divided by the increments all threads made
//! together: the inverse of the combined throughput ("thrpt" is the same number as
//! increments per second). With one thread it is the cost of one increment; with more, a
//! time that halves means the throughput doubled. Timing each thread on its own (and
//! averaging) would not do: a thread's clock starts when it first gets a core, so with more
//! threads than cores, threads that ran one after another would each look as fast as a
//! thread with a core to itself, and 16 threads on 2 cores would pass for 16 parallel ones.
//!
//! The chapter `docs/src/lock-benchmark.md` has a run's results and what they can and
//! cannot show.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Barrier, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use dashmap::DashMap;
use stage8::sharded::ShardedMap;

/// How many users the spread key set picks from. A power of two, so picking one is a mask.
const USERS: usize = 1024;
const _: () = assert!(USERS.is_power_of_two());

const THREAD_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Balances that many threads can increment through a shared reference.
trait SharedBalances: Sync {
    /// The name in benchmark ids: `spread/<NAME>/<threads>`.
    const NAME: &'static str;

    /// A map that already holds every user at 0: increments then only find a user, never
    /// insert one, so the timed loop does not allocate.
    fn with_users(users: &[String]) -> Self;

    /// Adds 1 to `user`'s balance.
    fn add_one(&self, user: &str);

    /// The sum of every user's balance; read only when no thread is incrementing.
    fn total(&self, users: &[String]) -> i64;
}

/// The panic message for a lock poisoned by another benchmark thread: that thread's panic
/// has already failed the run, so there is nothing to recover.
const POISONED: &str = "another benchmark thread panicked while holding the lock";
/// Every user is inserted before timing, so a lookup that misses is a bug in this file.
const MISSING: &str = "every user is in the map before timing starts";

fn zero_balances(users: &[String]) -> HashMap<String, i64> {
    users.iter().map(|user| (user.clone(), 0)).collect()
}

/// Stage 7's shape: every increment, whatever the user, takes the one lock.
struct OneMutex(Mutex<HashMap<String, i64>>);

impl SharedBalances for OneMutex {
    const NAME: &'static str = "mutex";

    fn with_users(users: &[String]) -> Self {
        OneMutex(Mutex::new(zero_balances(users)))
    }

    fn add_one(&self, user: &str) {
        let mut balances = self.0.lock().expect(POISONED);
        *balances.get_mut(user).expect(MISSING) += 1;
    }

    fn total(&self, _users: &[String]) -> i64 {
        self.0.lock().expect(POISONED).values().sum()
    }
}

/// The tempting "readers do not block each other" fix. Every increment writes, so every
/// increment needs the write lock, and it is one lock again (with more bookkeeping).
struct OneRwLock(RwLock<HashMap<String, i64>>);

impl SharedBalances for OneRwLock {
    const NAME: &'static str = "rwlock";

    fn with_users(users: &[String]) -> Self {
        OneRwLock(RwLock::new(zero_balances(users)))
    }

    fn add_one(&self, user: &str) {
        let mut balances = self.0.write().expect(POISONED);
        *balances.get_mut(user).expect(MISSING) += 1;
    }

    fn total(&self, _users: &[String]) -> i64 {
        self.0.read().expect(POISONED).values().sum()
    }
}

impl SharedBalances for ShardedMap {
    const NAME: &'static str = "sharded";

    fn with_users(users: &[String]) -> Self {
        // The same shard count as the DashMap below, so the two differ only in how they
        // are built, not in how finely they split the lock.
        let map = ShardedMap::new(stage8::default_shards());
        for user in users {
            map.shard(user)
                .lock()
                .expect(POISONED)
                .insert(user.clone(), 0);
        }
        map
    }

    fn add_one(&self, user: &str) {
        let mut shard = self.shard(user).lock().expect(POISONED);
        *shard.get_mut(user).expect(MISSING) += 1;
    }

    fn total(&self, users: &[String]) -> i64 {
        // ShardedMap has no iterator (the server never needs one), so read user by user.
        let mut total = 0;
        for user in users {
            let shard = self.shard(user).lock().expect(POISONED);
            total += shard.get(user).expect(MISSING);
        }
        total
    }
}

impl SharedBalances for DashMap<String, i64> {
    const NAME: &'static str = "dashmap";

    fn with_users(users: &[String]) -> Self {
        let map = DashMap::with_shard_amount(stage8::default_shards().get());
        for user in users {
            map.insert(user.clone(), 0);
        }
        map
    }

    fn add_one(&self, user: &str) {
        // `get_mut` write-locks the user's shard until the guard drops at the end of the
        // statement.
        *self.get_mut(user).expect(MISSING) += 1;
    }

    fn total(&self, _users: &[String]) -> i64 {
        self.iter().map(|balance| *balance.value()).sum()
    }
}

/// No lock at all: the map's shape never changes after it is built, so threads share it
/// read-only and each balance is its own atomic. This only works because the set of users
/// is known up front; adding a user would need a lock (or a concurrent map) again.
struct PrebuiltAtomics(HashMap<String, AtomicI64>);

impl SharedBalances for PrebuiltAtomics {
    const NAME: &'static str = "atomics";

    fn with_users(users: &[String]) -> Self {
        PrebuiltAtomics(
            users
                .iter()
                .map(|user| (user.clone(), AtomicI64::new(0)))
                .collect(),
        )
    }

    fn add_one(&self, user: &str) {
        // Relaxed is enough: each increment must be indivisible, but no other memory is
        // published with it. The total is read after the threads are joined, and joining
        // orders every increment before the read.
        self.0
            .get(user)
            .expect(MISSING)
            .fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self, _users: &[String]) -> i64 {
        self.0
            .values()
            .map(|balance| balance.load(Ordering::Relaxed))
            .sum()
    }
}

/// The same lock-free counters, each on a cache line of its own, away from the keys: a
/// control for the `atomics` row, not one of the server's options.
///
/// In a `HashMap<String, AtomicI64>` each counter shares a cache line with its key's
/// `String` header, which every lookup of that key reads. A `fetch_add` on one core takes
/// the line out of the other core's cache, so two threads can slow each other down without
/// ever touching the same balance (false sharing). Here the map from user to slot is only
/// ever read and the counters are apart: if `atomics` scales worse than this row, false
/// sharing is the likely reason.
struct PaddedAtomics {
    slot_of_user: HashMap<String, usize>,
    counters: Box<[OwnLine]>,
}

/// One counter per 128 bytes: two 64-byte lines, since modern x86 cores also fetch the
/// neighbouring line in pairs.
#[repr(align(128))]
struct OwnLine(AtomicI64);

impl SharedBalances for PaddedAtomics {
    const NAME: &'static str = "padded_atomics";

    fn with_users(users: &[String]) -> Self {
        PaddedAtomics {
            slot_of_user: users
                .iter()
                .enumerate()
                .map(|(slot, user)| (user.clone(), slot))
                .collect(),
            counters: users.iter().map(|_| OwnLine(AtomicI64::new(0))).collect(),
        }
    }

    fn add_one(&self, user: &str) {
        let slot = *self.slot_of_user.get(user).expect(MISSING);
        // Relaxed for the same reason as in `PrebuiltAtomics`.
        self.counters[slot].0.fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self, _users: &[String]) -> i64 {
        self.counters
            .iter()
            .map(|counter| counter.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// Which users the threads increment.
#[derive(Clone, Copy)]
enum KeySet {
    /// Any of the `USERS` users, picked per increment: writers mostly touch different
    /// keys, so a sharded map can let them run at once.
    Spread,
    /// Always the first user: every writer needs the same key, whatever the map.
    Hot,
}

impl KeySet {
    fn name(self) -> &'static str {
        match self {
            KeySet::Spread => "spread",
            KeySet::Hot => "hot",
        }
    }

    /// The mask applied to each random number to pick a user. The hot set uses the same
    /// generator with a mask of 0, so both sets pay for exactly the same picking work.
    fn mask(self) -> usize {
        match self {
            KeySet::Spread => USERS - 1,
            KeySet::Hot => 0,
        }
    }
}

/// A per-thread xorshift64 generator: a few shifts per pick, no shared state, so choosing
/// a key costs next to nothing next to the increment being measured.
struct KeyPicker {
    state: u64,
    mask: usize,
}

impl KeyPicker {
    fn new(thread_index: usize, keys: KeySet) -> Self {
        // Xorshift never leaves 0, so the seed must not be 0; a different seed per thread
        // keeps the threads from walking the same sequence of users in lockstep.
        let seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(thread_index as u64 + 1) | 1;
        KeyPicker {
            state: seed,
            // Hidden from the optimizer: with a constant mask of 0 it could see that the
            // hot key never changes and hoist the key's hashing out of the timed loop.
            mask: black_box(keys.mask()),
        }
    }

    fn next_index(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state as usize & self.mask
    }
}

/// Makes `increments` increments, split over `threads` threads that start together, and
/// returns the wall-clock time from their common start until the last one finished.
fn time_increments<M: SharedBalances>(
    balances: &M,
    users: &[String],
    keys: KeySet,
    threads: usize,
    increments: u64,
) -> Duration {
    // Spawning threads takes tens of microseconds each; the barrier keeps that out of the
    // timing, and lets every thread start at the same moment.
    let start_line = Barrier::new(threads + 1);
    let threads_u64 = threads as u64;
    let started = thread::scope(|scope| {
        for thread_index in 0..threads {
            // Split exactly, so the increments made are the increments criterion asked
            // for and the time it divides by them is right.
            let share = increments / threads_u64
                + u64::from((thread_index as u64) < increments % threads_u64);
            let start_line = &start_line;
            scope.spawn(move || {
                let mut picker = KeyPicker::new(thread_index, keys);
                start_line.wait();
                for _ in 0..share {
                    balances.add_one(&users[picker.next_index()]);
                }
            });
        }
        start_line.wait();
        Instant::now()
        // Leaving the scope joins every thread, so the time below includes the slowest.
    });
    started.elapsed()
}

fn bench_map<M: SharedBalances>(criterion: &mut Criterion, users: &[String], keys: KeySet) {
    let mut group = criterion.benchmark_group(format!("{}/{}", keys.name(), M::NAME));
    // Flat: every sample makes the same number of increments, each sample long enough
    // (about 100 ms) that starting and joining threads is lost in the noise. The default
    // (linear) mode would also time tiny samples that are mostly thread start-up.
    group.sampling_mode(SamplingMode::Flat);
    // One element per increment: "thrpt" is then increments per second, all threads
    // together.
    group.throughput(Throughput::Elements(1));
    for threads in THREAD_COUNTS {
        let balances = M::with_users(users);
        let mut increments_made: u64 = 0;
        group.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |bencher, &threads| {
                bencher.iter_custom(|increments| {
                    increments_made += increments;
                    time_increments(&balances, users, keys, threads, increments)
                });
            },
        );
        // A map that loses or doubles updates would be fast for the wrong reason.
        let expected = i64::try_from(increments_made).expect("fewer than 2^63 increments");
        assert_eq!(
            balances.total(users),
            expected,
            "{}/{}/{threads} lost or doubled increments",
            keys.name(),
            M::NAME,
        );
    }
    group.finish();
}

fn all_maps(criterion: &mut Criterion) {
    // Built once, before any timing: the timed loop only borrows these strings.
    let users: Vec<String> = (0..USERS).map(|index| format!("user-{index:04}")).collect();
    for keys in [KeySet::Spread, KeySet::Hot] {
        bench_map::<OneMutex>(criterion, &users, keys);
        bench_map::<OneRwLock>(criterion, &users, keys);
        bench_map::<ShardedMap>(criterion, &users, keys);
        bench_map::<DashMap<String, i64>>(criterion, &users, keys);
        bench_map::<PrebuiltAtomics>(criterion, &users, keys);
        bench_map::<PaddedAtomics>(criterion, &users, keys);
    }
}

/// Short runs on purpose: 60 benchmarks must finish in about two minutes. Ten samples of
/// about 100 ms each resolve differences of some tens of percent, which is about as fine as
/// a small, shared machine can measure these maps anyway.
fn short_runs() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = short_runs();
    targets = all_maps
}
criterion_main!(benches);
