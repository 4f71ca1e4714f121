#![no_main]
//! The `decode_frame` target; its logic lives in `quorate_fuzz_targets::decode_frame`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::decode_frame(data));
