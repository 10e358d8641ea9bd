//! Small file-system helpers: atomic writes, atomic directory exchange and
//! tree copies.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Writes `bytes` to `path` atomically (a temporary file put in its place
/// by `replace`): readers see the old content or the new, never a partial
/// file (a crash between the swap and the removal leaves the old content
/// in a `.tmp.*` file beside it). No fsync:
/// after a power loss a run record may be stale or empty, which reads as
/// `Aborted`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    // create_new: never follows or reuses something already at that name.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| replace(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Puts `tmp` at `path`. Over an existing regular file the two are swapped
/// (`RENAME_EXCHANGE`) and the old one removed: a plain rename over an
/// existing file makes ext4 write the new file out first (its
/// `auto_da_alloc` safeguard), five times slower here, and a run replaces
/// its status file twice.
fn replace(tmp: &Path, path: &Path) -> io::Result<()> {
    let over_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if over_file && exchange(tmp, path).is_ok() {
        let _ = std::fs::remove_file(tmp);
        return Ok(());
    }
    std::fs::rename(tmp, path)
}

/// Opens `path` for reading without blocking (a FIFO or a device opens at
/// once instead of waiting for a peer) or following a symlink as the file
/// itself, and only if it is a regular file: `Ok(None)` when there is
/// nothing there, an `InvalidInput` error when it is not a regular file.
/// Returns the file and its length. For files a job may have planted.
pub fn open_regular(path: &Path) -> io::Result<Option<(std::fs::File, u64)>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(Some((file, meta.len())))
}

/// An exclusive `flock` on a file, held until dropped.
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Waits for and takes the lock on `path` (created if missing).
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileLock { _file: file })
    }

    /// Takes the lock on `path` (created if missing) if nobody holds it;
    /// `Ok(None)` when somebody does.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(FileLock { _file: file }))
    }
}

/// Makes sure `path` is a directory only its owner, this user, can use:
/// creates it 0700, tightens the mode of an existing one, and refuses one
/// owned by someone else (its files would be trusted as native code).
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    create_private_dir(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory owned by this user", path.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates a new, private (0700) directory `<parent>/<prefix>.<pid>.<n>` that
/// did not exist before (never reuses or follows an existing path).
pub fn fresh_dir(parent: &Path, prefix: &str) -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = parent.join(format!("{prefix}.{}.{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => return other.map(|()| p),
        }
    }
}

/// Removes the directories [`fresh_dir`] made in `parent` with `prefix`
/// for processes that are gone (left behind by a process that died).
pub fn sweep_fresh_dirs(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.split('.').next())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes the directories it holds (recursively) when dropped.
pub struct RemoveOnDrop(pub Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Creates a directory (and its parents) readable by its owner only.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Swaps two paths in one step with `renameat2(RENAME_EXCHANGE)`.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; the call takes no other memory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Copies a tree of regular files and directories (symlinks are skipped:
/// bundles never contain them). Returns what the copy holds, counted as
/// [`super::disk::measure`] would count it (a run's scratch starts there).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<super::disk::Usage> {
    std::fs::create_dir_all(dst)?;
    let mut copied = super::disk::Usage::default();
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let to = dst.join(entry.file_name());
        if ft.is_dir() {
            let inner = copy_tree(&entry.path(), &to)?;
            copied.bytes = copied.bytes.saturating_add(inner.bytes);
            copied.files = copied.files.saturating_add(inner.files + 1);
        } else if ft.is_file() {
            let n = std::fs::copy(entry.path(), &to)?;
            copied.bytes = copied.bytes.saturating_add(n);
            copied.files += 1;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fresh_dirs_of_dead_processes_are_swept() {
        let t = tempfile::tempdir().unwrap();
        let mine = fresh_dir(t.path(), "scratch").unwrap();
        let dead = t.path().join("scratch.999999999.0");
        let other = t.path().join("scratchy.999999999.0");
        std::fs::create_dir_all(dead.join("inside")).unwrap();
        std::fs::create_dir(&other).unwrap();
        sweep_fresh_dirs(t.path(), "scratch");
        assert!(mine.is_dir() && other.is_dir() && !dead.exists());
    }

    #[test]
    fn a_copy_counts_what_a_measure_of_it_counts() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("one"), b"12345").unwrap();
        std::fs::write(src.join("a/b/two"), b"123").unwrap();
        let dst = t.path().join("dst");
        let copied = copy_tree(&src, &dst).unwrap();
        assert_eq!(copied, super::super::disk::measure(&dst, u64::MAX));
        assert_eq!((copied.bytes, copied.files), (8, 4));
    }

    #[test]
    fn atomic_writes_replace_files_and_leave_nothing_behind() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("status");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // A symlink at the name is replaced, its target untouched.
        let target = t.path().join("target");
        std::fs::write(&target, "kept").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"three").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        let mut names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["link", "status", "target"]);
    }

    #[test]
    fn only_regular_files_open_and_a_fifo_does_not_block() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path; mkfifo takes nothing else.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(open_regular(&t.path().join("none")).unwrap().is_none());
        std::fs::write(t.path().join("f"), "abc").unwrap();
        std::os::unix::fs::symlink("f", t.path().join("link")).unwrap();
        assert_eq!(open_regular(&t.path().join("f")).unwrap().unwrap().1, 3);
        assert!(
            open_regular(&t.path().join("link")).is_err(),
            "a symlink was followed"
        );
    }

    #[test]
    fn a_held_lock_is_reported_busy_not_waited_for() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("x.lock");
        let held = FileLock::try_exclusive(&path).unwrap().expect("free");
        assert!(FileLock::try_exclusive(&path).unwrap().is_none(), "busy");
        drop(held);
        assert!(
            FileLock::try_exclusive(&path).unwrap().is_some(),
            "free again"
        );
    }

    #[test]
    fn exchange_swaps_directories() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "A").unwrap();
        std::fs::write(b.join("x"), "B").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("x")).unwrap(), "B");
        assert_eq!(std::fs::read_to_string(b.join("x")).unwrap(), "A");
    }
}
