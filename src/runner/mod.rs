//! The one runner API. Every way a triggered run starts (the CLI's `run`
//! and `exec`, the API, schedule ticks, a shared run book's queue) is a thin
//! trigger over [`Runner::prepare`] and [`PreparedRun::execute`], and each
//! start of a continuous job goes through [`Runner::run_continuous`]; the runner
//! does everything around the executor: the one-run-at-a-time lock, history
//! pruning, the run record and its status transitions, the output log, the
//! private working copy, the environment and the limits.

pub mod admission;
pub mod background;
pub mod book;
mod env;
mod launch;
pub mod slots;

pub use launch::ContinuousEnd;
use launch::Launch;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use thiserror::Error;

use crate::config::HostConfig;
use crate::job::{Job, JobType};
use crate::metrics::Metrics;
use crate::runtime::capture::{Echo, OutputLog};
use crate::runtime::executor::Executor;
use crate::runtime::limits::{LimitKind, Limits};
use crate::runtime::native::NativeRuntime;
use crate::runtime::stop::StopSignal;
use crate::runtime::wasm::WasmRuntime;
use crate::runtime::{self, Chosen, ExecutorKind};
use crate::store::disk::DiskLedger;
use crate::store::history;
use crate::store::layout::Layout;
use crate::store::layout::OUTPUT_LOG;
use crate::store::lock::JobLock;
use crate::store::logline::Level;
use crate::store::run::{RunStatus, StatusFile, StatusReserve, unique_run_id};
use crate::tenant::quota::{self, Quota};
use admission::{Admission, Permit};
use book::{Claim, Recorder, Recording, RunBook};
use slots::{Slots, WasmSlot};

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
    /// `WEBJOBS_STOPPED` is set on this host (409 in the API, as WebJobs).
    #[error("WebJobs are stopped on this host (WEBJOBS_STOPPED is set)")]
    Stopped,
    /// Too many runs in flight, the host's or the tenant's (429 in the API).
    #[error("{0}")]
    Busy(String),
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
    /// The run book's claim on the run, when the book gave it to this
    /// host (its id is the run's id; its status and output are recorded
    /// as it goes).
    pub claim: Option<Arc<dyn Claim>>,
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
            claim: None,
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
    /// What the run used, as far as its executor can tell.
    pub usage: runtime::Usage,
}

/// Starts runs. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    host: Arc<HostConfig>,
    wasm: Arc<WasmRuntime>,
    native: Arc<NativeRuntime>,
    /// Whose runs these are (`""`: the data root's own jobs).
    tenant: Arc<str>,
    /// The tenant's bound on its runs in flight.
    tenant_max_runs: Option<u32>,
    /// What the tenant's runs share on the host.
    share: crate::runtime::TenantShare,
    /// The tenant's bound on its wasm guests at once (quota `wasm_slots`).
    tenant_wasm_slots: Option<u32>,
    /// The tenant's bound on its continuous jobs running at once.
    tenant_continuous: Option<u32>,
    admission: Arc<Admission>,
    slots: Arc<Slots>,
    metrics: Arc<Metrics>,
    /// Where runs are recorded and who may start them.
    book: Arc<dyn RunBook>,
    /// What every run's folders and every tenant hold (shared by tenants).
    disk: Arc<DiskLedger>,
}

/// A run whose record exists (status `Initializing`) and whose job lock is
/// held, ready to execute.
pub struct PreparedRun {
    runner: Runner,
    job: Job,
    args: Vec<String>,
    executor: Chosen,
    run_id: String,
    run_dir: PathBuf,
    status: StatusFile,
    log: Arc<OutputLog>,
    stop: StopSignal,
    limits: Limits,
    limit_notes: Vec<String>,
    started: std::time::Instant,
    /// Room kept for the final status (a disk that fills meanwhile).
    reserve: Option<StatusReserve>,
    /// Keeps the run book's record of a claimed run up to date.
    recorder: Option<Box<dyn Recorder>>,
    _permit: Permit,
    _slot: Option<WasmSlot>,
    _in_flight: crate::metrics::InFlight,
    _lock: JobLock,
}

