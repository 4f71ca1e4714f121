//! Writes the hand-made seed inputs of every target under `fuzz/corpus/<target>/`:
//! `cargo run -p quorate-fuzz-targets --example seed_corpus`. Each file is named for what it
//! holds. The fuzzer grows the corpus from these; `cargo fuzz cmin` keeps it small.

use quorate::codec::{self, FrameKind};
use quorate::core::HardState;
use quorate::log::{EntryKind, LogEntry};
use quorate::message::{
    AppendEntriesRequest, AppendEntriesResponse, Message, Payload, RequestVoteRequest, RequestVoteResponse,
};
use quorate::types::{LogIndex, NodeId, Term};
use quorate::wal;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory can be created");
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus_dir(target).join(name), bytes).expect("a seed input can be written");
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn entry(term: u64, index: u64, data: &[u8]) -> LogEntry {
    LogEntry::new(Term(term), LogIndex(index), data.to_vec().into())
}

fn messages() -> Vec<(&'static str, Message)> {
    let msg = |payload| Message { from: NodeId(2), to: NodeId(1), payload };
    vec![
        (
            "request-vote",
            msg(Payload::RequestVote(RequestVoteRequest {
                term: Term(3),
                candidate_id: NodeId(2),
                last_log_index: LogIndex(7),
                last_log_term: Term(2),
                pre_vote: false,
            })),
        ),
        (
            "pre-vote-response",
            msg(Payload::RequestVoteResponse(RequestVoteResponse {
                term: Term(4),
                vote_granted: true,
                pre_vote: true,
            })),
        ),
        (
            "append-entries",
            msg(Payload::AppendEntries(AppendEntriesRequest {
                term: Term(3),
                leader_id: NodeId(2),
                prev_log_index: LogIndex(1),
                prev_log_term: Term(1),
                entries: vec![
                    entry(2, 2, b"put k v"),
                    LogEntry { kind: EntryKind::Noop, ..entry(3, 3, b"") },
                ],
                leader_commit: LogIndex(2),
            })),
        ),
        (
            "append-response",
            msg(Payload::AppendEntriesResponse(AppendEntriesResponse {
                term: Term(u64::MAX),
                success: false,
                match_index: LogIndex(9),
                conflict_index: LogIndex(5),
                conflict_term: Some(Term(2)),
                last_log_index: LogIndex(300),
                leader_hint: Some(NodeId(3)),
            })),
        ),
    ]
}

fn decode_frame_seeds() {
    for (name, msg) in messages() {
        let bytes = codec::encode_message(&msg).expect("a message encodes");
        write("decode_frame", &format!("{name}.bin"), &bytes);
    }
    let e = codec::encode(FrameKind::LogEntry, &entry(5, 12, b"abc")).expect("an entry encodes");
    write("decode_frame", "log-entry-record.bin", &e);
    let hs = HardState { term: Term(5), vote: Some(NodeId(2)), commit: LogIndex(11) };
    write("decode_frame", "hard-state-record.bin", &wal::hard_state_record(&hs));
    write("decode_frame", "truncate-record.bin", &wal::truncate_record(LogIndex(4)));
    let mut corrupt = codec::encode_message(&messages()[2].1).expect("a message encodes");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    write("decode_frame", "bad-checksum.bin", &corrupt);
}

fn log_recovery_seeds() {
    let mut log = Vec::new();
    log.extend(wal::hard_state_record(&HardState {
        term: Term(1),
        vote: Some(NodeId(1)),
        commit: LogIndex(0),
    }));
    for index in 1..=5 {
        log.extend(wal::entry_record(&entry(1, index, &[index as u8; 3])));
    }
    log.extend(wal::truncate_record(LogIndex(4)));
    log.extend(wal::entry_record(&entry(2, 4, b"new")));
    log.extend(wal::hard_state_record(&HardState { term: Term(2), vote: None, commit: LogIndex(3) }));
    write("log_recovery", "entries-truncate-rewrite.bin", &log);
    write("log_recovery", "torn-tail.bin", &log[..log.len() - 5]);
    let mut corrupt = log.clone();
    corrupt[40] ^= 1;
    write("log_recovery", "corrupt-middle.bin", &corrupt);
    let huge = HardState { term: Term(u64::MAX), vote: Some(NodeId(1)), commit: LogIndex(0) };
    write("log_recovery", "huge-term.bin", &wal::hard_state_record(&huge));
    write("log_recovery", "empty.bin", &[]);
}

fn byte_string_seeds(target: &str, lens: &[usize]) {
    write(target, "empty.bin", &[]);
    write(target, "zeros.bin", &[0; 128]);
    write(target, "ones.bin", &[0xff; 128]);
    for (k, &len) in lens.iter().enumerate() {
        write(target, &format!("random-{k}.bin"), &random_bytes(k as u64 + 1, len));
    }
}

fn main() {
    decode_frame_seeds();
    log_recovery_seeds();
    byte_string_seeds("request_vote", &[64, 256, 1024]);
    byte_string_seeds("append_entries", &[64, 256, 1024]);
    byte_string_seeds("install_snapshot", &[64, 256, 1024, 4096]);
    byte_string_seeds("sim_schedule", &[256, 1024, 4096]);
    println!("seed inputs written under fuzz/corpus/");
}
