//! The shared state: every user's balance, plus running totals kept beside it.
//!
//! This module decides *what* an event does to the state. *Where the lock is held while
//! it happens* is decided in `lib.rs`, because that is the lesson of this stage and the
//! next.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
