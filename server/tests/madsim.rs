//! The runtime under madsim: the server's own driver, transport and storage (no copy of
//! them) on simulated hosts, with simulated TCP and time, and the storage's in-memory disk
//! (`quorate_server::fs`) losing what was not synced at each crash. Random kills and
//! restarts, partitions and healing, leadership transfers and membership changes run under a
//! concurrent key-value workload; the history is judged by the project's linearizability
//! checker and every acknowledged write must be there at the end.
//!
//! Run by `scripts/madsim.sh [SEEDS]` (`RUSTFLAGS="--cfg madsim"`, a target directory of its
//! own). `MADSIM_TEST_SEED=N` replays a seed, `MADSIM_TEST_NUM=K` sweeps K seeds from it;
//! madsim prints the seed of a failing run.

#![cfg(madsim)]

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::{sleep, Instant};
use quorate::kv::{KvOp, KvResult};
use quorate::membership::MembershipChange;
use quorate::requests::RequestId;
use quorate::types::NodeId;
use quorate_server::node::{Consistency, Refusal, Request};
use quorate_sim::history::{to_input, to_output};
use quorate_sim::lincheck::{self, Budget, History, Kv, KvInput, KvOutput, Verdict};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Each running node's request queue, by node id (a killed node's queue is closed).
type Registry = Arc<Mutex<BTreeMap<u64, mpsc::Sender<Request>>>>;

/// Each node's metrics, for a failing run's message.
static METRICS: Mutex<BTreeMap<u64, Arc<quorate_server::metrics::Metrics>>> = Mutex::new(BTreeMap::new());

/// The command that replays a seed.
fn replay(seed: u64) -> String {
    format!("replay: scripts/madsim.sh 1 {seed}")
}

fn ip(id: u64) -> IpAddr {
    format!("10.0.0.{id}").parse().unwrap()
}

/// Node `id`'s data directory in the in-memory disk, which every simulation of this process
/// shares: the seed and the cluster's size keep concurrent tests apart.
fn data_dir(seed: u64, members: u64, id: u64) -> PathBuf {
    PathBuf::from(format!("/sim-{seed}-{members}/node-{id}"))
}

fn config(seed: u64, id: u64, members: u64) -> quorate_server::ServerConfig {
    let peers: Vec<String> = (1..=members).map(|p| format!("\"{p}={}:7000\"", ip(p))).collect();
    let text = format!(
        "node_id = {id}\ncluster_id = \"madsim\"\nbind_addr = \"{}:7000\"\ndata_dir = \"{}\"\npeers = [{}]\n\
         [dynamic]\ncompaction_threshold = 300\n",
        ip(id),
        data_dir(seed, members, id).display(),
        peers.join(", ")
    );
    quorate_server::config::parse(&text).unwrap()
}

/// Starts simulated host `id` running a node; restarting the host starts the node again
/// from its disk.
fn spawn_node(handle: &Handle, seed: u64, id: u64, members: u64, registry: &Registry) -> NodeHandle {
    let registry = Arc::clone(registry);
    handle
        .create_node()
        .name(format!("node-{id}"))
        .ip(ip(id))
        .init(move || {
            let registry = Arc::clone(&registry);
            async move {
                let started =
                    quorate_server::start_node(config(seed, id, members)).await.expect("the node starts");
                registry.lock().unwrap().insert(id, started.requests.clone());
                METRICS.lock().unwrap().insert(id, Arc::clone(&started.metrics));
                let outcome = started.finish().await;
                panic!("node {id}'s driver ended: {outcome:?}");
            }
        })
        .build()
}

/// A client of the simulated cluster: tries a node, follows its leader hint, and retries
/// with the same request identity until `deadline`.
struct SimClient {
    registry: Registry,
    id: u64,
    seq: u64,
    target: u64,
    nodes: u64,
}

