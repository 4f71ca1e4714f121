//! Readers for the history formats: Jepsen etcd logs, EDN key-value lines and the
//! project's JSON format. None panics on bad input; each error names the file and line.
//!
//! In the two line-based formats an operation's call and return times are the line
//! numbers of its invocation and completion, so an explanation points into the file.
//!
//! Files are read as a stream ([`from_file`]): what a reader holds beyond the history it
//! builds is one line (at most [`MAX_LINE_BYTES`]) or, for JSON, one operation. Nesting is
//! bounded too ([`MAX_EDN_DEPTH`]; JSON: serde_json's limit of 128), so a hostile file
//! gets an error rather than a stack overflow.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use super::history::{History, OpId};
use super::json::JsonInput;
use super::model::{KvInput, KvOutput, RegisterInput, RegisterOutput};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A history that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file's content is malformed.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The history as a whole is malformed (e.g. a client's operations overlap).
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The file is empty or holds only white space: nothing to check, which is more
    /// likely a mistake (a truncated download, the wrong path) than a history.
    #[error("{file}: the file is empty")]
    Empty {
        /// The file.
        file: String,
    },
}

impl ParseError {
    pub(crate) fn syntax(file: &str, line: usize, message: &str) -> ParseError {
        ParseError::Syntax { file: file.to_string(), line, message: message.to_string() }
    }

    fn io(file: &str, source: std::io::Error) -> ParseError {
        ParseError::Io { file: file.to_string(), source }
    }
}

/// The longest line the line-based readers accept, in bytes: a Jepsen or EDN event is a
/// few hundred bytes, and a bound keeps a file with no line breaks from filling memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How deeply EDN values may nest: `[from to]` needs 2.
pub const MAX_EDN_DEPTH: usize = 16;

/// Reads a file, naming it in the error.
pub fn read_file(path: &str) -> Result<String, ParseError> {
    std::fs::read_to_string(path).map_err(|source| ParseError::Io { file: path.to_string(), source })
}

/// A file being read, which notes whether it held anything but white space.
pub struct Source {
    inner: BufReader<File>,
    content: bool,
}

impl Source {
    fn note(&mut self, bytes: usize) {
        if !self.content {
            self.content = self.inner.buffer()[..bytes].iter().any(|b| !b.is_ascii_whitespace());
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.content |= buf[..n].iter().any(|b| !b.is_ascii_whitespace());
        Ok(n)
    }
}

impl BufRead for Source {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.note(amount);
        self.inner.consume(amount);
    }
}

/// Reads the history in file `path` with `parse`, as a stream. An empty or blank file
/// is an error ([`ParseError::Empty`]), whatever `parse` makes of it.
pub fn from_file<T>(
    path: &str,
    parse: impl FnOnce(&mut Source, &str) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let file = File::open(path).map_err(|e| ParseError::io(path, e))?;
    let mut source = Source { inner: BufReader::with_capacity(1 << 16, file), content: false };
    let parsed = parse(&mut source, path);
    if !source.content && !matches!(parsed, Err(ParseError::Io { .. })) {
        // Make sure: the parser may have stopped before the end.
        let mut rest = Vec::new();
        (&mut source)
            .take(MAX_LINE_BYTES as u64)
            .read_to_end(&mut rest)
            .map_err(|e| ParseError::io(path, e))?;
        if !source.content {
            return Err(ParseError::Empty { file: path.to_string() });
        }
    }
    parsed
}

/// Calls `each` with every line that is not blank, and its 1-based number.
fn each_line(
    mut reader: impl BufRead,
    file: &str,
    mut each: impl FnMut(&str, usize) -> Result<(), String>,
) -> Result<(), ParseError> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut reader).take(limit).read_until(b'\n', &mut buf).map_err(|e| ParseError::io(file, e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if n > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            let message = format!("line longer than {MAX_LINE_BYTES} bytes");
            return Err(ParseError::syntax(file, number, &message));
        }
        let line = std::str::from_utf8(&buf).map_err(|_| ParseError::syntax(file, number, "not UTF-8"))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        each(line, number).map_err(|message| ParseError::syntax(file, number, &message))?;
    }
}

/// Reads a history in the JSON history format (see the `lincheck` module docs).
pub fn json<I: JsonInput<Output = O>, O: Serialize + DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<History<I, O>, ParseError> {
    History::from_json(text, file)
}

