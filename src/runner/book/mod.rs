//! The run book: where jobs, runs, output, schedule ticks and leases are
//! recorded, and who may start a run. Every trigger (the API, a schedule,
//! a continuous job's supervisor, the queue of a shared book) and the
//! runner speak to one [`RunBook`]; the host picks it once, at start:
//!
//! - [`local::LocalBook`]: this host's data root ([`crate::store`]) and its
//!   file locks; runs start here at once;
//! - the cluster's book (`crate::cluster::book`): one PostgreSQL database
//!   shared by many hosts; runs are queued there and any host with room
//!   takes them, ticks are claimed once, leases replace file locks, and a
//!   run's status and output are kept in the database as it goes.

pub mod local;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RunError, RunRequest, Runner};
use crate::job::{Job, JobType};
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::store::logline::Level;
use crate::store::run::{RunInfo, StatusFile};
pub use crate::wire::JobFacts;

/// Where a job is: whose, which, and its data folder on this host.
#[derive(Debug, Clone)]
pub struct JobPlace {
    /// Whose job (`""`: the data root's own jobs).
    pub tenant: String,
    /// Triggered or continuous.
    pub job_type: JobType,
    /// The job's name.
    pub name: String,
    /// The job's data folder on this host (runs, logs, status files).
    pub data_dir: PathBuf,
}

/// One occurrence of a schedule to start, or (no `tick`) the turn of the
/// run a schedule queued behind a running one, or a replacement.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence {
    /// When the schedule fired (none for a queued run's turn).
    pub tick: Option<jiff::Timestamp>,
    /// The job's catch-up window.
    pub catch_up: Duration,
    /// The run stands for missed occurrences (a catch-up).
    pub late: bool,
}

/// What the book says about starting a schedule's occurrence.
pub enum TickStart {
    /// Start it here (with the book's claim on it, when the book keeps
    /// claims).
    Start(Option<Arc<dyn Claim>>),
    /// The job is running: the overlap policy applies.
    Running,
    /// Nothing starts here (another host has it, or it cannot run); the
    /// line for the scheduler's log, if there is one to say.
    Skip(Option<(Level, String)>),
}

/// A run the book gave this host: its id, and how its record is kept.
#[async_trait]
pub trait Claim: Send + Sync {
    /// The run's id (its record's).
    fn run_id(&self) -> &str;

    /// Keeps the run's record up to date as it goes, from its output log
    /// and its status changes; the run is stopped or killed through
    /// `run.stop` when the book asks (or when the claim is lost).
    fn record(self: Arc<Self>, run: Recording) -> Box<dyn Recorder>;

    /// Gives the run back: this host cannot start it now (another may).
    async fn give_back(&self);

    /// Ends the run `Failed` with `why` (it cannot run here at all).
    async fn fail(&self, trigger: &str, why: &str);
}

/// What a [`Claim`]'s recorder keeps up with.
pub struct Recording {
    /// The run's `output_log.txt` on this host.
    pub output: PathBuf,
    /// The run's stop signal.
    pub stop: StopSignal,
    /// The run's log (the recorder's own troubles are written to it).
    pub log: Arc<OutputLog>,
    /// Whose job.
    pub tenant: String,
    /// The job's name.
    pub job: String,
    /// How many runs the job's history keeps.
    pub history_size: usize,
}

/// Keeps one claimed run's record as it goes.
#[async_trait]
pub trait Recorder: Send + Sync {
    /// Records a status change (after the output written so far).
    fn status(&self, s: &StatusFile);

    /// Waits until the run's `Running` status is recorded: the job starts
    /// only then; the error says why it cannot be (the run ends there).
    async fn started(&self) -> Result<(), String>;

    /// Writes what is left, waits for it (bounded), and keeps the
    /// history to its size.
    async fn finish(self: Box<Self>);
}

/// A run's output as the book keeps it.
#[async_trait]
pub trait RunOutput: Send + Sync {
    /// The file on this host's disk that is the output, when it is one
    /// (the host serves it as any other file of the data root).
    fn file(&self) -> Option<&std::path::Path>;

    /// How many bytes there are now.
    async fn size(&self) -> std::io::Result<u64>;

    /// Appends up to `max` bytes from `offset` to `out`.
    async fn read(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> std::io::Result<()>;

    /// Whether the run has ended (or is gone).
    async fn ended(&self) -> bool;
}

/// What makes this host the one that runs a singleton continuous job.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Whether it is still this host's.
    async fn still_held(&self) -> bool;

