//! `triggeredJob.lock`: one run at a time per triggered job. An exclusive
//! open-file-description lock (`F_OFD_SETLK`) held for the run's lifetime;
//! the kernel drops it when the holder dies, which is how a run left
//! `Running` by a killed host is recognised. Checking whether the lock is
//! held (`F_OFD_GETLK`) never takes it, so readers of the history cannot
//! make a run start fail.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Name of the lock file in the job's data directory.
pub const LOCK_FILE: &str = "triggeredJob.lock";

/// The lock an `is_singleton` continuous job holds while it runs.
pub const SINGLETON_LOCK_FILE: &str = "singleton.job.lock";

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

fn open(data_dir: &Path, name: &str) -> io::Result<File> {
    std::fs::create_dir_all(data_dir)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(name))
}

fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: flock is a plain C struct; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

impl JobLock {
    /// Takes the lock, or returns `None` when a run already holds it.
    pub fn try_acquire(data_dir: &Path, instance: &str) -> io::Result<Option<JobLock>> {
        JobLock::try_acquire_file(data_dir, LOCK_FILE, instance)
    }

    /// Takes the lock in file `name` of `data_dir`, or `None` when it is held.
    pub fn try_acquire_file(
        data_dir: &Path,
        name: &str,
        instance: &str,
    ) -> io::Result<Option<JobLock>> {
        let mut f = open(data_dir, name)?;
        let fl = whole_file(libc::F_WRLCK);
        // SAFETY: fcntl on a descriptor we own with a valid flock struct.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
                _ => Err(e),
            };
        }
        f.set_len(0)?;
        let info = serde_json::json!({"operationName": "run", "instanceId": instance, "pid": std::process::id()});
        f.write_all(info.to_string().as_bytes())?;
        Ok(Some(JobLock { _file: f }))
    }

    /// Whether some process holds the lock right now.
    pub fn is_held(data_dir: &Path) -> bool {
        file_is_locked(&data_dir.join(LOCK_FILE))
    }

    /// Takes an exclusive lock on an open file (a status file its writer
    /// holds while it is alive); `false` when another holder has it.
    pub fn lock_open_file(f: &File) -> io::Result<bool> {
        let fl = whole_file(libc::F_WRLCK);
        // SAFETY: fcntl on a descriptor we own with a valid flock struct.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
                _ => Err(e),
            };
        }
        Ok(true)
    }
}

/// Whether some process holds a lock on the file at `path`.
pub fn file_is_locked(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut fl = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own with a valid flock struct.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } != 0 {
        return false;
    }
    fl.l_type != libc::F_UNLCK as libc::c_short
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
        let _l = JobLock::try_acquire(t.path(), "x").unwrap().unwrap();
        // Checking never takes the lock, even while it is free.
        drop(_l);
        assert!(!JobLock::is_held(t.path()));
        assert!(JobLock::try_acquire(t.path(), "x").unwrap().is_some());
    }
}
