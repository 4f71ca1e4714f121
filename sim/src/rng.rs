//! Helpers over the seeded RNG. Every random choice of a run flows from its seed through
//! these functions.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::cell::RefCell;
use std::rc::Rc;

/// The source of a run's random choices: a seeded ChaCha stream, or a script of bytes (a
/// fuzzer's input) that makes every choice, shared by all the run's streams in event order.
#[derive(Clone, Debug)]
pub enum SimRng {
    /// The normal case: everything from the seed.
    Seeded(Box<ChaCha8Rng>),
    /// Choices read from bytes; once they run out, from a fixed seeded stream.
    Script(Rc<RefCell<Script>>),
}

/// A script of choices.
#[derive(Debug)]
pub struct Script {
    bytes: Vec<u8>,
    pos: usize,
    fallback: ChaCha8Rng,
    /// Node RNGs seeded so far (see [`fork_chacha`]).
    forks: u64,
}

impl RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        match self {
            SimRng::Seeded(rng) => rng.next_u64(),
            SimRng::Script(script) => {
                let mut script = script.borrow_mut();
                if script.pos >= script.bytes.len() {
                    return script.fallback.next_u64();
                }
                // One byte a choice keeps the fuzzer's mutations local: a byte spread over the
                // whole 64-bit range still reaches every branch the helpers below decide.
                let byte = script.bytes[script.pos];
                script.pos += 1;
                u64::from(byte).wrapping_mul(0x0101_0101_0101_0101)
            }
        }
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// An RNG for `seed`.
pub fn rng_for(seed: u64) -> SimRng {
    SimRng::Seeded(Box::new(ChaCha8Rng::seed_from_u64(seed)))
}

/// An RNG whose choices are read from `bytes`.
pub fn rng_for_script(bytes: Vec<u8>) -> SimRng {
    SimRng::Script(Rc::new(RefCell::new(Script {
        bytes,
        pos: 0,
        fallback: ChaCha8Rng::seed_from_u64(0),
        forks: 0,
    })))
}

/// A ChaCha RNG seeded from `rng`, for a node's core.
///
/// Under a script, the seed also mixes in how many cores were seeded before. With one byte a
/// choice, two nodes whose bytes are equal would otherwise draw the same election timeouts
/// forever and, with equal latencies, split every vote: Raft's liveness rests on independent
/// randomized timeouts (paper §5.2), which is the engine's own randomness, not a schedule the
/// environment may impose. Seeded runs are unchanged.
pub fn fork_chacha(rng: &mut SimRng) -> ChaCha8Rng {
    let seed = rng.next_u64();
    let salt = match rng {
        SimRng::Seeded(_) => 0,
        SimRng::Script(script) => {
            let mut script = script.borrow_mut();
            script.forks += 1;
            script.forks.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    };
    ChaCha8Rng::seed_from_u64(seed ^ salt)
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
/// A script is shared, not forked: its bytes make the choices in the order they happen.
pub fn fork(rng: &mut SimRng) -> SimRng {
    match rng {
        SimRng::Seeded(_) => SimRng::Seeded(Box::new(fork_chacha(rng))),
        SimRng::Script(script) => SimRng::Script(Rc::clone(script)),
    }
}

/// A uniform float in `0.0..1.0` with 53 bits of randomness.
fn unit(rng: &mut SimRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
