//! `quorate`: run a node, a local cluster, or talk to one.

// The command line is not part of the madsim build (its tests drive nodes directly).
#![cfg_attr(madsim, allow(unused))]
#[cfg(madsim)]
fn main() {
    eprintln!("quorate: built for madsim's simulation: the command line is not available");
}

#[cfg(not(madsim))]
mod cli {

    use clap::{Parser, Subcommand};
    use quorate_server::{bench, client::Client, cluster, workload};
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    #[derive(Parser)]
    #[command(name = "quorate", version, about = "A Raft-replicated key-value service")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run one node from its configuration file (SIGHUP reloads the [dynamic] table,
        /// SIGTERM stops it cleanly).
        Node {
            /// The node's TOML configuration.
            #[arg(long)]
            config: PathBuf,
        },
        /// Run a local cluster on loopback ports (restarted on the same DIR, the same cluster).
        Cluster {
            /// How many nodes.
            #[arg(long, default_value_t = 3)]
            nodes: usize,
            /// Where the nodes' configurations and data live.
            #[arg(long)]
            dir: PathBuf,
        },
        /// Read and write keys.
        Kv {
            /// The nodes' URLs, comma-separated.
            #[arg(long, value_delimiter = ',', required = true)]
            endpoints: Vec<String>,
            #[command(subcommand)]
            op: KvCommand,
        },
        /// Show each endpoint's status.
        Status {
            /// The nodes' URLs, comma-separated.
            #[arg(long, value_delimiter = ',', required = true)]
            endpoints: Vec<String>,
        },
        /// Load a cluster and report throughput and latency.
        Bench {
            /// The nodes' URLs, comma-separated.
            #[arg(long, value_delimiter = ',', required = true)]
            endpoints: Vec<String>,
            /// Concurrent clients, each with one request outstanding.
            #[arg(long, default_value_t = 16)]
            clients: usize,
            /// Bytes per value.
            #[arg(long, default_value_t = 64)]
            value_size: usize,
            /// Seconds to run.
            #[arg(long, default_value_t = 10)]
            duration: u64,
            /// Fraction of reads, 0 to 1.
            #[arg(long, default_value_t = 0.0)]
            read_ratio: f64,
            /// Read consistency: linearizable, lease or stale.
            #[arg(long, default_value = "linearizable")]
            consistency: String,
            /// Distinct keys.
            #[arg(long, default_value_t = 1000)]
            keys: u64,
            /// Target etcd's v3 JSON gateway.
            #[arg(long)]
            etcd: bool,
        },
        /// Run a checked workload: a history for `quorate-sim lincheck --model kv --format json`,
        /// and every acknowledged write read back at the end (exit 1 if one is lost).
        Workload {
            /// The nodes' URLs, comma-separated.
            #[arg(long, value_delimiter = ',', required = true)]
            endpoints: Vec<String>,
            /// Concurrent clients.
            #[arg(long, default_value_t = 8)]
            clients: usize,
            /// Seconds to run.
            #[arg(long, default_value_t = 60)]
            duration: u64,
            /// Shared keys.
            #[arg(long, default_value_t = 4)]
            keys: u64,
            /// Where to write the history.
            #[arg(long)]
            history: PathBuf,
            /// Seconds one operation keeps retrying before its outcome is left unknown.
            #[arg(long, default_value_t = 10)]
            op_timeout: u64,
        },
    }

    #[derive(Subcommand)]
    enum KvCommand {
        /// Read a key.
        Get {
            key: String,
            /// linearizable, lease or stale.
            #[arg(long, default_value = "linearizable")]
            consistency: String,
        },
        /// Write a key.
        Put { key: String, value: String },
        /// Delete a key.
        Del { key: String },
        /// Set a key if its value is EXPECT (omit --expect: only if absent).
        Cas {
            key: String,
            value: String,
            #[arg(long)]
            expect: Option<String>,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(run(cli.command)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(command: Command) -> Result<(), String> {
        match command {
            Command::Node { config } => {
                let (_stop_tx, stop) = tokio::sync::watch::channel(false);
                quorate_server::run_node(config, stop, true, None).await
            }
            Command::Cluster { nodes, dir } => cluster::run(nodes, &dir).await,
            Command::Kv { endpoints, op } => {
                let mut client = Client::new(&endpoints);
                match op {
                    KvCommand::Get { key, consistency } => match client.get(&key, &consistency).await? {
                        Some(value) => println!("{value}"),
                        None => return Err(format!("no key {key:?}")),
                    },
                    KvCommand::Put { key, value } => println!("index {}", client.put(&key, &value).await?),
                    KvCommand::Del { key } => println!("index {}", client.delete(&key).await?),
                    KvCommand::Cas { key, value, expect } => {
                        let (ok, current) = client.cas(&key, expect.as_deref(), &value).await?;
                        println!(
                            "ok {ok}, current {}",
                            current.map_or("(absent)".to_string(), |c| format!("{c:?}"))
                        );
                        if !ok {
                            return Err("the compare-and-set did not take effect".into());
                        }
                    }
                }
                Ok(())
            }
            Command::Status { endpoints } => {
                let mut failed = false;
                for endpoint in &endpoints {
                    let mut client = Client::new(std::slice::from_ref(endpoint));
                    client.deadline = Duration::from_secs(2);
                    match client.request(hyper::Method::GET, "/v1/status", bytes::Bytes::new(), &[]).await {
                        Ok(answer) => println!("{endpoint}: {}", answer.text()),
                        Err(e) => {
                            failed = true;
                            println!("{endpoint}: unreachable ({e})");
                        }
                    }
                }
                if failed {
                    Err("some endpoints did not answer".into())
                } else {
                    Ok(())
                }
            }
            Command::Workload { endpoints, clients, duration, keys, history, op_timeout } => {
                let config = workload::WorkloadConfig {
                    endpoints,
                    clients,
                    duration: Duration::from_secs(duration),
                    keys,
                    history: history.clone(),
                    op_deadline: Duration::from_secs(op_timeout),
                };
                let report = workload::run(config).await?;
                println!(
                "operations: {} in the history ({} completed, {} unknown); acknowledged own writes: {}, lost: {}",
                report.operations,
                report.completed,
                report.unknown,
                report.acknowledged,
                report.lost.len()
            );
                println!("history: {}", history.display());
                for lost in report.lost.iter().take(20) {
                    println!("LOST: {lost}");
                }
                if report.lost.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} acknowledged writes lost", report.lost.len()))
                }
            }
            Command::Bench {
                endpoints,
                clients,
                value_size,
                duration,
                read_ratio,
                consistency,
                keys,
                etcd,
            } => {
                let config = bench::BenchConfig {
                    endpoints,
                    clients,
                    value_size,
                    duration: Duration::from_secs(duration),
                    read_ratio,
                    consistency,
                    keys,
                    etcd,
                };
                let mut report = bench::run(config.clone()).await?;
                print!("{}", report.render(&config));
                Ok(())
            }
        }
    }
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    cli::main()
}
