//! `wasmjobs bench`: a thin view over [`crate::bench`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::bench::mode::Mode;
use crate::bench::{self, Options, Target};
use crate::config::HostConfig;

/// The suites `--suite` knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Suite {
    /// hello and a CPU-bound loop in JavaScript, Python, bash, PHP, Java
    /// and C.
    Standard,
}

/// `wasmjobs bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A deployed job's name, a zip or a job folder.
    #[arg(required_unless_present = "suite", conflicts_with = "suite")]
    target: Option<String>,
    /// Benchmark a built-in suite instead.
    #[arg(long, value_enum)]
    suite: Option<Suite>,
    /// Measured runs per job and mode (after one warm-up run each).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Also run each job's interpreter as a plain, unsandboxed process:
    /// the baseline of every ratio. Unsafe for untrusted jobs.
    #[arg(long)]
    plain: bool,
    /// Only these modes, comma-separated (wasm-unchecked, wasm-epoch,
    /// wasm-fuel, native-limits, native-lsm, native-no-netns, native-full,
    /// plain, plain-same-version).
    #[arg(long, value_delimiter = ',', value_name = "MODE,...")]
    modes: Vec<String>,
    /// Also run the modes that weaken isolation (wasm-unchecked: no
    /// timeout can stop it; native-limits, native-lsm: sandbox layers left
    /// out) on a job that is not the built-in suite. Unsafe for untrusted
    /// jobs.
    #[arg(long)]
    unsafe_modes: bool,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write every number as JSON here (`-` or no value: stdout, and the
    /// table goes to stderr).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
}

/// Runs the bench and writes what was asked. Exits 1 when a mode failed.
pub fn run(host: &HostConfig, args: BenchArgs) -> Result<ExitCode> {
    let target = match (&args.suite, &args.target) {
        (Some(Suite::Standard), _) => Target::Standard,
        (None, Some(t)) => {
            let path = PathBuf::from(t);
            if path.exists() {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| t.clone());
                Target::Source { path, name }
            } else {
                let job = super::find_job(host, t, None).with_context(|| {
                    format!("'{t}' is neither a zip, a folder nor a deployed job")
                })?;
                Target::Source {
                    path: job.dir.clone(),
                    name: job.name,
                }
            }
        }
        (None, None) => bail!("name a job, a zip or a folder, or pass --suite standard"),
    };
    let only = args
        .modes
        .iter()
        .map(|id| {
            Mode::from_id(id).with_context(|| {
                let ids: Vec<&str> = Mode::ALL.iter().map(|m| m.id()).collect();
                format!("unknown mode '{id}' (modes: {})", ids.join(", "))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = Options {
        target,
        runs: args.runs,
        plain: args.plain || only.iter().any(|m| m.is_plain()),
        only,
        unsafe_modes: args.unsafe_modes,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(crate::runtime::wasm::share::JOB_WORKERS)
        .enable_all()
        .build()?;
    // Ctrl-C or SIGTERM ends the bench and removes its scratch folder.
    let report = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = bench::run(host, &opts) => r,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            _ = term.recv() => bail!("terminated"),
        }
    })?;
    let json_to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    if json_to_stdout {
        eprint!("{}", report.table());
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = args.json.as_ref().filter(|_| !json_to_stdout) {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("JSON written to {}", path.display());
    }
    if let Some(path) = &args.report {
        std::fs::write(path, bench::html::render(&report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    let failed = report
        .jobs
        .iter()
        .any(|j| j.results.iter().any(|r| r.error.is_some()));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
