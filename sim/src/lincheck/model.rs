//! Sequential specifications: the [`Model`] trait and the two models the project uses.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::mem::size_of;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cache::FxHasher;
use super::history::{History, OpId, Operation};

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
    /// case any output is acceptable. Says whether the operation may return `output` in
    /// `state` and, if so, the state after it.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Step<Self::State>;

    /// Approximately how many heap bytes `state` owns beyond `size_of::<State>()`, for the
    /// checker's memory bound. The default, 0, suits states that own no heap memory.
    fn heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// Whether this operation, with this output, never changes the state whenever `step`
    /// accepts it (a read, a failed cas). The search may then commit to linearizing it as
    /// soon as it fits, which prunes the search a great deal; answering `false` is always
    /// safe.
    fn is_read_only(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// Which operations of `ops` (one partition's) the search may leave out because no
    /// linearization needs them: for each, `true` only if its outcome is unknown and any
    /// linearization that places it can be turned into one that does not (drops it), so
    /// that the history is linearizable if and only if it is with every such operation
    /// dropped. The default, all `false`, is always safe.
    fn droppable(&self, ops: &[&Operation<Self::Input, Self::Output>]) -> Vec<bool> {
        vec![false; ops.len()]
    }

    /// A test the search may run on the states it reaches: given a state, the index in
    /// `ops` (one partition's operations, those the search keeps) of an operation with a
    /// known outcome, and which operations are already linearized or dropped (by index),
    /// `true` only if that operation cannot take effect with its outcome in any state
    /// that the other operations lead to from this one, in any order. A node whose state
    /// dooms an operation still to be linearized fails at once, where the search would
    /// otherwise learn so only at that operation's return, after trying every order of
    /// the operations in between. The default, no test, is always safe.
    fn doom_test<'a>(
        &'a self,
        _ops: &[&'a Operation<Self::Input, Self::Output>],
    ) -> Option<DoomTest<'a, Self::State>> {
        None
    }

    /// Splits a history into independent parts that are checked separately
    /// (P-compositionality: a history is linearizable if and only if each part is). The
    /// default keeps the whole history together.
    fn partition(&self, history: &History<Self::Input, Self::Output>) -> Vec<Partition> {
        vec![Partition { label: "all operations".to_string(), ops: (0..history.len()).map(OpId).collect() }]
    }

    /// A short human description of an operation, for explanations.
    fn describe(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// A short human description of a state, for explanations.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// [`Model::doom_test`]'s test: `(state, op, done)` where `done(i)` says whether operation
/// `i` is linearized or dropped.
pub type DoomTest<'a, S> = Box<dyn Fn(&S, usize, &dyn Fn(usize) -> bool) -> bool + 'a>;

/// The result of [`Model::step`]. `Unchanged` saves building a copy of the state for a
/// read, which is most of what a search does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<S> {
    /// The operation cannot return this output in this state.
    Rejected,
    /// It can, and leaves the state as it was.
    Unchanged,
    /// It can, and leaves this state.
    Changed(S),
}

impl<S> Step<S> {
    /// Applies the result to `state`: the next state, or `None` if rejected.
    pub fn apply(self, state: &S) -> Option<S>
    where
        S: Clone,
    {
        match self {
            Step::Rejected => None,
            Step::Unchanged => Some(state.clone()),
            Step::Changed(next) => Some(next),
        }
    }
}

