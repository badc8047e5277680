//! A sharded map written by hand, what DashMap does: N maps, each behind its own lock,
//! and every key sent to the same shard every time (by its hash). Writers to different
//! shards never meet; writers to one key still take turns: the lock is split, not removed.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::Mutex;

// ANCHOR: sharded_map
/// Balance by user, in `shards` independently locked pieces.
pub struct ShardedMap {
    /// Boxed slice, not Vec: the number of shards never changes after construction.
    shards: Box<[Mutex<HashMap<String, i64>>]>,
    /// One hasher for the whole map, so a key always lands in the same shard. Randomly
    /// seeded (like HashMap's) so a client cannot choose users that all collide.
    hasher: RandomState,
}

impl ShardedMap {
    pub fn new(shards: NonZeroUsize) -> Self {
        ShardedMap {
            shards: (0..shards.get())
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// The shard that owns `user`: always the same one for the same name. Choosing it
    /// takes no lock; the caller locks only this shard.
    pub fn shard(&self, user: &str) -> &Mutex<HashMap<String, i64>> {
        let index = self.hasher.hash_one(user) as usize % self.shards.len();
        &self.shards[index]
    }
}
// ANCHOR_END: sharded_map
