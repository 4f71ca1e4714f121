//! The project's own JSON history format (documented in the module docs of `lincheck`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::history::{History, Operation, Outcome};
use super::model::{KvInput, KvOutput, RegisterInput, RegisterOutput};
use super::parse::ParseError;

/// An input type that can be written in the JSON history format, which records the name
/// of the model its history is checked against.
pub trait JsonInput: Serialize + DeserializeOwned {
    /// The model's name in the file's `"model"` field.
    const MODEL: &'static str;
    /// The model's output type.
    type Output: Serialize + DeserializeOwned;

    /// Why `output` can never be this operation's output, if it cannot: an output of the
    /// wrong kind (a read answered `{"ok":true}`) is a broken file, not a history that is
    /// not linearizable.
    fn wrong_output(&self, output: &Self::Output) -> Option<String>;
}

impl JsonInput for KvInput {
    const MODEL: &'static str = "kv";
    type Output = KvOutput;

    fn wrong_output(&self, output: &KvOutput) -> Option<String> {
        match (self, output) {
            (KvInput::Get { .. }, KvOutput::Value { .. }) => None,
            (KvInput::Get { .. }, KvOutput::Ok { .. }) => Some("a get's output is {\"value\":V}".into()),
            (_, KvOutput::Ok { .. }) => None,
            (_, KvOutput::Value { .. }) => Some("a put's, append's or cas's output is {\"ok\":B}".into()),
        }
    }
}

impl JsonInput for RegisterInput {
    const MODEL: &'static str = "register";
    type Output = RegisterOutput;

    fn wrong_output(&self, output: &RegisterOutput) -> Option<String> {
        match (self, output) {
            (RegisterInput::Read, RegisterOutput::Value { .. }) => None,
            (RegisterInput::Read, RegisterOutput::Ok { .. }) => {
                Some("a read's output is {\"value\":N}".into())
            }
            (_, RegisterOutput::Ok { .. }) => None,
            (_, RegisterOutput::Value { .. }) => Some("a write's or cas's output is {\"ok\":B}".into()),
        }
    }
}

/// One operation as written in the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOp<I, O> {
    client: u64,
    call: u64,
    #[serde(rename = "return")]
    ret: Option<u64>,
    input: I,
    output: Option<O>,
}

/// An operation read from a file, checked as it is read so that serde reports the line.
#[derive(Deserialize)]
#[serde(try_from = "WireOp<I, O>", bound(deserialize = "I: JsonInput<Output = O>, O: DeserializeOwned"))]
struct CheckedOp<I, O>(Operation<I, O>);

impl<I: JsonInput<Output = O>, O> TryFrom<WireOp<I, O>> for CheckedOp<I, O> {
    type Error = String;

    fn try_from(op: WireOp<I, O>) -> Result<Self, String> {
        let outcome = match (op.ret, op.output) {
            (None, None) => Outcome::Unknown,
            (Some(at), _) if at < op.call => {
                return Err(format!(
                    "operation of client {} returns at {at}, before its call at {}",
                    op.client, op.call
                ))
            }
            (Some(at), Some(output)) => {
                if let Some(problem) = op.input.wrong_output(&output) {
                    return Err(format!(
                        "operation of client {} called at {}: {problem}",
                        op.client, op.call
                    ));
                }
                Outcome::Returned { at, output }
            }
            (Some(by), None) => Outcome::UnknownBy { by },
            (None, Some(_)) => {
                return Err(format!(
                    "operation of client {} called at {}: an \"output\" needs a \"return\" time",
                    op.client, op.call
                ))
            }
        };
        Ok(CheckedOp(Operation { client: op.client, call: op.call, input: op.input, outcome }))
    }
}

/// The whole file: `"model"` is checked as soon as it is read (before the operations,
/// whose inputs would otherwise fail to parse as the wrong model's first), and the
/// operations go straight into the history.
struct WireHistory<I, O>(History<I, O>);

impl<'de, I: JsonInput<Output = O>, O: DeserializeOwned> Deserialize<'de> for WireHistory<I, O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HistoryVisitor(PhantomData))
    }
}

struct HistoryVisitor<I, O>(PhantomData<(I, O)>);

