//! The one runner API. Every way a run starts (the CLI's `run` and `exec`
//! today; schedule ticks, API calls and continuous restarts later) is a thin
//! trigger over [`Runner::prepare`] and [`PreparedRun::execute`]; the runner
//! does everything around the executor: the one-run-at-a-time lock, history
//! pruning, the run record and its status transitions, the output log, the
//! private working copy, the environment and the limits.

mod env;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use thiserror::Error;

use crate::config::HostConfig;
use crate::job::{Job, JobType};
use crate::runtime::capture::{self, Echo, OutputLog};
use crate::runtime::limits::{LimitKind, Limits};
use crate::runtime::native::NativeRuntime;
use crate::runtime::native::sandbox::Dirs;
use crate::runtime::stop::StopSignal;
use crate::runtime::wasm::WasmRuntime;
use crate::runtime::watch::Shutdown;
use crate::runtime::{self, Ending, ExecutorKind, Invocation, Outcome};
use crate::store::lock::JobLock;
use crate::store::logline::Level;
use crate::store::run::{OUTPUT_LOG, RunStatus, StatusFile, unique_run_id};
use crate::store::{fsutil, history};

/// Why a run could not be started. Nothing is recorded for these.
#[derive(Debug, Error)]
pub enum RunError {
    /// The job cannot run on this host (no script, no executor).
    #[error("job '{0}' cannot run: {1}")]
    NotRunnable(String, String),
    /// A run of this job is already in progress (409 in the API).
    #[error("Cannot start a new run since job is already running.")]
    AlreadyRunning,
    /// Continuous jobs are kept alive by the host, not run on demand.
    #[error(
        "job '{0}' is a continuous job: the host keeps continuous jobs running, `run` starts triggered jobs only"
    )]
    Continuous(String),
    /// The run record could not be created.
    #[error("cannot create the run record: {0}")]
    Io(#[from] std::io::Error),
}

/// A request to run a job once.
pub struct RunRequest {
    /// The job.
    pub job: Job,
    /// `External - <who>` or `Schedule - <cron>`.
    pub trigger: String,
    /// The run's arguments.
    pub args: Vec<String>,
    /// Receives the run's log lines as they are written.
    pub echo: Option<Echo>,
    /// Stops the run when fired.
    pub stop: StopSignal,
}

impl RunRequest {
    /// A request to run `job` without arguments or console, with its own
    /// stop signal; set the public fields for more.
    pub fn new(job: Job, trigger: impl Into<String>) -> RunRequest {
        RunRequest {
            job,
            trigger: trigger.into(),
            args: Vec::new(),
            echo: None,
            stop: StopSignal::default(),
        }
    }
}

/// The result of a finished run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Final status.
    pub status: RunStatus,
    /// The job's exit status, if it exited.
    pub exit_code: Option<i32>,
    /// The limit that ended it, if any.
    pub limit: Option<LimitKind>,
    /// Fuel consumed, when metered.
    pub fuel_consumed: Option<u64>,
}

/// Starts runs. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    host: Arc<HostConfig>,
    wasm: Arc<WasmRuntime>,
    native: Arc<NativeRuntime>,
}

/// A run whose record exists (status `Initializing`) and whose job lock is
/// held, ready to execute.
pub struct PreparedRun {
    runner: Runner,
    job: Job,
    args: Vec<String>,
    executor: ExecutorKind,
    run_id: String,
    run_dir: PathBuf,
    status: StatusFile,
    log: Arc<OutputLog>,
    stop: StopSignal,
    limits: Limits,
    limit_notes: Vec<String>,
    _lock: JobLock,
}

impl Runner {
    /// A runner for a host configuration.
    pub fn new(host: HostConfig) -> Runner {
        let wasm = Arc::new(WasmRuntime::new(
            host.cache_dir.join("modules"),
            host.max_concurrent_runs,
        ));
        let native = Arc::new(NativeRuntime::new(host.sandbox.clone()));
        Runner {
            host: Arc::new(host),
            wasm,
            native,
        }
    }

    /// The host configuration.
    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    /// The wasm executor (shared engines).
    pub fn wasm(&self) -> &Arc<WasmRuntime> {
        &self.wasm
    }

