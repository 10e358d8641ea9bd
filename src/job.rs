//! A deployed job: its kind, its folder and what discovery made of it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::bundle::entry::ScriptKind;
use crate::bundle::settings::Settings;

/// WebJobs' two job kinds; the kind comes only from the parent folder name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobType {
    /// Runs on demand (or on a schedule), one run at a time, with history.
    Triggered,
    /// Kept alive and restarted by the host.
    Continuous,
}

impl JobType {
    /// All kinds, in WebJobs' listing order (triggered first).
    pub const ALL: [JobType; 2] = [JobType::Triggered, JobType::Continuous];

    /// The folder and JSON name: `triggered` or `continuous`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Triggered => "triggered",
            JobType::Continuous => "continuous",
        }
    }

    /// WebJobs' graceful-stop wait when `settings.job` sets no
    /// `stopping_wait_time`, in seconds: 5 continuous, 30 triggered.
    pub fn stopping_wait_s(self) -> u64 {
        match self {
            JobType::Continuous => 5,
            JobType::Triggered => 30,
        }
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "triggered" => Ok(JobType::Triggered),
            "continuous" => Ok(JobType::Continuous),
            other => Err(format!(
                "unknown job type '{other}' (expected triggered or continuous)"
            )),
        }
    }
}

/// A job as read back from its folder.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's name (validated at deploy).
    pub name: String,
    /// Triggered or continuous.
    pub job_type: JobType,
    /// The job's folder (`jobs/<type>/<name>`); its entry script may sit in
    /// a subfolder (see `run_command`).
    pub dir: PathBuf,
    /// The entry script's file name, relative to `dir` (`run_command`).
    pub run_command: Option<String>,
    /// The entry script's kind, when one was found.
    pub script: Option<ScriptKind>,
    /// Why the job cannot run, or warnings about its settings (`error`).
    pub error: Option<String>,
    /// The parsed `settings.job`.
    pub settings: Settings,
}
