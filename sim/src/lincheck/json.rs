//! The project's own JSON history format (documented in the module docs of `lincheck`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::history::{History, Operation, Outcome};
use super::model::{KvInput, RegisterInput};
use super::parse::ParseError;

/// An input type that can be written in the JSON history format, which records the name
/// of the model its history is checked against.
pub trait JsonInput: Serialize + DeserializeOwned {
    /// The model's name in the file's `"model"` field.
    const MODEL: &'static str;
}

impl JsonInput for KvInput {
    const MODEL: &'static str = "kv";
}

impl JsonInput for RegisterInput {
    const MODEL: &'static str = "register";
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
#[serde(try_from = "WireOp<I, O>", bound(deserialize = "I: DeserializeOwned, O: DeserializeOwned"))]
struct CheckedOp<I, O>(Operation<I, O>);

impl<I, O> TryFrom<WireOp<I, O>> for CheckedOp<I, O> {
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
            (Some(at), Some(output)) => Outcome::Returned { at, output },
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "I: DeserializeOwned, O: DeserializeOwned"))]
struct WireHistory<I, O> {
    model: String,
    operations: Vec<CheckedOp<I, O>>,
}

impl<I: JsonInput, O: Serialize + DeserializeOwned> History<I, O> {
    /// Writes the history in the JSON history format, one operation a line.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"model\":{:?},\"operations\":[\n", I::MODEL);
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
        let wire: WireHistory<I, O> = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.rsplit_once(" at line ").map_or(&*message, |(m, _)| m);
            ParseError::syntax(file, e.line(), message)
        })?;
        if wire.model != I::MODEL {
            let message = format!("history is for model {:?}, expected {:?}", wire.model, I::MODEL);
            return Err(ParseError::syntax(file, 1, &message));
        }
        let mut history = History::new();
        for op in wire.operations {
            history.push(op.0);
        }
        Ok(history)
    }
}
