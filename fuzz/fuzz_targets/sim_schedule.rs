#![no_main]
//! The `sim_schedule` target; its logic lives in `quorate_fuzz_targets::sim_schedule`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| quorate_fuzz_targets::sim_schedule(data));
