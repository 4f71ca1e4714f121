//! The replicated key-value state machine the simulated clients use, with client sessions so
//! that a retried request is applied at most once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client's identity.
pub type ClientId = u32;

/// One key-value operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Read a key ("" when absent).
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
    /// Set a key to `new` only if it currently equals `expected`.
    Cas {
        /// The key.
        key: String,
        /// The value required.
        expected: String,
        /// The value set on success.
        new: String,
    },
}

impl KvOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key } | KvOp::Put { key, .. } | KvOp::Append { key, .. } | KvOp::Cas { key, .. } => {
                key
            }
        }
    }
}

/// The result of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResult {
    /// A get's value.
    Value(String),
    /// A put or append took effect.
    Done,
    /// Whether a cas succeeded.
    Cas(bool),
}

/// A command in the log: a client's request number `seq` for `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvCommand {
    /// The client.
    pub client: ClientId,
    /// The client's request number; a client has one request outstanding at a time.
    pub seq: u64,
    /// The operation.
    pub op: KvOp,
}

impl KvCommand {
    /// Encodes the command as log entry bytes.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("commands encode")
    }

    /// Decodes log entry bytes; `None` for bytes that are not a command.
    pub fn decode(bytes: &[u8]) -> Option<KvCommand> {
        let config = bincode::config::standard().with_limit::<{ 1 << 20 }>();
        bincode::serde::decode_from_slice(bytes, config).ok().map(|(c, _)| c)
    }
}

/// The state machine: the map plus each client's last request and its result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    data: BTreeMap<String, String>,
    sessions: BTreeMap<ClientId, (u64, KvResult)>,
}

impl KvStore {
    /// Applies a command. A repeat of the client's last request returns the recorded result
    /// without applying it again; an older request returns `None`.
    pub fn apply(&mut self, cmd: &KvCommand) -> Option<KvResult> {
        if let Some((seq, result)) = self.sessions.get(&cmd.client) {
            if cmd.seq == *seq {
                return Some(result.clone());
            }
            if cmd.seq < *seq {
                return None;
            }
        }
        let result = self.execute(&cmd.op);
        self.sessions.insert(cmd.client, (cmd.seq, result.clone()));
        Some(result)
    }

    fn execute(&mut self, op: &KvOp) -> KvResult {
        match op {
            KvOp::Get { key } => KvResult::Value(self.data.get(key).cloned().unwrap_or_default()),
            KvOp::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                KvResult::Done
            }
            KvOp::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                KvResult::Done
            }
            KvOp::Cas { key, expected, new } => {
                let current = self.data.get(key).map(String::as_str).unwrap_or("");
                let ok = current == expected;
                if ok {
                    self.data.insert(key.clone(), new.clone());
                }
                KvResult::Cas(ok)
            }
        }
    }

    /// The whole state as bytes (a snapshot's data): the same state always gives the same
    /// bytes (the maps are ordered).
    pub fn encode(&self) -> Vec<u8> {
        quorate::codec::encode(quorate::codec::FrameKind::State, self).expect("a key-value state encodes")
    }

    /// A state from a snapshot's bytes; `None` for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Option<KvStore> {
        quorate::codec::decode(quorate::codec::FrameKind::State, bytes).ok().map(|(kv, _)| kv)
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
}
