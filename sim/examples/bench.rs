//! Simulator speed: events per second on one core, how much faster than real time a 5-node
//! cluster under client load runs, the mean virtual latency of a client operation, and
//! memory per run.
//!
//! `cargo run --release -p quorate-sim --example bench [RUNS] [CLIENTS]`

use quorate_sim::scenario::{Params, Scenario};
use quorate_sim::world::{run, RunConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Counting costs time, so the speed pass runs with it off and a second pass measures memory.
static COUNTING: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn five_nodes(seed: u64, clients: u32) -> Params {
    let mut rng = quorate_sim::rng::rng_for(seed);
    let mut p = Params::draw(Scenario::Basic, &mut rng);
    p.nodes = 5;
    p.clients = clients;
    p.latency_ms = (1, 10);
    p
}

// The bench measures wall-clock speed; no simulated run reads this clock.
#[allow(clippy::disallowed_methods)]
fn main() {
    let runs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let clients: u32 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let (mut events, mut virtual_ms, mut ops, mut peak) = (0u64, 0u64, 0u64, 0usize);
    // Completed client operations and their summed latency, in virtual milliseconds.
    let (mut completed, mut latency_ms) = (0u64, 0u64);
    let config = |seed| {
        let mut config = RunConfig::new(seed, Scenario::Basic);
        config.params = Some(five_nodes(seed, clients));
        config
    };
    let started = std::time::Instant::now();
    for seed in 0..runs {
        let report = run(&config(seed));
        assert!(report.failure.is_none(), "seed {seed} failed: {:?}", report.failure);
        events += report.stats.events;
        virtual_ms += report.stats.virtual_ms;
        ops += report.stats.ops;
        for op in report.history.ops() {
            if let Some((at, _)) = op.ret {
                completed += 1;
                latency_ms += at - op.call;
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    COUNTING.store(true, Ordering::SeqCst);
    for seed in 0..runs.min(10) {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let _ = run(&config(seed));
        peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
    }
    println!("5-node cluster, {clients} clients, 1-10 ms latency, one thread, {runs} runs:");
    println!("  events:             {events} in {wall:.2} s = {:.0} events/s", events as f64 / wall);
    println!(
        "  virtual time:       {:.0} s = {:.0}x faster than real time",
        virtual_ms as f64 / 1000.0,
        virtual_ms as f64 / 1000.0 / wall
    );
    println!("  client operations:  {ops} ({:.0} per run)", ops as f64 / runs as f64);
    println!(
        "  virtual latency:    {:.1} ms per completed client operation (mean of {completed})",
        latency_ms as f64 / completed.max(1) as f64
    );
    println!("  peak heap per run:  {:.1} MiB", peak as f64 / (1 << 20) as f64);
}
