//! `quorate cluster`: a local cluster on loopback ports, for trying Quorate out. Each node is
//! a task of this process with its own configuration file and data directory under DIR;
//! started again on the same DIR, the cluster reuses its nodes, ports and data. Standard
//! output gets each node's URL (`http://127.0.0.1:PORT`, node 1 first) as soon as it
//! listens, and nothing else; the rest goes to standard error.

use crate::config::Listening;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::{oneshot, watch};

/// The configuration file of node `id` under `dir`.
pub fn config_path(dir: &Path, id: usize) -> PathBuf {
    dir.join(format!("node-{id}.toml"))
}

/// A free loopback port, drawn at random from 20000 to 32767: below the kernel's ephemeral
/// range (32768 and up on Linux), so that it is not taken again as the local port of an
/// outgoing connection between the probe and the node's bind.
pub fn free_port() -> Result<u16, String> {
    for _ in 0..1000 {
        let port = 20_000 + (crate::entropy() % 12_768) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("cannot find a free port from 20000 to 32767".into())
}

/// Writes the configuration files of a new `nodes`-node cluster under `dir`, on free
/// loopback ports, unless `dir` already holds them. Returns their paths.
pub fn prepare(dir: &Path, nodes: usize) -> Result<Vec<PathBuf>, String> {
    if nodes == 0 || nodes > 9 {
        return Err(format!("--nodes {nodes}: a local cluster has 1 to 9 nodes"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let existing = (1..=9).filter(|&id| config_path(dir, id).exists()).count();
    let paths: Vec<PathBuf> = (1..=nodes).map(|id| config_path(dir, id)).collect();
    if existing > 0 {
        if existing != nodes || paths.iter().any(|p| !p.exists()) {
            return Err(format!("{} holds a cluster of {existing} nodes, not {nodes}", dir.display()));
        }
        return Ok(paths);
    }
    let mut ports = Vec::new();
    for _ in 0..nodes {
        ports.push((free_port()?, free_port()?));
    }
    let peers: Vec<String> =
        ports.iter().enumerate().map(|(k, (p, _))| format!("\"{}=127.0.0.1:{p}\"", k + 1)).collect();
    for (k, (peer, http)) in ports.iter().enumerate() {
        let id = k + 1;
        let data = dir.join(format!("node-{id}"));
        let text = format!(
            "node_id = {id}\ncluster_id = \"local\"\nbind_addr = \"127.0.0.1:{peer}\"\nhttp_addr = \"127.0.0.1:{http}\"\n\
             data_dir = {:?}\npeers = [{}]\n",
            data.display().to_string(),
            peers.join(", ")
        );
        std::fs::write(&paths[k], text).map_err(|e| format!("cannot write {}: {e}", paths[k].display()))?;
    }
    Ok(paths)
}

/// Runs the cluster until SIGINT or SIGTERM, printing each node's URL as it listens.
pub async fn run(nodes: usize, dir: &Path) -> Result<(), String> {
    let paths = prepare(dir, nodes)?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    for (k, path) in paths.iter().enumerate() {
        let (tx, rx) = oneshot::channel::<Listening>();
        let task = tokio::spawn(crate::config::run_node(path.clone(), stop.clone(), false, Some(tx)));
        match rx.await {
            Ok(listening) => {
                // Standard output carries the URLs alone, one a line, for scripts to read.
                match listening.http {
                    Some(addr) => println!("http://{addr}"),
                    None => println!("-"),
                }
                let _ = std::io::stdout().flush();
                tasks.push(task);
            }
            Err(_) => {
                let outcome = task.await.map_err(|e| e.to_string())?;
                let _ = stop_tx.send(true);
                for task in tasks {
                    let _ = task.await;
                }
                return Err(format!("node {} did not start: {}", k + 1, outcome.err().unwrap_or_default()));
            }
        }
    }
    eprintln!("cluster of {nodes} running in {}; Ctrl-C stops it", dir.display());
    wait_for_stop().await;
    let _ = stop_tx.send(true);
    let mut failed = None;
    for (k, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(format!("node {}: {e}", k + 1)),
            Err(e) => failed = Some(format!("node {}: {e}", k + 1)),
        }
    }
    eprintln!("stopped");
    failed.map_or(Ok(()), Err)
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
