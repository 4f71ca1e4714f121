//! Why a history is not linearizable, in words a person can check by hand.

use std::fmt;

use super::history::{OpId, Operation};
use super::model::{Model, Step};

/// How many steps of the partial linearization [`Explanation`]'s `Display` prints (the
/// last ones, nearest the failure); the HTML page shows them all.
const SHOWN_STEPS: usize = 20;

/// The failure found in one partition: the longest partial linearization the search
/// reached, and the operations that could not be placed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The failing partition, e.g. `key "3"`.
    pub partition: String,
    /// Every operation of the partition.
    pub ops: Vec<ExplainedOp>,
    /// The longest partial linearization found, as indices into `ops`, in order.
    pub linearization: Vec<usize>,
    /// The model's state after the partial linearization.
    pub state: String,
    /// The operations that could come next in real-time order, and why none of them can.
    pub stuck: Vec<StuckOp>,
}

/// One operation, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainedOp {
    /// Its index in the history.
    pub id: OpId,
    /// The client that issued it.
    pub client: u64,
    /// When it was invoked.
    pub call: u64,
    /// When it returned (`None`: unknown outcome).
    pub ret: Option<u64>,
    /// What it did, as the model describes it.
    pub description: String,
}

/// An operation that cannot be placed next after the partial linearization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckOp {
    /// Index into [`Explanation::ops`].
    pub op: usize,
    /// Why not.
    pub reason: StuckReason,
}

/// Why a candidate operation cannot come next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StuckReason {
    /// The model rejects it in the current state (e.g. a read of a stale value).
    Impossible,
    /// The model accepts it, but the search found no way to go on after it.
    DeadEnd,
}

impl Explanation {
    /// Builds the explanation from the search's longest partial linearization.
    pub(crate) fn new<M: Model>(
        model: &M,
        partition: &str,
        ids: &[OpId],
        ops: &[&Operation<M::Input, M::Output>],
        linearization: Vec<usize>,
    ) -> Explanation {
        let mut state = model.init();
        for &i in &linearization {
            let op = ops[i];
            state = model
                .step(&state, &op.input, op.outcome.output())
                .apply(&state)
                .expect("the search only records linearizations the model accepts");
        }
        let stuck = stuck_ops(model, &state, ops, &linearization);
        Explanation {
            partition: partition.to_string(),
            ops: ops
                .iter()
                .zip(ids)
                .map(|(op, id)| ExplainedOp {
                    id: *id,
                    client: op.client,
                    call: op.call,
                    ret: op.outcome.return_time(),
                    description: model.describe(&op.input, op.outcome.output()),
                })
                .collect(),
            linearization,
            state: model.describe_state(&state),
            stuck,
        }
    }
}

/// The unplaced operations invoked no later than the first return among unplaced
/// operations (so real time allows each to come next), and why none can.
fn stuck_ops<M: Model>(
    model: &M,
    state: &M::State,
    ops: &[&Operation<M::Input, M::Output>],
    placed: &[usize],
) -> Vec<StuckOp> {
    let mut is_placed = vec![false; ops.len()];
    for &i in placed {
        is_placed[i] = true;
    }
    let unplaced = || (0..ops.len()).filter(|&i| !is_placed[i]);
    let first_return = unplaced().filter_map(|i| ops[i].outcome.return_time()).min().unwrap_or(u64::MAX);
    let mut stuck: Vec<StuckOp> = unplaced()
        .filter(|&i| ops[i].call <= first_return)
        .filter_map(|i| {
            let op = ops[i];
            let output = op.outcome.output();
            match model.step(state, &op.input, output) {
                Step::Rejected => Some(StuckReason::Impossible),
                // An unknown outcome that changes nothing is simply left out.
                Step::Unchanged if output.is_none() => None,
                Step::Changed(next) if output.is_none() && next == *state => None,
                Step::Unchanged | Step::Changed(_) => Some(StuckReason::DeadEnd),
            }
            .map(|reason| StuckOp { op: i, reason })
        })
        .collect();
    stuck.sort_by_key(|s| (ops[s.op].call, s.op));
    stuck
}

impl ExplainedOp {
    fn interval(&self) -> String {
        match self.ret {
            Some(ret) => format!("client {}, {}..{}", self.client, self.call, ret),
            None => format!("client {}, {}..?", self.client, self.call),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "not linearizable: {} ({} operations)", self.partition, self.ops.len())?;
        let n = self.linearization.len();
        writeln!(f, "longest partial linearization: {n} operations, leaving {}", self.state)?;
        if n > SHOWN_STEPS {
            writeln!(f, "  ... {} earlier operations", n - SHOWN_STEPS)?;
        }
        for (k, &i) in self.linearization.iter().enumerate().skip(n.saturating_sub(SHOWN_STEPS)) {
            let op = &self.ops[i];
            writeln!(f, "  {:>4}. [{}] {}", k + 1, op.interval(), op.description)?;
        }
        writeln!(f, "cannot be placed next:")?;
        for s in &self.stuck {
            let op = &self.ops[s.op];
            let why = match s.reason {
                StuckReason::Impossible => format!("impossible in {}", self.state),
                StuckReason::DeadEnd => "fits, but nothing can follow it".to_string(),
            };
            writeln!(f, "  [{}] {}: {why}", op.interval(), op.description)?;
        }
        Ok(())
    }
}