/// Like [`json`], from a reader.
pub fn json_from<I: JsonInput<Output = O>, O: Serialize + DeserializeOwned>(
    reader: impl BufRead,
    file: &str,
) -> Result<History<I, O>, ParseError> {
    History::from_json_reader(reader, file)
}

/// How a line-based log says an operation ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    fn parse(word: &str) -> Result<EventType, String> {
        match word {
            ":invoke" => Ok(EventType::Invoke),
            ":ok" => Ok(EventType::Ok),
            ":fail" => Ok(EventType::Fail),
            ":info" => Ok(EventType::Info),
            _ => Err(format!("unknown event type {word:?}")),
        }
    }
}

/// Pairs invocations with completions, one open operation per process.
struct Pairing<I, O> {
    history: History<I, O>,
    /// For each process with an open operation: the operation, its function, its line.
    open: BTreeMap<u64, (OpId, String, usize)>,
}

impl<I, O> Pairing<I, O> {
    fn new() -> Self {
        Pairing { history: History::new(), open: BTreeMap::new() }
    }

    /// The input of `process`'s open operation, which `f` completes.
    fn open_input(&self, process: u64, f: &str) -> Result<&I, String> {
        match self.open.get(&process) {
            Some((_, open_f, _)) if open_f != f => {
                Err(format!("process {process} invoked {open_f} but completes {f}"))
            }
            Some((id, _, _)) => Ok(&self.history.operations()[id.0].input),
            None => Err(format!("process {process} completes an operation it never invoked")),
        }
    }

    fn invoke(&mut self, process: u64, f: &str, line: usize, input: I) -> Result<(), String> {
        if let Some((_, _, open_line)) = self.open.get(&process) {
            return Err(format!(
                "process {process} invokes while its operation from line {open_line} is open"
            ));
        }
        let id = self.history.invoke(process, line as u64, input);
        self.open.insert(process, (id, f.to_string(), line));
        Ok(())
    }

    /// Closes `process`'s open operation with `output`, or with an unknown outcome.
    fn complete(&mut self, process: u64, f: &str, line: usize, output: Option<O>) -> Result<(), String> {
        let Some((id, open_f, _)) = self.open.remove(&process) else {
            return Err(format!("process {process} completes an operation it never invoked"));
        };
        if open_f != f {
            return Err(format!("process {process} invoked {open_f} but completes {f}"));
        }
        if let Some(output) = output {
            self.history.complete(id, line as u64, output);
        }
        Ok(())
    }

    /// The history; operations still open keep an unknown outcome.
    fn finish(self) -> History<I, O> {
        self.history
    }
}

/// Reads a Jepsen etcd log (the register model): lines
/// `INFO  jepsen.util - <process> :<type> :<f> <value>`, separated by tabs or spaces.
///
/// A completion repeats its invocation's value (`:ok :cas [1 2]`), which must match, or
/// says `:timed-out` (`:fail` and `:info` only); a read's `:ok` value is what it read.
pub fn jepsen(text: &str, file: &str) -> Result<History<RegisterInput, RegisterOutput>, ParseError> {
    jepsen_from(text.as_bytes(), file)
}

/// Like [`jepsen`], from a reader.
pub fn jepsen_from(
    reader: impl BufRead,
    file: &str,
) -> Result<History<RegisterInput, RegisterOutput>, ParseError> {
    let mut pairing = Pairing::new();
    each_line(reader, file, |line, number| jepsen_line(&mut pairing, line, number))?;
    Ok(pairing.finish())
}

fn jepsen_line(
    pairing: &mut Pairing<RegisterInput, RegisterOutput>,
    line: &str,
    number: usize,
) -> Result<(), String> {
    let event = line
        .split_once(" - ")
        .filter(|(prefix, _)| prefix.starts_with("INFO"))
        .map(|(_, event)| event)
        .ok_or("expected `INFO  jepsen.util - <process> :<type> :<f> <value>`")?;
    let mut words = event.split_whitespace();
    let mut next = |what: &str| words.next().ok_or(format!("missing {what}"));
    let process = next("process")?;
    let process: u64 = process.parse().map_err(|_| format!("bad process {process:?}"))?;
    let kind = EventType::parse(next("event type")?)?;
    let f = next("function")?;
    let value: Vec<&str> = words.collect();
    let value = value.join(" ");
    if kind == EventType::Invoke {
        return pairing.invoke(process, f, number, register_input(f, &value)?);
    }
    check_register_echo(kind, f, &value, pairing.open_input(process, f)?)?;
    let output = register_output(kind, f, &value)?;
    pairing.complete(process, f, number, output)
}

