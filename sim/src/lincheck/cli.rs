//! `quorate-sim lincheck`: check history files from the command line.
//!
//! Stdout gets exactly one line a file, `FILE: linearizable|not-linearizable|unknown (N ms)`;
//! explanations (`--explain`) and statistics (`--stats`) go to stderr. Exit status (see
//! [`EXIT_CODES`]): 0 if no file is not linearizable, 1 if one is, 2 on a usage or parse
//! error, 3 with `--fail-on-unknown` if a file is unknown and none is not linearizable.
//!
//! Files are read as a stream, and each file's partitions (keys) are checked on all cores
//! ([`check_parallel`]); the memory bound `--max-memory` holds for them together.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::{self, ParseError};
use super::{check_parallel, html, Budget, CheckResult, Explanation, Kv, Register, Stopwatch, Verdict};
use super::{History, JsonInput, Model};

/// The exit codes, as `--help` prints them.
pub const EXIT_CODES: &str = "Exit status: 0 every file linearizable (or unknown, without \
--fail-on-unknown); 1 a file is not linearizable; 2 a usage error, or a file that cannot be read \
or parsed (an empty file included); 3 with --fail-on-unknown, a file is unknown (and none is not \
linearizable). A higher-priority status wins: 2, then 1, then 3.";

/// Exit status: a file is unknown and `--fail-on-unknown` was given.
const EXIT_UNKNOWN: u8 = 3;

/// The arguments of `quorate-sim lincheck`.
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
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
    /// Give up on a file after this many search steps, answering `unknown`: the
    /// deterministic budget the simulator uses (10 million there). With `--jobs` above 1,
    /// each thread counts its own steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// The most memory the search's tables may hold at once, over all threads: bytes, or
    /// with a K, M or G suffix (powers of 1024). A search that would pass it answers
    /// `unknown`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    pub max_memory: usize,
    /// Exit 3 when a file's verdict is `unknown` and none is `not-linearizable` (for CI,
    /// where an undecided check must not pass silently).
    #[arg(long)]
    pub fail_on_unknown: bool,
    /// Threads checking a file's partitions (keys) at once (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
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
    let (mut not_linearizable, mut unknown, mut errors) = (false, false, false);
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
        match result.verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(explanation) => {
                not_linearizable = true;
                failures.push((file.clone(), *explanation));
            }
            Verdict::Unknown(_) => unknown = true,
        }
    }
    if let Some(path) = &args.html {
        let refs: Vec<(&str, &Explanation)> = failures.iter().map(|(f, e)| (&**f, e)).collect();
        if let Err(err) = std::fs::write(path, html::page(&refs)) {
            eprintln!("error: {}: {err}", path.display());
            errors = true;
        }
    }
    ExitCode::from(if errors {
        2
    } else if not_linearizable {
        1
    } else if unknown && args.fail_on_unknown {
        EXIT_UNKNOWN
    } else {
        0
    })
}

/// Parses a size: a number of bytes with an optional K, M or G (powers of 1024), as in
/// `512M`; a trailing `B` or `iB` is allowed (`512MiB`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let unit = trimmed.trim_end_matches("iB").trim_end_matches('B');
    let (digits, shift) = match unit.char_indices().last() {
        Some((i, 'K' | 'k')) => (&unit[..i], 10),
        Some((i, 'M' | 'm')) => (&unit[..i], 20),
        Some((i, 'G' | 'g')) => (&unit[..i], 30),
        Some((i, 'T' | 't')) => (&unit[..i], 40),
        _ => (unit, 0),
    };
    let number: usize =
        digits.parse().map_err(|_| format!("{text:?} is not a size such as 4096, 512M or 2G"))?;
    number.checked_mul(1 << shift).ok_or_else(|| format!("{text:?} is too large"))
}

fn validate(args: &LincheckArgs) -> Result<(), String> {
    match (args.model, args.format) {
        (ModelName::Register, Format::Edn) => Err("--format edn holds kv histories".into()),
        (ModelName::Kv, Format::Jepsen) => Err("--format jepsen holds register histories".into()),
        _ => Ok(()),
    }
}

fn check_file(args: &LincheckArgs, file: &str) -> Result<CheckResult, ParseError> {
    let mut budget = match args.timeout_ms {
        Some(ms) => Budget::wall_clock(Duration::from_millis(ms)),
        None => Budget::default(),
    };
    budget.max_bytes = args.max_memory;
    budget.max_steps = args.max_steps;
    let threads = match args.jobs {
        Some(jobs) => jobs as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let kv = Kv { split: !args.no_split };
    Ok(match (args.model, args.format) {
        (ModelName::Register, Format::Jepsen) => {
            let history = parse::from_file(file, |r, f| parse::jepsen_from(r, f))?;
            check_parallel(&Register, &history, &budget, threads)
        }
        (ModelName::Register, _) => check_json(&Register, file, &budget, threads)?,
        (ModelName::Kv, Format::Edn) => {
            let history = parse::from_file(file, |r, f| parse::edn_kv_from(r, f))?;
            check_parallel(&kv, &history, &budget, threads)
        }
        (ModelName::Kv, _) => check_json(&kv, file, &budget, threads)?,
    })
}

fn check_json<M>(model: &M, file: &str, budget: &Budget, threads: usize) -> Result<CheckResult, ParseError>
where
    M: Model + Sync,
    M::Input: JsonInput<Output = M::Output> + Sync,
    M::Output: serde::Serialize + serde::de::DeserializeOwned + Sync,
{
    let history: History<M::Input, M::Output> = parse::from_file(file, |r, f| parse::json_from(r, f))?;
    Ok(check_parallel(model, &history, budget, threads))
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
            "{file}: steps={} partitions={} peak_cache_entries={} peak_bytes={} peak_states={} \
             peak_key_words={} scanned_words={} dominated={} doomed={}",
            s.steps,
            s.partitions,
            s.peak_cache_entries,
            s.peak_bytes,
            s.peak_states,
            s.peak_key_words,
            s.scanned_words,
            s.dominated,
            s.doomed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("100MB"), Ok(100 << 20));
        for bad in ["", "G", "1.5G", "-1", "lots", "99999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
