//! Named limits and the driver's contract: a command above the size limit and a proposal
//! past the uncommitted-bytes limit are refused with clear errors; a driver that reports
//! applied an entry never handed out gets an error, not a silently clamped cursor.

mod common;

use common::*;
use quorate::{Command, Input, LogIndex, RaftConfig, RaftError};

fn leader_with(config: RaftConfig) -> quorate::Core {
    let mut core = core_from(config, durable(&[], 0, None, 0));
    make_leader(&mut core, &[2]);
    core
}

#[test]
fn a_command_above_the_size_limit_is_refused() {
    let mut c = config(1, 3);
    c.max_command_bytes = 100;
    let mut leader = leader_with(c);
    assert!(leader.propose(Command::new(vec![0; 100])).is_ok());
    let err = leader.propose(Command::new(vec![0; 101])).unwrap_err();
    assert_eq!(err, RaftError::CommandTooLarge { bytes: 101, limit: 100 });
    assert!(err.to_string().contains("101 bytes"), "{err}");
}

#[test]
fn proposals_past_the_uncommitted_limit_wait_for_commitment() {
    let mut c = config(1, 3);
    c.max_command_bytes = 100;
    c.max_uncommitted_bytes = 400;
    let mut leader = leader_with(c);
    drain(&mut leader);
    // The no-op of the term (24 bytes) and three 100-byte commands (124 each) fit in 400.
    for _ in 0..3 {
        leader.propose(Command::new(vec![1; 100])).unwrap();
    }
    assert_eq!(leader.log().uncommitted_bytes(), 24 + 3 * 124);
    let err = leader.propose(Command::new(vec![1; 100])).unwrap_err();
    assert!(matches!(err, RaftError::TooMuchUncommitted { bytes: 396, limit: 400 }), "{err:?}");
    // Once a follower acknowledges everything, it commits and room is made. (Its first
    // acknowledgement ends the probe; the rest of the log goes out after it.)
    drain(&mut leader);
    let term = leader.term().0;
    let last = leader.log().last_index().0;
    deliver(&mut leader, 2, ack(term, 1, 1));
    deliver(&mut leader, 2, ack(term, last, last));
    assert_eq!(leader.log().committed(), LogIndex(last));
    assert_eq!(leader.log().uncommitted_bytes(), 0);
    assert!(leader.propose(Command::new(vec![1; 100])).is_ok());
}

#[test]
fn reporting_applied_beyond_what_was_handed_out_is_an_error() {
    let mut leader = leader_with(config(1, 1));
    let applied = leader.log().applied();
    let err = leader.step(Input::Applied { index: applied.plus(5) }).unwrap_err();
    assert!(matches!(err, RaftError::DriverMisuse(_)), "{err:?}");
    assert_eq!(leader.log().applied(), applied, "the cursor did not move");
    // A late report of an earlier index is harmless.
    assert!(leader.step(Input::Applied { index: LogIndex(0) }).is_ok());
}

#[test]
fn the_limits_are_validated() {
    let mut c = config(1, 3);
    c.max_command_bytes = 0;
    assert!(matches!(c.validate(), Err(RaftError::ConfigError(_))));
    c.max_command_bytes = 1 << 30;
    assert!(matches!(c.validate(), Err(RaftError::ConfigError(_))), "above what one frame can carry");
    c.max_command_bytes = 1000;
    c.max_uncommitted_bytes = 500;
    let err = c.validate().unwrap_err();
    assert!(err.to_string().contains("max_uncommitted_bytes"), "{err}");
}
