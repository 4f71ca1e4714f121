//! `sim_schedule`: the fuzzer's bytes make every choice of a short simulated run.
//!
//! The bytes are the simulator's script ([`RunConfig::script`]): one byte per random choice,
//! in the order the run makes them: the swarm scenario's parameters first (loss,
//! duplication, partitions, crashes, torn writes, pauses, clock drift and jumps, the engine's
//! batch and window sizes), then each message's fate and latency, each fault, each client
//! operation and each node's RNG seed. Past the last byte a fixed seeded stream takes over.
//! The run is made small and short so that the fuzzer gets through many of them: three
//! nodes, at most three clients with a few operations each, a 2 s safety phase and at most
//! 10 s of liveness phase. Set `QUORATE_FUZZ_TRACE=1` to print the run's trace.
//!
//! Every checker of the simulator must hold. A failure of any kind fails the target,
//! liveness included: the liveness phase heals the network and stops every fault, so the
//! script keeps only latencies, sync delays and the nodes' election jitter within their
//! configured bounds, and under those a healthy cluster must elect a leader and finish its
//! clients' requests within 10 s of virtual time.

use quorate_sim::rng::rng_for_script;
use quorate_sim::scenario::{Params, Scenario};
use quorate_sim::world::{run, RunConfig, RunReport};

/// Virtual milliseconds of the safety phase (faults on).
pub const SAFETY_MS: u64 = 2_000;
/// Most virtual milliseconds the liveness phase may take.
pub const LIVENESS_MS: u64 = 10_000;
/// Deterministic search steps for the linearizability check of the small history.
const LINCHECK_STEPS: u64 = 1_000_000;

/// The `sim_schedule` target.
pub fn sim_schedule(data: &[u8]) {
    let report = run_schedule(data);
    if let Some(failure) = &report.failure {
        panic!("{} failure under a fuzzed schedule ({}): {failure}", failure.kind, report.params);
    }
}

/// The parameters a script gives: the swarm scenario's, drawn from the script's first bytes,
/// made small.
pub fn params_for(data: &[u8]) -> Params {
    let mut params = Params::draw(Scenario::Swarm, &mut rng_for_script(data.to_vec()));
    params.nodes = 3;
    params.clients = params.clients.min(3);
    params.keys = params.keys.min(2);
    params.ops_per_client = params.ops_per_client.min(8);
    params.safety_ms = SAFETY_MS;
    params.liveness_ms = LIVENESS_MS;
    params
}

/// Runs the simulated cluster under the script `data` and returns its report.
pub fn run_schedule(data: &[u8]) -> RunReport {
    // The simulator draws the parameters from the same first bytes again and then uses these
    // instead, so the rest of the script makes the run's choices.
    let mut config = RunConfig::new(0, Scenario::Swarm);
    config.echo = std::env::var_os("QUORATE_FUZZ_TRACE").is_some();
    config.lincheck_steps = LINCHECK_STEPS;
    config.params = Some(params_for(data));
    config.script = Some(data.to_vec());
    run(&config)
}
