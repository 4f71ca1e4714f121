//! The replicated key-value state machine: the simulator's clients and the networked
//! key-value service (`quorate-server`) both replicate it, so what the simulator checks is
//! what runs. Client sessions make a retried request take effect at most once.
//!
//! A command carries the client's id and request number ([`KvCommand`]); the store keeps,
//! for each client, its last request number and that request's result, and answers a repeat
//! of it from the record without executing it again. Sessions are kept for the
//! [`MAX_SESSIONS`] clients that wrote most recently (by log index, so every replica keeps the
//! same ones): a client silent through that many others' writes loses its session, and a
//! retry of its last request would then execute again.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client's identity (the networked service's clients draw one at random).
pub type ClientId = u64;

/// Most client sessions a store keeps; past it, the least recently used tenth is dropped.
pub const MAX_SESSIONS: usize = 65_536;

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
    /// Set a key to `new` only if it currently equals `expected` (an absent key equals "").
    Cas {
        /// The key.
        key: String,
        /// The value required.
        expected: String,
        /// The value set on success.
        new: String,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Set a key to `value` only if its current value is `expect` (`None`: only if the key
    /// is absent); the result says which and gives the current value.
    CompareAndSet {
        /// The key.
        key: String,
        /// The value required, or `None` for an absent key.
        expect: Option<String>,
        /// The value set on success.
        value: String,
    },
}

impl KvOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Append { key, .. }
            | KvOp::Cas { key, .. }
            | KvOp::Delete { key }
            | KvOp::CompareAndSet { key, .. } => key,
        }
    }
}

/// The result of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResult {
    /// A get's value.
    Value(String),
    /// A put, append or delete took effect.
    Done,
    /// Whether a cas succeeded.
    Cas(bool),
    /// Whether a compare-and-set succeeded, and the key's value after it.
    CompareAndSet {
        /// It took effect.
        ok: bool,
        /// The key's value after the operation (`None`: absent).
        current: Option<String>,
    },
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
        let config = bincode::config::standard().with_limit::<{ crate::codec::MAX_FRAME_PAYLOAD }>();
        bincode::serde::decode_from_slice(bytes, config).ok().map(|(c, _)| c)
    }
}

/// A client's session: its last request number, that request's result, and the log index
/// it was applied at (which orders sessions by recent use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    seq: u64,
    result: KvResult,
    at: u64,
}

/// The state machine: the map plus each client's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    data: BTreeMap<String, String>,
    sessions: BTreeMap<ClientId, Session>,
}

impl KvStore {
    /// Applies a command, the entry at log index `at`. A repeat of the client's last request
    /// returns the recorded result without applying it again; an older request returns
    /// `None`.
    pub fn apply(&mut self, cmd: &KvCommand, at: u64) -> Option<KvResult> {
        if let Some(session) = self.sessions.get(&cmd.client) {
            if cmd.seq == session.seq {
                return Some(session.result.clone());
            }
            if cmd.seq < session.seq {
                return None;
            }
        }
        let result = self.execute(&cmd.op);
        self.sessions.insert(cmd.client, Session { seq: cmd.seq, result: result.clone(), at });
        if self.sessions.len() > MAX_SESSIONS {
            self.evict_sessions();
        }
        Some(result)
    }