    /// Resolves when it is lost (another holder has it, or it could not
    /// be confirmed for a whole lease); never for a lease that cannot be
    /// lost.
    async fn lost(&self);

    /// Drops it without giving it back (it is no longer this host's: a
    /// release could free what another holder has just taken).
    fn disown(self: Box<Self>);
}

/// Where jobs, runs, output, ticks and leases are recorded, and who may
/// start a run. Errors are the book's own (it could not be read or
/// written), with their context; a run that may not start is a
/// [`RunError`].
#[async_trait]
pub trait RunBook: Send + Sync {
    /// The time that counts for schedules.
    fn now(&self) -> jiff::Timestamp;

    // Runs.

    /// Starts or queues a triggered run asked for through the API; its id.
    async fn submit(&self, runner: &Runner, req: RunRequest) -> Result<Result<String, RunError>>;

    /// A triggered job's runs, newest first; `None` when it has no
    /// history at all.
    async fn history(&self, job: &JobPlace) -> Result<Option<Vec<RunInfo>>>;

    /// One run of a triggered job.
    async fn run(&self, job: &JobPlace, id: &str) -> Result<Option<RunInfo>>;

    /// A run's output; `None` when the job has no such run.
    async fn output(&self, job: &JobPlace, id: &str) -> Result<Option<Box<dyn RunOutput>>>;

    /// Asks a run in progress to stop gracefully; `false` when no such run
    /// is going.
    async fn request_stop(&self, job: &JobPlace, id: &str) -> Result<bool>;

    /// Resolves when queued runs may be waiting for a host (never, for a
    /// book whose runs start where they are asked for).
    async fn queued(&self);

    /// Claims up to `max` queued runs for this host.
    async fn claim_queued(&self, max: u32) -> Result<Vec<QueuedRun>>;

    // Schedules.

    /// Where a schedule counts from: its job's latest run's start.
    async fn schedule_base(&self, job: &JobPlace) -> Result<Option<DateTime<Utc>>>;

    /// Whether a schedule's occurrence starts on this host.
    async fn claim_tick(
        &self,
        runner: &Runner,
        job: &Job,
        trigger: &str,
        at: Occurrence,
    ) -> TickStart;

    // Jobs.

    /// Whether the job is the book's (a shared book's job, brought here
    /// first when this host's copy is older); `false` when the book no
    /// longer has it.
    async fn job_current(&self, tenant: &str, t: JobType, name: &str) -> bool;

    /// Brings this host's copies of the jobs up to the book's.
    async fn sync_jobs(&self);

    /// What a job's JSON says of its runs and instances.
    async fn job_facts(&self, job: &JobPlace) -> JobFacts;

    /// Whether a run of the job is in progress on another host (this
    /// host's own runs hold the job's lock).
    async fn running_elsewhere(&self, job: &JobPlace) -> Result<bool>;

    /// Marks a job as being changed here until the guard is dropped
    /// (after [`RunBook::publish`]).
    fn changing(&self, tenant: &str, t: JobType, name: &str) -> Box<dyn Send + '_>;

    /// Records a job as this host now has it (every host installs it).
    async fn publish(&self, tenant: &str, job: &Job) -> Result<()>;

    /// Forgets a job removed here, with its runs.
    async fn forget_job(&self, tenant: &str, t: JobType, name: &str) -> Result<()>;

    // Continuous jobs.

    /// Records a continuous job's status on this host (beyond its
    /// `status_<instance>` file).
    async fn record_continuous(&self, job: &JobPlace, status: &str) -> Result<()>;

    /// Takes the singleton lease of a continuous job for this host if it
    /// is free; `Ok(None)` when another holder has it.
    async fn singleton(
        &self,
        job: &JobPlace,
        instance: &str,
    ) -> std::io::Result<Option<Box<dyn Lease>>>;

    /// How often a host without a job's singleton lease tries again.
    fn singleton_retry(&self) -> Duration;

    /// Resolves when this host is taken back after being cut off (its
    /// continuous jobs say their status again); never for a book that
    /// cannot cut a host off.
    async fn rejoined(&self);
}

/// A queued run this host claimed.
pub struct QueuedRun {
    /// The claim (the run's record).
    pub claim: Arc<dyn Claim>,
    /// Whose job.
    pub tenant: String,
    /// The triggered job's name.
    pub name: String,
    /// `External - <who>` or `Schedule - <cron>`.
    pub trigger: String,
    /// The run's arguments.
    pub args: Vec<String>,
    /// This host's copy of the job is older than the run asks for: the
    /// jobs are synced before it starts.
    pub stale: bool,
}