/// Checks a completion's value against its invocation (see [`jepsen`]).
fn check_register_echo(kind: EventType, f: &str, value: &str, input: &RegisterInput) -> Result<(), String> {
    if kind != EventType::Ok && value == ":timed-out" {
        return Ok(());
    }
    if f == ":read" {
        // An `:ok` read's value is its output, parsed with it; another says nothing.
        return parse_nil_or_int(value).map(drop);
    }
    let echoed = register_input(f, value)?;
    if echoed != *input {
        return Err(format!("the completion's value {value:?} is not the invocation's"));
    }
    Ok(())
}

fn register_input(f: &str, value: &str) -> Result<RegisterInput, String> {
    match f {
        ":read" => Ok(RegisterInput::Read),
        ":write" => Ok(RegisterInput::Write { value: parse_int(value)? }),
        ":cas" => {
            let (from, to) = parse_pair(value)?;
            Ok(RegisterInput::Cas { from, to })
        }
        _ => Err(format!("unknown function {f:?}")),
    }
}

/// The output of a completion, `None` for an unknown outcome.
fn register_output(kind: EventType, f: &str, value: &str) -> Result<Option<RegisterOutput>, String> {
    Ok(match (kind, f) {
        (EventType::Ok, ":read") => Some(RegisterOutput::Value { value: parse_nil_or_int(value)? }),
        (EventType::Ok, _) => Some(RegisterOutput::Ok { ok: true }),
        // A failed read changed nothing and told nothing (e.g. `:fail :read :timed-out`).
        (EventType::Fail, ":read") => None,
        (EventType::Fail, _) => Some(RegisterOutput::Ok { ok: false }),
        (EventType::Info, _) => None,
        (EventType::Invoke, _) => unreachable!("invocations are handled by the caller"),
    })
}

fn parse_int(value: &str) -> Result<i64, String> {
    value.parse().map_err(|_| format!("expected an integer, found {value:?}"))
}

fn parse_nil_or_int(value: &str) -> Result<Option<i64>, String> {
    if value == "nil" {
        Ok(None)
    } else {
        parse_int(value).map(Some)
    }
}

fn parse_pair(value: &str) -> Result<(i64, i64), String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or(format!("expected [from to], found {value:?}"))?;
    let mut parts = inner.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(from), Some(to), None) => Ok((parse_int(from)?, parse_int(to)?)),
        _ => Err(format!("expected [from to], found {value:?}")),
    }
}

/// Reads EDN key-value lines (the kv model), one map a line:
/// `{:process P, :type :invoke|:ok|:fail|:info, :f :get|:put|:append|:cas, :key K, :value V}`.
/// A cas's value is `[from to]`; a get's invocation value is `nil`.
/// A completion names its invocation's key, and repeats its value or has `nil` (a get's
/// `:ok` value is what it read).
pub fn edn_kv(text: &str, file: &str) -> Result<History<KvInput, KvOutput>, ParseError> {
    edn_kv_from(text.as_bytes(), file)
}

/// Like [`edn_kv`], from a reader.
pub fn edn_kv_from(reader: impl BufRead, file: &str) -> Result<History<KvInput, KvOutput>, ParseError> {
    let mut pairing = Pairing::new();
    each_line(reader, file, |line, number| edn_line(&mut pairing, line, number))?;
    Ok(pairing.finish())
}

fn edn_line(pairing: &mut Pairing<KvInput, KvOutput>, line: &str, number: usize) -> Result<(), String> {
    let map = edn::parse_map(line)?;
    let field = |name: &str| map.get(name).ok_or(format!("missing :{name}"));
    let process = match field("process")? {
        edn::Value::Int(p) if *p >= 0 => *p as u64,
        other => return Err(format!(":process must be a non-negative integer, found {other}")),
    };
    let kind = EventType::parse(&format!(":{}", field("type")?.keyword()?))?;
    let f = field("f")?.keyword()?;
    let key = field("key")?.text()?;
    let value = map.get("value").unwrap_or(&edn::Value::Nil);
    if kind == EventType::Invoke {
        return pairing.invoke(process, f, number, kv_input(f, key, value)?);
    }
    check_kv_echo(f, key, value, pairing.open_input(process, f)?)?;
    let output = kv_output(kind, f, value)?;
    pairing.complete(process, f, number, output)
}