impl SimClient {
    async fn ask<T>(
        &mut self,
        deadline: Duration,
        make: impl Fn(oneshot::Sender<Result<T, Refusal>>) -> Request,
    ) -> Option<T> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            let queue = self.registry.lock().unwrap().get(&self.target).cloned();
            let (tx, rx) = oneshot::channel();
            let answer = match queue {
                Some(queue) if queue.send(make(tx)).await.is_ok() => {
                    madsim::time::timeout(Duration::from_secs(3), rx).await.ok().and_then(Result::ok)
                }
                _ => None,
            };
            match answer {
                Some(Ok(value)) => return Some(value),
                Some(Err(Refusal::NotLeader { leader: Some(leader) })) if leader.0 != self.target => {
                    // Simulated time moves only when every task waits: a client that
                    // followed hints without waiting could spin between two stale ones.
                    self.target = leader.0;
                    sleep(Duration::from_millis(1)).await;
                }
                Some(Err(Refusal::Invalid(why))) => panic!("client {}: refused as invalid: {why}", self.id),
                _ => {
                    self.target = self.target % self.nodes + 1;
                    sleep(Duration::from_millis(50)).await;
                }
            }
        }
        None
    }

    async fn write(&mut self, op: KvOp) -> Option<KvResult> {
        self.seq += 1;
        let id = RequestId { client: self.id, seq: self.seq };
        self.ask(Duration::from_secs(8), |reply| Request::Write { id, op: op.clone(), reply })
            .await
            .map(|w| w.result)
    }

    async fn read(&mut self, key: &str) -> Option<Option<String>> {
        let key = key.to_string();
        self.ask(Duration::from_secs(8), |reply| Request::Read {
            key: key.clone(),
            consistency: Consistency::Linearizable,
            reply,
        })
        .await
    }
}

#[derive(Default)]
struct Record {
    history: History<KvInput, KvOutput>,
    acked: Vec<String>,
}

async fn client_loop(mut client: SimClient, until: Instant, epoch: Instant, record: Arc<Mutex<Record>>) {
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let r: u64 = madsim::rand::random();
        let key = format!("shared-{}", r % 3);
        let value = format!("c{}-{n}", client.id);
        let op = match r % 5 {
            0 | 1 => KvOp::Get { key },
            2 | 3 => KvOp::Put { key, value },
            _ => KvOp::CompareAndSet { key, expect: None, value },
        };
        let at = |t: Instant| t.duration_since(epoch).as_micros() as u64;
        let id = record.lock().unwrap().history.invoke(client.id, at(Instant::now()), to_input(&op));
        let result = match &op {
            KvOp::Get { key } => client.read(key).await.map(|v| KvResult::Value(v.unwrap_or_default())),
            other => client.write(other.clone()).await,
        };
        if let Some(result) = result {
            record.lock().unwrap().history.complete(id, at(Instant::now()), to_output(&result));
        }
        let own = format!("own-{}-{n}", client.id);
        if client.write(KvOp::Put { key: own.clone(), value: own.clone() }).await.is_some() {
            record.lock().unwrap().acked.push(own);
        }
    }
}

/// The leader some running node reports, if any (asked through a status request).
async fn leader(registry: &Registry, nodes: u64) -> Option<u64> {
    for id in 1..=nodes {
        let Some(queue) = registry.lock().unwrap().get(&id).cloned() else { continue };
        let (tx, rx) = oneshot::channel();
        if queue.send(Request::Status { reply: tx }).await.is_err() {
            continue;
        }
        if let Ok(Ok(status)) = madsim::time::timeout(Duration::from_millis(500), rx).await {
            if status.role == "leader" {
                return Some(id);
            }
        }
    }
    None
}