impl Runner {
    /// A runner for a host configuration.
    pub fn new(host: HostConfig) -> Runner {
        let wasm = Arc::new(WasmRuntime::new(
            host.cache_dir.join("modules"),
            host.max_concurrent_runs,
            host.ceiling.memory_mb << 20,
        ));
        let native = Arc::new(NativeRuntime::new(host.sandbox.clone()));
        let admission = Arc::new(Admission::new(host.max_runs));
        let slots = Arc::new(Slots::new(host.max_concurrent_runs, host.triggered_reserve));
        Runner {
            host: Arc::new(host),
            wasm,
            native,
            tenant: Arc::from(""),
            tenant_max_runs: None,
            share: crate::runtime::TenantShare::unnamed(),
            tenant_wasm_slots: None,
            tenant_continuous: None,
            admission,
            slots,
            metrics: Arc::default(),
            book: Arc::new(book::local::LocalBook::new(Arc::default())),
            disk: Arc::default(),
        }
    }

    /// The same runner over another run book (the host's, picked at its
    /// start; a runner is made over a [`book::local::LocalBook`] of its own).
    pub fn with_book(self, book: Arc<dyn RunBook>) -> Runner {
        Runner { book, ..self }
    }

    /// Where runs are recorded and who may start them.
    pub fn book(&self) -> &Arc<dyn RunBook> {
        &self.book
    }

    /// Where `job` of this runner's tenant is, for the run book.
    pub fn place(&self, job: &Job) -> book::JobPlace {
        book::JobPlace {
            tenant: self.tenant.to_string(),
            job_type: job.job_type,
            name: job.name.clone(),
            data_dir: self.host.layout.data_dir(job.job_type, &job.name),
        }
    }

    /// The tenant's bound on its runs in flight (its quota).
    pub fn tenant_max_runs(&self) -> Option<u32> {
        self.tenant_max_runs
    }

    /// Whether admission would let a run of this runner's tenant in now.
    pub fn has_room(&self) -> bool {
        self.admission.has_room(&self.tenant, self.tenant_max_runs)
    }

    /// The same host and executors for a tenant: its data root, its
    /// quota's ceilings, history size, concurrent runs, wasm slots,
    /// continuous jobs and CPU share; engines, compiled guests, the
    /// sandbox, admission, slots and metrics are shared.
    pub fn for_tenant(&self, tenant: &str, layout: Layout, quota: &Quota) -> Runner {
        let default_slots = quota::default_slots(self.host.max_concurrent_runs);
        Runner {
            host: Arc::new(self.host.for_tenant(tenant, layout, quota)),
            tenant: Arc::from(tenant),
            tenant_max_runs: quota.concurrent_runs,
            share: crate::runtime::TenantShare {
                name: Arc::from(tenant),
                max_processes: quota
                    .max_processes
                    .unwrap_or(crate::runtime::TenantShare::DEFAULT_PROCESSES),
                cpu_share: quota.cpu_share.unwrap_or(quota::DEFAULT_CPU_SHARE),
            },
            tenant_wasm_slots: Some(quota.wasm_slots.unwrap_or(default_slots)),
            tenant_continuous: Some(quota.continuous_jobs.unwrap_or(default_slots)),
            ..self.clone()
        }
    }

    /// The same runner with another wasm executor (the benchmark's
    /// unchecked baseline).
    pub fn with_wasm(self, wasm: Arc<WasmRuntime>) -> Runner {
        Runner { wasm, ..self }
    }

    /// The same runner with another native executor (the benchmark's layer
    /// sets).
    pub fn with_native(self, native: Arc<NativeRuntime>) -> Runner {
        Runner { native, ..self }
    }

    /// What this runner's tenant's runs share on the host.
    pub fn share(&self) -> &crate::runtime::TenantShare {
        &self.share
    }