fn kv_input(f: &str, key: String, value: &edn::Value) -> Result<KvInput, String> {
    match f {
        "get" => Ok(KvInput::Get { key }),
        "put" => Ok(KvInput::Put { key, value: value.text()? }),
        "append" => Ok(KvInput::Append { key, value: value.text()? }),
        "cas" => {
            let (from, to) = value.pair()?;
            Ok(KvInput::Cas { key, from, to })
        }
        _ => Err(format!("unknown function :{f}")),
    }
}

/// Checks a completion's key and value against its invocation (see [`edn_kv`]).
fn check_kv_echo(f: &str, key: String, value: &edn::Value, input: &KvInput) -> Result<(), String> {
    if key != input.key() {
        return Err(format!("the completion's key {key:?} is not the invocation's {:?}", input.key()));
    }
    if f == "get" || *value == edn::Value::Nil {
        return Ok(());
    }
    if kv_input(f, key, value)? != *input {
        return Err(format!("the completion's value {value} is not the invocation's"));
    }
    Ok(())
}

/// The output of a completion, `None` for an unknown outcome.
fn kv_output(kind: EventType, f: &str, value: &edn::Value) -> Result<Option<KvOutput>, String> {
    Ok(match (kind, f) {
        (EventType::Ok, "get") => Some(KvOutput::Value {
            value: match value {
                edn::Value::Nil => String::new(),
                other => other.text()?,
            },
        }),
        (EventType::Ok, _) => Some(KvOutput::Ok { ok: true }),
        // A failed get changed nothing and told nothing.
        (EventType::Fail, "get") => None,
        (EventType::Fail, _) => Some(KvOutput::Ok { ok: false }),
        (EventType::Info, _) => None,
        (EventType::Invoke, _) => unreachable!("invocations are handled by the caller"),
    })
}

/// Just enough EDN for one flat map a line: keywords, strings, integers, nil, vectors.
mod edn {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::iter::Peekable;
    use std::str::Chars;