    /// Drops the least recently used tenth of the sessions (by log index: the same on
    /// every replica).
    fn evict_sessions(&mut self) {
        let mut by_age: Vec<(u64, ClientId)> = self.sessions.iter().map(|(c, s)| (s.at, *c)).collect();
        by_age.sort_unstable();
        for (_, client) in by_age.into_iter().take(MAX_SESSIONS / 10) {
            self.sessions.remove(&client);
        }
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
            KvOp::Delete { key } => {
                self.data.remove(key);
                KvResult::Done
            }
            KvOp::CompareAndSet { key, expect, value } => {
                let ok = self.data.get(key) == expect.as_ref();
                if ok {
                    self.data.insert(key.clone(), value.clone());
                }
                KvResult::CompareAndSet { ok, current: self.data.get(key).cloned() }
            }
        }
    }

    /// The whole state as bytes (a snapshot's data): the same state always gives the same
    /// bytes (the maps are ordered).
    pub fn encode(&self) -> Vec<u8> {
        crate::codec::encode(crate::codec::FrameKind::State, self).expect("a key-value state encodes")
    }

    /// A state from a snapshot's bytes; `None` for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Option<KvStore> {
        crate::codec::decode(crate::codec::FrameKind::State, bytes).ok().map(|(kv, _)| kv)
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// Keys stored.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A client's session: its last request number and the log index that request took
    /// effect at (a repeat answered from the session keeps the first one's index).
    pub fn session(&self, client: ClientId) -> Option<(u64, u64)> {
        self.sessions.get(&client).map(|s| (s.seq, s.at))
    }

    /// Client sessions kept.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: ClientId, seq: u64, op: KvOp) -> KvCommand {
        KvCommand { client, seq, op }
    }

    #[test]
    fn a_repeat_is_answered_from_the_session_and_not_executed_again() {
        let mut kv = KvStore::default();
        let append = cmd(1, 1, KvOp::Append { key: "k".into(), value: "x".into() });
        assert_eq!(kv.apply(&append, 1), Some(KvResult::Done));
        assert_eq!(kv.apply(&append, 2), Some(KvResult::Done));
        assert_eq!(kv.get("k"), Some("x"), "the retry did not append twice");
        let older = cmd(1, 0, KvOp::Put { key: "k".into(), value: "old".into() });
        assert_eq!(kv.apply(&older, 3), None);
        assert_eq!(kv.get("k"), Some("x"));
    }

    #[test]
    fn compare_and_set_and_delete() {
        let mut kv = KvStore::default();
        let set = |expect: Option<&str>, value: &str| KvOp::CompareAndSet {
            key: "k".into(),
            expect: expect.map(String::from),
            value: value.into(),
        };
        let r = kv.apply(&cmd(1, 1, set(None, "a")), 1);
        assert_eq!(r, Some(KvResult::CompareAndSet { ok: true, current: Some("a".into()) }));
        let r = kv.apply(&cmd(1, 2, set(None, "b")), 2);
        assert_eq!(r, Some(KvResult::CompareAndSet { ok: false, current: Some("a".into()) }));
        let r = kv.apply(&cmd(1, 3, set(Some("a"), "c")), 3);
        assert_eq!(r, Some(KvResult::CompareAndSet { ok: true, current: Some("c".into()) }));
        kv.apply(&cmd(1, 4, KvOp::Delete { key: "k".into() }), 4);
        assert_eq!(kv.get("k"), None);
        let r = kv.apply(&cmd(1, 5, set(Some("c"), "d")), 5);
        assert_eq!(r, Some(KvResult::CompareAndSet { ok: false, current: None }));
    }

    #[test]
    fn sessions_are_bounded_and_the_oldest_go_first() {
        let mut kv = KvStore::default();
        let total = MAX_SESSIONS as u64 + 1;
        for client in 0..total {
            kv.apply(&cmd(client, 1, KvOp::Put { key: "k".into(), value: client.to_string() }), client + 1);
        }
        assert_eq!(kv.sessions(), MAX_SESSIONS + 1 - MAX_SESSIONS / 10);
        // The newest client's retry is still answered from its session; the oldest's is not.
        let newest = cmd(total - 1, 1, KvOp::Put { key: "k".into(), value: "again".into() });
        assert_eq!(kv.apply(&newest, total + 1), Some(KvResult::Done));
        assert_eq!(kv.get("k"), Some((total - 1).to_string().as_str()));
        let oldest = cmd(0, 1, KvOp::Put { key: "k".into(), value: "again".into() });
        kv.apply(&oldest, total + 2);
        assert_eq!(kv.get("k"), Some("again"), "an evicted session executes again");
    }

    #[test]
    fn snapshots_round_trip() {
        let mut kv = KvStore::default();
        kv.apply(&cmd(3, 1, KvOp::Put { key: "a".into(), value: "1".into() }), 1);
        let back = KvStore::decode(&kv.encode()).expect("decodes");
        assert_eq!(back, kv);
        assert_eq!(KvStore::decode(b"not a state"), None);
    }
}
