//! `wasmjobs install-guests`: copies the Python guest and prepares both
//! guests' modules into `<prefix>/lib/wasmjobs/` (see [`super::installed`]
//! for the layout and how hosts find and trust it), each directory written
//! beside its place and swapped in whole, world-readable.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::Module;

use super::guest::{BUILD_ID_FILE, GuestFiles, PYTHON_GUEST_VAR, Place};
use super::installed::{LIB_DIR, euid, modules_dir, python_dir};
use super::{CodeGen, Guest, WasmRuntime, cache, snapshot};
use crate::store::fsutil::{RemoveOnDrop, exchange, fresh_dir, sweep_fresh_dirs};

/// What [`install`] put where.
#[derive(Debug)]
pub struct Installed {
    /// The installed Python guest's directory.
    pub python: PathBuf,
    /// The guest it was copied from.
    pub source: PathBuf,
    /// Its build id (see [`BUILD_ID_FILE`]).
    pub build_id: String,
    /// The installed prepared modules' directory.
    pub modules: PathBuf,
    /// Each prepared module: file name, size in bytes, what it is.
    pub files: Vec<(String, u64, String)>,
    /// A directory on the way to the install that other users cannot
    /// enter or read, if there is one (the install works only for its
    /// owner then).
    pub unreachable: Option<String>,
}

/// The places `install-guests` takes the Python guest from, in order:
/// `--from`, else `$WASMJOBS_PYTHON_GUEST` alone when it is set; else this
/// user's build, the build of the user who ran `sudo` (in their default
/// cache), then the installs a host would use.
fn source_places(from: Option<&Path>) -> Vec<Place> {
    if let Some(dir) = from {
        return vec![Place {
            dir: dir.to_path_buf(),
            why: "--from".into(),
        }];
    }
    let mut places = super::guest::python_guest_places();
    if std::env::var_os(PYTHON_GUEST_VAR).is_some() {
        return places;
    }
    // This user's build first: it is the one to install.
    if let Some(i) = places.iter().position(|p| p.why.starts_with("this user's")) {
        let mine = places.remove(i);
        places.insert(0, mine);
    }
    if let Some(home) = sudo_user_home() {
        let after_mine = usize::from(places[0].why.starts_with("this user's"));
        places.insert(
            after_mine,
            Place {
                dir: home.join(".cache/wasmjobs/guests/python/current"),
                why: "the build of the user who ran sudo".into(),
            },
        );
    }
    places
}

/// The home directory of the user who ran `sudo`, when this process is
/// root started by sudo.
fn sudo_user_home() -> Option<PathBuf> {
    if euid() != 0 {
        return None;
    }
    let uid: libc::uid_t = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    if uid == 0 {
        return None;
    }
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to memory owned here and outliving the call,
    // `buf.len()` is the buffer's size, and the strings `pw` points to live
    // in `buf`, which is read below while it is still alive.
    let r =
        unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if r != 0 || found.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // SAFETY: `pw_dir` is a NUL-terminated string inside `buf` (checked
    // non-null above).
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}

/// The Python guest `install-guests` copies: the first of
/// [`source_places`] that holds one.
fn install_source(from: Option<&Path>) -> Result<GuestFiles> {
    let places = source_places(from);
    if let Some(f) = places.iter().find_map(|p| GuestFiles::python_at(&p.dir)) {
        return Ok(f);
    }
    let looked = places
        .iter()
        .map(|p| format!("{} ({})", p.dir.display(), p.why))
        .collect::<Vec<_>>()
        .join(", ");
    Err(anyhow!(
        "no Python guest to install (looked in {looked}): build it first with guests/python/build.sh, or name its directory with --from DIR"
    ))
}

/// The error when the install cannot write under `path`.
fn cannot_write(path: &Path, e: std::io::Error) -> anyhow::Error {
    anyhow!(
        "cannot write to {}: {e}; run install-guests as a user who may (e.g. sudo wasmjobs install-guests), or choose another place with --prefix DIR",
        path.display()
    )
}

/// Creates `dir` and any missing directory above it, each 0755.
fn make_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(cannot_write(dir, e)),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| cannot_write(dir, e))
}

