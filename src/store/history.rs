//! A triggered job's run history: listing (newest first, with `Aborted`
//! derived on read as WebJobs does) and pruning to `WEBJOBS_HISTORY_SIZE`.

use std::path::Path;

use super::layout::OUTPUT_LOG;
use super::lock::JobLock;
use super::run::{RunInfo, RunStatus, StatusFile, is_run_id};

/// The folders of a job's data folder named like run ids, newest first
/// (a file of such a name is not a run).
fn run_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(data_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
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
/// process holds the job's lock. An entry whose status cannot be read is
/// skipped (and removed by the next [`prune`], which says so).
pub fn list(data_dir: &Path) -> Vec<RunInfo> {
    let held = JobLock::is_held(data_dir);
    let mut latest = true;
    run_ids(data_dir)
        .into_iter()
        .filter_map(|id| {
            let r = read_run(data_dir, id, latest, || held)?;
            latest = false;
            Some(r)
        })
        .collect()
}

/// The newest run, as `list(data_dir).first()`, reading only its status.
pub fn latest(data_dir: &Path) -> Option<RunInfo> {
    run_ids(data_dir)
        .into_iter()
        .find_map(|id| read_run(data_dir, id, true, || JobLock::is_held(data_dir)))
}

/// One run by id (reads its own status file, and those of any newer
/// entries, to tell whether it is the latest).
pub fn get(data_dir: &Path, run_id: &str) -> Option<RunInfo> {
    if !is_run_id(run_id) {
        return None;
    }
    let ids = run_ids(data_dir);
    let at = ids.iter().position(|id| id == run_id)?;
    let latest = ids[..at]
        .iter()
        .all(|newer| StatusFile::read(&data_dir.join(newer)).is_none());
    read_run(data_dir, run_id.to_string(), latest, || {
        JobLock::is_held(data_dir)
    })
}

/// A run's record, with a run left `Running` by a dead host (or older
/// than the latest run) read as `Aborted`; `None` when its status file
/// cannot be read.
fn read_run(
    data_dir: &Path,
    id: String,
    latest: bool,
    held: impl FnOnce() -> bool,
) -> Option<RunInfo> {
    let dir = data_dir.join(&id);
    let mut status = StatusFile::read(&dir)?;
    if !status.status.is_final() && (!latest || !held()) {
        // A run writes its final status before it lets go of the lock: one
        // that ended between the read and the lock check has it by now.
        match StatusFile::read(&dir) {
            Some(now) if now.status.is_final() => status = now,
            _ => status.status = RunStatus::Aborted,
        }
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
/// `keep` remain, and the unreadable entries newer than the newest run
/// (a run folder a crash or a full disk left without a status, garbage):
/// only those could be mistaken for the latest run. Older unreadable
/// entries are skipped by listings and age out like any run (and are named
/// when they go). Reads the newest run's status file and those of the runs
/// it removes. Call with the job's lock held. Never
/// fails: returns a sentence for each entry it removed as unreadable or
/// could not remove, for the new run's log.
pub fn prune(data_dir: &Path, keep: usize) -> Vec<String> {
    let mut notes = Vec::new();
    let mut kept = 0usize;
    let mut newest_found = false;
    for id in run_ids(data_dir) {
        let dir = data_dir.join(&id);
        let mut why = None;
        if !newest_found {
            match StatusFile::read_checked(&dir) {
                Ok(_) => newest_found = true,
                Err(e) => why = Some(e),
            }
        }
        if why.is_none() {
            kept += 1;
            if kept < keep.max(1) {
                continue;
            }
            // Going with the oldest runs: said so if it was unreadable.
            if newest_found {
                why = StatusFile::read_checked(&dir).err();
            }
        }
        match (std::fs::remove_dir_all(&dir), why) {
            (Ok(()), Some(why)) => notes.push(format!(
                "History entry '{id}' could not be read ({why}); it was removed"
            )),
            (Ok(()), None) => {}
            (Err(e), _) => notes.push(format!("History entry '{id}' could not be removed: {e}")),
        }
    }
    notes
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
        assert!(prune(t.path(), 3).is_empty());
        let ids: Vec<_> = list(t.path()).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["201901010000000004", "201901010000000003"]);
        assert!(t.path().join("job_data").exists());
    }

    #[test]
    fn corrupt_entries_are_skipped_and_pruned_not_fatal() {
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), "201901010000000001", RunStatus::Success);
        // A file named like a run, a folder with garbage for a status, and
        // a newer folder without one.
        std::fs::write(t.path().join("201901010000000002"), "stray").unwrap();
        std::fs::create_dir(t.path().join("201901010000000003")).unwrap();
        std::fs::write(t.path().join("201901010000000003/status"), "\u{1}garbage").unwrap();
        std::fs::create_dir(t.path().join("999999999999999999")).unwrap();
        mk(t.path(), "201901010000000004", RunStatus::Running);
        let _lock = JobLock::try_acquire(t.path(), "x").unwrap().unwrap();
        let ids: Vec<_> = list(t.path()).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["201901010000000004", "201901010000000001"]);
        // The running run is the latest despite the newer garbage.
        let run = get(t.path(), "201901010000000004").unwrap();
        assert_eq!(run.status.status, RunStatus::Running);
        assert_eq!(latest(t.path()).unwrap().id, "201901010000000004");
        let notes = prune(t.path(), 50);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("999999999999999999"), "{notes:?}");
        // An older unreadable entry stays, skipped, until it ages out.
        assert!(t.path().join("201901010000000003").exists());
        assert!(
            t.path().join("201901010000000002").exists(),
            "not a run: left alone"
        );
        assert_eq!(list(t.path()).len(), 2);
        let notes = prune(t.path(), 2);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("201901010000000003"), "{notes:?}");
        assert!(!t.path().join("201901010000000003").exists());
    }
}
