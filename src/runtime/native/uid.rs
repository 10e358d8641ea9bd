//! Per-run user ids for a root host: every native run leases a uid of the
//! configured range that no other run on this machine holds, so runs can
//! neither signal nor trace each other and each has its own process budget.
//! Leases are `flock`s on files in `/run/wasmjobs/uids`, shared by every
//! wasmjobs process on the machine and released when the holder dies.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the leases live.
const LEASE_DIR: &str = "/run/wasmjobs/uids";

/// A uid (used as the gid too) held for one run.
#[derive(Debug)]
pub struct UidLease {
    /// The uid.
    pub uid: u32,
    _lock: File,
}

/// Leases a free uid from `first..=last`, starting the search at a point
/// derived from `seed` so concurrent hosts rarely contend.
pub fn lease(first: u32, last: u32, seed: u64) -> io::Result<UidLease> {
    let dir = Path::new(LEASE_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let span = u64::from(last - first) + 1;
    let start = seed % span;
    for i in 0..span.min(65_536) {
        let uid = first + ((start + i) % span) as u32;
        let path: PathBuf = dir.join(uid.to_string());
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(UidLease { uid, _lock: f });
        }
    }
    Err(io::Error::other(format!(
        "every sandbox uid in {first}-{last} is in use"
    )))
}

/// Gives a run's folder tree to its uid, without following symlinks and
/// without touching what a job may have planted: only entries owned by
/// root (made by the host) or by a uid of the sandbox range are changed,
/// and a root-owned file with other hard links is left alone.
pub fn give_tree(dir: &Path, uid: u32, range: (u32, u32)) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    give(dir, &meta, uid, range)?;
    if !meta.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let m = std::fs::symlink_metadata(&path)?;
        if m.is_dir() {
            give_tree(&path, uid, range)?;
        } else {
            give(&path, &m, uid, range)?;
        }
    }
    Ok(())
}

fn give(path: &Path, m: &std::fs::Metadata, uid: u32, range: (u32, u32)) -> io::Result<()> {
    let owner = m.uid();
    let ours = (range.0..=range.1).contains(&owner);
    let host_made = owner == 0 && (m.is_dir() || m.nlink() == 1);
    if (ours || host_made) && (owner != uid || m.gid() != uid) {
        std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    }
    Ok(())
}