/// Accepted and unchanged when `ok`, else rejected.
fn same_if<S>(ok: bool) -> Step<S> {
    if ok {
        Step::Unchanged
    } else {
        Step::Rejected
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
    ) -> Step<Option<i64>> {
        use RegisterOutput::{Ok, Value};
        match (input, output) {
            (RegisterInput::Read, None) => Step::Unchanged,
            (RegisterInput::Read, Some(Value { value })) => same_if(value == state),
            (RegisterInput::Write { value }, None | Some(Ok { ok: true })) => Step::Changed(Some(*value)),
            (RegisterInput::Cas { from, to }, None) if *state == Some(*from) => Step::Changed(Some(*to)),
            (RegisterInput::Cas { .. }, None) => Step::Unchanged,
            (RegisterInput::Cas { from, to }, Some(Ok { ok: true })) if *state == Some(*from) => {
                Step::Changed(Some(*to))
            }
            (RegisterInput::Cas { .. }, Some(Ok { ok: true })) => Step::Rejected,
            (RegisterInput::Cas { from, .. }, Some(Ok { ok: false })) => same_if(*state != Some(*from)),
            // A write that definitely failed changed nothing.
            (RegisterInput::Write { .. }, Some(Ok { ok: false })) => Step::Unchanged,
            // An output of the wrong kind for the operation can never be produced.
            (RegisterInput::Read, Some(Ok { .. })) | (_, Some(Value { .. })) => Step::Rejected,
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

/// The state of the [`Kv`] model: each key's value.
///
/// Built for the search's inner loop: entries are sorted by key, keys and values are
/// shared (`Arc`) between the many states the search creates, and each value carries its
/// hash, so hashing a state never rereads long appended strings. An absent key and an
/// empty value are the same thing, so only non-empty values are stored (which keeps equal
/// states equal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvState {
    entries: Vec<(Arc<str>, KvValue)>,
}

/// A value and its hash.
#[derive(Clone, Debug)]
struct KvValue {
    hash: u64,
    text: Arc<str>,
}

impl KvValue {
    fn new(text: &str) -> KvValue {
        let mut hasher = FxHasher::default();
        hasher.write(text.as_bytes());
        KvValue { hash: hasher.finish(), text: Arc::from(text) }
    }
}

impl PartialEq for KvValue {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for KvValue {}

impl Hash for KvValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl KvState {
    /// The value of `key` (`""` when absent).
    pub fn get(&self, key: &str) -> &str {
        match self.find(key) {
            Ok(i) => &self.entries[i].1.text,
            Err(_) => "",
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    /// This state with `key` set to `value`.
    fn with(&self, key: &str, value: &str) -> KvState {
        let mut next = self.clone();
        match (self.find(key), value.is_empty()) {
            (Ok(i), true) => {
                next.entries.remove(i);
            }
            (Ok(i), false) => next.entries[i].1 = KvValue::new(value),
            (Err(_), true) => {}
            (Err(i), false) => next.entries.insert(i, (Arc::from(key), KvValue::new(value))),
        }
        next
    }

    fn heap_bytes(&self) -> usize {
        let values: usize = self.entries.iter().map(|(k, v)| k.len() + v.text.len()).sum();
        self.entries.capacity() * size_of::<(Arc<str>, KvValue)>() + values
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

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Step<KvState> {
        use KvOutput::{Ok, Value};
        let current = state.get(input.key());
        match (input, output) {
            (KvInput::Get { .. }, None) => Step::Unchanged,
            (KvInput::Get { .. }, Some(Value { value })) => same_if(value == current),
            (KvInput::Put { key, value }, None | Some(Ok { ok: true })) => {
                Step::Changed(state.with(key, value))
            }
            (KvInput::Append { key, value }, None | Some(Ok { ok: true })) => {
                Step::Changed(state.with(key, &format!("{current}{value}")))
            }
            (KvInput::Cas { key, from, to }, None | Some(Ok { ok: true })) if current == from => {
                Step::Changed(state.with(key, to))
            }
            (KvInput::Cas { .. }, None) => Step::Unchanged,
            (KvInput::Cas { .. }, Some(Ok { ok: true })) => Step::Rejected,
            (KvInput::Cas { from, .. }, Some(Ok { ok: false })) => same_if(current != from),
            // A put or append that definitely failed changed nothing.
            (KvInput::Put { .. } | KvInput::Append { .. }, Some(Ok { ok: false })) => Step::Unchanged,
            // An output of the wrong kind for the operation can never be produced.
            (KvInput::Get { .. }, Some(Ok { .. })) | (_, Some(Value { .. })) => Step::Rejected,
        }
    }

    fn heap_bytes(&self, state: &KvState) -> usize {
        state.heap_bytes()
    }

    fn is_read_only(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        match input {
            KvInput::Get { .. } => true,
            _ => matches!(output, Some(KvOutput::Ok { ok: false })),
        }
    }

    /// An unknown-outcome get changes nothing, so it is droppable. An unknown-outcome put,
    /// append or cas that writes a non-empty text `t` is droppable if nothing could have
    /// observed `t`. Once it took effect, the key's value contains `t` until a put
    /// overwrites it (appends keep it, and a cas that succeeds would need a `from`
    /// containing `t`). So if no known get on the key returned a value containing `t` and
    /// no cas on the key expects a value containing `t`, the only operations between it and
    /// that put are appends, puts or appends that failed, and cas that failed; removing it
    /// changes the value in between, which only a failed cas could notice. A failed cas
    /// cannot if its `from` is not a value the key can hold (a put's, a cas's or nothing,
    /// then appends), or if it returned before the operation was invoked; a `from` of
    /// `""` need not be matched if no operation on the key writes `""` and a put, append
    /// or cas of a non-empty text returned successfully before the failed cas returned:
    /// the key is never empty after that return, so the failed cas (which changes nothing)
    /// can take effect between the two returns, whatever the operation did.
    fn droppable(&self, ops: &[&Operation<KvInput, KvOutput>]) -> Vec<bool> {
        kv_droppable(ops)
    }

    /// An operation that needs the key to hold `x` (a get that returned `x`, a cas from `x`
    /// that succeeded) is doomed in a state where the key holds `s` if `x` is not `s`
    /// followed by appends and every operation that could write `x` from scratch (a put
    /// or cas of a text that appends can make `x`, or of `""` if `x` is made of appends
    /// only) is already linearized or dropped. A put's text is gone for good once
    /// overwritten, for example, and the key is never empty again once written unless
    /// something writes `""`.
    fn doom_test<'a>(&'a self, ops: &[&'a Operation<KvInput, KvOutput>]) -> Option<DoomTest<'a, KvState>> {
        let needs = kv_needs(ops);
        if needs.needs.iter().all(Option::is_none) {
            return None;
        }
        Some(Box::new(move |state: &KvState, op: usize, done: &dyn Fn(usize) -> bool| {
            needs.dooms(state, op, done)
        }))
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
        by_key.into_iter().map(|(key, ops)| Partition { label: format!("key {key:?}"), ops }).collect()
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
        if state.entries.is_empty() {
            return "all keys empty".to_string();
        }
        let parts: Vec<String> = state.entries.iter().map(|(k, v)| format!("{k:?}={:?}", v.text)).collect();
        parts.join(", ")
    }
}

/// [`Kv::droppable`]'s analysis: each key's operations are examined on their own.
fn kv_droppable(ops: &[&Operation<KvInput, KvOutput>]) -> Vec<bool> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_key.entry(op.input.key()).or_default().push(i);
    }
    let mut droppable = vec![false; ops.len()];
    for mine in by_key.values() {
        kv_key_droppable(ops, mine, &mut droppable);
    }
    droppable
}

/// [`kv_droppable`] for the operations `mine` of one key.
fn kv_key_droppable(ops: &[&Operation<KvInput, KvOutput>], mine: &[usize], droppable: &mut [bool]) {
    use KvOutput::{Ok, Value};
    // Texts an observer may have seen: known gets' values and every cas's `from`.
    let mut seen: Vec<&str> = Vec::new();
    // Starts of a value (a put's or cas's text) and what appends add.
    let (mut bases, mut tails): (Vec<&str>, Vec<&str>) = (vec![""], Vec::new());
    let mut writes_empty = false;
    // The earliest return of a known successful write of a non-empty text.
    let mut first_nonempty_write = u64::MAX;
    for &i in mine {
        let op = ops[i];
        let known_ok = matches!(op.outcome.output(), Some(Ok { ok: true }));
        let written = match &op.input {
            KvInput::Get { .. } => {
                if let Some(Value { value }) = op.outcome.output() {
                    seen.push(value);
                }
                None
            }
            KvInput::Put { value, .. } => {
                bases.push(value);
                writes_empty |= value.is_empty();
                Some(value)
            }
            KvInput::Append { value, .. } => {
                tails.push(value);
                Some(value)
            }
            KvInput::Cas { from, to, .. } => {
                seen.push(from);
                bases.push(to);
                writes_empty |= to.is_empty();
                Some(to)
            }
        };
        if let (true, Some(text), Some(at)) = (known_ok, written, op.outcome.return_time()) {
            if !text.is_empty() {
                first_nonempty_write = first_nonempty_write.min(at);
            }
        }
    }
    let (bases, tails) = (Texts::new(bases), Texts::new(tails));
    // Known failed cas whose `from` the key might hold, by return time: the operations
    // invoked after such a cas returned need not fear it.
    let mut risky_returns: Vec<u64> = Vec::new();
    let mut possible: BTreeMap<&str, bool> = BTreeMap::new();
    for &i in mine {
        let op = ops[i];
        let (KvInput::Cas { from, .. }, Some(Ok { ok: false }), Some(at)) =
            (&op.input, op.outcome.output(), op.outcome.return_time())
        else {
            continue;
        };
        let risky = if from.is_empty() {
            writes_empty || first_nonempty_write >= at
        } else {
            *possible.entry(from).or_insert_with(|| can_be_value(from, &bases, &tails))
        };
        if risky {
            risky_returns.push(at);
        }
    }
    let last_risky_return = risky_returns.iter().copied().max();
    for &i in mine {
        let op = ops[i];
        if op.outcome.output().is_some() {
            continue;
        }
        let text = match &op.input {
            KvInput::Get { .. } => {
                droppable[i] = true;
                continue;
            }
            KvInput::Put { value, .. } | KvInput::Append { value, .. } => value,
            KvInput::Cas { to, .. } => to,
        };
        let observed = text.is_empty() || seen.iter().any(|s| s.contains(text.as_str()));
        let feared = last_risky_return.is_some_and(|at| at >= op.call);
        droppable[i] = !observed && !feared;
    }
}

/// What the operations with a known outcome need their key to hold, for
/// [`Kv::doom_test`].
struct KvNeeds<'a> {
    /// Per operation: what it needs, if anything.
    needs: Vec<Option<KvNeed<'a>>>,
    /// Per key: what appends to it add.
    tails: BTreeMap<&'a str, Texts<'a>>,
}

/// The value an operation needs its key to hold, and the operations that could write a
/// start of it from scratch.
struct KvNeed<'a> {
    key: &'a str,
    value: &'a str,
    writers: Vec<usize>,
}

impl KvNeeds<'_> {
    fn dooms(&self, state: &KvState, op: usize, done: &dyn Fn(usize) -> bool) -> bool {
        let Some(need) = &self.needs[op] else { return false };
        if !need.writers.iter().all(|&w| done(w)) {
            return false;
        }
        let held = state.get(need.key);
        let start = need.value.starts_with(held).then_some(held.len());
        !self
            .tails
            .get(need.key)
            .map_or(start == Some(need.value.len()), |tails| reachable(need.value, start.into_iter(), tails))
    }
}

/// For each operation with a known outcome that needs its key to hold a value, that value
/// and the operations that could write a start of it from scratch.
fn kv_needs<'a>(ops: &[&'a Operation<KvInput, KvOutput>]) -> KvNeeds<'a> {
    use KvOutput::{Ok, Value};
    let mut appended: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    // Per key: the texts written from scratch (by puts and cas), and by which operations.
    let mut bases: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let key = op.input.key();
        match &op.input {
            KvInput::Get { .. } => {}
            KvInput::Put { value: text, .. } | KvInput::Cas { to: text, .. } => {
                bases.entry(key).or_default().entry(text.as_str()).or_default().push(i);
            }
            KvInput::Append { value, .. } => appended.entry(key).or_default().push(value),
        }
    }
    let tails: BTreeMap<&str, Texts> = appended.into_iter().map(|(k, t)| (k, Texts::new(t))).collect();
    let base_texts: BTreeMap<&str, Texts> =
        bases.iter().map(|(k, b)| (*k, Texts::new(b.keys().copied()))).collect();
    let no_tails = Texts::new([]);
    let needs = ops
        .iter()
        .map(|op| {
            let (key, value) = match (&op.input, op.outcome.output()) {
                (KvInput::Get { key }, Some(Value { value })) => (key.as_str(), value.as_str()),
                (KvInput::Cas { key, from, .. }, Some(Ok { ok: true })) => (key.as_str(), from.as_str()),
                _ => return None,
            };
            let my_tails = tails.get(key).unwrap_or(&no_tails);
            // The writers of each start of `value` that is a base text from which appends
            // can make `value`.
            let writers = match (base_texts.get(key), bases.get(key)) {
                (Some(texts), Some(by_text)) => texts
                    .matches_at(value, 0)
                    .filter(|&len| reachable(value, std::iter::once(len), my_tails))
                    .flat_map(|len| by_text[&value[..len]].iter().copied())
                    .collect(),
                _ => Vec::new(),
            };
            Some(KvNeed { key, value, writers })
        })
        .collect();
    KvNeeds { needs, tails }
}

