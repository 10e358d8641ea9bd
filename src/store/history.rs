//! A triggered job's run history: listing (newest first, with `Aborted`
//! derived on read as WebJobs does) and pruning to `WEBJOBS_HISTORY_SIZE`.

use std::path::Path;

use super::lock::JobLock;
use super::run::{OUTPUT_LOG, RunInfo, RunStatus, StatusFile, is_run_id};

fn run_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(data_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_run_id(n))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// Runs of a job, newest first. A run whose file says `Initializing` or
/// `Running` reads as `Aborted` when it is not the latest run, or when no
/// process holds the job's lock.
pub fn list(data_dir: &Path) -> Vec<RunInfo> {
    let held = JobLock::is_held(data_dir);
    run_ids(data_dir)
        .into_iter()
        .enumerate()
        .filter_map(|(i, id)| read_run(data_dir, id, i == 0, || held))
        .collect()
}

/// The newest run, as `list(data_dir).first()`, reading only its status.
pub fn latest(data_dir: &Path) -> Option<RunInfo> {
    run_ids(data_dir)
        .into_iter()
        .enumerate()
        .find_map(|(i, id)| read_run(data_dir, id, i == 0, || JobLock::is_held(data_dir)))
}

/// One run by id (reads only its own status file).
pub fn get(data_dir: &Path, run_id: &str) -> Option<RunInfo> {
    if !is_run_id(run_id) {
        return None;
    }
    let ids = run_ids(data_dir);
    let latest = ids.iter().position(|id| id == run_id)? == 0;
    read_run(data_dir, run_id.to_string(), latest, || {
        JobLock::is_held(data_dir)
    })
}

/// A run's record, with a run left `Running` by a dead host (or older
/// than the latest run) read as `Aborted`.
fn read_run(
    data_dir: &Path,
    id: String,
    latest: bool,
    held: impl FnOnce() -> bool,
) -> Option<RunInfo> {
    let dir = data_dir.join(&id);
    let mut status = StatusFile::read(&dir)?;
    if !status.status.is_final() && (!latest || !held()) {
        status.status = RunStatus::Aborted;
    }
    let has_output = dir.join(OUTPUT_LOG).exists();
    Some(RunInfo {
        id,
        dir,
        status,
        has_output,
    })
}

/// Deletes the oldest runs so that, with the run about to start, at most
/// `keep` remain.
pub fn prune(data_dir: &Path, keep: usize) -> std::io::Result<()> {
    for id in run_ids(data_dir).into_iter().skip(keep.saturating_sub(1)) {
        std::fs::remove_dir_all(data_dir.join(id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(dir: &Path, id: &str, status: RunStatus) {
        let d = dir.join(id);
        std::fs::create_dir_all(&d).unwrap();
        StatusFile {
            trigger: None,
            status,
            start_time: None,
            end_time: None,
            exit_code: None,
            limit: None,
            fuel_consumed: None,
        }
        .write(&d)
        .unwrap();
    }

    #[test]
    fn aborted_is_derived() {
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), "201901010000000001", RunStatus::Running);
        mk(t.path(), "201901010000000002", RunStatus::Running);
        let runs = list(t.path());
        assert_eq!(runs[0].id, "201901010000000002");
        assert!(runs.iter().all(|r| r.status.status == RunStatus::Aborted));
        let _lock = JobLock::try_acquire(t.path(), "x").unwrap().unwrap();
        let runs = list(t.path());
        assert_eq!(
            runs[0].status.status,
            RunStatus::Running,
            "latest run with the lock held"
        );
        assert_eq!(runs[1].status.status, RunStatus::Aborted, "older run");
        // latest() and get() read one status file and agree with list().
        let latest = latest(t.path()).unwrap();
        assert_eq!(
            (latest.id.as_str(), latest.status.status),
            ("201901010000000002", RunStatus::Running)
        );
        assert_eq!(
            get(t.path(), "201901010000000001").unwrap().status.status,
            RunStatus::Aborted
        );
    }

    #[test]
    fn prune_keeps_room_for_the_new_run() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..5 {
            mk(
                t.path(),
                &format!("2019010100000000{i:02}"),
                RunStatus::Success,
            );
        }
        std::fs::create_dir(t.path().join("job_data")).unwrap();
        prune(t.path(), 3).unwrap();
        let ids: Vec<_> = list(t.path()).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["201901010000000004", "201901010000000003"]);
        assert!(t.path().join("job_data").exists());
    }
}