    /// The native executor.
    pub fn native(&self) -> &Arc<NativeRuntime> {
        &self.native
    }

    /// Takes the job's lock, prunes its history and creates the run record.
    pub fn prepare(&self, req: RunRequest) -> Result<PreparedRun, RunError> {
        let job = req.job;
        if job.job_type == JobType::Continuous {
            return Err(RunError::Continuous(job.name));
        }
        let Some(kind) = job.script else {
            return Err(RunError::NotRunnable(
                job.name,
                crate::bundle::entry::NO_RUNNABLE_SCRIPT.into(),
            ));
        };
        let executor = runtime::executor_for(kind, job.settings.executor(), self.host.executors)
            .map_err(|e| RunError::NotRunnable(job.name.clone(), e.to_string()))?;
        let layout = &self.host.layout;
        let data_dir = layout.data_dir(job.job_type, &job.name);
        let lock = JobLock::try_acquire(&data_dir, &self.host.instance)?
            .ok_or(RunError::AlreadyRunning)?;
        history::prune(&data_dir, self.host.history_size)?;
        let now = Utc::now();
        let run_id = unique_run_id(&data_dir, now);
        let run_dir = data_dir.join(&run_id);
        std::fs::create_dir_all(&run_dir)?;
        let status = StatusFile {
            trigger: Some(req.trigger),
            status: RunStatus::Initializing,
            start_time: Some(now),
            end_time: None,
            exit_code: None,
            limit: None,
            fuel_consumed: None,
        };
        status.write(&run_dir)?;
        let (limits, limit_notes) = self
            .host
            .limits
            .with_overrides(job.settings.limits(), &self.host.ceiling);
        let cap = limits.output_kb.saturating_mul(1024);
        let log = OutputLog::open(
            &run_dir.join(OUTPUT_LOG),
            &self.host.instance,
            cap,
            req.echo,
        )?;
        log.sys(Level::Info, "Status changed to Initializing");
        Ok(PreparedRun {
            runner: self.clone(),
            job,
            args: req.args,
            executor,
            run_id,
            run_dir,
            status,
            log,
            stop: req.stop,
            limits,
            limit_notes,
            _lock: lock,
        })
    }

    /// Prepares and executes a run.
    pub async fn run(&self, req: RunRequest) -> Result<RunReport, RunError> {
        Ok(self.prepare(req)?.execute().await)
    }
}

impl PreparedRun {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn set_status(&mut self, status: RunStatus) {
        self.status.status = status;
        if status.is_final() {
            self.status.end_time = Some(Utc::now());
        }
        if let Err(e) = self.status.write(&self.run_dir) {
            self.log
                .sys(Level::Err, &format!("Cannot write the run status: {e}"));
        }
        self.log
            .sys(Level::Info, &format!("Status changed to {status}"));
    }

    /// Executes the run to its end and records the result. Never fails: a
    /// run that cannot start ends `Failed` with the reason in its log.
    pub async fn execute(mut self) -> RunReport {
        let log = self.log.clone();
        let limits = self.limits;
        for n in std::mem::take(&mut self.limit_notes) {
            log.sys(Level::Warn, &n);
        }
        if let Some(err) = &self.job.error {
            log.sys(Level::Warn, err);
        }
        let run_command = self.job.run_command.clone().unwrap_or_default();
        log.sys(
            Level::Info,
            &format!(
                "Run script '{run_command}' with script host - '{}'",
                self.executor.host_name()
            ),
        );
        // (A refused plan is the executor's to report: it fails the run.)
        if let ExecutorKind::Native(_) = self.executor
            && let Ok((layers, notes)) = self.runner.native.plan()
        {
            log.sys(
                Level::Info,
                &format!("Native sandbox: {}", layers.describe()),
            );
            for n in notes {
                log.sys(Level::Warn, &n);
            }
        }
        self.set_status(RunStatus::Running);

        let outcome = match self.launch(&limits).await {
            Ok(o) => o,
            Err(e) => Outcome {
                ending: Ending::Crashed(format!("{e:#}")),
                fuel_consumed: None,
            },
        };
        log.finish();

        let (status, limit) = match &outcome.ending {
            Ending::Exited(0) => (RunStatus::Success, None),
            Ending::Exited(n) => {
                log.sys(Level::Err, &format!("Job failed due to exit code {n}"));
                (RunStatus::Failed, None)
            }
            Ending::Limit(k, _) => {
                log.sys(Level::Err, &k.message(&limits, &run_command));
                (RunStatus::Failed, Some(*k))
            }
            Ending::Stopped => {
                log.sys(Level::Info, "WebJob was stopped on request");
                (RunStatus::Stopped, None)
            }
            Ending::Crashed(m) => {
                log.sys(Level::Err, m);
                (RunStatus::Failed, None)
            }
        };
        let exit_code = outcome.ending.exit_code();
        if let Some(f) = outcome.fuel_consumed {
            log.sys(Level::Info, &format!("Fuel consumed: {f}"));
        }
        self.status.exit_code = exit_code;
        self.status.limit = limit.map(|k| k.key().to_string());
        self.status.fuel_consumed = outcome.fuel_consumed;
        self.set_status(status);
        log.close_console();
        RunReport {
            run_id: self.run_id.clone(),
            status,
            exit_code,
            limit,
            fuel_consumed: outcome.fuel_consumed,
        }
    }

