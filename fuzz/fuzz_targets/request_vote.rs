#![no_main]
//! The `request_vote` target; its logic lives in `quorate_fuzz_targets::request_vote`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::request_vote(data));
