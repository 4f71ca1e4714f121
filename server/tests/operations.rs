//! Operating a running cluster: snapshots and compaction on disk, a follower catching up
//! from a snapshot, membership changes, leadership transfer, SIGHUP.

#![cfg(not(madsim))]

mod common;

use common::{free_port, listing, metric, status, wait_for_leader, Cluster, Node};
use hyper::{Method, StatusCode};
use quorate_server::client::Client;
use std::time::{Duration, Instant};

async fn wait_until(what: &str, cluster: &Cluster, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < until, "{what}: not within {within:?}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_compact_the_disk_and_a_lagging_follower_installs_one() {
    let mut cluster = Cluster::new("snapshots", 3, "[dynamic]\ncompaction_threshold = 200\n");
    cluster.start_all();
    let leader = wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let lagging = (leader % 3) as usize; // another node (ids are 1-based, indexes 0-based)
    cluster.nodes[lagging].kill();
    let mut client = cluster.client();
    for k in 0..1000 {
        client.put(&format!("k{}", k % 300), &format!("v{k}")).await.unwrap();
    }
    // The leader compacted: one snapshot file, and no segment older than its base.
    let leader_node = &cluster.nodes[(leader - 1) as usize];
    let snaps: Vec<_> = std::fs::read_dir(leader_node.data_dir.join("snap")).unwrap().flatten().collect();
    assert_eq!(snaps.len(), 1, "{:?}", listing(&leader_node.data_dir));
    let segments: Vec<_> = std::fs::read_dir(leader_node.data_dir.join("wal")).unwrap().flatten().collect();
    assert_eq!(segments.len(), 1, "{:?}", listing(&leader_node.data_dir));
    // The lagging follower comes back behind the leader's snapshot: it installs one.
    cluster.nodes[lagging].start();
    let url = cluster.nodes[lagging].url();
    wait_until("the lagging follower caught up", &cluster, Duration::from_secs(15), async || {
        Client::new(std::slice::from_ref(&url)).get("k99", "stale").await.ok().flatten().as_deref()
            == Some("v999")
    })
    .await;
    let mut at_follower = Client::new(std::slice::from_ref(&url));
    let metrics =
        at_follower.request(Method::GET, "/metrics", bytes::Bytes::new(), &[]).await.unwrap().text();
    assert!(metric(&metrics, "quorate_snapshots_installed_total") >= 1, "{metrics}");
    // Every node restarts from its snapshot and log with every write.
    for node in &mut cluster.nodes {
        assert!(node.terminate(), "node {} did not stop cleanly", node.id);
        node.start();
    }
    wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let mut client = cluster.client();
    for k in 700..1000 {
        assert_eq!(
            client.get(&format!("k{}", k % 300), "linearizable").await.unwrap(),
            Some(format!("v{k}"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_and_leadership_moves() {
    let mut cluster = Cluster::new("members", 3, "");
    cluster.start_all();
    let leader = wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let mut client = cluster.client();
    client.put("before", "the change").await.unwrap();

    // A fourth node, listing the cluster's members (and itself) as its peers.
    let (peer, http) = (free_port(), free_port());
    let peers: Vec<String> = cluster.nodes.iter().map(|n| format!("\"{}={}\"", n.id, n.peer_addr)).collect();
    let data_dir = cluster.dir.0.join("node-4");
    let config = cluster.dir.0.join("node-4.toml");
    let text = format!(
        "node_id = 4\ncluster_id = \"test\"\nbind_addr = \"127.0.0.1:{peer}\"\nhttp_addr = \"127.0.0.1:{http}\"\n\
         data_dir = {:?}\npeers = [{}, \"4=127.0.0.1:{peer}\"]\n",
        data_dir.display().to_string(),
        peers.join(", ")
    );
    std::fs::write(&config, text).unwrap();
    let mut fourth = Node {
        id: 4,
        config,
        data_dir,
        peer_addr: format!("127.0.0.1:{peer}"),
        http_addr: format!("127.0.0.1:{http}"),
        process: None,
        log: cluster.dir.0.join("node-4.log"),
    };
    fourth.start();
    let body = format!(r#"{{"id": 4, "addr": "127.0.0.1:{peer}"}}"#);
    let answer = client.request(Method::POST, "/v1/members", bytes::Bytes::from(body), &[]).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let leader_url = cluster.nodes[(leader - 1) as usize].url();
    wait_until("node 4 became a voter", &cluster, Duration::from_secs(15), async || {
        let Some(s) = status(&leader_url).await else { return false };
        s["members"].as_array().unwrap().iter().any(|m| m["id"] == 4 && m["kind"] == "voter")
    })
    .await;
    let fourth_url = fourth.url();
    wait_until("node 4 has the data", &cluster, Duration::from_secs(10), async || {
        Client::new(std::slice::from_ref(&fourth_url)).get("before", "stale").await.ok().flatten().as_deref()
            == Some("the change")
    })
    .await;

    // Leadership moves to node 4; then one of the first members leaves.
    let answer = client
        .request(Method::POST, "/v1/leader/transfer", bytes::Bytes::from(r#"{"to": 4}"#), &[])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json().unwrap()["leader"], 4);
    let s = status(&fourth_url).await.unwrap();
    assert_eq!(s["role"], "leader", "{s}");

    let gone = if leader == 1 { 2 } else { 1 };
    let mut client = Client::new(std::slice::from_ref(&fourth_url));
    let answer = client
        .request(Method::DELETE, &format!("/v1/members/{gone}"), bytes::Bytes::new(), &[])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    wait_until("the member left", &cluster, Duration::from_secs(10), async || {
        let Some(s) = status(&fourth_url).await else { return false };
        !s["members"].as_array().unwrap().iter().any(|m| m["id"] == gone)
    })
    .await;
    cluster.nodes[(gone - 1) as usize].kill();
    client.put("after", "the change").await.unwrap();
    assert_eq!(client.get("after", "linearizable").await.unwrap().as_deref(), Some("the change"));
    // Removing a node that is not a member is refused.
    let answer = client.request(Method::DELETE, "/v1/members/9", bytes::Bytes::new(), &[]).await.unwrap();
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_dynamic_configuration() {
    let mut cluster = Cluster::started("reload", 1, "").await;
    let node = &mut cluster.nodes[0];
    let mut text = std::fs::read_to_string(&node.config).unwrap();
    text.push_str("\n[dynamic]\nheartbeat_interval_ms = 20\nelection_timeout_min_ms = 900\n");
    std::fs::write(&node.config, text).unwrap();
    let pid = node.process.as_ref().unwrap().id() as libc::pid_t;
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(pid, libc::SIGHUP);
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !node.log_text().contains("reloaded the dynamic configuration") {
        assert!(Instant::now() < until, "no reload logged:\n{}", node.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = node.log_text();
    assert!(
        log.contains("heartbeat_interval_ms: 20") && log.contains("election_timeout_min_ms: 900"),
        "{log}"
    );
    // A configuration that does not parse is reported, and the node goes on.
    std::fs::write(&node.config, "node_id = \"one\"").unwrap();
    unsafe {
        libc::kill(pid, libc::SIGHUP);
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !node.log_text().contains("SIGHUP: the configuration was not reloaded") {
        assert!(Instant::now() < until, "no error logged:\n{}", node.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Client::new(&cluster.endpoints()).put("still", "up").await.unwrap();
}
