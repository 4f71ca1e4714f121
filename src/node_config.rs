//! The settings of one node of a networked cluster that need a restart to change
//! ([`NodeConfig`]), read from a TOML file and validated with errors that name the field.
//!
//! ```toml
//! node_id = 1
//! cluster_id = "orders"          # optional, default "quorate"
//! bind_addr = "10.0.0.1:7001"     # where peers reach this node
//! http_addr = "10.0.0.1:8001"     # optional: where clients reach it
//! data_dir = "/var/lib/quorate/1"
//! peers = ["1=10.0.0.1:7001", "2=10.0.0.2:7001", "3=10.0.0.3:7001"]
//! ```
//!
//! `peers` lists the cluster's initial voters as `id=host:port`; this node may be among them
//! (with its `bind_addr`) or not (it is added). Once the log holds a configuration, the
//! log's is in force (see [`crate::membership`]).

use crate::config::RaftConfig;
use crate::error::{RaftError, RaftResult};
use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The longest cluster id: it travels in every connection's handshake.
pub const MAX_CLUSTER_ID_BYTES: usize = 64;

/// The most peers a node configuration may list (the membership's own limit).
pub const MAX_PEERS: usize = crate::membership::MAX_MEMBERS;

fn default_cluster_id() -> String {
    "quorate".into()
}

/// The settings of one node that need a restart to change (the seed's `NodeConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id (at least 1).
    pub node_id: u64,
    /// The cluster's name: a node refuses peers, and a data directory, of another cluster.
    #[serde(default = "default_cluster_id")]
    pub cluster_id: String,
    /// Where peers reach this node, `host:port`.
    pub bind_addr: String,
    /// Where clients reach this node, `host:port`, if it serves them.
    #[serde(default)]
    pub http_addr: Option<String>,
    /// The data directory: the write-ahead log, the hard state and snapshots.
    pub data_dir: PathBuf,
    /// The cluster's initial voters, as `id=host:port`.
    pub peers: Vec<String>,
}

/// A `ConfigError` naming the field.
fn field_error(field: &str, why: impl std::fmt::Display) -> RaftError {
    RaftError::ConfigError(format!("node configuration, field `{field}`: {why}"))
}

/// Checks a `host:port` address: a host (a name or an IP address, IPv6 in brackets) and a
/// port from 1 to 65535.
fn check_address(field: &str, addr: &str) -> RaftResult<()> {
    let bad = |why: &str| Err(field_error(field, format!("{addr:?} is not host:port ({why})")));
    let Some((host, port)) = addr.rsplit_once(':') else { return bad("no port") };
    if host.is_empty() {
        return bad("no host");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return bad("an IPv6 host goes in brackets");
    }
    if host.chars().any(char::is_whitespace) {
        return bad("a space in the host");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => bad("the port must be a number from 1 to 65535"),
        Ok(_) => Ok(()),
    }
}

impl NodeConfig {
    /// Parses and validates a configuration from TOML text.
    pub fn from_toml(text: &str) -> RaftResult<Self> {
        let config: NodeConfig =
            toml::from_str(text).map_err(|e| RaftError::ConfigError(format!("node configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates the configuration file at `path`; errors name the path.
    pub fn load(path: &Path) -> RaftResult<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RaftError::ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            RaftError::ConfigError(why) => RaftError::ConfigError(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Checks every field; the first problem is an error naming its field.
    pub fn validate(&self) -> RaftResult<()> {
        if self.node_id == 0 {
            return Err(field_error("node_id", "node ids start at 1"));
        }
        let id = &self.cluster_id;
        if id.is_empty()
            || id.len() > MAX_CLUSTER_ID_BYTES
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(field_error(
                "cluster_id",
                format!("{id:?} must be 1 to {MAX_CLUSTER_ID_BYTES} letters, digits, '-' or '_'"),
            ));
        }
        check_address("bind_addr", &self.bind_addr)?;
        if let Some(http) = &self.http_addr {
            check_address("http_addr", http)?;
            if http == &self.bind_addr {
                return Err(field_error("http_addr", format!("{http:?} is also the bind_addr")));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(field_error("data_dir", "empty"));
        }
        self.peer_map().map(drop)
    }

    /// The initial voters and their addresses, this node included (at its `bind_addr`).
    pub fn peer_map(&self) -> RaftResult<BTreeMap<NodeId, String>> {
        if self.peers.len() > MAX_PEERS {
            return Err(field_error("peers", format!("{} peers, more than {MAX_PEERS}", self.peers.len())));
        }
        let mut map = BTreeMap::new();
        for (k, peer) in self.peers.iter().enumerate() {
            let field = format!("peers[{k}]");
            let Some((id, addr)) = peer.split_once('=') else {
                return Err(field_error(&field, format!("{peer:?} is not id=host:port")));
            };
            let id: u64 = match id.trim().parse() {
                Ok(id) if id > 0 => id,
                _ => return Err(field_error(&field, format!("{id:?} is not a node id (1 or more)"))),
            };
            let addr = addr.trim();
            check_address(&field, addr)?;
            if id == self.node_id && addr != self.bind_addr {
                return Err(field_error(
                    &field,
                    format!("node {id} is this node, at {addr:?}, but its bind_addr is {:?}", self.bind_addr),
                ));
            }
            if map.insert(NodeId(id), addr.to_string()).is_some() {
                return Err(field_error(&field, format!("node {id} is listed twice")));
            }
        }
        map.entry(NodeId(self.node_id)).or_insert_with(|| self.bind_addr.clone());
        if map.len() > MAX_PEERS {
            return Err(field_error("peers", format!("with this node, more than {MAX_PEERS} voters")));
        }
        Ok(map)
    }

    /// The engine's configuration for this node: its id and the initial voters, with the
    /// engine's defaults for the rest.
    pub fn raft_config(&self) -> RaftResult<RaftConfig> {
        let voters: Vec<NodeId> = self.peer_map()?.into_keys().collect();
        let config = RaftConfig::new(self.node_id, voters);
        config.validate()?;
        Ok(config)
    }
}
