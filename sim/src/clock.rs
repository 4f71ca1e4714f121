//! Per-node clocks: an offset, a drift rate and jumps over the simulator's global time.

use quorate::types::NodeId;

/// Rates are in parts per million of real time.
const PPM: i128 = 1_000_000;

/// One node's view of time.
#[derive(Clone, Debug)]
pub struct NodeClock {
    /// The node.
    pub node: NodeId,
    offset_ms: i128,
    rate_ppm: i128,
    /// Highest reading handed out: a node's clock never runs backwards as seen by the core.
    last: u64,
}

impl NodeClock {
    /// A clock reading `offset_ms` at global time 0, running at `1 + drift` times real time.
    pub fn new(node: NodeId, offset_ms: u64, drift: f64) -> Self {
        let rate_ppm = ((1.0 + drift) * PPM as f64).round() as i128;
        NodeClock { node, offset_ms: i128::from(offset_ms), rate_ppm: rate_ppm.max(1), last: 0 }
    }

    /// The node's reading at `global` milliseconds (monotonic).
    pub fn local(&mut self, global: u64) -> u64 {
        let raw = self.offset_ms + i128::from(global) * self.rate_ppm / PPM;
        self.last = self.last.max(u64::try_from(raw.max(0)).unwrap_or(u64::MAX));
        self.last
    }

    /// The node's reading at `global` milliseconds, without recording it (the same as
    /// [`NodeClock::local`] would give).
    pub fn reading(&self, global: u64) -> u64 {
        let raw = self.offset_ms + i128::from(global) * self.rate_ppm / PPM;
        self.last.max(u64::try_from(raw.max(0)).unwrap_or(u64::MAX))
    }

    /// The earliest global time at or after `now` at which the node's clock reads `local`.
    pub fn global_at(&self, local: u64, now: u64) -> u64 {
        let wanted = i128::from(local) - self.offset_ms;
        if wanted <= 0 {
            return now;
        }
        let global = (wanted * PPM + self.rate_ppm - 1) / self.rate_ppm;
        u64::try_from(global).unwrap_or(u64::MAX).max(now)
    }

    /// When, at or after global time `now`, the clock runs again: after a backward jump the
    /// node's clock stands still (it never runs backwards) until real time catches up.
    pub fn running_at(&self, now: u64) -> u64 {
        self.global_at(self.last, now)
    }

    /// The clock jumps by `delta_ms` (forward or backward; the core ignores going back).
    pub fn jump(&mut self, delta_ms: i64) {
        self.offset_ms += i128::from(delta_ms);
    }
}
