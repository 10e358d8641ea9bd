//! Guests installed for every user of a machine by `wasmjobs
//! install-guests`: the Python guest and the guests' prepared modules
//! (snapshots and compiled modules) under `<prefix>/lib/wasmjobs/`: where
//! hosts look for them and when a directory of them may be trusted (the
//! install itself is [`super::install`]).
//!
//! ```text
//! <prefix>/lib/wasmjobs/guests/python/python.wasm, lib/python3.13/, build-id
//! <prefix>/lib/wasmjobs/modules/<guest>-<hash>.snapshot.wasm
//! <prefix>/lib/wasmjobs/modules/<guest>-<hash>-<engine>.cwasm
//! ```
//!
//! The modules are named as in a user's own module cache (the same guest
//! hash and engine hash), so a host uses an installed one exactly when it
//! would have made the same one itself; a mismatched install is not used.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use wasmtime::{Engine, Module};

use super::guest::{BUILD_ID_FILE, Place};
use super::{Guest, cache, snapshot};

/// Where an install keeps its files, under its prefix.
pub const LIB_DIR: &str = "lib/wasmjobs";

/// `install-guests`' default prefix.
pub const DEFAULT_PREFIX: &str = "/usr/local";

/// The prefixes installs are looked for under, in order, each once: the
/// binary's own (`<exe>/..`, so `<dir>/bin/wasmjobs` finds
/// `<dir>/lib/wasmjobs`), then `/usr/local` and `/usr`.
pub fn prefixes() -> Vec<Place> {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok());
    let beside = exe
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    prefixes_from(beside)
}

fn prefixes_from(beside: Option<PathBuf>) -> Vec<Place> {
    let mut out: Vec<Place> = Vec::new();
    if let Some(dir) = beside {
        out.push(Place {
            dir,
            why: "installed beside this binary".into(),
        });
    }
    for p in ["/usr/local", "/usr"] {
        if !out.iter().any(|o| o.dir == Path::new(p)) {
            out.push(Place {
                dir: p.into(),
                why: "installed for every user".into(),
            });
        }
    }
    out
}

/// The installed Python guest's directory under `prefix`.
pub fn python_dir(prefix: &Path) -> PathBuf {
    prefix.join(LIB_DIR).join("guests/python")
}

/// The installed prepared modules' directory under `prefix`.
pub fn modules_dir(prefix: &Path) -> PathBuf {
    prefix.join(LIB_DIR).join("modules")
}

