//! `quorate bench`: a closed-loop load of N clients, each with one request outstanding,
//! against Quorate's key-value service or etcd's v3 JSON gateway; throughput and latency
//! percentiles for writes and reads, with a progress line while it runs.

use crate::client::Client;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The nodes' URLs.
    pub endpoints: Vec<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// Bytes per value written.
    pub value_size: usize,
    /// How long to run.
    pub duration: Duration,
    /// Fraction of operations that are reads (0 to 1).
    pub read_ratio: f64,
    /// Read consistency (`linearizable`, `lease`, `stale`; for etcd, `stale` is serializable).
    pub consistency: String,
    /// Keys written and read.
    pub keys: u64,
    /// Target etcd's v3 JSON gateway instead.
    pub etcd: bool,
}

/// Latencies of one kind of operation.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    micros: Vec<u64>,
    /// Operations that failed.
    pub errors: u64,
}

impl Latencies {
    /// Operations that succeeded.
    pub fn count(&self) -> usize {
        self.micros.len()
    }

    /// The `q` quantile (0 to 1) in milliseconds (0 with no operation).
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.sort_unstable();
        let k = ((self.micros.len() as f64 * q).ceil() as usize).clamp(1, self.micros.len()) - 1;
        self.micros[k] as f64 / 1e3
    }

    fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Writes.
    pub writes: Latencies,
    /// Reads.
    pub reads: Latencies,
    /// Wall time measured.
    pub elapsed: Duration,
}

impl Report {
    /// The summary, one line per kind of operation.
    pub fn render(&mut self, config: &BenchConfig) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "{} target, {} clients, {}-byte values, {:.0}% reads ({}), {:.1} s\n",
            if config.etcd { "etcd" } else { "quorate" },
            config.clients,
            config.value_size,
            config.read_ratio * 100.0,
            config.consistency,
            secs
        );
        for (name, lat) in [("writes", &mut self.writes), ("reads", &mut self.reads)] {
            if lat.count() == 0 && lat.errors == 0 {
                continue;
            }
            let (p50, p99, p999) = (lat.quantile_ms(0.5), lat.quantile_ms(0.99), lat.quantile_ms(0.999));
            out.push_str(&format!(
                "{name:>6}: {:>8} ok {:>6} errors {:>10.0} ops/s   p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   p99.9 {p999:>7.2} ms\n",
                lat.count(),
                lat.errors,
                lat.count() as f64 / secs,
            ));
        }
        out
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One client's loop.
async fn client_loop(
    config: Arc<BenchConfig>,
    index: usize,
    until: Instant,
    done: Arc<AtomicU64>,
) -> (Latencies, Latencies) {
    let mut endpoints = config.endpoints.clone();
    let n = endpoints.len().max(1);
    endpoints.rotate_left(index % n);
    let mut client = Client::new(&endpoints);
    client.deadline = Duration::from_secs(10);
    let mut rng = crate::entropy() | 1;
    let value: String = "v".repeat(config.value_size);
    let (mut writes, mut reads) = (Latencies::default(), Latencies::default());
    while Instant::now() < until {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = format!("key-{}", rng % config.keys.max(1));
        let read = ((rng >> 11) as f64 / (1u64 << 53) as f64) < config.read_ratio;
        let started = Instant::now();
        let ok = if config.etcd {
            etcd_op(&mut client, &config, &key, read.then_some(()).map_or(Some(value.as_str()), |_| None))
                .await
        } else if read {
            client.get(&key, &config.consistency).await.map(drop)
        } else {
            client.put(&key, &value).await.map(drop)
        };
        let took = started.elapsed().as_micros() as u64;
        let lat = if read { &mut reads } else { &mut writes };
        match ok {
            Ok(()) => lat.micros.push(took),
            Err(_) => lat.errors += 1,
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    (writes, reads)
}

/// One operation against etcd's JSON gateway: a put of `value`, or a range read.
async fn etcd_op(
    client: &mut Client,
    config: &BenchConfig,
    key: &str,
    value: Option<&str>,
) -> Result<(), String> {
    let (path, body) = match value {
        Some(v) => (
            "/v3/kv/put",
            serde_json::json!({ "key": base64(key.as_bytes()), "value": base64(v.as_bytes()) }),
        ),
        None => (
            "/v3/kv/range",
            serde_json::json!({ "key": base64(key.as_bytes()), "serializable": config.consistency == "stale" }),
        ),
    };
    let answer = client.request(Method::POST, path, Bytes::from(body.to_string()), &[]).await?;
    if answer.status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("{}: {}", answer.status, answer.text()))
    }
}

/// Runs the load and returns its report, printing a progress line each second to stderr.
pub async fn run(config: BenchConfig) -> Result<Report, String> {
    if config.endpoints.is_empty() {
        return Err("no endpoint given".into());
    }
    if !(0.0..=1.0).contains(&config.read_ratio) {
        return Err(format!("--read-ratio {} is not between 0 and 1", config.read_ratio));
    }
    let config = Arc::new(config);
    let started = Instant::now();
    let until = started + config.duration;
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..config.clients.max(1))
        .map(|k| tokio::spawn(client_loop(Arc::clone(&config), k, until, Arc::clone(&done))))
        .collect();
    let progress = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = done.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>4.0} s] {now} operations, {} in the last second",
                    started.elapsed().as_secs_f64(),
                    now - last
                );
                last = now;
            }
        })
    };
    let mut report = Report::default();
    for task in tasks {
        let (w, r) = task.await.map_err(|e| e.to_string())?;
        report.writes.merge(w);
        report.reads.merge(r);
    }
    progress.abort();
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