async fn run(nodes: u64) {
    // QUORATE_LOG=debug shows the nodes' logs.
    if let Ok(filter) = std::env::var("QUORATE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let handle = Handle::current();
    let seed = handle.seed();
    let net = NetSim::current();
    for id in 1..=nodes {
        quorate_server::fs::remove_all(&data_dir(seed, nodes, id));
    }
    let registry: Registry = Arc::default();
    let hosts: Vec<NodeHandle> =
        (1..=nodes).map(|id| spawn_node(&handle, seed, id, nodes, &registry)).collect();
    let client_host = handle.create_node().name("clients").ip("10.0.1.1".parse().unwrap()).build();
    sleep(Duration::from_secs(2)).await;

    let epoch = Instant::now();
    let until = epoch + Duration::from_secs(30);
    let record = Arc::new(Mutex::new(Record::default()));
    let clients: Vec<_> = (1..=4)
        .map(|c| {
            let client =
                SimClient { registry: Arc::clone(&registry), id: c, seq: 0, target: c % nodes + 1, nodes };
            client_host.spawn(client_loop(client, until, epoch, Arc::clone(&record)))
        })
        .collect();

    // Faults until 5 s before the load ends, one at a time.
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    while Instant::now() + Duration::from_secs(5) < until {
        let r: u64 = madsim::rand::random();
        let victim = r % nodes + 1;
        let node = hosts[(victim - 1) as usize].id();
        let hold = Duration::from_millis(500 + (r >> 8) % 3000);
        let kind = match (r >> 20) % 5 {
            0 | 1 => {
                handle.kill(node);
                registry.lock().unwrap().remove(&victim);
                // What no fsync covered is lost; a torn tail keeps a few bytes of it.
                quorate_server::fs::crash(&data_dir(seed, nodes, victim), ((r >> 32) % 64) as usize);
                sleep(hold).await;
                handle.restart(node);
                "kill"
            }
            2 => {
                net.clog_node(node);
                sleep(hold).await;
                net.unclog_node(node);
                "partition"
            }
            3 => {
                let to = NodeId((r >> 40) % nodes + 1);
                if let Some(l) = leader(&registry, nodes).await {
                    if let Some(queue) = registry.lock().unwrap().get(&l).cloned() {
                        let (tx, _rx) = oneshot::channel();
                        let _ = queue.try_send(Request::Transfer { to, reply: tx });
                    }
                }
                sleep(hold).await;
                "transfer"
            }
            _ => {
                // A member leaves and comes back (its disk kept), through the leader.
                let gone = NodeId(victim);
                if let Some(l) = leader(&registry, nodes).await.filter(|&l| l != victim) {
                    let queue = registry.lock().unwrap().get(&l).cloned();
                    if let Some(queue) = queue {
                        let (tx, rx) = oneshot::channel();
                        let _ = queue
                            .send(Request::Membership {
                                change: MembershipChange::RemoveNode { node_id: gone },
                                reply: tx,
                            })
                            .await;
                        let _ = madsim::time::timeout(Duration::from_secs(3), rx).await;
                        sleep(hold).await;
                        let (tx, rx) = oneshot::channel();
                        let change = MembershipChange::AddNode {
                            node_id: gone,
                            address: format!("{}:7000", ip(victim)),
                        };
                        let _ = queue.send(Request::Membership { change, reply: tx }).await;
                        let _ = madsim::time::timeout(Duration::from_secs(3), rx).await;
                    }
                }
                "membership"
            }
        };
        *faults.entry(kind).or_default() += 1;
        sleep(Duration::from_millis(200 + (r >> 48) % 1000)).await;
    }
    for host in &hosts {
        net.unclog_node(host.id());
    }
    for c in clients {
        c.await.unwrap();
    }

    // Healed: every node a member again, one leader, every node caught up.
    let mut healed = false;
    for _ in 0..60 {
        if let Some(l) = leader(&registry, nodes).await {
            let queue = registry.lock().unwrap().get(&l).cloned().unwrap();
            let (tx, rx) = oneshot::channel();
            let _ = queue.send(Request::Status { reply: tx }).await;
            let status = rx.await.unwrap();
            if (status.members.len() as u64) < nodes {
                for id in 1..=nodes {
                    if !status.members.iter().any(|m| m.id == id) {
                        let (tx, rx) = oneshot::channel();
                        let change = MembershipChange::AddNode {
                            node_id: NodeId(id),
                            address: format!("{}:7000", ip(id)),
                        };
                        let _ = queue.send(Request::Membership { change, reply: tx }).await;
                        let _ = madsim::time::timeout(Duration::from_secs(3), rx).await;
                    }
                }
            } else {
                let mut behind = 0;
                for id in 1..=nodes {
                    let q = registry.lock().unwrap().get(&id).cloned();
                    let Some(q) = q else {
                        behind += 1;
                        continue;
                    };
                    let (tx, rx) = oneshot::channel();
                    let _ = q.send(Request::Status { reply: tx }).await;
                    match madsim::time::timeout(Duration::from_millis(500), rx).await {
                        Ok(Ok(s)) if s.applied_index >= status.commit_index => {}
                        _ => behind += 1,
                    }
                }
                if behind == 0 {
                    healed = true;
                    break;
                }
            }
        }
        sleep(Duration::from_millis(500)).await;
    }
    if !healed {
        let mut states = Vec::new();
        for id in 1..=nodes {
            let q = registry.lock().unwrap().get(&id).cloned();
            let Some(q) = q else {
                states.push(format!("node {id}: not running"));
                continue;
            };
            let (tx, rx) = oneshot::channel();
            let _ = q.send(Request::Status { reply: tx }).await;
            match madsim::time::timeout(Duration::from_millis(500), rx).await {
                Ok(Ok(s)) => {
                    let m = METRICS.lock().unwrap().get(&id).map(|m| m.render(id)).unwrap_or_default();
                    let interesting: Vec<&str> =
                        m.lines().filter(|l| !l.starts_with('#') && !l.contains("bucket")).collect();
                    states.push(format!("{s:?}\n  {}", interesting.join("\n  ")))
                }
                _ => states.push(format!("node {id}: no answer")),
            }
        }
        panic!(
            "seed {seed}: the cluster did not recover after healing (faults {faults:?}); {}\n{}",
            replay(seed),
            states.join("\n")
        );
    }

    let mut reader = SimClient { registry: Arc::clone(&registry), id: 1000, seq: 0, target: 1, nodes };
    let (mut history, acked) = {
        let r = record.lock().unwrap();
        (r.history.clone(), r.acked.clone())
    };
    for k in 0..3 {
        let key = format!("shared-{k}");
        let call = Instant::now().duration_since(epoch).as_micros() as u64;
        let value = reader
            .read(&key)
            .await
            .unwrap_or_else(|| panic!("seed {seed}: no read after healing; {}", replay(seed)))
            .unwrap_or_default();
        let ret = Instant::now().duration_since(epoch).as_micros() as u64;
        let op = history.invoke(0, call, to_input(&KvOp::Get { key }));
        history.complete(op, ret, to_output(&KvResult::Value(value)));
    }
    for key in &acked {
        let got = reader
            .read(key)
            .await
            .unwrap_or_else(|| panic!("seed {seed}: no read after healing; {}", replay(seed)));
        assert_eq!(
            got.as_deref(),
            Some(key.as_str()),
            "seed {seed}: acknowledged write {key} lost (faults {faults:?}); {}",
            replay(seed)
        );
    }
    assert!(
        acked.len() > 10,
        "seed {seed}: too little progress: {} writes acknowledged; {}",
        acked.len(),
        replay(seed)
    );
    let verdict = lincheck::check(&Kv::default(), &history, &Budget::steps(20_000_000)).verdict;
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "seed {seed}: {} operations, faults {faults:?}; {}",
        history.len(),
        replay(seed)
    );
    println!(
        "seed {seed}: {nodes} nodes, {} operations, {} acknowledged writes checked, faults {faults:?}",
        history.len(),
        acked.len()
    );
}

#[madsim::test]
async fn three_nodes_under_faults() {
    run(3).await;
}

#[madsim::test]
async fn five_nodes_under_faults() {
    run(5).await;
}
