//! The clients' history: every invocation and completion with its virtual time, in the form
//! the linearizability checker reads.

use crate::kv::{ClientId, KvOp, KvResult};
use crate::lincheck::{self, Budget, Kv, KvInput, KvOutput, Verdict};

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

    /// The history in the checker's types (an operation without a return has an unknown
    /// outcome: it may have taken effect at any point after its call, or never).
    pub fn to_lincheck(&self) -> lincheck::History<KvInput, KvOutput> {
        let mut out = lincheck::History::new();
        for op in &self.ops {
            let id = out.invoke(u64::from(op.client), op.call, to_input(&op.op));
            if let Some((at, result)) = &op.ret {
                out.complete(id, *at, to_output(result));
            }
        }
        out
    }

    /// Checks linearizability with a deterministic budget of `steps` search steps.
    pub fn check(&self, steps: u64) -> Verdict {
        lincheck::check(&Kv::default(), &self.to_lincheck(), &Budget::steps(steps)).verdict
    }
}

fn to_input(op: &KvOp) -> KvInput {
    match op.clone() {
        KvOp::Get { key } => KvInput::Get { key },
        KvOp::Put { key, value } => KvInput::Put { key, value },
        KvOp::Append { key, value } => KvInput::Append { key, value },
        KvOp::Cas { key, expected, new } => KvInput::Cas { key, from: expected, to: new },
    }
}

fn to_output(result: &KvResult) -> KvOutput {
    match result.clone() {
        KvResult::Value(value) => KvOutput::Value { value },
        KvResult::Done => KvOutput::Ok { ok: true },
        KvResult::Cas(ok) => KvOutput::Ok { ok },
    }
}