/// Copies the tree at `src` to `dst` (created), directories 0755 and files
/// 0644 with their modification times, symlinks as they are, and feeds
/// every entry (relative path, kind,
/// content or target) to `h` in name order.
fn copy_hashed(src: &Path, dst: &Path, rel: &Path, h: &mut Sha256) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(dst)
        .with_context(|| format!("creating {}", dst.display()))?;
    let mut entries = std::fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let (from, to, rel) = (e.path(), dst.join(e.file_name()), rel.join(e.file_name()));
        let t = e.file_type()?;
        let name = rel.as_os_str().as_encoded_bytes();
        if t.is_dir() {
            h.update(b"d\0");
            h.update(name);
            h.update(b"\0");
            copy_hashed(&from, &to, &rel, h)?;
        } else if t.is_symlink() {
            let target = std::fs::read_link(&from)?;
            h.update(b"l\0");
            h.update(name);
            h.update(b"\0");
            h.update(target.as_os_str().as_encoded_bytes());
            h.update(b"\0");
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("creating {}", to.display()))?;
        } else if t.is_file() {
            let bytes =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            h.update(b"f\0");
            h.update(name);
            h.update(b"\0");
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
            // CPython trusts a `.pyc` only beside a source of the time it
            // records: without it every import would compile anew.
            let mtime = e.metadata()?.modified()?;
            write_new(&to, &bytes)?
                .set_modified(mtime)
                .with_context(|| format!("setting the time of {}", to.display()))?;
        }
    }
    Ok(())
}

/// Writes a new file, 0644; returns it (open for writing).
fn write_new(path: &Path, bytes: &[u8]) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            Ok(f)
        })
        .with_context(|| format!("writing {}", path.display()))
}

/// Puts the directory `staged` at `dst`: in one step over an older
/// install (the two are exchanged, then the old one removed), else by a
/// rename. Readers see the old install or the new, never a partial one.
fn publish(staged: &Path, dst: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dst) {
        Ok(m) if m.is_dir() => {
            exchange(staged, dst).map_err(|e| cannot_write(dst, e))?;
            if let Err(e) = std::fs::remove_dir_all(staged) {
                eprintln!(
                    "warning: the replaced install is left at {}: {e}",
                    staged.display()
                );
            }
            Ok(())
        }
        Ok(_) => {
            // Not a directory (a symlink, say): nothing can be exchanged
            // with it in one step.
            std::fs::remove_file(dst).map_err(|e| cannot_write(dst, e))?;
            std::fs::rename(staged, dst).map_err(|e| cannot_write(dst, e))
        }
        Err(_) => std::fs::rename(staged, dst).map_err(|e| cannot_write(dst, e)),
    }
}

/// The first directory from `/` down to `dir` that users other than its
/// owner cannot enter (or, for `dir` itself, read), if any.
fn unreachable(dir: &Path) -> Option<String> {
    let mut chain: Vec<&Path> = dir.ancestors().collect();
    chain.reverse();
    for p in chain {
        let m = std::fs::metadata(p).ok()?;
        let need = if p == dir { 0o005 } else { 0o001 };
        if m.mode() & need != need {
            return Some(format!("{} (mode {:o})", p.display(), m.mode() & 0o7777));
        }
    }
    None
}

