//! A node's configuration file, and starting a node from it.
//!
//! The file is the engine's [`NodeConfig`] TOML, with an optional `[dynamic]` table for the
//! values that may change while the node runs (re-read on SIGHUP):
//!
//! ```toml
//! node_id = 1
//! cluster_id = "orders"
//! bind_addr = "127.0.0.1:7001"
//! http_addr = "127.0.0.1:8001"
//! data_dir = "/var/lib/quorate/1"
//! peers = ["1=127.0.0.1:7001", "2=127.0.0.1:7002", "3=127.0.0.1:7003"]
//!
//! [dynamic]
//! heartbeat_interval_ms = 50
//! election_timeout_min_ms = 500
//! election_timeout_max_ms = 1000
//! compaction_threshold = 10000
//! ```

use crate::metrics::Metrics;
use crate::node::{Driver, Inputs, Request};
use crate::storage::{self, Identity};
use crate::transport::{Local, Peers};
use quorate::config::{DynamicConfig, RaftConfig};
use quorate::core::Core;
use quorate::kv::KvStore;
use quorate::node_config::NodeConfig;
use quorate::types::{LogIndex, NodeId};
use rand_core::SeedableRng;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
#[cfg(not(madsim))]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// The `[dynamic]` table: each value optional (absent: the engine's default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicSection {
    /// How often a leader sends heartbeats.
    pub heartbeat_interval_ms: Option<u64>,
    /// Lower bound of the election timeout.
    pub election_timeout_min_ms: Option<u64>,
    /// Upper bound of the election timeout.
    pub election_timeout_max_ms: Option<u64>,
    /// Log entries kept before a snapshot.
    pub compaction_threshold: Option<u64>,
}

impl DynamicSection {
    /// The values, over `base`'s for those not given.
    pub fn over(&self, base: DynamicConfig) -> DynamicConfig {
        DynamicConfig {
            heartbeat_interval_ms: self.heartbeat_interval_ms.unwrap_or(base.heartbeat_interval_ms),
            election_timeout_min_ms: self.election_timeout_min_ms.unwrap_or(base.election_timeout_min_ms),
            election_timeout_max_ms: self.election_timeout_max_ms.unwrap_or(base.election_timeout_max_ms),
            compaction_threshold: self.compaction_threshold.unwrap_or(base.compaction_threshold),
        }
    }
}

/// A node's configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The static part.
    pub node: NodeConfig,
    /// The `[dynamic]` table.
    pub dynamic: DynamicSection,
}

/// Reads and checks a configuration file; errors name the file and the field.
pub fn load(path: &Path) -> Result<ServerConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and checks a configuration's text.
pub fn parse(text: &str) -> Result<ServerConfig, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
    let dynamic = match table.remove("dynamic") {
        None => DynamicSection::default(),
        Some(value) => value.try_into().map_err(|e| format!("[dynamic]: {e}"))?,
    };
    let node: NodeConfig =
        toml::Value::Table(table).try_into().map_err(|e| format!("node configuration: {e}"))?;
    node.validate().map_err(|e| e.to_string())?;
    Ok(ServerConfig { node, dynamic })
}

/// Where a started node listens.
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    /// The peer address.
    pub peer: SocketAddr,
    /// The HTTP address.
    pub http: Option<SocketAddr>,
}

/// A node whose driver, peer listener and log writer run.
pub struct Started {
    /// The driver's request queue (the HTTP service's, or a test's, way in).
    pub requests: mpsc::Sender<Request>,
    /// The node's peers.
    pub peers: Arc<Peers>,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    /// The node's id.
    pub node_id: u64,
    /// The client listener, bound (if the configuration has an `http_addr`).
    pub http_listener: Option<tokio::net::TcpListener>,
    /// The static engine configuration (reloads correct against it).
    pub raft_config: RaftConfig,
    driver: tokio::task::JoinHandle<Result<(), String>>,
    driver_stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    writer: crate::storage::WriterHandle,
}

impl Started {
    /// Tells the driver to stop: pending HTTP requests are answered, the writer flushes.
    pub fn request_stop(&self) {
        let _ = self.driver_stop.send(true);
    }

    /// A receiver that flips to true when the node is told to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.driver_stop.subscribe()
    }

    /// Waits for the driver to end (it ends on its own only when the disk fails), then
    /// stops the rest: the peer listener, and the log writer once it flushed and fsynced.
    pub async fn finish(self) -> Result<(), String> {
        let outcome = self.driver.await.map_err(|e| format!("the driver panicked: {e}")).and_then(|r| r);
        let _ = self.driver_stop.send(true);
        self.accept.abort();
        self.writer.join().await;
        outcome
    }

    /// Whether the driver has ended.
    pub fn driver_ended(&self) -> bool {
        self.driver.is_finished()
    }
}

