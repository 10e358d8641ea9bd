//! One triggered run on disk: its id and its `status` file.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fsutil::write_atomic;
use super::layout::STATUS_FILE;

/// The most bytes of a status file read (one is ~200 bytes).
pub const STATUS_MAX_BYTES: u64 = 64 << 10;

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
    /// The limit that ended the run (`timeout`, `memory`, `fuel`, `idle`,
    /// `cpu`, `file_size`, `disk`; an output cap never ends a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Fuel the guest consumed, when fuel metering was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_consumed: Option<u64>,
}

impl StatusFile {
    /// Reads a run's status file.
    pub fn read(run_dir: &Path) -> Option<StatusFile> {
        StatusFile::read_checked(run_dir).ok()
    }

    /// Reads a run's status file, or says why it cannot be read (at most
    /// [`STATUS_MAX_BYTES`] are read).
    pub fn read_checked(run_dir: &Path) -> Result<StatusFile, String> {
        use std::io::Read;
        let mut text = Vec::new();
        std::fs::File::open(run_dir.join(STATUS_FILE))
            .and_then(|f| f.take(STATUS_MAX_BYTES).read_to_end(&mut text))
            .map_err(|e| format!("its {STATUS_FILE} file: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| format!("its {STATUS_FILE} file: {e}"))
    }

    /// Writes it atomically.
    pub fn write(&self, run_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).expect("status serializes");
        write_atomic(&run_dir.join(STATUS_FILE), &json)
    }
}

/// Name of the file in a job's data folder that keeps room for its
/// running run's final status.
pub const RESERVE_FILE: &str = ".status.reserve";

/// Room kept for a run's final status: a file of 4 KiB in the job's data
/// folder, made once and kept from run to run (one run of a job goes at a
/// time). If the disk fills while a run goes, its end is still recorded:
/// written into this file's allocated blocks, which is then renamed over
/// the run's `status` (a rename needs no new space), so a run is never left
/// reading `Running`; the next run makes the reserve again, or cannot start
/// while there is no room for it.
#[derive(Debug)]
pub struct StatusReserve {
    path: PathBuf,
}

/// Bytes kept (a status file is ~200 bytes).
const RESERVED: u64 = 4096;

impl StatusReserve {
    /// The reserve of the job whose data folder is `data_dir`, made if it
    /// is missing (or short).
    pub fn ensure(data_dir: &Path) -> std::io::Result<StatusReserve> {
        let path = data_dir.join(RESERVE_FILE);
        let kept =
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == RESERVED);
        if !kept {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            let tmp = data_dir.join(format!("{RESERVE_FILE}.{}", std::process::id()));
            let made = (|| {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)?;
                // SAFETY: fallocate on a descriptor we own; no memory is passed.
                if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, RESERVED as i64) } != 0 {
                    // A file system without fallocate: real bytes hold the room.
                    file.write_all(&[b' '; RESERVED as usize])?;
                }
                std::fs::rename(&tmp, &path)
            })();
            if made.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            made?;
        }
        Ok(StatusReserve { path })
    }

    /// Writes `status` through the reserve and puts it in place of the
    /// `status` file of the run in `run_dir` (the reserve is used up).
    pub fn write_final(self, run_dir: &Path, status: &StatusFile) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let json = serde_json::to_vec(status).expect("status serializes");
        if json.len() as u64 > RESERVED {
            return Err(std::io::Error::other(
                "the status is larger than its reserve",
            ));
        }
        let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        file.write_all_at(&json, 0)?;
        file.set_len(json.len() as u64)?;
        std::fs::rename(&self.path, run_dir.join(STATUS_FILE))
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
    fn the_reserve_takes_the_final_status() {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("201901010000000001");
        std::fs::create_dir(&run).unwrap();
        let reserve = StatusReserve::ensure(t.path()).unwrap();
        assert_eq!(
            std::fs::metadata(t.path().join(RESERVE_FILE))
                .unwrap()
                .len(),
            4096
        );
        // Kept from run to run.
        StatusReserve::ensure(t.path()).unwrap();
        let done = StatusFile {
            trigger: None,
            status: RunStatus::Failed,
            start_time: None,
            end_time: None,
            exit_code: Some(1),
            limit: None,
            fuel_consumed: None,
        };
        reserve.write_final(&run, &done).unwrap();
        assert_eq!(StatusFile::read(&run).unwrap().status, RunStatus::Failed);
        assert!(!t.path().join(RESERVE_FILE).exists(), "used up");
        StatusReserve::ensure(t.path()).unwrap();
        assert!(t.path().join(RESERVE_FILE).exists(), "made again");
    }

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