/// A set of texts, looked up by their distinct lengths: finding which of them start at a
/// position of a value costs one lookup a length, not one comparison a text (a key's
/// appends may number in the hundreds of thousands).
struct Texts<'a> {
    set: std::collections::BTreeSet<&'a str>,
    lens: Vec<usize>,
}

impl<'a> Texts<'a> {
    fn new(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let set: std::collections::BTreeSet<&str> = texts.into_iter().collect();
        let mut lens: Vec<usize> = set.iter().map(|t| t.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        Texts { set, lens }
    }

    /// The lengths of the texts that `text` holds at byte `at`.
    fn matches_at<'s>(&'s self, text: &'s str, at: usize) -> impl Iterator<Item = usize> + 's {
        self.lens.iter().copied().filter(move |&len| {
            at.checked_add(len)
                .and_then(|end| text.get(at..end))
                .is_some_and(|piece| self.set.contains(piece))
        })
    }
}

/// Whether `text` can be a value: one of `bases` followed by some of `tails` (each any
/// number of times, which only says yes more often).
fn can_be_value(text: &str, bases: &Texts, tails: &Texts) -> bool {
    reachable(text, bases.matches_at(text, 0), tails)
}

/// Whether `text` is made of its first `start` bytes (for any of the starts given) followed
/// by some of `tails`.
fn reachable(text: &str, starts: impl Iterator<Item = usize>, tails: &Texts) -> bool {
    let len = text.len();
    let mut reach = vec![false; len + 1];
    for start in starts {
        reach[start] = true;
    }
    for at in 0..len {
        if !reach[at] {
            continue;
        }
        for step in tails.matches_at(text, at) {
            if step > 0 {
                reach[at + step] = true;
            }
        }
    }
    reach[len]
}