/// The installed module directories a host looks in, in order: the one
/// beside the Python guest in use when that guest is an install (it has a
/// build id), then those of [`prefixes`].
fn module_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(Some(f)) = Guest::Python.files()
        && f.dir.join(BUILD_ID_FILE).is_file()
        && let Some(lib) = f.dir.parent().and_then(Path::parent)
    {
        dirs.push(lib.join("modules"));
    }
    for p in prefixes() {
        let d = modules_dir(&p.dir);
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

pub(super) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether one directory (or, with `leaf`, the directory holding the code
/// itself) may be trusted by user `me`: it belongs to root or to `me`, and
/// nobody else may write to it. A directory above may be world-writable if
/// it is sticky (as `/tmp` is): others cannot rename or remove what they
/// do not own in it.
fn judge(path: &Path, uid: u32, mode: u32, me: u32, leaf: bool) -> Result<(), String> {
    if uid != 0 && uid != me {
        return Err(format!(
            "{} belongs to uid {uid}, neither root nor this user",
            path.display()
        ));
    }
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if others_write && (leaf || !sticky) {
        return Err(format!(
            "{} may be written by others (mode {:o})",
            path.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Whether code in `dir` may be loaded by this process: `dir` and every
/// directory above it (resolved) pass [`judge`]. Returns the resolved
/// directory, or why not.
pub fn trusted_dir(dir: &Path) -> Result<PathBuf, String> {
    let me = euid();
    let resolved = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut leaf = true;
    for p in resolved.ancestors() {
        let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory", p.display()));
        }
        judge(p, m.uid(), m.mode(), me, leaf)?;
        leaf = false;
    }
    Ok(resolved)
}

/// Opens `path` (in a directory [`trusted_dir`] accepted) without following
/// a symlink, if it is a regular file that belongs to root or to this user
/// and nobody else may write. `Ok(None)` when there is nothing there.
fn open_trusted(path: &Path) -> Result<Option<File>, String> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let m = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !m.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    judge(path, m.uid(), m.mode(), euid(), true)?;
    Ok(Some(file))
}

/// Says `what` once per process for `key` (an installed file or directory
/// that is not used).
fn warn_once(key: &Path, what: String) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let mut warned = WARNED.lock().expect("warned lock");
    if warned.get_or_insert_default().insert(key.to_path_buf()) {
        tracing::warn!("{what}");
    }
}

/// The first installed file that `name` (given an installed module
/// directory) names, opened, from a trusted directory; an untrusted one is
/// passed over with a warning.
fn find(name: impl Fn(&Path) -> PathBuf) -> Option<(PathBuf, File)> {
    for dir in module_dirs() {
        let path = name(&dir);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let resolved = match trusted_dir(&dir) {
            Ok(r) => r,
            Err(why) => {
                warn_once(
                    &dir,
                    format!(
                        "not using the guests' modules installed in {}: {why}",
                        dir.display()
                    ),
                );
                continue;
            }
        };
        // Through the resolved directory, whose every step was judged.
        let path = resolved.join(path.file_name().unwrap_or_default());
        match open_trusted(&path) {
            Ok(Some(f)) => return Some((path, f)),
            Ok(None) => {}
            Err(why) => warn_once(&path, format!("not using an installed module: {why}")),
        }
    }
    None
}

/// The installed snapshot of `guest` whose hash is `guest_hash`, if a
/// trusted install has it.
pub(super) fn snapshot(guest: Guest, guest_hash: &str) -> Option<Vec<u8>> {
    let (path, mut file) = find(|d| snapshot::snapshot_path(d, guest, guest_hash))?;
    let mut bytes = Vec::new();
    match file.read_to_end(&mut bytes) {
        Ok(_) => Some(bytes),
        Err(e) => {
            warn_once(&path, format!("not using {}: {e}", path.display()));
            None
        }
    }
}

/// Whether a trusted install has the snapshot of `guest` (see [`snapshot`]).
pub(super) fn has_snapshot(guest: Guest, guest_hash: &str) -> bool {
    find(|d| snapshot::snapshot_path(d, guest, guest_hash)).is_some()
}

/// The installed compiled module of `guest` for `engine`, if a trusted
/// install has one that loads.
pub(super) fn compiled(engine: &Engine, guest: Guest, guest_hash: &str) -> Option<Module> {
    let (path, file) = find(|d| cache::cache_path(d, engine, guest, guest_hash))?;
    // SAFETY: deserializing runs the file's native code, so the file must
    // be one `install-guests` wrote with `Module::serialize` and nobody
    // else could have changed since: `find` opened it (without following a
    // symlink) only from a directory that, like every directory above it,
    // belongs to root or to this process's user and that nobody else may
    // write (`trusted_dir`), and only if the file itself belongs to root or
    // to this user and nobody else may write it (`open_trusted`). A file
    // anybody else could have planted or replaced is never deserialized.
    // wasmtime also checks the header and refuses files from other
    // versions or settings.
    match unsafe { Module::deserialize_open_file(engine, file) } {
        Ok(m) => Some(m),
        Err(e) => {
            warn_once(&path, format!("not using {}: {e:#}", path.display()));
            None
        }
    }
}

/// Lines for `doctor`, after the WebAssembly report: which installed
/// module directories exist and whether they are used, and the module
/// cache.
pub fn report(cache_dir: &Path) -> String {
    use std::fmt::Write as _;
    let mut r = String::new();
    let mut line = |name: &str, v: String| {
        let _ = writeln!(r, "  {name:<22}: {v}");
    };
    let mut any = false;
    for dir in module_dirs() {
        if !dir.is_dir() {
            continue;
        }
        any = true;
        let trust = match trusted_dir(&dir) {
            Ok(_) => "used".to_string(),
            Err(why) => format!("NOT USED: {why}"),
        };
        line("installed modules", format!("{} ({trust})", dir.display()));
    }
    if !any {
        line(
            "installed modules",
            "none (wasmjobs install-guests installs them)".into(),
        );
    }
    line("module cache", cache_dir.display().to_string());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_binarys_prefix_comes_first_and_each_once() {
        let dirs = |b: Option<&str>| -> Vec<PathBuf> {
            prefixes_from(b.map(PathBuf::from))
                .into_iter()
                .map(|p| p.dir)
                .collect()
        };
        assert_eq!(
            dirs(Some("/opt/wj")),
            [
                Path::new("/opt/wj"),
                Path::new("/usr/local"),
                Path::new("/usr")
            ]
        );
        assert_eq!(
            dirs(Some("/usr/local")),
            [Path::new("/usr/local"), Path::new("/usr")]
        );
        assert_eq!(dirs(None), [Path::new("/usr/local"), Path::new("/usr")]);
        assert_eq!(
            python_dir(Path::new("/usr/local")),
            Path::new("/usr/local/lib/wasmjobs/guests/python")
        );
        assert_eq!(
            modules_dir(Path::new("/usr")),
            Path::new("/usr/lib/wasmjobs/modules")
        );
    }

    #[test]
    fn only_root_or_this_user_and_nobody_else_writing_is_trusted() {
        let p = Path::new("/x");
        assert!(judge(p, 0, 0o40755, 1000, true).is_ok());
        assert!(judge(p, 1000, 0o40700, 1000, true).is_ok());
        let e = judge(p, 1001, 0o40755, 1000, true).unwrap_err();
        assert!(e.contains("uid 1001"), "{e}");
        let e = judge(p, 0, 0o40775, 1000, true).unwrap_err();
        assert!(e.contains("mode 775"), "{e}");
        assert!(judge(p, 0, 0o40757, 1000, true).is_err());
        // A sticky world-writable directory (/tmp) may be above, not hold the code.
        assert!(judge(p, 0, 0o41777, 1000, false).is_ok());
        assert!(judge(p, 0, 0o41777, 1000, true).is_err());
        assert!(judge(p, 0, 0o40777, 1000, false).is_err());
    }

    #[test]
    fn a_directory_others_may_write_or_another_users_is_not_trusted() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("modules");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(trusted_dir(&d).unwrap(), d.canonicalize().unwrap());
        std::fs::write(d.join("m"), b"x").unwrap();
        std::fs::set_permissions(d.join("m"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_trusted(&d.join("m")).unwrap().is_some());
        assert!(open_trusted(&d.join("none")).unwrap().is_none());
        // Through a symlink: never followed as the file itself.
        std::os::unix::fs::symlink(d.join("m"), d.join("link")).unwrap();
        assert!(open_trusted(&d.join("link")).is_err());
        std::fs::set_permissions(d.join("m"), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(open_trusted(&d.join("m")).is_err());
        // A directory above that others may write.
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = trusted_dir(&d).unwrap_err();
        assert!(e.contains(&t.path().display().to_string()), "{e}");
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(trusted_dir(&d).is_err());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another user's (only root can give a directory away).
        if euid() == 0 {
            std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
            let e = trusted_dir(&d).unwrap_err();
            assert!(e.contains("uid 65534"), "{e}");
        } else {
            let why = "SKIPPED: giving a directory to another user needs root";
            assert!(
                std::env::var("WASMJOBS_TEST_STRICT").as_deref() != Ok("1"),
                "{why} (required under WASMJOBS_TEST_STRICT=1)"
            );
            eprintln!("{why}");
        }
    }
}
