//! The `quorate-sim` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quorate_sim::lincheck::cli::LincheckArgs;

/// Quorate's simulator and checkers.
#[derive(Parser)]
#[command(name = "quorate-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check client histories for linearizability.
    Lincheck(LincheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lincheck(args) => quorate_sim::lincheck::cli::run(&args),
    }
}
