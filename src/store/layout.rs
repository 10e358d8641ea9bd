//! Paths of a data root, in WebJobs' layout.

use std::path::{Path, PathBuf};

use crate::job::JobType;

/// The folder, in a job's data dir, holding its own persistent files.
pub const JOB_DATA: &str = "job_data";

/// A run's status file, in its run folder.
pub const STATUS_FILE: &str = "status";

/// A run's output log, in its run folder.
pub const OUTPUT_LOG: &str = "output_log.txt";

/// The file that keeps a continuous job stopped (in the job's folder).
pub const DISABLE_FILE: &str = "disable.job";

/// What a continuous job's per-host status files are named after, in its
/// data folder (`status_<instance>`).
pub const INSTANCE_STATUS_PREFIX: &str = "status_";

/// A continuous job's rolling log, in its data folder.
pub const JOB_LOG: &str = "job_log.txt";

/// Where `job_log.txt` rolls to.
pub const JOB_PREV_LOG: &str = "job_prev_log.txt";

/// A scheduled job's scheduler log, in its data folder.
pub const SCHEDULER_LOG: &str = "job_scheduler.log";

/// Where `job_scheduler.log` rolls to at 1 MiB (WebJobs' name).
pub const SCHEDULER_PREV_LOG: &str = "job_prev_log.txt";

/// A data root (`--root`, `WASMJOBS_ROOT`).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Uses `root` as the data root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The data root itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/jobs`.
    pub fn jobs_root(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `<root>/jobs/<type>`.
    pub fn jobs_dir(&self, t: JobType) -> PathBuf {
        self.jobs_root().join(t.as_str())
    }

    /// `<root>/jobs/<type>/<name>`: the deployed bundle.
    pub fn job_dir(&self, t: JobType, name: &str) -> PathBuf {
        self.jobs_dir(t).join(name)
    }

    /// `<root>/data/jobs`: every job's history, locks and logs (what the
    /// API's `vfs` routes serve).
    pub fn data_root(&self) -> PathBuf {
        self.root.join("data").join("jobs")
    }

    /// `<root>/data/jobs/<type>/<name>`: history, locks and logs.
    pub fn data_dir(&self, t: JobType, name: &str) -> PathBuf {
        self.data_root().join(t.as_str()).join(name)
    }

    /// `<data dir>/job_data`: the job's own persistent files, seen by the
    /// job as `WEBJOBS_DATA_PATH`. Kept apart from the history so that a job
    /// can never rewrite its own run records.
    pub fn job_data_dir(&self, t: JobType, name: &str) -> PathBuf {
        self.data_dir(t, name).join(JOB_DATA)
    }

    /// `<data dir>/<run id>`: one triggered run's `status` and output.
    pub fn run_dir(&self, t: JobType, name: &str, run_id: &str) -> PathBuf {
        self.data_dir(t, name).join(run_id)
    }

    /// `<root>/temp/jobs/<type>/<name>`: working copies of running jobs.
    pub fn work_root(&self, t: JobType, name: &str) -> PathBuf {
        self.root
            .join("temp")
            .join("jobs")
            .join(t.as_str())
            .join(name)
    }

    /// `<root>/temp/staging`: bundles being unpacked.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("temp").join("staging")
    }

    /// `<root>/app_settings.json`: host-wide app settings passed to every job.
    pub fn app_settings_file(&self) -> PathBuf {
        self.root.join("app_settings.json")
    }
}
