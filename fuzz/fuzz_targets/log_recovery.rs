#![no_main]
//! The `log_recovery` target; its logic lives in `quorate_fuzz_targets::log_recovery`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::log_recovery(data));
