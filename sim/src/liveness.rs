//! Liveness with numbers: after the network heals, a cluster must not merely make progress
//! eventually, it must elect a leader within a bounded number of election timeouts, and
//! spend a bounded number of elections and terms doing so.
//!
//! The bounds, and why they hold for a correct engine:
//! - **A leader within [`MAX_ROUNDS`] election rounds.** A round is the longest election
//!   timeout on the slowest clock (`max / (1 - drift)` of real time). Every node restarts at
//!   the heal and draws a fresh timeout; a round ends either with a leader or with a split
//!   vote, and with randomized timeouts over a range at least as wide as its minimum (the
//!   engine refuses narrower ones) a round is won with a probability well above one half
//!   even with PreVote off and clocks drifting by 30%. The chance that [`MAX_ROUNDS`] rounds
//!   in a row all fail is below 2^-20, which over a sweep of tens of thousands of seeds
//!   leaves a correct engine unflagged while an engine that keeps resetting its timers or
//!   splits votes systematically is caught. A "leader" here is a stable one: a majority of
//!   the nodes are in its term and follow it, so a stale leader cut off in a minority does
//!   not count. The rounds are counted from the moment every node's clock runs: a clock that
//!   jumped back stands still until real time catches up (a node's clock never runs
//!   backwards), and a node whose clock stands still cannot time out.
//! - **At most `nodes × (T / gap + 1)` elections, and as many new terms, in a healed period
//!   of `T`**, where `gap` is the minimum election timeout on the fastest clock
//!   (`min / (1 + drift)` of real time). A node starts a real election only when its
//!   election timer fires (directly, or after winning a pre-vote that the timer started), and
//!   each start restarts that timer, so two elections of one node are at least `gap` apart;
//!   only elections create terms. An engine that campaigns more often than its timer allows
//!   (a timer re-drawn on every poll, a lost candidacy that campaigns again at once, a node
//!   that campaigns in a loop) exceeds it.

use crate::scenario::Params;
use quorate::types::Term;

/// Election rounds within which a healed cluster must have a stable leader.
pub const MAX_ROUNDS: u64 = 20;

/// What the liveness phase observed.
#[derive(Clone, Debug)]
pub struct LivenessPhase {
    /// When the network healed (global milliseconds).
    pub healed_at: u64,
    /// When every node's clock runs again after the heal (global milliseconds).
    pub clocks_running_at: u64,
    /// The highest term any node had at the heal.
    pub term_at_heal: Term,
    /// Elections (real ones, not pre-votes) started since the heal.
    pub elections: u64,
    /// When a stable leader was first seen after the heal.
    pub leader_at: Option<u64>,
    /// One election round in global milliseconds: the longest timeout on the slowest clock.
    pub round_ms: u64,
    /// The least time between two elections of one node, in global milliseconds: the
    /// shortest timeout on the fastest clock.
    pub gap_ms: u64,
    /// Nodes in the cluster.
    pub nodes: u64,
}

impl LivenessPhase {
    /// The phase starts at `now` with the cluster's highest term `term`; every node's clock
    /// runs from `clocks_running_at` on.
    /// `nodes` is how many nodes run (more than the parameters' when membership churn added
    /// some).
    pub fn start(now: u64, clocks_running_at: u64, term: Term, params: &Params, nodes: u64) -> Self {
        let slowest = (1.0 - params.max_drift).max(0.01);
        let round_ms = (params.election_ms.1 as f64 / slowest).ceil() as u64;
        let gap_ms = ((params.election_ms.0 as f64 / (1.0 + params.max_drift)).floor() as u64).max(1);
        LivenessPhase {
            healed_at: now,
            clocks_running_at: clocks_running_at.max(now),
            term_at_heal: term,
            elections: 0,
            leader_at: None,
            round_ms,
            gap_ms,
            nodes,
        }
    }

    /// A stable leader exists at `now`.
    pub fn on_leader(&mut self, now: u64) {
        self.leader_at.get_or_insert(now);
    }

    /// Checks the bounds at `now` (the end of the phase), with the cluster's highest term.
    pub fn check(&self, now: u64, term: Term) -> Result<(), String> {
        let leader_by = self.clocks_running_at + MAX_ROUNDS * self.round_ms;
        match self.leader_at {
            Some(at) if at <= leader_by => {}
            Some(at) => {
                return Err(format!(
                    "liveness: a stable leader only {} ms after the heal ({} ms after every clock ran again), \
                     beyond {MAX_ROUNDS} election rounds of {} ms",
                    at - self.healed_at,
                    at.saturating_sub(self.clocks_running_at),
                    self.round_ms
                ))
            }
            None if now <= leader_by => {}
            None => {
                return Err(format!(
                    "liveness: no stable leader {} ms after the heal, beyond {MAX_ROUNDS} election rounds of {} ms",
                    now - self.healed_at,
                    self.round_ms
                ))
            }
        }
        let elapsed = now - self.healed_at;
        let max_elections = self.nodes * (elapsed / self.gap_ms + 1);
        if self.elections > max_elections {
            return Err(format!(
                "liveness: {} elections in {elapsed} ms after the heal, more than {max_elections} ({} nodes, \
                 each at most once every {} ms)",
                self.elections, self.nodes, self.gap_ms
            ));
        }
        let terms = term.0.saturating_sub(self.term_at_heal.0);
        let max_terms = max_elections;
        if terms > max_terms {
            return Err(format!(
                "liveness: terms rose by {terms} in {} ms after the heal, more than {max_terms}",
                now - self.healed_at
            ));
        }
        Ok(())
    }
}
