//! A node's log storage as its core reads it back: what the node wrote to its disk, with
//! reads that fail at a drawn rate (a fault of the swarm). A failed read must cost only
//! progress: the leader sends nothing to that follower now and tries again later.

use quorate::driver::MemoryLog;
use quorate::log::LogEntry;
use quorate::log_source::{LogReadError, LogSource};
use quorate::types::LogIndex;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Reads of a [`MemoryLog`] that fail with chance `fail`.
pub(super) struct FailingReads {
    log: MemoryLog,
    fail: f64,
    /// Its own generator, seeded by the world: reads happen inside the core, in an order the
    /// seed fixes, so the failures are as deterministic as the rest.
    rng: Mutex<ChaCha8Rng>,
    /// The world's count of failed reads.
    failed: Arc<AtomicU64>,
}

impl FailingReads {
    pub(super) fn new(log: MemoryLog, fail: f64, seed: u64, failed: &Arc<AtomicU64>) -> Self {
        FailingReads {
            log,
            fail,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            failed: Arc::clone(failed),
        }
    }

    fn fails(&self) -> bool {
        if self.fail <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        draw < self.fail
    }
}

impl LogSource for FailingReads {
    fn entries(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> Result<Vec<LogEntry>, LogReadError> {
        if self.fails() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(LogReadError::Io("a simulated read failure".into()));
        }
        self.log.entries(from, to, max_bytes)
    }
}
