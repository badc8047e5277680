//! The shared state, one lock around all of it, and instruments on that lock.
//!
//! This module decides what an event does to the state and how the state is locked.
//! In this stage every balance sits behind a single mutex: the hot lock. Stage 8
//! changes this file (and the type in `lib.rs`) and nothing else about the workers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::event::Event;

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

/// What one update cost at the lock.
pub struct LockTiming {
    /// From asking for the lock to getting it: pure waiting for other workers.
    pub wait: Duration,
    /// From getting the lock to letting it go: the time everyone else has to wait.
    pub hold: Duration,
}

/// Every balance, plus the totals and a gauge of who holds a lock.
#[derive(Default)]
pub struct Ledger {
    /// All balances behind a single std mutex: every worker, whatever user it updates,
    /// queues here. A std mutex is still right (the guard never crosses an `.await`);
    /// the problem is not the kind of lock but that there is only one.
    balances: Mutex<Balances>,
    pub totals: Totals,
    /// How many workers are inside a critical section right now.
    pub holders: AtomicU64,
    /// The most that ever were at once: never above 1 behind one lock (stage 7's tests
    /// read it as proof of mutual exclusion), above 1 once writers to different shards
    /// run in parallel (stage 8's proof that sharding works).
    pub peak_holders: AtomicU64,
}

impl Ledger {
    // ANCHOR: ledger_apply
    // ANCHOR: locked
    /// Applies `event`, keeping the lock for at least `hold`, and reports what the lock
    /// cost: the wait and the hold. Returns the user's new balance.
    ///
    /// `hold` simulates work that genuinely needs the lock (checking a limit across
    /// accounts, writing an audit record). It is a blocking sleep on purpose: workers run
    /// on threads of their own, and a std guard must never be held across `.await`.
    pub fn apply(&self, event: Event, hold: Duration) -> (i64, LockTiming) {
        let asked = Instant::now();
        // A panic while holding the lock would poison it; every update is a single
        // assignment, so the map is consistent even then, and we keep using it rather
        // than fail every later event.
        let mut guard = self.balances.lock().unwrap_or_else(PoisonError::into_inner);
        let acquired = Instant::now();
        self.enter();

        thread::sleep(hold);
        let balance = self.totals.apply(&mut guard, event);

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
    // ANCHOR_END: ledger_apply

    fn enter(&self) {
        let holders = self.holders.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_holders.fetch_max(holders, Ordering::Relaxed);
    }
}
