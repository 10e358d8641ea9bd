//! Removing trees without waiting for them: a folder to remove is renamed
//! into the data root's trash (`<root>/temp/trash`, one atomic rename, so
//! it is gone from where it was at once), and one background thread per
//! process deletes what the trash holds. A job that left a million files
//! in its data folder is removed in a moment; the deletion itself takes
//! the time it takes, on that one thread, never on a request's. What a
//! stopped host left in a trash is deleted when the next one starts
//! ([`empty_later`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex};

use super::fsutil;

/// The trash of a data root.
pub fn dir(root: &Path) -> PathBuf {
    root.join("temp").join("trash")
}

/// Moves `path` (a folder or a file) into the trash of the data root
/// `root` and has it deleted in the background. `Ok(false)` when there
/// was nothing at `path`. Where the rename cannot be made (another file
/// system), it is deleted here and now.
pub fn discard(root: &Path, path: &Path) -> std::io::Result<bool> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    let trash = dir(root);
    fsutil::create_private_dir(&trash)?;
    let slot = fsutil::fresh_dir(&trash, "discarded")?;
    let target = slot.join("tree");
    match std::fs::rename(path, &target) {
        Ok(()) => {
            remove_later(slot);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = std::fs::remove_dir(&slot);
            Ok(false)
        }
        Err(_) => {
            let _ = std::fs::remove_dir(&slot);
            remove_now(path)?;
            Ok(true)
        }
    }
}

/// Deletes whatever the trash of `root` holds, in the background.
pub fn empty_later(root: &Path) {
    let Ok(rd) = std::fs::read_dir(dir(root)) else {
        return;
    };
    for e in rd.flatten() {
        remove_later(e.path());
    }
}

fn remove_now(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Trees handed to the deleting thread and not deleted yet.
static PENDING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Waits until everything handed to the deleting thread is deleted (a
/// command about to exit calls this; a serving host never does).
pub fn wait_until_empty() {
    let (n, done) = &PENDING;
    let mut n = n.lock().unwrap_or_else(|e| e.into_inner());
    while *n > 0 {
        n = done.wait(n).unwrap_or_else(|e| e.into_inner());
    }
}

/// Hands `path` to the deleting thread (started on first use).
fn remove_later(path: PathBuf) {
    static QUEUE: Mutex<Option<Sender<PathBuf>>> = Mutex::new(None);
    let mut q = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    if q.is_none() {
        let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
        let started = std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || {
                for p in rx {
                    if let Err(e) = remove_now(&p) {
                        tracing::warn!("deleting {}: {e}", p.display());
                    }
                    let (n, done) = &PENDING;
                    *n.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                    done.notify_all();
                }
            });
        if started.is_ok() {
            *q = Some(tx);
        }
    }
    *PENDING.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let sent = q.as_ref().map(|tx| tx.send(path.clone()));
    if !matches!(sent, Some(Ok(()))) {
        // No thread: delete here.
        *PENDING.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        let _ = remove_now(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_tree_is_gone_at_once_and_deleted_later() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let job = root.join("jobs/triggered/big");
        std::fs::create_dir_all(job.join("a/b")).unwrap();
        for i in 0..100 {
            std::fs::write(job.join(format!("a/b/{i}")), "x").unwrap();
        }
        assert!(discard(root, &job).unwrap());
        assert!(!job.exists());
        assert!(!discard(root, &job).unwrap(), "nothing left to discard");
        wait_until_empty();
        assert!(std::fs::read_dir(dir(root)).unwrap().next().is_none());
    }
}
