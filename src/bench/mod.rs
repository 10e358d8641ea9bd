//! `wasmjobs bench`: what isolation costs. The same job runs under every
//! mode this host offers (the wasm guest without limits, with the epoch
//! deadline, with fuel; the native sandbox with each set of layers; and,
//! when asked, the plain unsandboxed interpreter), interleaved round by
//! round so that drifts of a noisy machine hit every mode alike, after one
//! warm-up run of each. The [`report::Report`] holds every sample, their
//! summaries and the ratios to the plain process.

pub mod html;
pub mod mode;
mod progress;
pub mod report;
mod server;
pub mod stats;
mod suite;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bundle;
use crate::config::HostConfig;
use crate::job::{Job, JobType};
use crate::runtime::ExecutorChoice;
use crate::store::fsutil;
use crate::store::layout::Layout;
use mode::{Mode, Modes, Sample};
use progress::Progress;
use report::{JobResult, Machine, ModeInfo, ModeResult, Report};

/// What to benchmark.
#[derive(Debug, Clone)]
pub enum Target {
    /// The standard suite (hello and a CPU-bound loop per language).
    Standard,
    /// One job: a zip or a folder (a deployed job's folder, say).
    Source {
        /// The zip or folder.
        path: PathBuf,
        /// Its name in the report.
        name: String,
    },
}

/// How to benchmark it.
#[derive(Debug, Clone)]
pub struct Options {
    /// What.
    pub target: Target,
    /// Measured runs per job and mode.
    pub runs: usize,
    /// Also run the plain, unsandboxed interpreter (the ratios' baseline).
    pub plain: bool,
    /// Only these modes (all available ones when empty).
    pub only: Vec<Mode>,
    /// Run the weakened modes ([`Mode::is_weakened`]) on a job that is not
    /// the built-in suite.
    pub unsafe_modes: bool,
    /// The command line, for the report.
    pub command: String,
}

/// A job installed in the bench's scratch root.
struct Bench {
    name: String,
    job: Job,
    plain_dir: PathBuf,
    modes: Vec<Mode>,
}

/// Runs the bench. Jobs and runs live in a scratch folder inside the host's
/// data root, so that runs pay what they pay on that file system, and it is
/// removed afterwards; `host` supplies the limits, the sandbox and the
/// caches.
pub async fn run(host: &HostConfig, opts: &Options) -> Result<Report> {
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let root = host.layout.root();
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let scratch = fsutil::fresh_dir(root, ".bench")
        .with_context(|| format!("creating the bench's scratch folder in {}", root.display()))?;
    let _cleanup = fsutil::RemoveOnDrop(vec![scratch.clone()]);
    let mut bench_host = host.clone();
    bench_host.layout = Layout::new(scratch.join("root"));
    bench_host.history_size = 3;
    // The network jobs' server, allowed (and only it) by the bench host.
    let server = server::Server::start()?;
    bench_host.network = format!("public,tcp://127.0.0.1:{}", server.port)
        .parse()
        .map_err(anyhow::Error::msg)?;
    let (sources, mut skipped) = match &opts.target {
        Target::Standard => suite::standard(&scratch.join("suite"), server.port)?,
        Target::Source { path, name } => (
            vec![suite::SuiteJob {
                name: name.clone(),
                dir: path.clone(),
            }],
            Vec::new(),
        ),
    };
    let mut modes = Modes::new(&bench_host, opts.plain);
    let weakened_ok = matches!(opts.target, Target::Standard) || opts.unsafe_modes;
    if !weakened_ok {
        if let Some(m) = opts.only.iter().find(|m| m.is_weakened()) {
            bail!(
                "{} weakens isolation: it runs on the built-in suite, or on a job with --unsafe-modes",
                m.id()
            );
        }
        modes.refuse_weakened(
            "weakens isolation: measured on the built-in suite, or on a job with --unsafe-modes",
        );
    }
    let mut benches = Vec::new();
    for s in sources {
        let mut b = install(&bench_host, &modes, &s.name, &s.dir, &scratch)?;
        if !opts.only.is_empty() {
            b.modes.retain(|m| opts.only.contains(m));
            if b.modes.is_empty() {
                skipped.push(format!("{}: none of the chosen modes can run it", b.name));
                continue;
            }
        }
        benches.push(b);
    }
    let per_round: usize = benches.iter().map(|b| b.modes.len()).sum();
    let mut progress = Progress::new(per_round * (opts.runs + 1));
    let mut samples: Vec<Vec<(Vec<Sample>, Option<String>)>> = benches
        .iter()
        .map(|b| vec![(Vec::new(), None); b.modes.len()])
        .collect();
    // Round 0 warms up (compiles guests, fills caches) and is not kept;
    // then A/B/C, C/B/A, A/B/C, ... so no mode always runs first.
    for round in 0..=opts.runs {
        for (b, cells) in benches.iter().zip(samples.iter_mut()) {
            let mut order: Vec<usize> = (0..b.modes.len()).collect();
            if round % 2 == 0 {
                order.reverse();
            }
            for i in order {
                let mode = b.modes[i];
                progress.step(&format!("{} · {}", b.name, mode.id()));
                let cell = &mut cells[i];
                if cell.1.is_some() {
                    continue;
                }
                match modes.sample(mode, &b.job, &b.plain_dir).await {
                    Ok(s) if round > 0 => cell.0.push(s),
                    Ok(_) => {}
                    Err(e) => cell.1 = Some(format!("{e:#}")),
                }
            }
        }
    }
    let jobs: Vec<JobResult> = benches
        .iter()
        .zip(samples)
        .map(|(b, cells)| {
            let results = b
                .modes
                .iter()
                .zip(cells)
                .map(|(m, (s, err))| ModeResult::new(*m, s, err))
                .collect();
            JobResult::new(b.name.clone(), results)
        })
        .collect();
    Ok(Report {
        format: report::FORMAT,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: opts.command.clone(),
        runs: opts.runs,
        machine: machine(&modes),
        modes: Mode::ALL
            .iter()
            .map(|m| ModeInfo {
                id: *m,
                description: m.description(),
                unavailable: modes
                    .unavailable
                    .iter()
                    .find(|(u, _)| u == m)
                    .map(|(_, why)| why.clone()),
            })
            .collect(),
        goals: report::goals(&jobs),
        jobs,
        skipped,
    })
}

