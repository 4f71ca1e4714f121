//! Sequential specifications: the [`Model`] trait and the two models the project uses.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::history::{History, OpId};

/// A sequential specification of an object, against which histories are checked.
///
/// The checker never iterates states or compares them except for equality, so `State`
/// only needs `Clone + Eq + Hash`; keep it small, since every distinct state reached by the
/// search is stored once.
pub trait Model {
    /// The object's state.
    type State: Clone + Eq + Hash + Debug;
    /// An operation and its arguments.
    type Input;
    /// What an operation returns.
    type Output;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`. `output` is `None` when the outcome is unknown, in which
    /// case any output is acceptable. Returns the new state if the operation may return
    /// `output` in `state`, `None` if that is impossible.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether this operation, with this output, never changes the state whenever `step`
    /// accepts it (a read, a failed cas). The search may then commit to linearizing it as
    /// soon as it fits, which prunes the search a great deal; answering `false` is always
    /// safe.
    fn is_read_only(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// Splits a history into independent parts that are checked separately
    /// (P-compositionality: a history is linearizable if and only if each part is). The
    /// default keeps the whole history together.
    fn partition(&self, history: &History<Self::Input, Self::Output>) -> Vec<Partition> {
        vec![Partition {
            label: "all operations".to_string(),
            ops: (0..history.len()).map(OpId).collect(),
        }]
    }

    /// A short human description of an operation, for explanations.
    fn describe(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// A short human description of a state, for explanations.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// An independent part of a history, as chosen by [`Model::partition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What the part is, e.g. `key "3"`.
    pub label: String,
    /// The operations it contains.
    pub ops: Vec<OpId>,
}

/// An input of the [`Register`] model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Set the value.
    Write {
        /// The new value.
        value: i64,
    },
    /// Set the value to `to` if it is `from`.
    Cas {
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
}

/// An output of the [`Register`] model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum RegisterOutput {
    /// Whether a write or a cas took effect (`false`: it definitely did not).
    Ok {
        /// Took effect.
        ok: bool,
    },
    /// The value a read returned (`None`: the register was never written).
    Value {
        /// The value read.
        value: Option<i64>,
    },
}

/// A register holding an integer or nothing, with read, write and compare-and-set, as in
/// Jepsen's etcd tests. It starts empty; `cas(from, to)` succeeds only when the value is
/// `from`, and fails otherwise (a failed cas does not change the value).
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

impl Model for Register {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Option<i64>> {
        use RegisterOutput::{Ok, Value};
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(Value { value })) => (value == state).then_some(*state),
            (RegisterInput::Write { value }, None | Some(Ok { ok: true })) => Some(Some(*value)),
            (RegisterInput::Cas { from, to }, None) => Some(if *state == Some(*from) {
                Some(*to)
            } else {
                *state
            }),
            (RegisterInput::Cas { from, to }, Some(Ok { ok: true })) => {
                (*state == Some(*from)).then_some(Some(*to))
            }
            (RegisterInput::Cas { from, .. }, Some(Ok { ok: false })) => {
                (*state != Some(*from)).then_some(*state)
            }
            // A write that definitely failed changed nothing.
            (RegisterInput::Write { .. }, Some(Ok { ok: false })) => Some(*state),
            // An output of the wrong kind for the operation can never be produced.
            (RegisterInput::Read, Some(Ok { .. })) | (_, Some(Value { .. })) => None,
        }
    }

    fn is_read_only(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        match input {
            RegisterInput::Read => true,
            _ => matches!(output, Some(RegisterOutput::Ok { ok: false })),
        }
    }

    fn describe(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let what = match input {
            RegisterInput::Read => "read".to_string(),
            RegisterInput::Write { value } => format!("write {value}"),
            RegisterInput::Cas { from, to } => format!("cas {from}->{to}"),
        };
        match output {
            None => format!("{what} (outcome unknown)"),
            Some(RegisterOutput::Value { value }) => format!("{what} -> {}", show_int(*value)),
            Some(RegisterOutput::Ok { ok: true }) => format!("{what} ok"),
            Some(RegisterOutput::Ok { ok: false }) => format!("{what} failed"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        format!("value {}", show_int(*state))
    }
}

fn show_int(value: Option<i64>) -> String {
    value.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

/// An input of the [`Kv`] model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum KvInput {
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
    },
    /// Set a key to `to` if its value is `from`.
    Cas {
        /// The key.
        key: String,
        /// The expected value.
        from: String,
        /// The new value.
        to: String,
    },
}

