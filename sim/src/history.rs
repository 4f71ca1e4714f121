//! The clients' history: every invocation and completion with its virtual time, in the form
//! the linearizability checker reads.

use crate::kv::{ClientId, KvOp, KvResult};
use crate::lincheck::{self, Budget, Kv, KvInput, KvOutput, Operation, Outcome, Verdict};
use std::collections::BTreeMap;

/// The index of an operation in the clients' history (the checker numbers its own with
/// [`lincheck::OpId`]).
pub type ClientOpId = usize;

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
    /// For an abandoned operation: the time a later request of the same client completed.
    /// Sessions apply a client's requests in order and drop a request older than one already
    /// applied, so the abandoned one took effect before then, or never.
    pub fenced_by: Option<u64>,
}

/// All operations of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHistory {
    ops: Vec<OpRecord>,
    /// Per client, abandoned operations not yet fenced by a later completion.
    abandoned: BTreeMap<ClientId, Vec<ClientOpId>>,
}

impl ClientHistory {
    /// Records an invocation.
    pub fn invoke(&mut self, client: ClientId, op: KvOp, at: u64) -> ClientOpId {
        self.ops.push(OpRecord { client, op, call: at, ret: None, fenced_by: None });
        self.ops.len() - 1
    }

    /// Records a completion.
    pub fn complete(&mut self, id: ClientOpId, result: KvResult, at: u64) {
        self.ops[id].ret = Some((at, result));
        let client = self.ops[id].client;
        for abandoned in self.abandoned.remove(&client).unwrap_or_default() {
            self.ops[abandoned].fenced_by = Some(at);
        }
    }

    /// The client gave up: the outcome stays unknown, until a later request of the client
    /// completes and fences it.
    pub fn abandon(&mut self, id: ClientOpId) {
        self.abandoned.entry(self.ops[id].client).or_default().push(id);
    }

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
        // Sessions apply each client's requests in order (see `fenced_by`).
        out.set_clients_in_order(true);
        for op in &self.ops {
            let outcome = match (&op.ret, op.fenced_by) {
                (Some((at, result)), _) => Outcome::Returned { at: *at, output: to_output(result) },
                (None, Some(by)) => Outcome::UnknownBy { by },
                (None, None) => Outcome::Unknown,
            };
            out.push(Operation { client: op.client, call: op.call, input: to_input(&op.op), outcome });
        }
        out
    }

    /// Checks linearizability with a deterministic budget of `steps` search steps.
    pub fn check(&self, steps: u64) -> Verdict {
        lincheck::check(&Kv::default(), &self.to_lincheck(), &Budget::steps(steps)).verdict
    }
}

/// The checker's input for a key-value operation. The checker's model does not tell an
/// absent key from an empty value: a delete is a put of "", and a compare-and-set that
/// expects an absent key expects "" (the networked service's clients never write "").
pub fn to_input(op: &KvOp) -> KvInput {
    match op.clone() {
        KvOp::Get { key } => KvInput::Get { key },
        KvOp::Put { key, value } => KvInput::Put { key, value },
        KvOp::Append { key, value } => KvInput::Append { key, value },
        KvOp::Cas { key, expected, new } => KvInput::Cas { key, from: expected, to: new },
        KvOp::Delete { key } => KvInput::Put { key, value: String::new() },
        KvOp::CompareAndSet { key, expect, value } => {
            KvInput::Cas { key, from: expect.unwrap_or_default(), to: value }
        }
    }
}

/// The checker's output for a key-value result (see [`to_input`]).
pub fn to_output(result: &KvResult) -> KvOutput {
    match result.clone() {
        KvResult::Value(value) => KvOutput::Value { value },
        KvResult::Done => KvOutput::Ok { ok: true },
        KvResult::Cas(ok) | KvResult::CompareAndSet { ok, .. } => KvOutput::Ok { ok },
    }
}
