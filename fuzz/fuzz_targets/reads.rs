#![no_main]
//! The `reads` target; its logic lives in `quorate_fuzz_targets::reads`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::reads(data));