/// Installs the Python guest from `from`, else this user's build (see
/// [`source_places`]), and the guests' prepared modules — snapshots, and
/// modules compiled for this machine's engine (`metered`: the fuel-metering
/// variant too) — under `<prefix>/lib/wasmjobs/`, world-readable. Each of
/// the two directories is put in place in one step. The modules are
/// compiled with the engine a host with these `slots` and memory `ceiling`
/// (bytes) would build on this machine: a host whose memory plan differs
/// (another `ulimit -v`) does not match them and compiles its own.
/// Progress goes to stderr.
pub fn install(
    prefix: &Path,
    from: Option<&Path>,
    metered: bool,
    slots: u32,
    ceiling: u64,
) -> Result<Installed> {
    let source = install_source(from)?;
    let root = prefix.join(LIB_DIR);
    make_dirs(&root)?;
    sweep_fresh_dirs(&root, ".install");
    let staging = fresh_dir(&root, ".install").map_err(|e| cannot_write(&root, e))?;
    let _cleanup = RemoveOnDrop(vec![staging.clone()]);

    // The guest, named by what it holds.
    let started = Instant::now();
    eprintln!("copying the Python guest from {}", source.dir.display());
    let python = staging.join("python");
    std::fs::DirBuilder::new().mode(0o755).create(&python)?;
    let mut h = Sha256::new();
    let wasm = std::fs::read(&source.wasm)
        .with_context(|| format!("reading {}", source.wasm.display()))?;
    h.update(b"python.wasm\0");
    h.update(&wasm);
    write_new(&python.join("python.wasm"), &wasm)?;
    copy_hashed(
        &source.stdlib,
        &python.join("lib"),
        Path::new("lib"),
        &mut h,
    )?;
    let build_id = hex::encode(h.finalize());
    write_new(
        &python.join(BUILD_ID_FILE),
        format!("{build_id}\n").as_bytes(),
    )?;
    let files = GuestFiles::python_at(&python).context("the copied Python guest is incomplete")?;
    eprintln!(
        "  copied in {:.1} s (build {})",
        started.elapsed().as_secs_f64(),
        &build_id[..16]
    );

    // Its prepared modules, as a host would name them.
    let modules = staging.join("modules");
    std::fs::DirBuilder::new().mode(0o755).create(&modules)?;
    let mut variants = vec![CodeGen::Epoch];
    if metered {
        variants.push(CodeGen::Fuel);
    }
    let runtime = WasmRuntime::new(modules.clone(), slots, ceiling);
    let mut made = Vec::new();
    for guest in [Guest::Js, Guest::Python] {
        let f = (guest == Guest::Python).then_some(&files);
        let hash = guest.hash_of(f)?;
        let started = Instant::now();
        eprintln!("pre-initialising the {} guest", guest.noun());
        let snap = snapshot::make(guest, f, &modules)?;
        let path = snapshot::snapshot_path(&modules, guest, &hash);
        write_new(&path, &snap)?;
        eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
        made.push((path, "snapshot".to_string()));
        for &codegen in &variants {
            let what = if codegen.fuel() {
                "metered"
            } else {
                "unmetered"
            };
            let started = Instant::now();
            eprintln!("compiling the {} guest ({what})", guest.noun());
            let set = runtime.engines(codegen)?;
            let module = Module::new(&set.engine, &snap)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("compiling the {} guest", guest.noun()))?;
            let path = cache::cache_path(&modules, &set.engine, guest, &hash);
            write_new(&path, &module.serialize()?)?;
            eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
            made.push((path, format!("compiled for this machine, {what}")));
        }
    }

    // Into place: the modules first, so that a host starting in between
    // sees the old guest with modules it does not match (and prepares its
    // own), never modules it would take for the old guest's.
    let modules_dst = modules_dir(prefix);
    let python_dst = python_dir(prefix);
    publish(&modules, &modules_dst)?;
    make_dirs(python_dst.parent().expect("has a parent"))?;
    publish(&python, &python_dst)?;

    let files = made
        .into_iter()
        .map(|(p, what)| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into();
            let len = std::fs::metadata(modules_dst.join(&name))
                .map(|m| m.len())
                .unwrap_or(0);
            (name, len, what)
        })
        .collect();
    Ok(Installed {
        unreachable: unreachable(&python_dst).or_else(|| unreachable(&modules_dst)),
        python: python_dst,
        source: source.dir,
        build_id,
        modules: modules_dst,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_world_readable_and_named_by_what_it_holds() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("a/b/f.py"), b"x = 1\n").unwrap();
        std::fs::write(src.join("top.py"), b"").unwrap();
        std::fs::set_permissions(src.join("top.py"), std::fs::Permissions::from_mode(0o400))
            .unwrap();
        let copy = |to: &str| {
            let mut h = Sha256::new();
            copy_hashed(&src, &t.path().join(to), Path::new("lib"), &mut h).unwrap();
            hex::encode(h.finalize())
        };
        let first = copy("one");
        assert_eq!(first, copy("two"), "the same tree, the same id");
        let m = std::fs::metadata(t.path().join("one/top.py")).unwrap();
        assert_eq!(m.mode() & 0o777, 0o644);
        let m = std::fs::metadata(t.path().join("one/a/b")).unwrap();
        assert_eq!(m.mode() & 0o777, 0o755);
        assert_eq!(
            std::fs::read(t.path().join("one/a/b/f.py")).unwrap(),
            b"x = 1\n"
        );
        let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
        assert_eq!(
            mtime(&t.path().join("one/a/b/f.py")),
            mtime(&src.join("a/b/f.py")),
            "a .pyc stays valid beside its source"
        );
        std::fs::write(src.join("a/b/f.py"), b"x = 2\n").unwrap();
        assert_ne!(first, copy("three"), "another content, another id");
    }

    #[test]
    fn a_published_directory_replaces_an_older_one_whole() {
        let t = tempfile::tempdir().unwrap();
        let (staged, dst) = (t.path().join("staged"), t.path().join("dst"));
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("new"), b"").unwrap();
        publish(&staged, &dst).unwrap();
        assert!(dst.join("new").is_file() && !staged.exists());
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("newer"), b"").unwrap();
        publish(&staged, &dst).unwrap();
        assert!(dst.join("newer").is_file());
        assert!(!dst.join("new").exists() && !staged.exists());
    }
}