/// Installs one job in the scratch root and copies it for the plain runs.
fn install(
    host: &HostConfig,
    modes: &Modes,
    name: &str,
    src: &Path,
    scratch: &Path,
) -> Result<Bench> {
    let job_name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let job = bundle::install(
        &host.layout,
        ExecutorChoice::Auto,
        src,
        &job_name,
        JobType::Triggered,
        host.extract,
    )
    .with_context(|| format!("cannot benchmark {}", src.display()))?;
    let Some(kind) = job.script else {
        bail!(
            "cannot benchmark {}: {}",
            src.display(),
            bundle::entry::NO_RUNNABLE_SCRIPT
        );
    };
    let mut job_modes = modes.for_kind(kind);
    // A native job held to allow patterns reaches the network only
    // through the host's proxy, which needs the run's own network
    // namespace, and which Node's fetch does not use (a wasm guest's
    // sockets are always the host's).
    if matches!(
        job.settings.network(),
        crate::net::policy::Request::Allow(_)
    ) {
        let proxied = kind != bundle::entry::ScriptKind::Js;
        job_modes
            .retain(|m| m.is_wasm() || m.is_plain() || (proxied && matches!(m, Mode::NativeFull)));
    }
    if job_modes.is_empty() {
        bail!("no mode can run {name} ({kind}) on this host");
    }
    // The plain runs get a copy of their own (only when they are measured).
    let plain_dir = scratch.join("plain").join(&job_name);
    if job_modes.iter().any(|m| m.is_plain()) {
        fsutil::copy_tree(&job.dir, &plain_dir)
            .with_context(|| format!("copying {} for the plain runs", job.dir.display()))?;
    }
    Ok(Bench {
        name: name.to_string(),
        job,
        plain_dir,
        modes: job_modes,
    })
}

/// What the report says about the machine.
fn machine(modes: &Modes) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut interpreters = Vec::new();
    let mut probe = |name: &str, program: &Path, arg: &str| {
        if let Ok(out) = std::process::Command::new(program).arg(arg).output() {
            let text = [out.stdout, out.stderr].concat();
            let line = String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            interpreters.push((name.to_string(), line));
        }
    };
    for (name, program, arg) in [
        ("node", "/usr/bin/node", "--version"),
        ("python3", "/usr/bin/python3", "--version"),
        ("bash", "/bin/bash", "--version"),
        ("php", "/usr/bin/php", "--version"),
        ("java", "/usr/bin/java", "-version"),
    ] {
        probe(name, Path::new(program), arg);
    }
    if let Some(p) = modes.same_version_python() {
        probe("same-version CPython", p, "--version");
    }
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        kernel,
        wasmjobs: env!("CARGO_PKG_VERSION").to_string(),
        optimized_build: !cfg!(debug_assertions),
        interpreters,
    }
}
