//! The wire and disk codec: the one module that knows how bytes look (so it can be swapped).
//!
//! A frame is a fixed 14-byte header followed by a bincode 2 payload:
//!
//! ```text
//! magic "QRM1" (4) | version (1) | kind (1) | payload length u32 LE (4) | CRC32C of payload u32 LE (4)
//! ```
//!
//! Decoding checks the header, the length bound ([`MAX_FRAME_PAYLOAD`]) before anything is
//! allocated, the checksum, and decodes with a bincode allocation limit of
//! [`MAX_FRAME_PAYLOAD`], so a hostile length prefix inside the payload cannot allocate
//! without bound.
//! Every failure is a [`CodecError`]; decoding never panics.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The frame magic.
pub const MAGIC: [u8; 4] = *b"QRM1";
/// The frame format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 14;
/// Largest payload accepted: bounds the memory one frame can make a node allocate. Large
/// enough for a full AppendEntries batch (1 MiB of entries by default) with room to spare.
pub const MAX_FRAME_PAYLOAD: usize = 64 << 20;

/// What a frame holds, so a record of one kind is never decoded as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A [`crate::message::Message`].
    Message = 1,
    /// A log entry record on disk.
    LogEntry = 2,
    /// A hard state record on disk.
    HardState = 3,
    /// A truncation record on disk.
    Truncate = 4,
    /// A compaction record on disk: the log now starts after a snapshot point.
    Compact = 5,
    /// A whole [`crate::snapshot::Snapshot`] on disk.
    Snapshot = 6,
    /// A state machine's serialized state (the test cluster's, the simulator's key-value
    /// store's), inside a snapshot's data.
    State = 7,
    /// A [`crate::membership::Configuration`], inside a configuration entry.
    Config = 8,
    /// A connection's handshake between two nodes of a networked cluster (who dials whom,
    /// in which cluster), or its answer.
    Handshake = 9,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => FrameKind::Message,
            2 => FrameKind::LogEntry,
            3 => FrameKind::HardState,
            4 => FrameKind::Truncate,
            5 => FrameKind::Compact,
            6 => FrameKind::Snapshot,
            7 => FrameKind::State,
            8 => FrameKind::Config,
            9 => FrameKind::Handshake,
            _ => return None,
        })
    }
}

/// Why bytes could not be decoded (or a value encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer bytes than the frame needs; `needed` more would be required.
    #[error("truncated frame: {needed} more bytes needed")]
    Truncated {
        /// Missing bytes.
        needed: usize,
    },
    /// The magic does not match.
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// A version this build does not read.
    #[error("unsupported frame version {0}")]
    BadVersion(u8),
    /// An unknown or unexpected frame kind.
    #[error("unexpected frame kind {found} (expected {expected})")]
    BadKind {
        /// The kind byte found.
        found: u8,
        /// The kind byte expected.
        expected: u8,
    },
    /// The payload length exceeds [`MAX_FRAME_PAYLOAD`].
    #[error("frame payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The checksum does not match: the bytes are corrupt or torn.
    #[error("checksum mismatch")]
    BadChecksum,
    /// The payload is not a valid encoding of the expected type.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` as a frame of `kind`.
pub fn encode<T: Serialize>(kind: FrameKind, value: &T) -> Result<Vec<u8>, CodecError> {
    encode_with_capacity(kind, value, 64)
}

/// Like [`encode`], with room for `payload_hint` payload bytes reserved up front.
pub fn encode_with_capacity<T: Serialize>(
    kind: FrameKind,
    value: &T,
    payload_hint: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload_hint);
    out.resize(HEADER_LEN, 0);
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    let payload_len = out.len() - HEADER_LEN;
    if payload_len > MAX_FRAME_PAYLOAD {
        return Err(CodecError::TooLarge(payload_len));
    }
    let crc = crc32c::crc32c(&out[HEADER_LEN..]);
    out[0..4].copy_from_slice(&MAGIC);
    out[4] = VERSION;
    out[5] = kind as u8;
    out[6..10].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[10..14].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Decodes one frame of `kind` from the start of `bytes`; returns the value and the number of
/// bytes the frame took.
pub fn decode<T: DeserializeOwned>(kind: FrameKind, bytes: &[u8]) -> Result<(T, usize), CodecError> {
    let payload = frame_payload(kind, bytes)?;
    let limit = bincode_config().with_limit::<MAX_FRAME_PAYLOAD>();
    let (value, used) = bincode::serde::decode_from_slice(payload, limit)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::Malformed(format!("{} trailing bytes in payload", payload.len() - used)));
    }
    Ok((value, HEADER_LEN + payload.len()))
}

/// Checks a frame's header and checksum and returns its payload.
fn frame_payload(kind: FrameKind, bytes: &[u8]) -> Result<&[u8], CodecError> {
    let header =
        bytes.get(..HEADER_LEN).ok_or_else(|| CodecError::Truncated { needed: HEADER_LEN - bytes.len() })?;
    let magic: [u8; 4] = header[0..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(CodecError::BadMagic(magic));
    }
    if header[4] != VERSION {
        return Err(CodecError::BadVersion(header[4]));
    }
    if FrameKind::from_byte(header[5]) != Some(kind) {
        return Err(CodecError::BadKind { found: header[5], expected: kind as u8 });
    }
    let len = u32::from_le_bytes(header[6..10].try_into().expect("4 bytes")) as usize;
    if len > MAX_FRAME_PAYLOAD {
        return Err(CodecError::TooLarge(len));
    }
    let payload = bytes
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or_else(|| CodecError::Truncated { needed: HEADER_LEN + len - bytes.len() })?;
    let crc = u32::from_le_bytes(header[10..14].try_into().expect("4 bytes"));
    if crc32c::crc32c(payload) != crc {
        return Err(CodecError::BadChecksum);
    }
    Ok(payload)
}

/// Encodes a wire message.
pub fn encode_message(msg: &crate::message::Message) -> Result<Vec<u8>, CodecError> {
    let hint = match &msg.payload {
        crate::message::Payload::AppendEntries(req) => {
            req.entries.iter().map(|e| e.command.data.len() + 16).sum::<usize>() + 48
        }
        _ => 48,
    };
    encode_with_capacity(FrameKind::Message, msg, hint)
}

/// Decodes a wire message that must fill `bytes` exactly.
pub fn decode_message(bytes: &[u8]) -> Result<crate::message::Message, CodecError> {
    let (msg, used) = decode(FrameKind::Message, bytes)?;
    if used != bytes.len() {
        return Err(CodecError::Malformed(format!("{} bytes after the frame", bytes.len() - used)));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Payload, RequestVoteResponse};
    use crate::types::{NodeId, Term};

    fn sample() -> Message {
        let payload = Payload::RequestVoteResponse(RequestVoteResponse {
            term: Term(3),
            vote_granted: true,
            pre_vote: false,
        });
        Message { from: NodeId(1), to: NodeId(2), payload }
    }

    /// Regression: the truncation error used to compute its byte count eagerly, which
    /// overflowed (a panic with overflow checks on) for every frame longer than a header.
    #[test]
    fn every_prefix_and_extension_of_a_frame_is_handled() {
        let bytes = encode_message(&sample()).unwrap();
        assert_eq!(decode_message(&bytes).unwrap(), sample());
        for cut in 0..bytes.len() {
            assert!(decode_message(&bytes[..cut]).is_err(), "prefix of {cut} bytes must not decode");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_message(&longer).is_err(), "trailing bytes are rejected");
    }
}
