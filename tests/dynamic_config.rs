//! The seed's `DynamicConfig`: the heartbeat interval, compaction threshold and election
//! timeout range change on a running node, take effect at the next tick, and are corrected
//! (never below the static range, never below twice the heartbeat interval) rather than
//! applied as given.

use quorate::clock::ManualClock;
use quorate::config::DynamicConfig;
use quorate::testing::Cluster;
use quorate::{Input, MemPersistence, NodeState, RaftConfig, RaftNode};
use std::sync::Arc;

#[test]
fn updates_are_corrected_by_the_rules() {
    let base = RaftConfig::new(1, [1, 2, 3]);
    // A longer heartbeat: the election timeout follows it up (twice the heartbeat at least).
    let up = base.with_dynamic(&DynamicConfig { heartbeat_interval_ms: 400, ..base.dynamic() });
    assert_eq!(up.heartbeat_interval_ms, 400);
    assert_eq!(up.election_timeout_min_ms, 800);
    assert!(up.election_timeout_max_ms >= 2 * 800 - 1);
    assert!(up.validate().is_ok());
    // A range below the static one is raised to it: the static range is the floor.
    let down = base.with_dynamic(&DynamicConfig {
        election_timeout_min_ms: 10,
        election_timeout_max_ms: 20,
        heartbeat_interval_ms: 5,
        ..base.dynamic()
    });
    assert_eq!((down.election_timeout_min_ms, down.election_timeout_max_ms), (150, 300));
    assert_eq!(down.heartbeat_interval_ms, 5);
    // A zero heartbeat is corrected to 1 ms; the compaction threshold is taken as given.
    let zero = base.with_dynamic(&DynamicConfig {
        heartbeat_interval_ms: 0,
        compaction_threshold: 7,
        ..base.dynamic()
    });
    assert_eq!(zero.heartbeat_interval_ms, 1);
    assert_eq!(zero.snapshot_threshold, 7);
    assert!(zero.validate().is_ok());
}

#[test]
fn a_longer_heartbeat_takes_effect_at_the_next_tick_and_elections_still_converge() {
    let mut c = Cluster::new(3, 3);
    c.elect(1);
    let update = DynamicConfig { heartbeat_interval_ms: 200, ..c.node(1).core.config().dynamic() };
    for id in 1..=3 {
        c.step(id, Input::UpdateDynamicConfig(update)).unwrap();
    }
    assert_eq!(c.node(2).core.config().election_timeout_min_ms, 400);
    // Heartbeats every 200 ms keep the leader in place under the longer timeouts.
    c.run_for(2_000);
    assert_eq!(c.node(1).core.state(), NodeState::Leader);
    // Cut off, it is replaced, after at least the new minimum election timeout.
    c.isolate(1);
    let start = c.now;
    let leader = loop {
        c.run_for(1);
        if let Some(l) = [2, 3].into_iter().find(|&n| c.node(n).core.state() == NodeState::Leader) {
            break l;
        }
        assert!(c.now - start < 5_000, "no new leader");
    };
    assert!(c.now - start >= 400, "a new leader after {} ms, before the new minimum", c.now - start);
    assert_ne!(leader, 1);
}

#[test]
fn the_facade_reads_and_updates_the_dynamic_config() {
    let clock = Arc::new(ManualClock::new(0));
    let node =
        RaftNode::with_clock(RaftConfig::new(1, [1, 2, 3]), Arc::new(MemPersistence::new()), clock).unwrap();
    let before = node.get_dynamic_config();
    assert_eq!(before.heartbeat_interval_ms, 50);
    node.update_dynamic_config(DynamicConfig {
        heartbeat_interval_ms: 100,
        compaction_threshold: 42,
        ..before
    });
    let after = node.get_dynamic_config();
    assert_eq!(after.heartbeat_interval_ms, 100);
    assert_eq!(after.compaction_threshold, 42);
    assert_eq!(after.election_timeout_min_ms, 200, "twice the heartbeat");
}

/// The seed's `election_timeout_elapsed`: after a hot reload of a longer heartbeat, the
/// effective election timeout is at least twice the new heartbeat interval, from the next
/// timer reset on.
#[test]
fn election_timeout_elapsed_follows_a_reloaded_heartbeat() {
    let clock = Arc::new(ManualClock::new(0));
    let node =
        RaftNode::with_clock(RaftConfig::new(2, [1, 2, 3]), Arc::new(MemPersistence::new()), clock.clone())
            .unwrap();
    node.update_dynamic_config(DynamicConfig { heartbeat_interval_ms: 400, ..node.get_dynamic_config() });
    node.reset_election_timer();
    // The static range is 150..=300 ms; the reloaded minimum is 800 ms.
    clock.advance(799);
    assert!(!node.election_timeout_elapsed(), "elapsed before twice the reloaded heartbeat");
    clock.advance(2 * 1600);
    assert!(node.election_timeout_elapsed());
}
