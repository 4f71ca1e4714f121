//! `quorate workload`: a checked client workload. Concurrent clients run gets, puts and
//! compare-and-sets on a few shared keys (each put writes a value no one else writes) and
//! record every operation, with its call and return times, in a history in the JSON format
//! the project's checker reads (`quorate-sim lincheck --model kv --format json FILE`); an
//! operation whose outcome the client never learned stays open. Each client also writes keys
//! of its own, and after the run every one of those the cluster acknowledged is read back: a
//! missing one is a lost acknowledged write.

use crate::client::Client;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// The nodes' URLs.
    pub endpoints: Vec<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// How long to run.
    pub duration: Duration,
    /// Shared keys (fewer: more contention, harder histories).
    pub keys: u64,
    /// Where the history goes.
    pub history: PathBuf,
    /// How long one operation may keep retrying before its outcome is left unknown.
    pub op_deadline: Duration,
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct WorkloadReport {
    /// Operations on shared keys that completed.
    pub completed: u64,
    /// Operations whose outcome is unknown.
    pub unknown: u64,
    /// Writes of clients' own keys acknowledged.
    pub acknowledged: u64,
    /// Acknowledged writes not found at the end (with what was read).
    pub lost: Vec<String>,
    /// Operations in the history.
    pub operations: usize,
}

#[derive(Default)]
struct Shared {
    ops: Vec<Value>,
    acked: Vec<(String, String)>,
    completed: u64,
    unknown: u64,
}

fn micros(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

async fn client_loop(
    config: Arc<WorkloadConfig>,
    id: u64,
    until: Instant,
    epoch: Instant,
    shared: Arc<Mutex<Shared>>,
) {
    let mut client = Client::new(&config.endpoints);
    client.deadline = config.op_deadline;
    let mut rng = crate::entropy() | 1;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = format!("shared-{}", rng % config.keys.max(1));
        let value = format!("c{id}-{n}");
        let call = micros(epoch);
        let (input, output) = match (rng >> 32) % 4 {
            0 | 1 => {
                let got = client.get(&key, "linearizable").await;
                (json!({"op": "get", "key": key}), got.ok().map(|v| json!({"value": v.unwrap_or_default()})))
            }
            2 => {
                let done = client.put(&key, &value).await;
                (json!({"op": "put", "key": key, "value": value}), done.ok().map(|_| json!({"ok": true})))
            }
            _ => {
                // Expect the value some put may have written, or absence.
                let expect = if rng & 2 == 0 {
                    None
                } else {
                    Some(format!("c{}-{}", (rng >> 8) % 8, (rng >> 16) % 4 + 1))
                };
                let done = client.cas(&key, expect.as_deref(), &value).await;
                let from = expect.unwrap_or_default();
                (
                    json!({"op": "cas", "key": key, "from": from, "to": value}),
                    done.ok().map(|(ok, _)| json!({"ok": ok})),
                )
            }
        };
        let ret = output.as_ref().map(|_| micros(epoch));
        {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            if output.is_some() {
                s.completed += 1;
            } else {
                s.unknown += 1;
            }
            s.ops.push(json!({"client": id, "call": call, "return": ret, "input": input, "output": output}));
        }
        let own = format!("own-{id}-{n}");
        if client.put(&own, &own).await.is_ok() {
            shared.lock().unwrap_or_else(|e| e.into_inner()).acked.push((own.clone(), own));
        }
    }
}

/// Runs the workload, writes the history, and reads back every acknowledged write.
pub async fn run(config: WorkloadConfig) -> Result<WorkloadReport, String> {
    if config.endpoints.is_empty() {
        return Err("no endpoint given".into());
    }
    let config = Arc::new(config);
    let epoch = Instant::now();
    let until = epoch + config.duration;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let tasks: Vec<_> = (1..=config.clients.max(1) as u64)
        .map(|id| tokio::spawn(client_loop(Arc::clone(&config), id, until, epoch, Arc::clone(&shared))))
        .collect();
    let progress = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let s = shared.lock().unwrap_or_else(|e| e.into_inner());
                eprintln!(
                    "[{:>4.0} s] {} operations completed, {} unknown, {} own writes acknowledged",
                    epoch.elapsed().as_secs_f64(),
                    s.completed,
                    s.unknown,
                    s.acked.len()
                );
            }
        })
    };
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    progress.abort();
    let mut shared = std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
    // The end state of every shared key, read once the load is over, joins the history.
    let mut reader = Client::new(&config.endpoints);
    reader.deadline = Duration::from_secs(60);
    for k in 0..config.keys.max(1) {
        let key = format!("shared-{k}");
        let call = micros(epoch);
        let got = reader.get(&key, "linearizable").await?;
        let ret = micros(epoch);
        shared.ops.push(json!({"client": 0, "call": call, "return": ret,
            "input": {"op": "get", "key": key}, "output": {"value": got.unwrap_or_default()}}));
    }
    let mut lost = Vec::new();
    for (key, value) in &shared.acked {
        let got = reader.get(key, "linearizable").await?;
        if got.as_deref() != Some(value.as_str()) {
            lost.push(format!("{key}: read {got:?}"));
        }
    }
    shared.ops.sort_by_key(|op| op["call"].as_u64().unwrap_or(0));
    let lines: Vec<String> = shared.ops.iter().map(Value::to_string).collect();
    let text =
        format!("{{\"model\":\"kv\",\"client_order\":false,\"operations\":[\n{}\n]}}\n", lines.join(",\n"));
    std::fs::write(&config.history, text)
        .map_err(|e| format!("cannot write {}: {e}", config.history.display()))?;
    Ok(WorkloadReport {
        completed: shared.completed,
        unknown: shared.unknown,
        acknowledged: shared.acked.len() as u64,
        lost,
        operations: shared.ops.len(),
    })
}
