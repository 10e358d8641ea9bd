//! The `wasmjobs` command line: thin triggers and views over the bundle,
//! store and runner APIs.

mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::bundle::{self, ExtractLimits};
use crate::config::{self, HostConfig};
use crate::job::{Job, JobType};
use crate::runner::{RunRequest, Runner};
use crate::runtime::limits::LimitOverrides;
use crate::runtime::native::{SandboxMode, layers};
use crate::runtime::{ExecutorChoice, Guest};
use crate::store::run::{OUTPUT_LOG, RunStatus};
use crate::store::{fsutil, history};

/// Runs other people's background jobs, WebJobs-compatible, inside WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "wasmjobs", version, about)]
pub struct Cli {
    #[command(flatten)]
    host: HostArgs,
    #[command(subcommand)]
    command: Command,
}

/// Host settings shared by every command.
#[derive(Debug, Args)]
struct HostArgs {
    /// Data root (jobs, history, data). Default: a per-user data directory.
    #[arg(long, global = true, env = "WASMJOBS_ROOT")]
    root: Option<PathBuf>,
    /// Default wall-clock limit of a run, in seconds.
    #[arg(long, global = true, env = "WASMJOBS_TIMEOUT_S")]
    timeout_s: Option<u64>,
    /// Default memory cap of a run, in MiB.
    #[arg(long, global = true, env = "WASMJOBS_MEMORY_MB")]
    memory_mb: Option<u64>,
    /// Default fuel of a run (unmetered when unset).
    #[arg(long, global = true, env = "WASMJOBS_FUEL")]
    fuel: Option<u64>,
    /// Default output kept per run, in KiB (head and tail beyond it).
    #[arg(long, global = true, env = "WASMJOBS_OUTPUT_KB")]
    output_kb: Option<u64>,
    /// Default idle timeout, in seconds; 0 disables it (else
    /// WEBJOBS_IDLE_TIMEOUT, else 120).
    #[arg(long, global = true)]
    idle_timeout_s: Option<u64>,
    /// Most a job's limits.timeout_s may ask for (default 7 days).
    #[arg(long, global = true, env = "WASMJOBS_MAX_TIMEOUT_S")]
    max_timeout_s: Option<u64>,
    /// Most a job's limits.memory_mb may ask for (default 4096).
    #[arg(long, global = true, env = "WASMJOBS_MAX_MEMORY_MB")]
    max_memory_mb: Option<u64>,
    /// Most fuel a run may have; when set, every run is metered.
    #[arg(long, global = true, env = "WASMJOBS_MAX_FUEL")]
    max_fuel: Option<u64>,
    /// Most a job's limits.output_kb may ask for (default 1 GiB).
    #[arg(long, global = true, env = "WASMJOBS_MAX_OUTPUT_KB")]
    max_output_kb: Option<u64>,
    /// Most a job's limits.idle_timeout_s may ask for (default 1 day).
    #[arg(long, global = true, env = "WASMJOBS_MAX_IDLE_TIMEOUT_S")]
    max_idle_timeout_s: Option<u64>,
    /// Runs kept per job (else WEBJOBS_HISTORY_SIZE, else 50).
    #[arg(long, global = true)]
    history_size: Option<usize>,
    /// Largest total size a bundle may unpack to, in MiB.
    #[arg(long, global = true, default_value_t = 256)]
    max_bundle_mb: u64,
    /// Largest size one bundle entry may unpack to, in MiB.
    #[arg(long, global = true, default_value_t = 64)]
    max_entry_mb: u64,
    /// Most entries a bundle may have.
    #[arg(long, global = true, default_value_t = 10_000)]
    max_entries: usize,
    /// An app setting passed to every job as an environment variable
    /// (repeatable; also read from <root>/app_settings.json).
    #[arg(long = "app-setting", global = true, value_name = "KEY=VALUE")]
    app_settings: Vec<String>,
    /// Which executors jobs may use: the wasm guest where one exists
    /// (auto), only wasm guests, or only the native sandbox.
    #[arg(long, global = true, value_enum, env = "WASMJOBS_EXECUTOR", default_value_t = ExecutorChoice::Auto)]
    executor: ExecutorChoice,
    /// How strictly native runs need every sandbox layer: strict refuses
    /// to run with fewer, best-effort names what is missing in the run log,
    /// off isolates nothing (resource limits only).
    #[arg(long, global = true, value_enum, env = "WASMJOBS_NATIVE_SANDBOX", default_value_t = SandboxMode::Strict)]
    native_sandbox: SandboxMode,
    /// Give native runs no network namespace (saves ~2 ms per start; the
    /// socket filter and Landlock still deny networking).
    #[arg(long, global = true)]
    no_net_namespace: bool,
    /// The uids native runs get when the host is root, FIRST-LAST.
    #[arg(
        long,
        global = true,
        value_name = "FIRST-LAST",
        default_value = "2000000000-2000065535"
    )]
    native_uids: String,
    /// Largest file a native run may write, in MiB.
    #[arg(long, global = true, default_value_t = 1024)]
    native_max_file_mb: u64,
    /// Most processes a native run may have at once.
    #[arg(long, global = true, default_value_t = 256)]
    native_max_processes: u64,
    /// A continuous job that ran at least this long restarts at once;
    /// sooner, it waits WEBJOBS_RESTART_TIME (WebJobs: 120).
    #[arg(long, global = true)]
    restart_warmup_s: Option<u64>,
    /// How long changes to deployed jobs settle before `serve` acts on them.
    #[arg(long, global = true, default_value_t = 2000)]
    change_debounce_ms: u64,
    /// WebAssembly guests that may run at once (continuous wasm jobs hold
    /// one each for as long as they run).
    #[arg(long, global = true, default_value_t = 64)]
    wasm_slots: u32,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install a job from a zip or a directory (replaces a job of that name).
    Deploy {
        /// The job's zip file or directory.
        source: PathBuf,
        /// Job name (default: the zip's or directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Job type.
        #[arg(long = "type", value_enum, default_value_t = JobType::Triggered)]
        job_type: JobType,
    },
    /// Run a triggered job now, in the foreground; exits with its status.
    Run {
        /// Job name.
        name: String,
        /// Arguments passed to the job.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run a zip or directory once without deploying it.
    Exec {
        /// The job's zip file or directory.
        source: PathBuf,
        /// Arguments passed to the job.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Show a triggered job's runs, newest first.
    History {
        /// Job name.
        name: String,
        /// Print WebJobs' `{"runs": [...]}` JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a run's output_log.txt (default: the latest run).
    Logs {
        /// Job name.
        name: String,
        /// Run id.
        run_id: Option<String>,
    },
    /// List deployed jobs.
    List {
        /// Print WebJobs' JSON job objects.
        #[arg(long)]
        json: bool,
    },
    /// Compile and pre-initialise the interpreter guests now (otherwise the
    /// first run of each does it, once), and say where each comes from.
    Prepare {
        /// Also prepare the fuel-metering variants.
        #[arg(long)]
        metered: bool,
    },
    /// Run the host: scheduled triggered jobs on their schedules and
    /// continuous jobs kept running, until SIGTERM or Ctrl-C (a second one
    /// kills the jobs still stopping).
    Serve,
    /// Stop a continuous job and keep it stopped (writes its disable.job).
    Stop {
        /// Job name.
        name: String,
    },
    /// Start a stopped continuous job again (removes its disable.job).
    Start {
        /// Job name.
        name: String,
    },
    /// Report which native sandbox layers this kernel and user allow, and
    /// what native runs would get.
    Doctor,
    /// Check schedules before deploying them.
    #[command(subcommand)]
    Cron(CronCommand),
    /// Remove a job, its data and its history.
    Remove {
        /// Job name.
        name: String,
        /// Job type (when both kinds have a job of that name).
        #[arg(long = "type", value_enum)]
        job_type: Option<JobType>,
    },
}

#[derive(Debug, Subcommand)]
enum CronCommand {
    /// Print the next occurrences of a 6-field NCRONTAB expression, one RFC
    /// 3339 time a line.
    Next {
        /// The expression, e.g. "0 */5 * * * *".
        expr: String,
        /// Start after this instant (RFC 3339; default: now).
        #[arg(long)]
        from: Option<String>,
        /// IANA time zone (default: WEBSITE_TIME_ZONE, else UTC).
        #[arg(long, env = "WEBSITE_TIME_ZONE")]
        tz: Option<String>,
        /// How many occurrences.
        #[arg(short = 'n', default_value_t = 5)]
        count: usize,
    },
}

impl HostArgs {
    fn config(&self) -> Result<HostConfig> {
        use std::time::Duration;
        let root = match &self.root {
            Some(r) => r.clone(),
            None => config::default_root()?,
        };
        let mut host = HostConfig::new(root)?;
        // App settings first: WebJobs reads its own switches from them too.
        host.app_settings = config::read_app_settings(&host.layout)?;
        for s in &self.app_settings {
            host.app_settings.push(config::parse_setting(s)?);
        }
        let app = |k: &str| {
            host.app_settings
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let app_history = app("WEBJOBS_HISTORY_SIZE");
        let app_idle = app("WEBJOBS_IDLE_TIMEOUT");
        if let Some(tz) = app("WEBSITE_TIME_ZONE") {
            host.time_zone = Some(tz).filter(|z| !z.is_empty());
        }
        if let Some(v) = app("WEBJOBS_RESTART_TIME") {
            let secs: u64 = v.trim().parse().with_context(|| {
                format!("WEBJOBS_RESTART_TIME '{v}' is not a number of seconds")
            })?;
            host.restart_time = Duration::from_secs(secs);
        }
        if let Some(v) = app("WEBJOBS_DISABLE_SCHEDULE") {
            host.schedule_disabled = config::is_true(Some(&v));
        }
        if let Some(v) = app("WEBJOBS_STOPPED") {
            host.jobs_stopped = config::is_true(Some(&v));
        }
        if let Some(s) = self.restart_warmup_s {
            host.restart_warmup = Duration::from_secs(s);
        }
        host.change_debounce = Duration::from_millis(self.change_debounce_ms);
        if self.wasm_slots == 0 {
            bail!("--wasm-slots must be at least 1");
        }
        host.max_concurrent_runs = self.wasm_slots;
        if let Some(tz) = &host.time_zone {
            crate::schedule::zone::parse_zone(tz)
                .map_err(|e| anyhow::anyhow!("WEBSITE_TIME_ZONE: {e}"))?;
        }
        if let Some(v) = app_history {
            host.history_size = config::history_size_from(Some(&v));
        }
        if let Some(v) = app_idle {
            host.limits.idle_timeout = Duration::from_secs(config::idle_timeout_from(Some(&v)));
        }

        host.limits = host.limits.overridden_by(LimitOverrides {
            timeout_s: self.timeout_s,
            fuel: self.fuel,
            memory_mb: self.memory_mb,
            output_kb: self.output_kb,
            idle_timeout_s: self.idle_timeout_s,
        });
        host.ceiling = host.ceiling.overridden_by(LimitOverrides {
            timeout_s: self.max_timeout_s,
            fuel: self.max_fuel,
            memory_mb: self.max_memory_mb,
            output_kb: self.max_output_kb,
            idle_timeout_s: self.max_idle_timeout_s,
        });
        let (l, c) = (&host.limits, &host.ceiling);
        if l.memory_mb == 0
            || l.output_kb == 0
            || l.timeout.is_zero()
            || c.memory_mb == 0
            || c.output_kb == 0
            || c.timeout.is_zero()
        {
            bail!("memory, output and timeout limits must be positive");
        }
        let hard = crate::runtime::limits::CEILING.memory_mb;
        if l.memory_mb > hard || c.memory_mb > hard {
            bail!("memory limits cannot exceed {hard} MiB (the largest guest memory)");
        }
        if let Some(n) = self.history_size {
            if n == 0 {
                bail!("--history-size must be at least 1");
            }
            host.history_size = n;
        }
        host.executors = self.executor;
        host.sandbox.mode = self.native_sandbox;
        host.sandbox.net_namespace = !self.no_net_namespace;
        host.sandbox.uids = parse_uid_range(&self.native_uids)?;
        host.sandbox.max_file_mb = self.native_max_file_mb;
        host.sandbox.max_processes = self.native_max_processes;
        host.extract = ExtractLimits {
            max_total_bytes: self.max_bundle_mb << 20,
            max_entry_bytes: self.max_entry_mb << 20,
            max_entries: self.max_entries,
        };
        Ok(host)
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMJOBS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let host = cli.host.config()?;
    match cli.command {
        Command::Deploy {
            source,
            name,
            job_type,
        } => {
            let name = match name {
                Some(n) => n,
                None => default_name(&source)?,
            };
            let job = bundle::install(
                &host.layout,
                host.executors,
                &source,
                &name,
                job_type,
                host.extract,
            )
            .with_context(|| format!("cannot deploy {}", source.display()))?;
            println!(
                "deployed {} job '{}' (run_command: {})",
                job.job_type,
                job.name,
                job.run_command.as_deref().unwrap_or("-")
            );
            if let Some(err) = &job.error {
                eprintln!("warning: {err}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { name, args } => {
            let job = find_job(&host, &name, Some(JobType::Triggered))?;
            run_job(host, job, args, "External - wasmjobs-cli")
        }
        Command::Exec { source, args } => {
            let tmp_root = fsutil::fresh_dir(&std::env::temp_dir(), "wasmjobs-exec")
                .context("creating a scratch directory")?;
            let _cleanup = fsutil::RemoveOnDrop(vec![tmp_root.clone()]);
            let mut scratch = host.clone();
            scratch.layout = crate::store::layout::Layout::new(&tmp_root);
            let name = default_name(&source).unwrap_or_else(|_| "exec".to_string());
            let job = bundle::install(
                &scratch.layout,
                host.executors,
                &source,
                &name,
                JobType::Triggered,
                host.extract,
            )
            .with_context(|| format!("cannot run {}", source.display()))?;
            run_job(scratch, job, args, "External - wasmjobs-exec")
        }
        Command::History { name, json } => {
            let job = find_job(&host, &name, Some(JobType::Triggered))?;
            let runs = history::list(&host.layout.data_dir(job.job_type, &job.name));
            output::history(&host, &job, &runs, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { name, run_id } => {
            let job = find_job(&host, &name, Some(JobType::Triggered))?;
            let data_dir = host.layout.data_dir(job.job_type, &job.name);
            let run = match &run_id {
                Some(id) => history::get(&data_dir, id)
                    .with_context(|| format!("job '{name}' has no run '{id}'"))?,
                None => history::list(&data_dir)
                    .into_iter()
                    .next()
                    .with_context(|| format!("job '{name}' has no runs yet"))?,
            };
            let bytes = std::fs::read(run.dir.join(OUTPUT_LOG))
                .with_context(|| format!("run '{}' has no {OUTPUT_LOG}", run.id))?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => {
            output::list(
                &host,
                &bundle::list_jobs(&host.layout, host.executors),
                json,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Prepare { metered } => {
            let runner = Runner::new(host);
            let mut variants = vec![false];
            if metered {
                variants.push(true);
            }
            for m in variants {
                let set = runner.wasm().engines(m)?;
                for g in [Guest::Js, Guest::Python] {
                    let what = if m { "metered" } else { "unmetered" };
                    match g.files() {
                        Err(e) if g == Guest::Python => {
                            println!("{}: not available: {e:#}", g.host_name())
                        }
                        _ => {
                            let started = std::time::Instant::now();
                            set.guest(g)?;
                            println!(
                                "{} ({what}): ready in {:.1?}",
                                g.host_name(),
                                started.elapsed()
                            );
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cron(CronCommand::Next {
            expr,
            from,
            tz,
            count,
        }) => {
            use crate::schedule::{Cron, zone};
            let cron: Cron = expr.parse()?;
            let tz =
                zone::parse_zone(tz.as_deref().unwrap_or("UTC")).map_err(anyhow::Error::msg)?;
            let mut t = match from {
                Some(f) => f
                    .parse::<jiff::Timestamp>()
                    .with_context(|| format!("--from '{f}' is not an RFC 3339 time"))?,
                None => jiff::Timestamp::now(),
            };
            for _ in 0..count {
                let Some(next) = zone::next_instant(&cron, &tz, t) else {
                    bail!("the schedule '{cron}' never fires");
                };
                println!(
                    "{}",
                    next.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z")
                );
                t = next;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            eprint!("{}", layers::report(&host.sandbox));
            let runner = Runner::new(host);
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let mut sigint = signal(SignalKind::interrupt())?;
                let mut sigterm = signal(SignalKind::terminate())?;
                let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
                let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
                tokio::spawn(async move {
                    for tx in [first_tx, second_tx] {
                        tokio::select! {
                            _ = sigint.recv() => {}
                            _ = sigterm.recv() => {}
                        }
                        let _ = tx.send(());
                    }
                });
                crate::supervise::serve(
                    runner,
                    async {
                        let _ = first_rx.await;
                    },
                    async {
                        let _ = second_rx.await;
                    },
                )
                .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop { name } => {
            let job = find_job(&host, &name, Some(JobType::Continuous))?;
            let flag = job.dir.join(crate::supervise::continuous::DISABLE_FILE);
            std::fs::write(&flag, b"").with_context(|| format!("writing {}", flag.display()))?;
            println!(
                "stopped continuous job '{name}' (a running host stops it now and keeps it stopped)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Start { name } => {
            let job = find_job(&host, &name, Some(JobType::Continuous))?;
            let flag = job.dir.join(crate::supervise::continuous::DISABLE_FILE);
            match std::fs::remove_file(&flag) {
                Ok(()) => {
                    println!("started continuous job '{name}' (a running host starts it now)")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    println!("continuous job '{name}' was not stopped")
                }
                Err(e) => return Err(e).with_context(|| format!("removing {}", flag.display())),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            print!("{}", layers::report(&host.sandbox));
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { name, job_type } => {
            let job = find_job(&host, &name, job_type)?;
            bundle::remove(&host.layout, job.job_type, &job.name)?;
            println!("removed {} job '{}'", job.job_type, job.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a job in the foreground, streaming its log; Ctrl-C stops it.
fn run_job(host: HostConfig, job: Job, args: Vec<String>, trigger: &str) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let runner = Runner::new(host);
    let req = RunRequest {
        args,
        echo: Some(output::console_echo()),
        ..RunRequest::new(job, trigger)
    };
    let stop = req.stop.clone();
    let (run_id, report) = rt.block_on(async move {
        // Registered before the run is created, so no signal is lost: an
        // interrupt at any point ends the run as Stopped.
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            for round in 0..2 {
                tokio::select! {
                    _ = sigint.recv() => {}
                    _ = sigterm.recv() => {}
                }
                if round == 0 {
                    eprintln!(
                        "stopping: the job's shutdown file is created and it has its stopping_wait_time to exit (interrupt again to kill it now)"
                    );
                    stop.stop();
                } else {
                    stop.kill();
                }
            }
        });
        let prepared = runner.prepare(req)?;
        let run_id = prepared.run_id().to_string();
        anyhow::Ok((run_id, prepared.execute().await))
    })?;
    eprintln!("run {run_id}: {}", report.status);
    Ok(match (report.status, report.exit_code) {
        (RunStatus::Success, _) => ExitCode::SUCCESS,
        (_, Some(code)) if report.limit.is_none() && code & 0xff != 0 => {
            ExitCode::from((code & 0xff) as u8)
        }
        _ => ExitCode::FAILURE,
    })
}

fn find_job(host: &HostConfig, name: &str, only: Option<JobType>) -> Result<Job> {
    bundle::name::validate(name)?;
    let kinds: Vec<JobType> = match only {
        Some(t) => vec![t],
        None => JobType::ALL.to_vec(),
    };
    for t in kinds {
        if let Some(job) = bundle::read_job(&host.layout, host.executors, t, name) {
            return Ok(job);
        }
    }
    match only {
        Some(t) => bail!(
            "no {t} job named '{name}' in {}",
            host.layout.root().display()
        ),
        None => bail!("no job named '{name}' in {}", host.layout.root().display()),
    }
}

/// Parses `FIRST-LAST` (a non-root uid range).
fn parse_uid_range(s: &str) -> Result<(u32, u32)> {
    let parsed = s
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((a, b)) if a > 0 && a <= b && b < u32::MAX => Ok((a, b)),
        _ => bail!("--native-uids must be FIRST-LAST with 0 < FIRST <= LAST, got '{s}'"),
    }
}

/// A job name from a bundle's file or directory name.
fn default_name(source: &std::path::Path) -> Result<String> {
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| {
            format!(
                "cannot derive a job name from {}; pass --name",
                source.display()
            )
        })?;
    bundle::name::validate(stem).with_context(|| "pass --name to choose a valid one")?;
    Ok(stem.to_string())
}
