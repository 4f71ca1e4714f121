#![no_main]
//! The `operations` target; its logic lives in `quorate_fuzz_targets::operations`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::operations(data));
