//! The `quorate-sim` command line.

use clap::{Parser, Subcommand};

/// Quorate's simulator and checkers.
#[derive(Parser)]
#[command(name = "quorate-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let cli = Cli::parse();
    match cli.command {}
}
