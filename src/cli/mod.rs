//! The `wasmjobs` command line: thin triggers and views over the bundle,
//! store and runner APIs.

mod bench;
mod choices;
mod host_args;
mod output;
mod serve;
mod tenants;

use host_args::HostArgs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::bundle;
use crate::config::HostConfig;
use crate::job::{Job, JobType};
use crate::runner::{RunRequest, Runner};
use crate::runtime::Guest;
use crate::runtime::native::report;
use crate::runtime::wasm::engine::CodeGen;
use crate::store::layout::OUTPUT_LOG;
use crate::store::run::RunStatus;
use crate::store::{fsutil, history};
use choices::JobTypeArg;

/// Runs other people's background jobs, WebJobs-compatible, inside WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "wasmjobs", version, about)]
pub struct Cli {
    #[command(flatten)]
    host: HostArgs,
    #[command(subcommand)]
    command: Command,
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
        #[arg(long = "type", value_enum, default_value_t = JobTypeArg::Triggered)]
        job_type: JobTypeArg,
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
    /// Install the Python guest this user's hosts use, and the guests'
    /// prepared modules, for every user of this machine under
    /// `<prefix>/lib/wasmjobs/` (needs write access there: usually root).
    #[command(name = "install-guests")]
    InstallGuests {
        /// Where to install: `<prefix>/lib/wasmjobs/`. Hosts find
        /// `/usr/local` and `/usr`, and the prefix of their own binary
        /// (`<prefix>/bin/wasmjobs`).
        #[arg(long, value_name = "DIR", default_value = crate::runtime::wasm::installed::DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// The Python guest to install (a directory with `python.wasm` and
        /// `lib/python3.13/`). Default: WASMJOBS_PYTHON_GUEST, else this
        /// user's build (guests/python/build.sh), else the build of the
        /// user who ran sudo, else the install hosts would use.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Also install the fuel-metering variants of the compiled modules
        /// (used by jobs with a fuel limit).
        #[arg(long)]
        metered: bool,
    },
    /// Run the host: scheduled triggered jobs on their schedules and
    /// continuous jobs kept running, until SIGTERM or Ctrl-C (a second one
    /// kills the jobs still stopping).
    Serve {
        /// Serve the REST API and the dashboard on this address (port 0:
        /// any free port). Tenants authenticate with the secrets `wasmjobs
        /// tenant add` prints; with no tenant, `serve` makes a `default`
        /// one and prints its secret.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Longest a request may take to be answered, in seconds (503
        /// beyond; a followed output streams on).
        #[arg(long, default_value_t = 30)]
        request_timeout_s: u64,
        /// Largest upload, in MiB (413 beyond).
        #[arg(long, default_value_t = 256)]
        max_upload_mb: usize,
        /// Connections open at once (beyond, a new one gets a 503 and is
        /// closed). Default: a quarter of the open-file limit, at most 4096.
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
        /// Connections open at once from one client (an IPv4 address or an
        /// IPv6 /64). Default: a sixteenth of --max-connections, 8 to 256.
        #[arg(long, value_name = "N")]
        max_client_connections: Option<usize>,
        /// Seconds a request head (or, on a kept-alive connection, the next
        /// one) may take to arrive before the connection is closed.
        #[arg(long, default_value_t = 10)]
        header_timeout_s: u64,
    },
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
    /// Measure what isolation costs: run a job (or `--suite standard`)
    /// under every wasm and native sandbox mode, interleaved, and report
    /// latency, CPU, memory and ratios to the plain process.
    Bench(bench::BenchArgs),
    /// (Internal to `bench`: measures one plain run.)
    #[command(name = "bench-plain", hide = true)]
    BenchPlain {
        cwd: PathBuf,
        program: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Check schedules before deploying them.
    #[command(subcommand)]
    Cron(CronCommand),
    /// Manage tenants (their secrets are shown once, stored hashed).
    #[command(subcommand)]
    Tenant(tenants::TenantCommand),
    /// Remove a job, its data and its history.
    Remove {
        /// Job name.
        name: String,
        /// Job type (when both kinds have a job of that name).
        #[arg(long = "type", value_enum)]
        job_type: Option<JobTypeArg>,
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
    // The plain-run helper measures a child forked from it: it must stay a
    // small process, so it reads no host configuration.
    if let Command::BenchPlain { cwd, program, args } = &cli.command {
        println!("{}", crate::bench::mode::plain_helper(cwd, program, args)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Installing reads the settings engines are built with (--wasm-slots,
    // --max-memory-mb), and nothing of a data root or a database.
    if let Command::InstallGuests {
        prefix,
        from,
        metered,
    } = &cli.command
    {
        return install_guests(prefix, from.as_deref(), *metered, &cli.host.config()?);
    }
    let mut host = cli.host.config()?;
    if let Some(t) = cli.host.tenant(&host)? {
        if matches!(cli.command, Command::Serve { .. } | Command::Tenant(_)) {
            bail!("--tenant does not apply to `serve` or `tenant` (they cover every tenant)");
        }
        let quota = cli.host.quotas(&host)?.of(&t);
        let layout = crate::tenant::Tenants::new(host.layout.root()).layout(&t);
        host = host.for_tenant(&t, layout, &quota);
    }
    // A host that may run native jobs refuses to start with a native limit
    // set above this host's hard limit (defaults are lowered per run).
    if matches!(
        cli.command,
        Command::Serve { .. } | Command::Run { .. } | Command::Exec { .. } | Command::Bench(_)
    ) && host.executors != crate::runtime::ExecutorChoice::Wasm
    {
        host.sandbox
            .check_hard_limits()
            .map_err(anyhow::Error::msg)?;
    }
    let database = cli.host.database().map(str::to_string);
    if database.is_some()
        && !matches!(
            cli.command,
            Command::Serve { .. }
                | Command::Tenant(_)
                | Command::Cron(_)
                | Command::Doctor
                | Command::Prepare { .. }
                | Command::Bench(_)
                | Command::Exec { .. }
        )
    {
        bail!(
            "with a cluster database (--database or WASMJOBS_DATABASE_URL), deploy, run and inspect jobs through the REST API of any host (PUT /api/triggeredwebjobs/NAME, POST .../run, GET .../history): this command works on one host's data root only"
        );
    }
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
                job_type.into(),
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
                None => history::latest(&data_dir)
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
            let mut variants = vec![CodeGen::Epoch];
            if metered {
                variants.push(CodeGen::Fuel);
            }
            for m in variants {
                let set = runner.wasm().engines(m)?;
                for g in [Guest::Js, Guest::Python] {
                    let what = if m.fuel() { "metered" } else { "unmetered" };
                    match g.files() {
                        Err(e) if g == Guest::Python => {
                            println!("{}: not available: {e:#}", g.host_name())
                        }
                        files => {
                            let started = std::time::Instant::now();
                            set.guest(g)?;
                            let from = match files {
                                Ok(Some(f)) => format!(" (from {})", f.dir.display()),
                                _ => " (built in)".to_string(),
                            };
                            println!(
                                "{} ({what}): ready in {:.1?}{from}",
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
        }) => serve::cron_next(&expr, from.as_deref(), tz.as_deref(), count),
        Command::Serve {
            listen,
            request_timeout_s,
            max_upload_mb,
            max_connections,
            max_client_connections,
            header_timeout_s,
        } => {
            let descriptors = crate::api::server::raise_descriptor_limit();
            let mut connections =
                crate::api::server::ConnectionLimits::for_descriptors(descriptors);
            if let Some(n) = max_connections {
                if n == 0 {
                    bail!("--max-connections must be at least 1");
                }
                connections.max = n;
                connections.per_client = (n / 16).clamp(1, 256).min(n);
            }
            if let Some(n) = max_client_connections {
                if n == 0 {
                    bail!("--max-client-connections must be at least 1");
                }
                connections.per_client = n;
            }
            if header_timeout_s == 0 {
                bail!("--header-timeout-s must be at least 1");
            }
            connections.header_timeout = std::time::Duration::from_secs(header_timeout_s);
            let limits = crate::api::ApiLimits {
                max_upload_bytes: max_upload_mb << 20,
                request_timeout: std::time::Duration::from_secs(request_timeout_s.max(1)),
                connections,
            };
            let quotas = cli.host.quotas(&host)?;
            serve::serve(host, quotas, listen, limits, database.as_deref())
        }
        Command::Tenant(cmd) => tenants::run(&host, cmd, database.as_deref()),
        Command::Stop { name } => {
            let job = find_job(&host, &name, Some(JobType::Continuous))?;
            serve::set_stopped(&job, true)
        }
        Command::Start { name } => {
            let job = find_job(&host, &name, Some(JobType::Continuous))?;
            serve::set_stopped(&job, false)
        }
        Command::Doctor => {
            let runner = Runner::new(host);
            print!("{}", report::report(&runner.host().sandbox));
            if runner.host().executors != crate::runtime::ExecutorChoice::Native {
                print!("{}", crate::runtime::wasm::report::report(runner.wasm()));
                print!(
                    "{}",
                    crate::runtime::wasm::installed::report(
                        &runner.host().cache_dir.join("modules")
                    )
                );
            }
            print!("{}", output::executors(&runner));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench::run(&host, args),
        Command::BenchPlain { .. } | Command::InstallGuests { .. } => {
            unreachable!("handled before the host configuration")
        }
        Command::Remove { name, job_type } => {
            let job = find_job(&host, &name, job_type.map(JobType::from))?;
            bundle::remove(&host.layout, job.job_type, &job.name)?;
            crate::store::trash::wait_until_empty();
            println!("removed {} job '{}'", job.job_type, job.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `install-guests`: installs, then says what went where.
fn install_guests(
    prefix: &std::path::Path,
    from: Option<&std::path::Path>,
    metered: bool,
    host: &HostConfig,
) -> Result<ExitCode> {
    let done = crate::runtime::wasm::install::install(
        prefix,
        from,
        metered,
        host.max_concurrent_runs,
        host.ceiling.memory_mb << 20,
    )?;
    println!(
        "installed the Python guest (CPython 3.13, build {}) in {}",
        &done.build_id[..16],
        done.python.display()
    );
    println!("  copied from {}", done.source.display());
    println!("installed prepared modules in {}:", done.modules.display());
    for (name, len, what) in &done.files {
        println!("  {name} ({:.1} MB, {what})", *len as f64 / 1e6);
    }
    let system = ["/usr/local", "/usr"]
        .iter()
        .any(|p| prefix.canonicalize().ok().as_deref() == Some(std::path::Path::new(p)));
    if system {
        println!("every user's wasmjobs finds them, with no setting");
    } else {
        println!(
            "a wasmjobs installed as {}/bin/wasmjobs finds them with no setting; any other with WASMJOBS_PYTHON_GUEST={}",
            prefix.display(),
            done.python.display()
        );
    }
    if let Some(dir) = &done.unreachable {
        eprintln!(
            "warning: other users cannot reach the install through {dir}: it works for its owner only"
        );
    }
    Ok(ExitCode::SUCCESS)
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
