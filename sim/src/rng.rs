//! Helpers over the seeded RNG. Every random choice of a run flows from its seed through
//! these functions.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The RNG of a run.
pub type SimRng = ChaCha8Rng;

/// An RNG for `seed`.
pub fn rng_for(seed: u64) -> SimRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A uniform value in `lo..=hi`.
pub fn range(rng: &mut SimRng, lo: u64, hi: u64) -> u64 {
    assert!(lo <= hi, "empty range {lo}..={hi}");
    let span = hi - lo + 1;
    if span == 0 {
        return rng.next_u64();
    }
    lo + ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64
}

/// True with probability `p` (0.0 ..= 1.0).
pub fn chance(rng: &mut SimRng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// A uniform float in `lo..hi`.
pub fn float(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// A uniform index below `len` (which must be positive).
pub fn index(rng: &mut SimRng, len: usize) -> usize {
    range(rng, 0, len as u64 - 1) as usize
}

/// A child RNG for a sub-component, so adding draws in one place does not shift another's.
pub fn fork(rng: &mut SimRng) -> SimRng {
    ChaCha8Rng::seed_from_u64(rng.next_u64())
}

/// A uniform float in `0.0..1.0` with 53 bits of randomness.
fn unit(rng: &mut SimRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
