//! Real `quorate node` processes on free loopback ports, each with its own configuration
//! file and data directory under a fresh temporary directory.

#![allow(dead_code)]

use quorate_server::client::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port, drawn at random below the kernel's ephemeral range (32768 and up on
/// Linux): a port the kernel hands out can be taken again at once as the local port of one of
/// the many connections the tests open, before the node that was meant to bind it does.
pub fn free_port() -> u16 {
    quorate_server::cluster::free_port().unwrap()
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "quorate-{name}-{}-{}",
            std::process::id(),
            quorate_server::entropy()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One node: its configuration and, while it runs, its process.
pub struct Node {
    pub id: u64,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub peer_addr: String,
    pub http_addr: String,
    pub process: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Starts the node's process (its log goes to a file beside its configuration).
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "node {} already runs", self.id);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_quorate"))
            .args(["node", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the quorate binary starts");
        self.process = Some(child);
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.process.take() else { return true };
        unsafe_sigterm(child.id());
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn unsafe_sigterm(pid: u32) {
    // SAFETY: kill(2) on a child process this test started and has not reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of `n` nodes (not started).
pub struct Cluster {
    pub dir: TempDir,
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn new(name: &str, n: usize, extra: &str) -> Cluster {
        let dir = TempDir::new(name);
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let peers: Vec<String> =
            ports.iter().enumerate().map(|(k, (p, _))| format!("\"{}=127.0.0.1:{p}\"", k + 1)).collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(k, (peer, http))| {
                let id = k as u64 + 1;
                let data_dir = dir.0.join(format!("node-{id}"));
                let config = dir.0.join(format!("node-{id}.toml"));
                let text = format!(
                    "node_id = {id}\ncluster_id = \"test\"\nbind_addr = \"127.0.0.1:{peer}\"\nhttp_addr = \"127.0.0.1:{http}\"\n\
                     data_dir = {:?}\npeers = [{}]\n{extra}\n",
                    data_dir.display().to_string(),
                    peers.join(", ")
                );
                std::fs::write(&config, text).unwrap();
                Node {
                    id,
                    config,
                    data_dir,
                    peer_addr: format!("127.0.0.1:{peer}"),
                    http_addr: format!("127.0.0.1:{http}"),
                    process: None,
                    log: dir.0.join(format!("node-{id}.log")),
                }
            })
            .collect();
        Cluster { dir, nodes }
    }

    /// A cluster of `n` nodes, started, with a leader elected.
    pub async fn started(name: &str, n: usize, extra: &str) -> Cluster {
        let mut cluster = Cluster::new(name, n, extra);
        cluster.start_all();
        wait_for_leader(&cluster, Duration::from_secs(10)).await;
        cluster
    }

    pub fn start_all(&mut self) {
        for node in &mut self.nodes {
            node.start();
        }
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.endpoints())
    }

    /// The logs of every node, for a failing test's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} ---\n{}", n.id, tail(&n.log_text(), 40)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A node's status, as JSON, if it answers.
pub async fn status(url: &str) -> Option<serde_json::Value> {
    let mut client = Client::new(&[url.to_string()]);
    client.deadline = Duration::from_millis(500);
    client.exchange_timeout = Duration::from_millis(500);
    let answer = client.request(hyper::Method::GET, "/v1/status", bytes::Bytes::new(), &[]).await.ok()?;
    answer.json().ok()
}

/// Waits until some running node reports itself leader; returns its id.
pub async fn wait_for_leader(cluster: &Cluster, within: Duration) -> u64 {
    let until = Instant::now() + within;
    while Instant::now() < until {
        for node in &cluster.nodes {
            if node.process.is_none() {
                continue;
            }
            if let Some(s) = status(&node.url()).await {
                if s["role"] == "leader" {
                    return node.id;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader within {within:?}\n{}", cluster.logs());
}

/// The value of a metric in Prometheus text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Files of a directory, recursively (for messages).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(listing(&p));
            } else {
                out.push(format!("{} ({} bytes)", p.display(), e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    out
}
