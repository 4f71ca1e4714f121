//! `decode_frame`: arbitrary bytes into the wire codec.
//!
//! Decoding must return an error or a value, never panic and never allocate without bound
//! (the fuzzer runs with a memory limit). A value that decodes must have come from a frame
//! whose checksum matches its payload, must re-encode to a frame that decodes to the same
//! value, and that frame is never longer than the one decoded (the encoder writes the
//! shortest form; the decoder may accept longer, non-canonical integer forms).

use quorate::codec::{self, CodecError, FrameKind, HEADER_LEN};
use quorate::core::HardState;
use quorate::log::LogEntry;
use quorate::message::Message;
use quorate::types::LogIndex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// The `decode_frame` target: `data` as a wire message, and as each record kind of the disk.
pub fn decode_frame(data: &[u8]) {
    // The wire path: a message frame that must fill the bytes exactly.
    match codec::decode_message(data) {
        Ok(msg) => {
            let bytes = codec::encode_message(&msg).expect("a decoded message encodes again");
            let again = codec::decode_message(&bytes).expect("a re-encoded message decodes");
            assert_eq!(again, msg, "a message changed across decode, encode, decode");
            assert!(bytes.len() <= data.len(), "the re-encoded message is longer than its frame");
        }
        Err(CodecError::Truncated { needed }) => assert!(needed > 0, "a truncation error needs more bytes"),
        Err(_) => {}
    }
    // The generic decoder, which the write-ahead log uses for each of its record kinds.
    round_trip::<Message>(FrameKind::Message, data);
    round_trip::<LogEntry>(FrameKind::LogEntry, data);
    round_trip::<HardState>(FrameKind::HardState, data);
    round_trip::<LogIndex>(FrameKind::Truncate, data);
}

/// Decodes one frame of `kind` from the start of `data`; when it decodes, checks the
/// checksum independently of the codec, and the round trip.
fn round_trip<T>(kind: FrameKind, data: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok((value, used)) = codec::decode::<T>(kind, data) else { return };
    assert!((HEADER_LEN..=data.len()).contains(&used), "frame length {used} outside the input");
    let frame = &data[..used];
    assert_eq!(frame[..4], codec::MAGIC, "decoded a frame without the magic");
    assert_eq!(frame[5], kind as u8, "decoded a frame of another kind");
    let crc = u32::from_le_bytes(frame[10..14].try_into().expect("4 bytes"));
    assert_eq!(crc32c::crc32c(&frame[HEADER_LEN..]), crc, "decoded a frame whose checksum does not match");
    let bytes = codec::encode(kind, &value).expect("a decoded value encodes again");
    let (again, used_again) = codec::decode::<T>(kind, &bytes).expect("a re-encoded value decodes");
    assert_eq!(again, value, "a value changed across decode, encode, decode");
    assert_eq!(used_again, bytes.len(), "a re-encoded frame decoded to a different length");
    assert!(bytes.len() <= used, "the re-encoded frame is longer than the frame it came from");
    assert_eq!(bytes[..6], frame[..6], "magic, version or kind changed across the round trip");
}
