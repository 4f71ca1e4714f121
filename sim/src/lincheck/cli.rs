//! `quorate-sim lincheck`: check history files from the command line.
//!
//! Stdout gets exactly one line a file, `FILE: linearizable|not-linearizable|unknown (N ms)`;
//! explanations (`--explain`) and statistics (`--stats`) go to stderr. Exit status: 0 if no
//! file is not linearizable, 1 if one is, 2 on a usage or parse error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::{self, ParseError};
use super::{check, html, Budget, CheckResult, Explanation, Kv, Register, Stopwatch, Verdict};

/// The arguments of `quorate-sim lincheck`.
#[derive(Args, Debug)]
pub struct LincheckArgs {
    /// The sequential specification to check against.
    #[arg(long, value_enum)]
    pub model: ModelName,
    /// The files' format (jepsen: register only; edn: kv only).
    #[arg(long, value_enum)]
    pub format: Format,
    /// Check each key separately (kv only; the default).
    #[arg(long, overrides_with = "no_split")]
    pub split: bool,
    /// Check all keys together (kv only).
    #[arg(long, overrides_with = "split")]
    pub no_split: bool,
    /// Give up on a file after this many milliseconds, answering `unknown`.
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// Write an HTML page explaining every failure to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Explain failures (and unknown verdicts) on stderr.
    #[arg(long)]
    pub explain: bool,
    /// Print each file's search statistics on stderr.
    #[arg(long)]
    pub stats: bool,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

/// A model the CLI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// [`Register`].
    Register,
    /// [`Kv`].
    Kv,
}

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Jepsen etcd logs.
    Jepsen,
    /// EDN key-value lines.
    Edn,
    /// The project's JSON history format.
    Json,
}

/// Runs the subcommand.
pub fn run(args: &LincheckArgs) -> ExitCode {
    if let Err(message) = validate(args) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let mut failures: Vec<(String, Explanation)> = Vec::new();
    let (mut not_linearizable, mut errors) = (false, false);
    for file in &args.files {
        let stopwatch = Stopwatch::start();
        let result = match check_file(args, file) {
            Ok(result) => result,
            Err(err) => {
                eprintln!("error: {err}");
                errors = true;
                continue;
            }
        };
        let ms = stopwatch.elapsed().as_millis();
        crate::out!("{file}: {} ({ms} ms)", verdict_word(&result.verdict));
        report(args, file, &result);
        if let Verdict::NotLinearizable(explanation) = result.verdict {
            not_linearizable = true;
            failures.push((file.clone(), *explanation));
        }
    }
    if let Some(path) = &args.html {
        let refs: Vec<(&str, &Explanation)> = failures.iter().map(|(f, e)| (&**f, e)).collect();
        if let Err(err) = std::fs::write(path, html::page(&refs)) {
            eprintln!("error: {}: {err}", path.display());
            errors = true;
        }
    }
    ExitCode::from(if errors { 2 } else { u8::from(not_linearizable) })
}

fn validate(args: &LincheckArgs) -> Result<(), String> {
    match (args.model, args.format) {
        (ModelName::Register, Format::Edn) => Err("--format edn holds kv histories".into()),
        (ModelName::Kv, Format::Jepsen) => Err("--format jepsen holds register histories".into()),
        _ => Ok(()),
    }
}

fn check_file(args: &LincheckArgs, file: &str) -> Result<CheckResult, ParseError> {
    let budget = match args.timeout_ms {
        Some(ms) => Budget::wall_clock(Duration::from_millis(ms)),
        None => Budget::default(),
    };
    let text = parse::read_file(file)?;
    let kv = Kv { split: !args.no_split };
    Ok(match (args.model, args.format) {
        (ModelName::Register, Format::Jepsen) => check(&Register, &parse::jepsen(&text, file)?, &budget),
        (ModelName::Register, _) => check(&Register, &parse::json(&text, file)?, &budget),
        (ModelName::Kv, Format::Edn) => check(&kv, &parse::edn_kv(&text, file)?, &budget),
        (ModelName::Kv, _) => check(&kv, &parse::json(&text, file)?, &budget),
    })
}

fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not-linearizable",
        Verdict::Unknown(_) => "unknown",
    }
}

fn report(args: &LincheckArgs, file: &str, result: &CheckResult) {
    if args.explain {
        match &result.verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(e) => eprint!("{file}: {e}"),
            Verdict::Unknown(reason) => eprintln!("{file}: unknown: {reason}"),
        }
    }
    if args.stats {
        let s = &result.stats;
        eprintln!(
            "{file}: steps={} partitions={} peak_cache_entries={} peak_bytes={} peak_states={}",
            s.steps, s.partitions, s.peak_cache_entries, s.peak_bytes, s.peak_states
        );
    }
}
