//! A continuous job's status as each host running it records it:
//! `status_<instance>` in the job's data folder, `{"Status": ...}`, held
//! locked by the host while it runs the job (WebJobs' per-instance status
//! files).

use std::path::{Path, PathBuf};

use super::layout::INSTANCE_STATUS_PREFIX;

/// The status file of host `instance` for the continuous job whose data
/// folder is `data_dir`.
pub fn status_file(data_dir: &Path, instance: &str) -> PathBuf {
    data_dir.join(format!("{INSTANCE_STATUS_PREFIX}{instance}"))
}

/// A continuous job's status records, `(instance, status)` per status
/// file, in instance order; the status of a host that is gone (its file
/// no longer locked) reads `Stopped`.
pub fn statuses(data_dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(data_dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let instance = name.strip_prefix(INSTANCE_STATUS_PREFIX)?.to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            let status = serde_json::from_str::<serde_json::Value>(&text)
                .ok()?
                .get("Status")?
                .as_str()?
                .to_string();
            let alive = super::lock::file_is_locked(&e.path());
            Some((instance, if alive { status } else { "Stopped".to_string() }))
        })
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_no_host_holds_reads_stopped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(status_file(d.path(), "b1"), r#"{"Status":"Running"}"#).unwrap();
        std::fs::write(d.path().join("job_log.txt"), "not a status").unwrap();
        assert_eq!(
            statuses(d.path()),
            [("b1".to_string(), "Stopped".to_string())]
        );
    }
}
