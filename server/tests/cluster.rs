//! Three real nodes on loopback: writes through any node, reads that see them, and the
//! leader killed with SIGKILL under a concurrent load and restarted, with the clients'
//! history judged by the simulator's linearizability checker.

#![cfg(not(madsim))]

mod common;

use common::{wait_for_leader, Cluster};
use quorate::kv::{KvOp, KvResult};
use quorate_server::client::Client;
use quorate_sim::history::{to_input, to_output};
use quorate_sim::lincheck::{self, Budget, History, Kv, Verdict};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_node_are_read_back() {
    let mut cluster = Cluster::started("writes", 3, "").await;
    for round in 0..9 {
        // Each write goes to a different node (a follower redirects to the leader), and a
        // linearizable read through yet another node sees it.
        let node = &cluster.nodes[round % 3];
        let mut writer = Client::new(&[node.url()]);
        let key = format!("key-{round}");
        let value = format!("value-{round}");
        let index =
            writer.put(&key, &value).await.unwrap_or_else(|e| panic!("put {key}: {e}\n{}", cluster.logs()));
        assert!(index > 0);
        let mut reader = Client::new(&[cluster.nodes[(round + 1) % 3].url()]);
        assert_eq!(
            reader.get(&key, "linearizable").await.unwrap(),
            Some(value.clone()),
            "read after write of {key}"
        );
        assert_eq!(reader.get(&key, "lease").await.unwrap(), Some(value));
    }
    let mut client = cluster.client();
    assert_eq!(client.get("absent", "linearizable").await.unwrap(), None);
    assert_eq!(client.cas("c", None, "1").await.unwrap(), (true, Some("1".into())));
    assert_eq!(client.cas("c", None, "2").await.unwrap(), (false, Some("1".into())));
    assert_eq!(client.cas("c", Some("1"), "2").await.unwrap(), (true, Some("2".into())));
    client.delete("c").await.unwrap();
    assert_eq!(client.get("c", "linearizable").await.unwrap(), None);
    // A stale read at every node eventually sees the last write.
    let until = Instant::now() + Duration::from_secs(5);
    for node in &cluster.nodes {
        let mut c = Client::new(&[node.url()]);
        loop {
            if c.get("key-8", "stale").await.unwrap() == Some("value-8".into()) {
                break;
            }
            assert!(Instant::now() < until, "node {} never applied key-8", node.id);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for node in &mut cluster.nodes {
        assert!(node.terminate(), "node {} did not stop cleanly on SIGTERM\n{}", node.id, node.log_text());
    }
}

/// A retry with the same identity is applied once: the second answer is the first's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_applies_once() {
    let cluster = Cluster::started("retry", 3, "").await;
    let mut client = cluster.client();
    let headers = [("x-quorate-client", "77".to_string()), ("x-quorate-seq", "1".to_string())];
    let body = bytes::Bytes::from(r#"{"expect": null, "value": "first"}"#);
    let first = client.request(hyper::Method::POST, "/v1/kv/once/cas", body.clone(), &headers).await.unwrap();
    let again = client.request(hyper::Method::POST, "/v1/kv/once/cas", body, &headers).await.unwrap();
    assert_eq!(first.json().unwrap()["ok"], true);
    assert_eq!(
        again.json().unwrap()["ok"],
        true,
        "the retry is answered from the session, not executed again"
    );
    assert_eq!(first.json().unwrap()["index"], again.json().unwrap()["index"]);
}

type Shared = Arc<Mutex<(History<lincheck::KvInput, lincheck::KvOutput>, Vec<(String, String)>)>>;

/// One client of the load: operations on a few shared keys, each recorded in the history
/// (an operation whose outcome the client never learned stays open), plus writes of keys of
/// its own, whose acknowledgements are kept to be checked after the run.
async fn load(endpoints: Vec<String>, client_no: u64, until: Instant, epoch: Instant, shared: Shared) {
    let mut client = Client::new(&endpoints);
    client.deadline = Duration::from_secs(15);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let key = format!("shared-{}", (n + client_no) % 3);
        let value = format!("c{client_no}-{n}");
        let op = match n % 4 {
            0 => KvOp::Get { key },
            1 | 2 => KvOp::Put { key, value },
            _ => KvOp::CompareAndSet { key, expect: None, value },
        };
        let at = |t: Instant| t.duration_since(epoch).as_micros() as u64;
        let id = shared.lock().unwrap().0.invoke(client_no, at(Instant::now()), to_input(&op));
        let result = match &op {
            KvOp::Get { key } => {
                client.get(key, "linearizable").await.map(|v| KvResult::Value(v.unwrap_or_default()))
            }
            KvOp::Put { key, value } => client.put(key, value).await.map(|_| KvResult::Done),
            KvOp::CompareAndSet { key, expect, value } => client
                .cas(key, expect.as_deref(), value)
                .await
                .map(|(ok, current)| KvResult::CompareAndSet { ok, current }),
            _ => unreachable!(),
        };
        if let Ok(result) = result {
            shared.lock().unwrap().0.complete(id, at(Instant::now()), to_output(&result));
        }
        // A key of its own, acknowledged or not.
        let own = format!("own-{client_no}-{n}");
        if client.put(&own, &own).await.is_ok() {
            shared.lock().unwrap().1.push((own.clone(), own));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_under_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::new("kill", 3, "");
    cluster.start_all();
    let leader = wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let epoch = Instant::now();
    let until = epoch + Duration::from_secs(6);
    let shared: Shared = Arc::new(Mutex::new((History::new(), Vec::new())));
    let clients: Vec<_> = (1..=4)
        .map(|c| tokio::spawn(load(cluster.endpoints(), c, until, epoch, Arc::clone(&shared))))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let k = (leader - 1) as usize;
    cluster.nodes[k].kill();
    let successor = wait_for_leader(&cluster, Duration::from_secs(10)).await;
    assert_ne!(successor, leader);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.nodes[k].start();
    for c in clients {
        c.await.unwrap();
    }
    let (history, acked) = {
        let guard = shared.lock().unwrap();
        (guard.0.clone(), guard.1.clone())
    };
    assert!(
        acked.len() > 20,
        "the load made too little progress: {} writes acknowledged\n{}",
        acked.len(),
        cluster.logs()
    );
    // Every acknowledged write is there, read through the restarted node too.
    let mut reader = Client::new(&[cluster.nodes[k].url()]);
    reader.deadline = Duration::from_secs(15);
    for (key, value) in &acked {
        let got = reader
            .get(key, "linearizable")
            .await
            .unwrap_or_else(|e| panic!("read {key}: {e}\n{}", cluster.logs()));
        assert_eq!(
            got.as_deref(),
            Some(value.as_str()),
            "acknowledged write of {key} lost\n{}",
            cluster.logs()
        );
    }
    // The restarted node caught up: a stale read there sees the last acknowledged write.
    let (last_key, last_value) = acked.last().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let mut local = Client::new(&[cluster.nodes[k].url()]);
    while local.get(last_key, "stale").await.ok().flatten().as_deref() != Some(last_value.as_str()) {
        assert!(Instant::now() < until, "the restarted node never caught up\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let verdict = lincheck::check(&Kv::default(), &history, &Budget::steps(50_000_000)).verdict;
    assert_eq!(verdict, Verdict::Linearizable, "{} operations\n{}", history.len(), cluster.logs());
    assert!(history.len() > 20, "too few operations in the history: {}", history.len());
}