    /// An EDN value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Value {
        Nil,
        Int(i64),
        Str(String),
        Keyword(String),
        Vector(Vec<Value>),
    }

    impl fmt::Display for Value {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Value::Nil => write!(f, "nil"),
                Value::Int(i) => write!(f, "{i}"),
                Value::Str(s) => write!(f, "{s:?}"),
                Value::Keyword(k) => write!(f, ":{k}"),
                Value::Vector(items) => {
                    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                    write!(f, "[{}]", items.join(" "))
                }
            }
        }
    }

    impl Value {
        pub(super) fn keyword(&self) -> Result<&str, String> {
            match self {
                Value::Keyword(k) => Ok(k),
                other => Err(format!("expected a keyword, found {other}")),
            }
        }

        /// A string, or an integer taken as its decimal text (keys are sometimes numbers).
        pub(super) fn text(&self) -> Result<String, String> {
            match self {
                Value::Str(s) => Ok(s.clone()),
                Value::Int(i) => Ok(i.to_string()),
                other => Err(format!("expected a string, found {other}")),
            }
        }

        pub(super) fn pair(&self) -> Result<(String, String), String> {
            match self {
                Value::Vector(items) if items.len() == 2 => Ok((items[0].text()?, items[1].text()?)),
                other => Err(format!("expected [from to], found {other}")),
            }
        }
    }

    /// Parses `{:k v, ...}` (commas are whitespace in EDN) into keyword -> value.
    pub(super) fn parse_map(line: &str) -> Result<BTreeMap<String, Value>, String> {
        let mut chars = line.chars().peekable();
        skip_space(&mut chars);
        if chars.next() != Some('{') {
            return Err("expected an EDN map `{...}`".into());
        }
        let mut map = BTreeMap::new();
        loop {
            skip_space(&mut chars);
            if chars.peek() == Some(&'}') {
                chars.next();
                break;
            }
            let key = value(&mut chars, 1)?.keyword()?.to_string();
            skip_space(&mut chars);
            let val = value(&mut chars, 1)?;
            if map.insert(key.clone(), val).is_some() {
                return Err(format!("duplicate key :{key}"));
            }
        }
        skip_space(&mut chars);
        match chars.next() {
            None => Ok(map),
            Some(c) => Err(format!("unexpected {c:?} after the map")),
        }
    }

    fn skip_space(chars: &mut Peekable<Chars<'_>>) {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
    }

    /// A value at nesting `depth` (the map's values are at 1).
    fn value(chars: &mut Peekable<Chars<'_>>, depth: usize) -> Result<Value, String> {
        if depth > super::MAX_EDN_DEPTH {
            return Err(format!("values nested more than {} deep", super::MAX_EDN_DEPTH));
        }
        match chars.peek() {
            None => Err("unexpected end of line".into()),
            Some('"') => string(chars).map(Value::Str),
            Some(':') => {
                chars.next();
                Ok(Value::Keyword(symbol(chars)))
            }
            Some('[') => vector(chars, depth),
            Some(_) => atom(&symbol(chars)),
        }
    }

    fn symbol(chars: &mut Peekable<Chars<'_>>) -> String {
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !",{}[]\"".contains(*c)) {
            word.push(c);
        }
        word
    }

    fn atom(word: &str) -> Result<Value, String> {
        if word == "nil" {
            return Ok(Value::Nil);
        }
        word.parse()
            .map(Value::Int)
            .map_err(|_| format!("unexpected {:?}", if word.is_empty() { "?" } else { word }))
    }

    fn vector(chars: &mut Peekable<Chars<'_>>, depth: usize) -> Result<Value, String> {
        chars.next();
        let mut items = Vec::new();
        loop {
            skip_space(chars);
            if chars.next_if_eq(&']').is_some() {
                return Ok(Value::Vector(items));
            }
            items.push(value(chars, depth + 1)?);
        }
    }

    fn string(chars: &mut Peekable<Chars<'_>>) -> Result<String, String> {
        chars.next();
        let mut out = String::new();
        loop {
            match chars.next() {
                None => return Err("unterminated string".into()),
                Some('"') => return Ok(out),
                Some('\\') => out.push(match chars.next() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some(c @ ('"' | '\\')) => c,
                    Some(c) => return Err(format!("bad escape \\{c}")),
                    None => return Err("unterminated string".into()),
                }),
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lincheck::Outcome;

    #[test]
    fn jepsen_lines_with_tabs_or_spaces() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n\
                   INFO  jepsen.util - 1   :invoke :read   nil\n\
                   INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n\
                   INFO  jepsen.util - 1   :fail   :read   :timed-out\n";
        let history = jepsen(log, "t.log").unwrap();
        let ops = history.operations();
        assert_eq!(ops[0].input, RegisterInput::Cas { from: 1, to: 2 });
        assert_eq!(ops[0].outcome.output(), Some(&RegisterOutput::Ok { ok: false }));
        assert_eq!(ops[0].outcome.return_time(), Some(3));
        assert_eq!(ops[1].outcome, Outcome::Unknown);
    }

    #[test]
    fn jepsen_errors_name_file_and_line() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t3\n";
        let err = jepsen(log, "x.log").unwrap_err().to_string();
        assert_eq!(err, "x.log:2: process 0 invoked :read but completes :write");
        let err = jepsen("garbage", "y.log").unwrap_err().to_string();
        assert!(err.starts_with("y.log:1: expected"), "{err}");
        let err = jepsen("INFO  jepsen.util - 0 :invoke :cas [1 x]", "z").unwrap_err();
        assert!(err.to_string().starts_with("z:1: expected an integer"), "{err}");
    }

    #[test]
    fn edn_lines() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n\
                    {:process 1, :type :invoke, :f :cas, :key \"a\", :value [\"x\" \"y\"]}\n\
                    {:process 0, :type :ok, :f :get, :key \"a\", :value \"q\\\"\"}\n";
        let history = edn_kv(text, "t.edn").unwrap();
        let ops = history.operations();
        assert_eq!(ops[0].outcome.output(), Some(&KvOutput::Value { value: "q\"".into() }));
        assert_eq!(ops[1].input, KvInput::Cas { key: "a".into(), from: "x".into(), to: "y".into() });
        assert_eq!(ops[1].outcome, Outcome::Unknown);
    }

    #[test]
    fn edn_errors_name_file_and_line() {
        for (bad, expected) in [
            ("{:process 0, :type :invoke, :f :get, :key \"a\"", "unexpected end of line"),
            ("{:process 0, :type :invoke, :f :get}", "missing :key"),
            ("{:process 0, :type :ok, :f :get, :key \"a\", :value \"b\"}", "never invoked"),
            ("{:process 0, :type :invoke, :f :get, :key \"a\", :value \"\\", "unterminated"),
            ("[1 2]", "expected an EDN map"),
        ] {
            let err = edn_kv(&format!("\n{bad}"), "k.edn").unwrap_err().to_string();
            assert!(err.starts_with("k.edn:2: "), "{err}");
            assert!(err.contains(expected), "{err} should say {expected}");
        }
    }
}
