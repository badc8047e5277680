//! The workshop's stages, written once: number, package, folder, default port, and what
//! each one serves. Everything else that needs the list (compare, the runner, the
//! repository checks, the regeneration script through `stress-client stages`) reads it
//! from here or is checked against it. A leaf module: it depends on nothing.

/// What a stage answers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// Stages 1 and 2 read one request and echo its body.
    Echo,
    /// Stage 3 validates `POST /events` and has no `/stats`.
    Events,
    /// Stages 4 to 8 apply events and serve `GET /stats`.
    EventsWithStats,
}

/// One stage of the workshop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub number: u8,
    /// Package and binary name: `cargo run -p stage7`.
    pub package: &'static str,
    /// The folder at the repository root, which keeps the topic in its name.
    pub folder: &'static str,
    /// What the stage teaches, in one line (the README's stage table says the same).
    pub lesson: &'static str,
    pub serves: Serves,
}

impl Stage {
    /// The port the stage listens on by default: 808N.
    pub const fn default_port(&self) -> u16 {
        8080 + self.number as u16
    }

    /// Whether `GET /stats` answers, which the server check and `watch` need.
    pub const fn has_stats(&self) -> bool {
        matches!(self.serves, Serves::EventsWithStats)
    }
}

pub const STAGES: [Stage; 8] = [
    Stage {
        number: 1,
        package: "stage1",
        folder: "stage1-blocking",
        lesson: "one thread and blocking reads: one idle client freezes everyone",
        serves: Serves::Echo,
    },
    Stage {
        number: 2,
        package: "stage2",
        folder: "stage2-async",
        lesson: "a tokio task per connection: an idle client costs nothing",
        serves: Serves::Echo,
    },
    Stage {
        number: 3,
        package: "stage3",
        folder: "stage3-json",
        lesson: "never trust input: bounded framing, keep-alive, typed validation",
        serves: Serves::Events,
    },
    Stage {
        number: 4,
        package: "stage4",
        folder: "stage4-shared-state",
        lesson: "a lock held during slow work serializes everyone",
        serves: Serves::EventsWithStats,
    },
    Stage {
        number: 5,
        package: "stage5",
        folder: "stage5-backpressure",
        lesson: "a bounded queue turns overload into fast, honest rejections",
        serves: Serves::EventsWithStats,
    },
    Stage {
        number: 6,
        package: "stage6",
        folder: "stage6-workers",
        lesson: "a pool of workers multiplies throughput",
        serves: Serves::EventsWithStats,
    },
    Stage {
        number: 7,
        package: "stage7",
        folder: "stage7-contention",
        lesson: "one hot lock caps the whole pool",
        serves: Serves::EventsWithStats,
    },
    Stage {
        number: 8,
        package: "stage8",
        folder: "stage8-sharding",
        lesson: "split the lock: writers to different keys run in parallel",
        serves: Serves::EventsWithStats,
    },
];

/// The stage numbered `number`, `None` for a number that is not a stage.
pub fn stage(number: u8) -> Option<&'static Stage> {
    STAGES.iter().find(|stage| stage.number == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_numbered_in_order_and_named_after_their_number() {
        for (index, stage) in STAGES.iter().enumerate() {
            assert_eq!(usize::from(stage.number), index + 1);
            assert_eq!(stage.package, format!("stage{}", stage.number));
            assert!(stage.folder.starts_with(&format!("{}-", stage.package)));
        }
        assert_eq!(stage(7).map(Stage::default_port), Some(8087));
        assert_eq!(stage(9), None);
    }
}
