#![no_main]
//! The `append_entries` target; its logic lives in `quorate_fuzz_targets::append_entries`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::append_entries(data));
