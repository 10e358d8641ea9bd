//! One triggered run on disk: its id and its `status` file.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fsutil::write_atomic;

/// Name of a run's status file.
pub const STATUS_FILE: &str = "status";
/// Name of a run's output log.
pub const OUTPUT_LOG: &str = "output_log.txt";

/// A run's status, as WebJobs names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Created, not started yet.
    Initializing,
    /// Executing.
    Running,
    /// Exited with status 0.
    Success,
    /// Exited non-zero, hit a limit, or could not start.
    Failed,
    /// Stopped on request.
    Stopped,
    /// Left `Running` by a host that died (derived on read, never written).
    Aborted,
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Initializing | RunStatus::Running)
    }

    /// The status word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Initializing => "Initializing",
            RunStatus::Running => "Running",
            RunStatus::Success => "Success",
            RunStatus::Failed => "Failed",
            RunStatus::Stopped => "Stopped",
            RunStatus::Aborted => "Aborted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run id: `yyyyMMddHHmmssffff` in UTC (18 digits, sorts by time).
pub fn new_run_id(at: DateTime<Utc>) -> String {
    format!(
        "{}{:04}",
        at.format("%Y%m%d%H%M%S"),
        at.timestamp_subsec_micros() / 100
    )
}

/// Whether a directory name is a run id.
pub fn is_run_id(s: &str) -> bool {
    s.len() == 18 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Picks a run id at or after `at` that no existing run of the job uses.
pub fn unique_run_id(data_dir: &Path, at: DateTime<Utc>) -> String {
    let mut t = at;
    loop {
        let id = new_run_id(t);
        if !data_dir.join(&id).exists() {
            return id;
        }
        t += chrono::Duration::microseconds(100);
    }
}

/// The `status` file: WebJobs' PascalCase keys, absent values omitted.
/// `ExitCode`, `Limit` and `FuelConsumed` are wasmjobs additions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusFile {
    /// `External - <who>` or `Schedule - <cron>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The run's status.
    pub status: RunStatus,
    /// When the run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// The job's exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The limit that ended the run (`timeout`, `memory`, `fuel`, `idle`, `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Fuel the guest consumed, when fuel metering was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_consumed: Option<u64>,
}

impl StatusFile {
    /// Reads a run's status file.
    pub fn read(run_dir: &Path) -> Option<StatusFile> {
        let text = std::fs::read(run_dir.join(STATUS_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Writes it atomically.
    pub fn write(&self, run_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).expect("status serializes");
        write_atomic(&run_dir.join(STATUS_FILE), &json)
    }
}

/// A run as found in the history.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run id (also the directory name).
    pub id: String,
    /// The run's directory.
    pub dir: PathBuf,
    /// Its status file, with `Aborted` already derived.
    pub status: StatusFile,
    /// Whether `output_log.txt` exists.
    pub has_output: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn run_ids_are_18_digits() {
        let t = Utc.with_ymd_and_hms(2019, 6, 7, 14, 0, 4).unwrap()
            + chrono::Duration::microseconds(181_107);
        assert_eq!(new_run_id(t), "201906071400041811");
        assert!(is_run_id(&new_run_id(t)));
        assert!(!is_run_id("job_data"));
    }

    #[test]
    fn status_file_is_pascal_case_and_omits_nulls() {
        let s = StatusFile {
            trigger: Some("External - curl/8.0".into()),
            status: RunStatus::Running,
            start_time: Some(Utc.with_ymd_and_hms(2019, 6, 7, 14, 0, 4).unwrap()),
            end_time: None,
            exit_code: None,
            limit: None,
            fuel_consumed: None,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"Trigger":"External - curl/8.0","Status":"Running","StartTime":"2019-06-07T14:00:04Z"}"#
        );
    }
}
