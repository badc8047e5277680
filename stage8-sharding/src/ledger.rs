//! The shared state, split into shards, and instruments on the shards' locks.
//!
//! This module decides what an event does to the state and how the state is locked.
//! Here the balances live in a sharded map (DashMap, or the hand-rolled [`ShardedMap`]),
//! so workers updating users in different shards no longer wait for each other.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::PoisonError;
use std::thread;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::event::Event;
use crate::sharded::ShardedMap;

/// Balance by user name.
pub type Balances = HashMap<String, i64>;

/// Totals that `/stats` can read without taking the balances lock. Reading them through
/// the lock would put every `/stats` request in line behind the very requests it is
/// trying to observe.
#[derive(Default)]
pub struct Totals {
    /// How many distinct users have a balance.
    pub users: AtomicU64,
    /// The sum of all balances; the stress client compares it with the sum of the
    /// amounts it saw accepted, so a lost or doubled event shows up here.
    pub balance_total: AtomicI64,
}

impl Totals {
    /// Adds `event` to its user's balance and returns the new balance. Call it with the
    /// balances lock held, so the totals move in step with the map.
    pub fn apply(&self, balances: &mut Balances, event: Event) -> i64 {
        let balance = balances.entry(event.user).or_insert_with(|| {
            self.users.fetch_add(1, Ordering::Relaxed);
            0
        });
        self.add(balance, event.amount)
    }

    /// Adds `amount` to one balance (already found, and locked) and to the total.
    pub fn add(&self, balance: &mut i64, amount: i64) -> i64 {
        // |amount| <= 10^9, so reaching i64::MAX takes nine billion maximal events for
        // one user; saturating keeps even that pathological run from panicking.
        *balance = balance.saturating_add(amount);
        self.balance_total.fetch_add(amount, Ordering::Relaxed);
        *balance
    }
}

/// Which sharded map holds the balances, named as `--map` and `/stats` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapKind {
    /// The dashmap crate: shards of RwLock<HashMap>.
    #[value(name = "dashmap")]
    DashMap,
    /// The hand-rolled map in sharded.rs: shards of Mutex<HashMap>.
    Sharded,
}

/// The balances, in one of the two sharded maps.
enum Shards {
    Dash(DashMap<String, i64>),
    Hand(ShardedMap),
}

/// What one update cost at the lock.
pub struct LockTiming {
    /// From asking for the lock to getting it: pure waiting for other workers.
    pub wait: Duration,
    /// From getting the lock to letting it go: the time everyone else has to wait.
    pub hold: Duration,
}

/// Every balance, plus the totals and a gauge of who holds a lock.
pub struct Ledger {
    /// Balances split over independently locked shards: a worker locks only the shard
    /// of the user it updates.
    balances: Shards,
    /// How many shards the map really has (see `shard_count`): `run` reports these.
    pub shards: NonZeroUsize,
    pub totals: Totals,
    /// How many workers are inside a critical section right now.
    pub holders: AtomicU64,
    /// The most that ever were at once: never above 1 behind one lock (stage 7's tests
    /// read it as proof of mutual exclusion), above 1 once writers to different shards
    /// run in parallel (stage 8's proof that sharding works).
    pub peak_holders: AtomicU64,
}

/// The shards a `kind` map really gets for `requested`: DashMap takes only a power of two
/// above 1, the hand-rolled map any count (`--shards 1` is stage 7's single lock).
pub fn shard_count(kind: MapKind, requested: NonZeroUsize) -> NonZeroUsize {
    match kind {
        MapKind::DashMap => {
            let at_least_two = requested.max(NonZeroUsize::MIN.saturating_add(1));
            at_least_two
                .checked_next_power_of_two()
                .unwrap_or(at_least_two)
        }
        MapKind::Sharded => requested,
    }
}

impl Ledger {
    /// An empty ledger on `kind`, with `shard_count(kind, requested)` shards.
    pub fn new(kind: MapKind, requested: NonZeroUsize) -> Self {
        let shards = shard_count(kind, requested);
        let balances = match kind {
            MapKind::DashMap => Shards::Dash(DashMap::with_shard_amount(shards.get())),
            MapKind::Sharded => Shards::Hand(ShardedMap::new(shards)),
        };
        Ledger {
            balances,
            shards,
            totals: Totals::default(),
            holders: AtomicU64::new(0),
            peak_holders: AtomicU64::new(0),
        }
    }

    // ANCHOR: ledger_apply
    /// Applies `event`, keeping the lock for at least `hold`, and reports what the lock
    /// cost: the wait and the hold. Returns the user's new balance.
    pub fn apply(&self, event: Event, hold: Duration) -> (i64, LockTiming) {
        match &self.balances {
            // `entry` write-locks the user's shard and keeps it locked for as long as
            // the returned guard lives, so the guard is the lock. It must never live
            // across an `.await`: DashMap's locks block the thread, and its guards are
            // `Send`, so the compiler would not stop us. Here it lives in a plain
            // function on a worker thread.
            Shards::Dash(map) => self.locked(
                || {
                    map.entry(event.user).or_insert_with(|| {
                        self.totals.users.fetch_add(1, Ordering::Relaxed);
                        0
                    })
                },
                hold,
                |balance| self.totals.add(balance, event.amount),
            ),
            Shards::Hand(map) => {
                let shard = map.shard(&event.user);
                self.locked(
                    // Every update is a single assignment, so a poisoned shard is still
                    // consistent and we keep using it (as stage 7 did its one lock).
                    || shard.lock().unwrap_or_else(PoisonError::into_inner),
                    hold,
                    |balances| self.totals.apply(balances, event),
                )
            }
        }
    }
    // ANCHOR_END: ledger_apply

    // ANCHOR: locked
    /// Stage 7's `apply`, generic over the two maps' guards: takes a lock with `acquire`,
    /// holds it for `hold` plus the time `update` takes, and measures wait and hold.
    ///
    /// `hold` simulates work that genuinely needs the lock (checking a limit across
    /// accounts, writing an audit record). It is a blocking sleep on purpose: workers run
    /// on threads of their own, and a std guard must never be held across `.await`.
    fn locked<Guard>(
        &self,
        acquire: impl FnOnce() -> Guard,
        hold: Duration,
        update: impl FnOnce(&mut Guard) -> i64,
    ) -> (i64, LockTiming) {
        let asked = Instant::now();
        let mut guard = acquire();
        let acquired = Instant::now();
        self.enter();

        thread::sleep(hold);
        let balance = update(&mut guard);

        // Leave the gauge before the guard goes, so it can never count two holders.
        self.holders.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        let timing = LockTiming {
            wait: acquired - asked,
            hold: acquired.elapsed(),
        };
        (balance, timing)
    }
    // ANCHOR_END: locked

    fn enter(&self) {
        let holders = self.holders.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_holders.fetch_max(holders, Ordering::Relaxed);
    }
}