impl<'de, I: JsonInput<Output = O>, O: DeserializeOwned> Visitor<'de> for HistoryVisitor<I, O> {
    type Value = WireHistory<I, O>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"model\" and \"operations\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut model, mut history, mut in_order) = (false, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "model" if !model => {
                    let name: String = map.next_value()?;
                    if name != I::MODEL {
                        let message = format!("the file's \"model\" is {name:?}, not {:?}", I::MODEL);
                        return Err(de::Error::custom(message));
                    }
                    model = true;
                }
                "operations" if history.is_none() => history = Some(map.next_value::<Operations<I, O>>()?.0),
                "client_order" if in_order.is_none() => in_order = Some(map.next_value::<bool>()?),
                "model" | "operations" | "client_order" => {
                    return Err(de::Error::custom(format!("duplicate field `{key}`")))
                }
                other => {
                    return Err(de::Error::unknown_field(other, &["model", "client_order", "operations"]))
                }
            }
        }
        if !model {
            return Err(de::Error::missing_field("model"));
        }
        let mut history = history.ok_or_else(|| de::Error::missing_field("operations"))?;
        history.set_clients_in_order(in_order.unwrap_or(false));
        Ok(WireHistory(history))
    }
}

/// The operations array, read into a history one operation at a time.
struct Operations<I, O>(History<I, O>);

impl<'de, I: JsonInput<Output = O>, O: DeserializeOwned> Deserialize<'de> for Operations<I, O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(OperationsVisitor(PhantomData))
    }
}

struct OperationsVisitor<I, O>(PhantomData<(I, O)>);

impl<'de, I: JsonInput<Output = O>, O: DeserializeOwned> Visitor<'de> for OperationsVisitor<I, O> {
    type Value = Operations<I, O>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of operations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut history = History::new();
        while let Some(op) = seq.next_element::<CheckedOp<I, O>>()? {
            history.push(op.0);
        }
        Ok(Operations(history))
    }
}

/// Checks that no client has an operation open while it calls the next: each operation
/// with a known outcome returns no later than the client's next call. (An operation with
/// an unknown outcome is exempt: the client gave up on it and went on.)
fn check_clients<I, O>(history: &History<I, O>) -> Result<(), String> {
    let mut by_client: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.operations().iter().enumerate() {
        by_client.entry(op.client).or_default().push(i);
    }
    let ops = history.operations();
    for (client, mut mine) in by_client {
        mine.sort_by_key(|&i| (ops[i].call, i));
        for pair in mine.windows(2) {
            let (a, b) = (&ops[pair[0]], &ops[pair[1]]);
            if let (Some(ret), Some(_)) = (a.outcome.return_time(), a.outcome.output()) {
                if ret > b.call {
                    return Err(format!(
                        "client {client} has overlapping operations: operation {} (called at {}) \
                         returns at {ret}, after operation {} is called at {}",
                        pair[0] + 1,
                        a.call,
                        pair[1] + 1,
                        b.call
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Turns serde_json's error into one that names the file and line.
fn syntax_error(e: &serde_json::Error, file: &str) -> ParseError {
    let message = e.to_string();
    let message = message.rsplit_once(" at line ").map_or(&*message, |(m, _)| m);
    let message = if message.starts_with("recursion limit exceeded") {
        "values nested more than 128 deep (recursion limit exceeded)"
    } else {
        message
    };
    ParseError::syntax(file, e.line(), message)
}

impl<I: JsonInput<Output = O>, O: Serialize + DeserializeOwned> History<I, O> {
    /// Writes the history in the JSON history format, one operation a line.
    pub fn to_json(&self) -> String {
        let order = if self.clients_in_order() { ",\"client_order\":true" } else { "" };
        let mut out = format!("{{\"model\":{:?}{order},\"operations\":[\n", I::MODEL);
        for (i, op) in self.operations().iter().enumerate() {
            let wire = WireOp {
                client: op.client,
                call: op.call,
                ret: op.outcome.return_time(),
                input: &op.input,
                output: op.outcome.output(),
            };
            let line = serde_json::to_string(&wire).expect("inputs and outputs serialize");
            out.push_str(&line);
            // The closing brackets share the last operation's line, so that an error
            // serde reports just after an operation names that operation's line.
            out.push_str(if i + 1 < self.len() { ",\n" } else { "]}\n" });
        }
        if self.is_empty() {
            out.push_str("]}\n");
        }
        out
    }

    /// Reads a history in the JSON history format; `file` names the source in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self, ParseError> {
        let wire: WireHistory<I, O> = serde_json::from_str(text).map_err(|e| syntax_error(&e, file))?;
        Self::checked(wire.0, file)
    }

    /// Like [`History::from_json`], reading as a stream (one operation at a time).
    pub fn from_json_reader(reader: impl BufRead, file: &str) -> Result<Self, ParseError> {
        let wire: WireHistory<I, O> = serde_json::from_reader(reader).map_err(|e| syntax_error(&e, file))?;
        Self::checked(wire.0, file)
    }

    fn checked(history: Self, file: &str) -> Result<Self, ParseError> {
        check_clients(&history).map_err(|message| ParseError::Invalid { file: file.to_string(), message })?;
        Ok(history)
    }
}
