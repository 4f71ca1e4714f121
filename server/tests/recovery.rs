//! A node's disk across crashes: a torn last record is cut back to the valid prefix, and a
//! data directory of another cluster or node, or one that cannot be written, refuses to
//! start with an error naming it.

#![cfg(not(madsim))]

mod common;

use common::{listing, wait_for_leader, Cluster};
use quorate_server::client::Client;
use std::io::Write;
use std::time::Duration;

fn last_segment(cluster: &Cluster) -> std::path::PathBuf {
    let wal = cluster.nodes[0].data_dir.join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal).unwrap().flatten().map(|e| e.path()).collect();
    segments.sort();
    segments.pop().unwrap_or_else(|| panic!("no segment in {}", wal.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_record_is_cut_and_nothing_acknowledged_is_lost() {
    let mut cluster = Cluster::started("torn", 1, "").await;
    let mut client = cluster.client();
    for k in 0..20 {
        client.put(&format!("k{k}"), &format!("v{k}")).await.unwrap();
    }
    cluster.nodes[0].kill();
    // The crash tore a record being appended: a frame header promising 200 bytes, and 30 of them.
    let segment = last_segment(&cluster);
    let before = std::fs::metadata(&segment).unwrap().len();
    let mut torn = quorate::codec::MAGIC.to_vec();
    torn.extend([quorate::codec::VERSION, quorate::codec::FrameKind::LogEntry as u8]);
    torn.extend(200u32.to_le_bytes());
    torn.extend(0u32.to_le_bytes());
    torn.extend([7u8; 30]);
    std::fs::OpenOptions::new().append(true).open(&segment).unwrap().write_all(&torn).unwrap();

    cluster.nodes[0].start();
    wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let mut client = cluster.client();
    for k in 0..20 {
        assert_eq!(client.get(&format!("k{k}"), "linearizable").await.unwrap(), Some(format!("v{k}")));
    }
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("cut a torn tail"), "recovery did not report the torn tail:\n{log}");
    assert!(
        log.contains(&format!("valid={before}")),
        "the valid prefix is the bytes before the tear:\n{log}"
    );
    // The tail was cut on disk: a write after it survives the next crash.
    client.put("after", "the tear").await.unwrap();
    cluster.nodes[0].kill();
    cluster.nodes[0].start();
    wait_for_leader(&cluster, Duration::from_secs(10)).await;
    let mut client = cluster.client();
    assert_eq!(
        client.get("after", "linearizable").await.unwrap().as_deref(),
        Some("the tear"),
        "{:?}",
        listing(&cluster.dir.0)
    );
    assert_eq!(client.get("k19", "linearizable").await.unwrap().as_deref(), Some("v19"));
}

/// Runs `quorate node` on a configuration until it exits (it must, with an error).
fn start_and_fail(config: &std::path::Path) -> String {
    let log = config.with_extension("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args(["node", "--config"])
        .arg(config)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("the node started on {}:\n{}", config.display(), std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    std::fs::read_to_string(&log).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_another_node_or_cluster_refuses_to_start() {
    let mut cluster = Cluster::started("identity", 1, "").await;
    Client::new(&cluster.endpoints()).put("k", "v").await.unwrap();
    assert!(cluster.nodes[0].terminate());
    let config = std::fs::read_to_string(&cluster.nodes[0].config).unwrap();

    let other_cluster = cluster.dir.0.join("other-cluster.toml");
    std::fs::write(&other_cluster, config.replace("cluster_id = \"test\"", "cluster_id = \"elsewhere\""))
        .unwrap();
    let err = start_and_fail(&other_cluster);
    assert!(err.contains("belongs to cluster \"test\", not \"elsewhere\""), "{err}");

    let other_node = cluster.dir.0.join("other-node.toml");
    let renumbered = config.replace("node_id = 1", "node_id = 2").replace("\"1=127.0.0.1", "\"2=127.0.0.1");
    std::fs::write(&other_node, renumbered).unwrap();
    let err = start_and_fail(&other_node);
    assert!(err.contains("belongs to node 1, not 2"), "{err}");

    // A data directory under a regular file cannot be created.
    let blocker = cluster.dir.0.join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let unwritable = cluster.dir.0.join("unwritable.toml");
    let data_dir = cluster.nodes[0].data_dir.display().to_string();
    std::fs::write(&unwritable, config.replace(&data_dir, &blocker.join("data").display().to_string()))
        .unwrap();
    let err = start_and_fail(&unwritable);
    assert!(err.contains("cannot create the data directory") && err.contains("a-file"), "{err}");

    // A damaged record with valid records after it is corruption, not a torn tail: the node
    // stops, naming the file, rather than cut acknowledged writes.
    let segment = last_segment(&cluster);
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let err = start_and_fail(&cluster.nodes[0].config);
    assert!(
        err.contains("corrupt write-ahead log segment") && err.contains(&segment.display().to_string()),
        "{err}"
    );
    assert!(err.contains("not a torn tail"), "{err}");
    // So is damage to a segment before the last.
    bytes[middle] ^= 0xff;
    let tail = bytes.len() - 10;
    bytes[tail] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    std::fs::write(segment.with_file_name("00000000000000000099.wal"), b"").unwrap();
    let err = start_and_fail(&cluster.nodes[0].config);
    assert!(err.contains("only the last segment may end torn"), "{err}");
}
