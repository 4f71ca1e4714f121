//! Client histories: operations with their invocation and completion times.

use std::fmt;

/// One client operation: what was asked, when, and (if known) what came back and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client (process) that issued the operation. A client has at most one
    /// operation open at a time, but the checker does not rely on it.
    pub client: u64,
    /// When the operation was invoked.
    pub call: u64,
    /// The input: the operation and its arguments.
    pub input: I,
    /// What came back, or that nothing definite did.
    pub outcome: Outcome<O>,
}

/// How an operation ended.
///
/// An operation whose outcome is unknown (a timeout, a Jepsen `:info`, a crash of the
/// client, or simply still open when the history ends) may have taken effect at any time
/// after its invocation, or never. The checker treats it as returning at +infinity with an
/// output that matches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The operation completed at time `at` with `output`.
    Returned {
        /// Completion time; never before the call.
        at: u64,
        /// The output observed by the client.
        output: O,
    },
    /// The client never learned the outcome.
    Unknown,
    /// The client never learned the outcome, but knows that if the operation took effect at
    /// all, it did so by time `by`. (A client with exactly-once sessions knows this of a
    /// request it gave up on: a later request of its own that completed at `by` fenced it.)
    UnknownBy {
        /// The latest time the operation can have taken effect.
        by: u64,
    },
}

impl<O> Outcome<O> {
    /// The output if known.
    pub fn output(&self) -> Option<&O> {
        match self {
            Outcome::Returned { output, .. } => Some(output),
            Outcome::Unknown | Outcome::UnknownBy { .. } => None,
        }
    }

    /// The completion time if known, or the deadline of an [`Outcome::UnknownBy`].
    pub fn return_time(&self) -> Option<u64> {
        match self {
            Outcome::Returned { at, .. } => Some(*at),
            Outcome::UnknownBy { by } => Some(*by),
            Outcome::Unknown => None,
        }
    }
}

/// The index of an operation in its [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {}", self.0)
    }
}

/// A concurrent history of operations, in no particular order.
///
/// Two operations are ordered in real time when one returns strictly before the other is
/// invoked (`a.return < b.call`); operations whose intervals touch or overlap are concurrent.
///
/// The simulator records a history incrementally with [`History::invoke`] and
/// [`History::complete`]; an operation never completed keeps an unknown outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    ops: Vec<Operation<I, O>>,
    clients_in_order: bool,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History { ops: Vec::new(), clients_in_order: false }
    }
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` invoked `input` at time `at`; the outcome is unknown until
    /// [`History::complete`] is called with the returned id.
    pub fn invoke(&mut self, client: u64, at: u64, input: I) -> OpId {
        self.ops.push(Operation { client, call: at, input, outcome: Outcome::Unknown });
        OpId(self.ops.len() - 1)
    }

    /// Records that operation `id` returned `output` at time `at`.
    ///
    /// # Panics
    /// If `id` is not an operation of this history, if it already completed, or if `at`
    /// is before its call: all three are bugs in the recording code.
    pub fn complete(&mut self, id: OpId, at: u64, output: O) {
        let op = &mut self.ops[id.0];
        assert!(matches!(op.outcome, Outcome::Unknown), "{id} completed twice");
        assert!(at >= op.call, "{id} returns at {at}, before its call");
        op.outcome = Outcome::Returned { at, output };
    }

    /// Appends a whole operation.
    ///
    /// # Panics
    /// If it returns before its call.
    pub fn push(&mut self, op: Operation<I, O>) -> OpId {
        if let Some(at) = op.outcome.return_time() {
            assert!(at >= op.call, "operation returns at {at}, before its call");
        }
        self.ops.push(op);
        OpId(self.ops.len() - 1)
    }

    /// Declares that each client's operations take effect, if at all, in the order the
    /// client invoked them, as with exactly-once sessions that drop a request older than one
    /// already applied (the simulator's clients). An operation with an unknown outcome then
    /// takes effect before any later operation of its client does, or never; the checker
    /// uses this to cut the orders it tries.
    pub fn set_clients_in_order(&mut self, in_order: bool) {
        self.clients_in_order = in_order;
    }

    /// Whether [`History::set_clients_in_order`] declared client order.
    pub fn clients_in_order(&self) -> bool {
        self.clients_in_order
    }

    /// The operations, indexed by [`OpId`].
    pub fn operations(&self) -> &[Operation<I, O>] {
        &self.ops
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