    /// Whose runs these are (`""`: the data root's own jobs).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The host's disk ledger (shared by every tenant's runner): a native
    /// executor reports its runs' usage to it.
    pub fn disk(&self) -> &Arc<DiskLedger> {
        &self.disk
    }

    /// The host's metrics (shared by every tenant's runner).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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

    /// The executor for a picked kind, as the launch code speaks to it.
    pub(crate) fn executor(&self, kind: ExecutorKind) -> Box<dyn Executor + '_> {
        match kind {
            ExecutorKind::Wasm(g) => Box::new(self.wasm.executor(g)),
            ExecutorKind::Native(i) => Box::new(self.native.executor(i)),
        }
    }

    /// Whether `job` can be run on demand here, and with which executor:
    /// what [`Runner::prepare`] checks before anything is recorded (and a
    /// shared run book before it queues a run).
    pub fn check(&self, job: &Job) -> Result<Chosen, RunError> {
        if job.job_type == JobType::Continuous {
            return Err(RunError::Continuous(job.name.clone()));
        }
        if self.host.jobs_stopped {
            return Err(RunError::Stopped);
        }
        let Some(kind) = job.script else {
            return Err(RunError::NotRunnable(
                job.name.clone(),
                crate::bundle::entry::NO_RUNNABLE_SCRIPT.into(),
            ));
        };
        self.executor_for(kind, job)
            .map_err(|e| RunError::NotRunnable(job.name.clone(), e.to_string()))
    }

    /// The executor for a job's script kind on this host: the host's and
    /// the job's choices, and whether the wasm guests can run here.
    pub(crate) fn executor_for(
        &self,
        kind: crate::bundle::entry::ScriptKind,
        job: &Job,
    ) -> Result<Chosen, runtime::NoExecutor> {
        runtime::executor_for(kind, job.settings.executor(), self.host.executors, &|g| {
            self.wasm.usable(g)
        })
    }

    /// Takes the job's lock, prunes its history and creates the run record.
    pub fn prepare(&self, req: RunRequest) -> Result<PreparedRun, RunError> {
        let job = req.job;
        let executor = self.check(&job)?;
        let layout = &self.host.layout;
        let data_dir = layout.data_dir(job.job_type, &job.name);
        let lock = JobLock::try_acquire(&data_dir, &self.host.instance)?
            .ok_or(RunError::AlreadyRunning)?;
        let permit = self
            .admission
            .admit(&self.tenant, self.tenant_max_runs)
            .map_err(RunError::Busy)?;
        let slot = if executor.kind.is_wasm() {
            Some(self.wasm_slot(false).map_err(RunError::Busy)?)
        } else {
            None
        };
        let pruned = history::prune(&data_dir, self.host.history_size);
        let now = Utc::now();
        let run_id = match &req.claim {
            Some(claim) => claim.run_id().to_string(),
            None => unique_run_id(&data_dir, now),
        };
        let run_dir = data_dir.join(&run_id);
        std::fs::create_dir_all(&run_dir)?;
        // A record that cannot be made whole (a full disk) is not left half
        // made.
        let mut unmade = crate::store::fsutil::RemoveOnDrop(vec![run_dir.clone()]);
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
        let reserve = StatusReserve::ensure(&data_dir)?;
        let (limits, limit_notes) = self.host.limits.with_overrides(
            job.settings.limits(),
            &self.host.ceiling,
            &self.host.ceiling_owner,
        );
        let cap = limits.output_kb.saturating_mul(1024);
        let log = OutputLog::open(
            &run_dir.join(OUTPUT_LOG),
            &self.host.instance,
            cap,
            req.echo,
        )?;
        for note in pruned {
            log.sys(Level::Warn, &note);
        }
        log.sys(Level::Info, "Status changed to Initializing");
        unmade.0.clear();
        let recorder = req.claim.map(|claim| {
            claim.record(Recording {
                output: run_dir.join(OUTPUT_LOG),
                stop: req.stop.clone(),
                log: log.clone(),
                tenant: self.tenant.to_string(),
                job: job.name.clone(),
                history_size: self.host.history_size,
            })
        });
        let in_flight = self.metrics.run_started(&self.tenant);
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
            started: std::time::Instant::now(),
            reserve: Some(reserve),
            recorder,
            _permit: permit,
            _slot: slot,
            _in_flight: in_flight,
            _lock: lock,
        })
    }

    /// A wasm slot for a guest of this runner's tenant, or why not.
    fn wasm_slot(&self, continuous: bool) -> Result<WasmSlot, String> {
        self.slots
            .wasm(&self.tenant, self.tenant_wasm_slots, continuous)
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

    /// The run's folder (its record and output).
    pub fn run_dir(&self) -> &std::path::Path {
        &self.run_dir
    }

    /// The run's output log.
    pub fn log(&self) -> &Arc<OutputLog> {
        &self.log
    }

    /// Records a new status: the log line first, then the status file,
    /// so that whoever sees the final status finds every line written.
    fn set_status(&mut self, status: RunStatus) {
        self.status.status = status;
        if status.is_final() {
            self.status.end_time = Some(Utc::now());
        }
        self.log
            .sys(Level::Info, &format!("Status changed to {status}"));
        if let Err(e) = self.status.write(&self.run_dir) {
            // The final status goes through the room kept for it.
            let kept = match (status.is_final(), self.reserve.take()) {
                (true, Some(r)) => r.write_final(&self.run_dir, &self.status),
                _ => Err(e),
            };
            if let Err(e) = kept {
                self.log.sys(
                    Level::Err,
                    &format!(
                        "Cannot write the run status: {}",
                        runtime::confine::describe(&e)
                    ),
                );
            }
        }
        if let Some(r) = &self.recorder {
            r.status(&self.status);
        }
    }

    /// Executes the run to its end and records the result. Never fails: a
    /// run that cannot start ends `Failed` with the reason in its log.
    pub async fn execute(mut self) -> RunReport {
        let log = self.log.clone();
        let limits = self.limits;
        for n in std::mem::take(&mut self.limit_notes) {
            log.sys(Level::Warn, &n);
        }
        let (runner, job) = (self.runner.clone(), self.job.clone());
        let (run_id, args, stop) = (self.run_id.clone(), self.args.clone(), self.stop.clone());
        let note = self.executor.note.clone();
        let launch = Launch {
            runner: &runner,
            job: &job,
            executor: self.executor.kind,
            note: note.as_deref(),
            run_id: &run_id,
            args: &args,
            limits,
            log: &log,
            stop: &stop,
        };
        let network = launch.preamble();
        self.set_status(RunStatus::Running);
        // A claimed run starts only once its start is recorded: a run the
        // book still calls unstarted may be given to another host.
        let recorded = match &self.recorder {
            Some(r) => tokio::select! {
                r = r.started() => r,
                _ = self.stop.killed() => Err(
                    "The run was killed before its start was recorded: not started".into()
                ),
            },
            None => Ok(()),
        };
        let outcome = match recorded {
            Ok(()) => launch.run(network).await,
            Err(why) => runtime::Ending::Crashed(why).into(),
        };
        let (status, limit) = launch.report(&outcome);
        let exit_code = outcome.ending.exit_code();
        self.status.exit_code = exit_code;
        self.status.limit = limit.map(|k| k.key().to_string());
        self.status.fuel_consumed = outcome.fuel_consumed;
        self.set_status(status);
        log.close_console();
        if let Some(r) = self.recorder.take() {
            r.finish().await;
        }
        runner.metrics.run_finished(
            &runner.tenant,
            &status.to_string(),
            self.started.elapsed(),
            outcome.fuel_consumed,
            limit.map(|k| k.key()),
        );
        RunReport {
            run_id: self.run_id.clone(),
            status,
            exit_code,
            limit,
            fuel_consumed: outcome.fuel_consumed,
            usage: outcome.usage,
        }
    }
}
