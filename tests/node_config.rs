//! The seed's `NodeConfig`: a node's settings that need a restart, from a TOML file,
//! validated with errors naming the field.

use quorate::config::NodeConfig;
use quorate::{NodeId, RaftError};

const GOOD: &str = r#"
node_id = 2
cluster_id = "orders"
bind_addr = "10.0.0.2:7001"
http_addr = "10.0.0.2:8001"
data_dir = "/var/lib/quorate/2"
peers = ["1=10.0.0.1:7001", "2=10.0.0.2:7001", "3=node-3.example:7001"]
"#;

fn error_of(text: &str) -> String {
    match NodeConfig::from_toml(text) {
        Err(RaftError::ConfigError(why)) => why,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn a_good_file_gives_the_node_and_its_voters() {
    let config = NodeConfig::from_toml(GOOD).unwrap();
    assert_eq!(config.node_id, 2);
    assert_eq!(config.cluster_id, "orders");
    let peers = config.peer_map().unwrap();
    assert_eq!(peers.keys().copied().collect::<Vec<_>>(), vec![NodeId(1), NodeId(2), NodeId(3)]);
    assert_eq!(peers[&NodeId(3)], "node-3.example:7001");
    let raft = config.raft_config().unwrap();
    assert_eq!(raft.node_id, NodeId(2));
    assert_eq!(raft.voters, vec![NodeId(1), NodeId(2), NodeId(3)]);
}

#[test]
fn optional_fields_take_their_defaults_and_the_node_joins_its_peers() {
    let text = r#"
node_id = 4
bind_addr = "[::1]:7004"
data_dir = "data/4"
peers = ["1=127.0.0.1:7001"]
"#;
    let config = NodeConfig::from_toml(text).unwrap();
    assert_eq!(config.cluster_id, "quorate");
    assert_eq!(config.http_addr, None);
    let peers = config.peer_map().unwrap();
    assert_eq!(peers[&NodeId(4)], "[::1]:7004", "the node is among the voters at its bind_addr");
}

#[test]
fn each_bad_field_is_named() {
    let with = |from: &str, to: &str| GOOD.replace(from, to);
    let cases = [
        (with("node_id = 2", "node_id = 0"), "`node_id`"),
        (with(r#"cluster_id = "orders""#, r#"cluster_id = "a b""#), "`cluster_id`"),
        (with(r#"bind_addr = "10.0.0.2:7001""#, r#"bind_addr = "10.0.0.2""#), "`bind_addr`"),
        (with(r#"http_addr = "10.0.0.2:8001""#, r#"http_addr = "10.0.0.2:0""#), "`http_addr`"),
        (with(r#"http_addr = "10.0.0.2:8001""#, r#"http_addr = "10.0.0.2:7001""#), "`http_addr`"),
        (with(r#"data_dir = "/var/lib/quorate/2""#, r#"data_dir = """#), "`data_dir`"),
        (with(r#""3=node-3.example:7001""#, r#""3-node-3.example:7001""#), "`peers[2]`"),
        (with(r#""3=node-3.example:7001""#, r#""0=node-3.example:7001""#), "`peers[2]`"),
        (with(r#""3=node-3.example:7001""#, r#""1=node-3.example:7001""#), "`peers[2]`"),
        (with(r#""2=10.0.0.2:7001""#, r#""2=10.0.0.9:7001""#), "`peers[1]`"),
        (with(r#""3=node-3.example:7001""#, r#""3=node-3.example:99999""#), "`peers[2]`"),
    ];
    for (text, field) in cases {
        let why = error_of(&text);
        assert!(why.contains(field), "{field} not named in: {why}");
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_refused() {
    assert!(error_of(&format!("{GOOD}\nheartbeat = 5\n")).contains("heartbeat"));
    assert!(error_of(&GOOD.replace("node_id = 2", "node_id = \"two\"")).contains("node_id"));
    assert!(error_of("node_id = 1").contains("bind_addr"), "a missing field is named");
}

#[test]
fn a_missing_file_is_an_error_naming_its_path() {
    let path = std::path::Path::new("/nonexistent/quorate/node.toml");
    match NodeConfig::load(path) {
        Err(RaftError::ConfigError(why)) => assert!(why.contains("/nonexistent/quorate/node.toml"), "{why}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