/// Starts a node: recovers its data directory (the time it took is logged), binds its
/// listeners, and starts its driver, log writer and peer listener. Errors name what failed
/// (a path, an address).
pub async fn start_node(config: ServerConfig) -> Result<Started, String> {
    let started = Instant::now();
    let ServerConfig { node: config, dynamic } = config;
    let metrics = Arc::new(Metrics::default());
    let identity = Identity { cluster_id: config.cluster_id.clone(), node_id: config.node_id };
    let (durable, mut store, report) =
        storage::open(&config.data_dir, &identity, Arc::clone(&metrics), storage::SEGMENT_BYTES)
            .map_err(|e| e.to_string())?;
    tracing::info!(
        node = config.node_id,
        segments = report.segments,
        wal_bytes = report.wal_bytes,
        torn_bytes = report.torn_bytes,
        entries = report.entries,
        snapshot = ?report.snapshot,
        took_ms = report.took.as_secs_f64() * 1e3,
        "recovered the data directory"
    );
    let raft_config: RaftConfig = config.raft_config().map_err(|e| e.to_string())?;
    let mut kv = KvStore::default();
    let mut applied = LogIndex(0);
    if let Some(snapshot) = &durable.latest_snapshot {
        kv = KvStore::decode(&snapshot.data).ok_or_else(|| {
            format!(
                "the snapshot at {:?} in {} is not a key-value store",
                snapshot.point(),
                config.data_dir.display()
            )
        })?;
        applied = snapshot.meta.index;
    }
    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(crate::entropy());
    let mut core = Core::new(raft_config.clone(), durable, rng, 0).map_err(|e| e.to_string())?;
    core.set_log_source(Arc::new(store.memory()));

    let peer_listener = tokio::net::TcpListener::bind(&config.bind_addr)
        .await
        .map_err(|e| format!("cannot listen for peers on {}: {e}", config.bind_addr))?;
    let http_listener = match &config.http_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for clients on {addr}: {e}"))?,
        ),
        None => None,
    };
    let local = Local {
        cluster_id: config.cluster_id.clone(),
        id: NodeId(config.node_id),
        http_addr: config.http_addr.clone(),
    };
    let addrs = config.peer_map().map_err(|e| e.to_string())?;
    let peers = Peers::new(local, addrs, Arc::clone(&metrics));

    let (inbox_tx, inbox) = mpsc::channel(8192);
    let (requests_tx, requests) = mpsc::channel(4096);
    let (synced_tx, synced) = mpsc::unbounded_channel();
    let writer = store
        .start(Box::new(move |report| {
            let _ = synced_tx.send(report);
        }))
        .map_err(|e| e.to_string())?;
    let accept = tokio::spawn(Arc::clone(&peers).accept(peer_listener, inbox_tx));
    let (driver_stop, stop) = watch::channel(false);
    if dynamic != DynamicSection::default() {
        let _ = requests_tx.send(Request::Reload(dynamic.over(raft_config.dynamic()))).await;
    }
    tracing::info!(node = config.node_id, peers = %config.bind_addr, http = ?config.http_addr, "listening");
    let driver = Driver::new(
        core,
        store,
        Arc::clone(&peers),
        Arc::clone(&metrics),
        kv,
        applied,
        started,
        raft_config.clone(),
    );
    let inputs = Inputs { inbox, requests, synced, stop };
    let driver = tokio::spawn(driver.run(inputs));
    Ok(Started {
        requests: requests_tx,
        peers,
        metrics,
        node_id: config.node_id,
        http_listener,
        raft_config,
        driver,
        driver_stop,
        accept,
        writer,
    })
}

/// Runs a node from its configuration file, with its HTTP service, until `stop` flips (or
/// SIGTERM, SIGINT, when `signals` is set; SIGHUP then reloads the `[dynamic]` table).
/// `listening` hears where it listens once it does. Errors name what failed (a path, an
/// address).
#[cfg(not(madsim))]
pub async fn run_node(
    config_path: PathBuf,
    mut stop: watch::Receiver<bool>,
    signals: bool,
    listening: Option<tokio::sync::oneshot::Sender<Listening>>,
) -> Result<(), String> {
    let mut node = start_node(load(&config_path)?).await?;
    let api = crate::http::Api {
        requests: node.requests.clone(),
        peers: Arc::clone(&node.peers),
        metrics: Arc::clone(&node.metrics),
        node_id: node.node_id,
    };
    let http_listener = node.http_listener.take();
    let listening_at = Listening {
        peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let http = http_listener.map(|listener| {
        let mut stopping = node.stopping();
        tokio::spawn(async move {
            let serve = axum::serve(listener, crate::http::router(api));
            let _ = serve
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                })
                .await;
        })
    });
    if let Some(tx) = listening {
        let _ = tx.send(listening_at);
    }
    let mut signals = spawn_signals(signals);
    let mut ended = false;
    while !ended {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => ended = node.driver_ended(),
            () = stopped(&mut stop) => ended = true,
            Some(signal) = signals.recv() => match signal {
                Signal::Stop => {
                    tracing::info!("stopping");
                    ended = true;
                }
                Signal::Reload => match load(&config_path) {
                    Ok(reloaded) => {
                        let update = reloaded.dynamic.over(node.raft_config.dynamic());
                        let _ = node.requests.send(Request::Reload(update)).await;
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the configuration was not reloaded"),
                },
            },
        }
    }
    node.request_stop();
    let outcome = node.finish().await;
    if let Some(http) = http {
        let _ = http.await;
    }
    outcome
}

/// Returns once `stop` reads true (or its sender is gone).
#[cfg(not(madsim))]
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(not(madsim))]
enum Signal {
    Stop,
    Reload,
}

/// Forwards SIGTERM and SIGINT (stop) and SIGHUP (reload) when `enabled`.
#[cfg(not(madsim))]
fn spawn_signals(enabled: bool) -> mpsc::Receiver<Signal> {
    let (tx, rx) = mpsc::channel(4);
    if !enabled {
        std::mem::forget(tx); // never closes, never sends
        return rx;
    }
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            tracing::error!("cannot listen for signals");
            return std::future::pending::<()>().await;
        };
        loop {
            let signal = tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            };
            if tx.send(signal).await.is_err() {
                return;
            }
        }
    });
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(Signal::Stop).await;
        }
        std::future::pending::<()>().await
    });
    rx
}