    /// Makes the working copy and private tmp, runs the executor, waits for
    /// the output to drain and cleans up.
    async fn launch(&self, limits: &Limits) -> anyhow::Result<Outcome> {
        use anyhow::Context;
        let host = &self.runner.host;
        let layout = &host.layout;
        let job = &self.job;
        let work_root = layout.work_root(job.job_type, &job.name);
        let work_dir = work_root.join(&self.run_id);
        let tmp_dir = work_root.join(format!("{}.tmp", self.run_id));
        let data_dir = layout.job_data_dir(job.job_type, &job.name);
        let _cleanup = fsutil::RemoveOnDrop(vec![work_dir.clone(), tmp_dir.clone()]);
        fsutil::copy_tree(&job.dir, &work_dir).with_context(|| {
            format!(
                "Missing working directory: cannot copy the job to {}",
                work_dir.display()
            )
        })?;
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("creating {}", tmp_dir.display()))?;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;

        let run_command = job.run_command.clone().unwrap_or_default();
        let (script_subdir, script) = match run_command.rsplit_once('/') {
            Some((dir, file)) => (dir.to_string(), file.to_string()),
            None => (String::new(), run_command.clone()),
        };
        let host_dirs = Dirs {
            work: work_dir.clone(),
            data: data_dir.clone(),
            tmp: tmp_dir.clone(),
        };
        let seen = match self.executor {
            ExecutorKind::Wasm(_) => Dirs {
                work: runtime::guest_paths::JOB.into(),
                data: runtime::guest_paths::DATA.into(),
                tmp: runtime::guest_paths::TMP.into(),
            },
            ExecutorKind::Native(_) => self.runner.native.view(&host_dirs),
        };
        let shutdown = (job.job_type == JobType::Continuous).then(|| Shutdown {
            file: tmp_dir.join(env::SHUTDOWN_FILE_NAME),
            wait: std::time::Duration::from_secs(job.settings.stopping_wait_time(job.job_type)),
        });
        let pipes = capture::pipes(&self.log).context("creating the output pipes")?;
        let inv = Invocation {
            script,
            script_subdir,
            args: self.args.clone(),
            env: env::job_env(host, job, &self.run_id, &self.args, &seen),
            work_dir,
            data_dir,
            tmp_dir,
            limits: *limits,
            activity: self.log.activity(),
            stdout: pipes.stdout,
            stderr: pipes.stderr,
            stop: self.stop.clone(),
            shutdown,
            network: job.settings.network(),
            run_name: format!("{}-{}", job.name, self.run_id),
        };
        let outcome = match self.executor {
            ExecutorKind::Wasm(guest) => self.runner.wasm.run(guest, inv).await,
            ExecutorKind::Native(interp) => self.runner.native.run(interp, inv).await,
        };
        let drain = pipes.drain;
        tokio::task::spawn_blocking(move || drain.wait())
            .await
            .context("draining the output")?;
        Ok(outcome)
    }
}