impl KvInput {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Cas { key, .. } => key,
        }
    }
}

/// An output of the [`Kv`] model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum KvOutput {
    /// Whether a put, append or cas took effect (`false`: it definitely did not).
    Ok {
        /// Took effect.
        ok: bool,
    },
    /// The value a get returned (`""` for an absent key).
    Value {
        /// The value read.
        value: String,
    },
}

/// The state of the [`Kv`] model: each key's value. An absent key and an empty value are
/// the same thing, so only non-empty values are stored (which keeps equal states equal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvState {
    values: BTreeMap<String, String>,
}

impl KvState {
    /// The value of `key` (`""` when absent).
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }

    fn with(&self, key: &str, value: String) -> KvState {
        let mut next = self.clone();
        if value.is_empty() {
            next.values.remove(key);
        } else {
            next.values.insert(key.to_string(), value);
        }
        next
    }
}

/// A key-value map with get, put, append and cas. A get of an absent key returns `""`;
/// append concatenates. With `split` (the default) each key is checked separately, which
/// is sound because keys are independent objects.
#[derive(Clone, Copy, Debug)]
pub struct Kv {
    /// Check each key as its own partition.
    pub split: bool,
}

impl Default for Kv {
    fn default() -> Self {
        Kv { split: true }
    }
}

impl Model for Kv {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        KvState::default()
    }

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Option<KvState> {
        use KvOutput::{Ok, Value};
        let current = state.get(input.key());
        match (input, output) {
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(Value { value })) => {
                (value == current).then(|| state.clone())
            }
            (KvInput::Put { key, value }, None | Some(Ok { ok: true })) => {
                Some(state.with(key, value.clone()))
            }
            (KvInput::Append { key, value }, None | Some(Ok { ok: true })) => {
                Some(state.with(key, format!("{current}{value}")))
            }
            (KvInput::Cas { key, from, to }, None) => Some(if current == from {
                state.with(key, to.clone())
            } else {
                state.clone()
            }),
            (KvInput::Cas { key, from, to }, Some(Ok { ok: true })) => {
                (current == from).then(|| state.with(key, to.clone()))
            }
            (KvInput::Cas { from, .. }, Some(Ok { ok: false })) => {
                (current != from).then(|| state.clone())
            }
            // A put or append that definitely failed changed nothing.
            (KvInput::Put { .. } | KvInput::Append { .. }, Some(Ok { ok: false })) => {
                Some(state.clone())
            }
            // An output of the wrong kind for the operation can never be produced.
            (KvInput::Get { .. }, Some(Ok { .. })) | (_, Some(Value { .. })) => None,
        }
    }

    fn is_read_only(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        match input {
            KvInput::Get { .. } => true,
            _ => matches!(output, Some(KvOutput::Ok { ok: false })),
        }
    }

    fn partition(&self, history: &History<KvInput, KvOutput>) -> Vec<Partition> {
        if !self.split {
            return vec![Partition {
                label: "all keys".to_string(),
                ops: (0..history.len()).map(OpId).collect(),
            }];
        }
        let mut by_key: BTreeMap<&str, Vec<OpId>> = BTreeMap::new();
        for (i, op) in history.operations().iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(OpId(i));
        }
        by_key
            .into_iter()
            .map(|(key, ops)| Partition {
                label: format!("key {key:?}"),
                ops,
            })
            .collect()
    }

    fn describe(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let what = match input {
            KvInput::Get { key } => format!("get {key:?}"),
            KvInput::Put { key, value } => format!("put {key:?} {value:?}"),
            KvInput::Append { key, value } => format!("append {key:?} {value:?}"),
            KvInput::Cas { key, from, to } => format!("cas {key:?} {from:?}->{to:?}"),
        };
        match output {
            None => format!("{what} (outcome unknown)"),
            Some(KvOutput::Value { value }) => format!("{what} -> {value:?}"),
            Some(KvOutput::Ok { ok: true }) => format!("{what} ok"),
            Some(KvOutput::Ok { ok: false }) => format!("{what} failed"),
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        if state.values.is_empty() {
            return "all keys empty".to_string();
        }
        let parts: Vec<String> = state
            .values
            .iter()
            .map(|(k, v)| format!("{k:?}={v:?}"))
            .collect();
        parts.join(", ")
    }
}
