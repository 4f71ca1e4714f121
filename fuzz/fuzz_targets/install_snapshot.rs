#![no_main]
//! The `install_snapshot` target; its logic lives in `quorate_fuzz_targets::install_snapshot`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::install_snapshot(data));
