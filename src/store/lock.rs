//! `triggeredJob.lock`: one run at a time per triggered job. An exclusive
//! `flock` held for the run's lifetime; the kernel drops it when the holder
//! dies, which is how a run left `Running` by a killed host is recognised.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Name of the lock file in the job's data directory.
pub const LOCK_FILE: &str = "triggeredJob.lock";

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

fn open(data_dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(data_dir)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))
}

fn try_flock(f: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

impl JobLock {
    /// Takes the lock, or returns `None` when a run already holds it.
    pub fn try_acquire(data_dir: &Path, instance: &str) -> io::Result<Option<JobLock>> {
        let mut f = open(data_dir)?;
        if !try_flock(&f)? {
            return Ok(None);
        }
        f.set_len(0)?;
        let info = serde_json::json!({"operationName": "run", "instanceId": instance, "pid": std::process::id()});
        f.write_all(info.to_string().as_bytes())?;
        Ok(Some(JobLock { _file: f }))
    }

    /// Whether some process holds the lock right now.
    pub fn is_held(data_dir: &Path) -> bool {
        if !data_dir.join(LOCK_FILE).exists() {
            return false;
        }
        match open(data_dir) {
            Ok(f) => !try_flock(&f).unwrap_or(false),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_release() {
        let t = tempfile::tempdir().unwrap();
        assert!(!JobLock::is_held(t.path()));
        let l = JobLock::try_acquire(t.path(), "x").unwrap().unwrap();
        assert!(JobLock::is_held(t.path()));
        assert!(JobLock::try_acquire(t.path(), "x").unwrap().is_none());
        drop(l);
        assert!(!JobLock::is_held(t.path()));
        assert!(JobLock::try_acquire(t.path(), "x").unwrap().is_some());
    }
}
