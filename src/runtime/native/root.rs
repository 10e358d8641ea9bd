//! The root a namespaced native job sees: a fresh read-only tmpfs holding
//! only what it needs, read-only binds of the system's files an interpreter
//! reads ([`SYSTEM`], the interpreter's own home), a handful of device
//! nodes, a fresh `/proc`, and the run's working copy, data and `/tmp`.
//! Nothing else of the host is there: no `/run`, `/var`, `/dev/shm`, host
//! `/tmp` or home folders, so no host socket, lock or temporary file can be
//! reached, whatever the kernel's Landlock version. The plan is built here,
//! in the parent; the job's init mounts it between fork and exec
//! ([`super::child`]).
//!
//! The run's scratch (its working copy and `/tmp`) is a size-capped tmpfs
//! of its own, in bytes and in files: `/tmp` is a folder in it, and the
//! working copy is an overlay whose writes land in it. A write beyond the
//! cap fails inside the job with `ENOSPC`, and the host's disk never sees
//! it. The tmpfs is memory: what a run keeps there counts toward its
//! memory limit too.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::runtime::executor::Dirs;

/// Where a job inside namespaces sees its folders, in its own minimal
/// root (this module's).
pub mod view {
    /// The working copy (`WEBJOBS_PATH`).
    pub const JOB: &str = "/home/job";
    /// The persistent data folder (`WEBJOBS_DATA_PATH`).
    pub const DATA: &str = "/home/data";
    /// The private temporary folder.
    pub const TMP: &str = "/tmp";
}

/// System folders and files every interpreter needs, read-only: the job's
/// view, and Landlock's read list. Never `/etc` whole (it holds
/// `/etc/shadow`).
pub const SYSTEM: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/php",
    "/etc/java-17-openjdk",
    "/etc/java-21-openjdk",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/mime.types",
    "/sys/devices/system/cpu",
];

/// Device nodes the job gets (bound from the host's, writes allowed).
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Links in the job's `/dev`: (link, target).
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    // POSIX shared memory lives in the run's own /tmp (and its quota).
    ("/dev/shm", "/tmp"),
];

/// Most bind mounts a root may have (the init clones them into a fixed
/// array before it mounts anything).
pub const MAX_BINDS: usize = 64;

/// Something the init makes in the new root before binding, in order.
#[derive(Debug)]
pub enum Entry {
    /// A folder (its parent exists by then).
    Dir(CString),
    /// An empty file, the mountpoint of a bound file.
    File(CString),
    /// A symbolic link: (where, pointing to).
    Link(CString, CString),
}

/// One bind mount: the host source, the target under the stage, and the
/// remount flags.
#[derive(Debug)]
pub struct Bind {
    /// The host path (cloned before the stage is covered).
    pub src: CString,
    /// Where it goes, under the stage.
    pub dst: CString,
    /// Remount flags (read-only for system paths; the source's own flags,
    /// which a user namespace may not clear).
    pub flags: libc::c_ulong,
    /// Cloned before the stage's tmpfs covers it: its source is under the
    /// stage, or reached through a symbolic link (which might lead there).
    /// Other sources are cloned one at a time as they are moved in.
    pub early: bool,
}

/// How big a run's scratch may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScratchSize {
    /// Bytes (apparent: a sparse file's holes count).
    pub bytes: u64,
    /// Files, folders and links.
    pub files: u64,
}

/// The run's scratch tmpfs, mounted by the init before anything else
/// (inside the namespace only), and the overlay over the working copy.
#[derive(Debug)]
pub struct Scratch {
    /// The host's `/tmp` folder of the run, which the tmpfs covers.
    pub at: CString,
    /// The tmpfs's options (size, inodes, mode).
    pub options: CString,
    /// Folders made in it: the overlay's upper and work folders, and the
    /// job's `/tmp`.
    pub folders: [CString; 3],
    /// The working copy, overlaid in place.
    pub work: CString,
    /// The overlay's options.
    pub overlay: CString,
}

/// The whole root, as the init builds it.
#[derive(Debug)]
pub struct RootPlan {
    /// The run's scratch, when it is capped.
    pub scratch: Option<Scratch>,
    /// The folder the new root's tmpfs is mounted on before it becomes `/`
    /// (any folder: the host's copy is covered only inside the namespace).
    pub stage: CString,
    /// Folders, files and links to make, parents first.
    pub entries: Vec<Entry>,
    /// Binds, in mount order.
    pub binds: Vec<Bind>,
    /// Where `/proc` is mounted, under the stage.
    pub proc_at: CString,
}

/// The stage: the tmpfs is mounted here, built, then made the root.
const STAGE: &str = "/home";

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} has a NUL byte", p.display()))
}

/// The mount flags a bind of `p` must keep (a user namespace may not clear
/// them), plus nosuid, and nodev unless `devices`.
fn kept_flags(p: &Path, devices: bool) -> Result<libc::c_ulong> {
    let c = cstring(p)?;
    // SAFETY: statvfs writes into the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` is writable.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("statvfs {}", p.display()));
    }
    let mut flags = libc::MS_NOSUID;
    if !devices || st.f_flag & libc::ST_NODEV != 0 {
        flags |= libc::MS_NODEV;
    }
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    Ok(flags)
}

/// Builds the plan: the system's read-only files, the interpreter's
/// `extra_read` folders, devices, and the run's folders `dirs` (on the
/// host) at the fixed places of [`view`].
pub fn plan(
    dirs: &Dirs,
    extra_read: &[PathBuf],
    scratch: Option<ScratchSize>,
    in_user_namespace: bool,
) -> Result<RootPlan> {
    let scratch = scratch
        .map(|size| scratch_plan(dirs, size, in_user_namespace))
        .transpose()?;
    let mut b = Builder::default();
    let mut read: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    read.extend(extra_read.iter().cloned());
    let mut bound: Vec<PathBuf> = Vec::new();
    for p in read {
        if bound.iter().any(|b| p.starts_with(b)) {
            continue; // already inside a bound folder
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue; // not on this host
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&p)?;
            b.link(&p, &target)?;
            continue;
        }
        let flags = kept_flags(&p, false)? | libc::MS_RDONLY;
        b.bind(&p, &p, meta.is_dir(), flags)?;
        bound.push(p);
    }
    for d in DEVICES.iter().map(Path::new).filter(|d| d.exists()) {
        b.bind(d, d, false, kept_flags(d, true)?)?;
    }
    for (link, target) in DEV_LINKS {
        b.link(Path::new(link), Path::new(target))?;
    }
    // The job's /tmp is a folder of the scratch tmpfs when there is one
    // (its flags: the tmpfs's nosuid and nodev, plus the host folder's).
    let tmp_src = match &scratch {
        Some(s) => PathBuf::from(std::ffi::OsStr::from_bytes(s.folders[2].as_bytes())),
        None => dirs.tmp.clone(),
    };
    for (src, flags_of, dst) in [
        (&dirs.work, &dirs.work, view::JOB),
        (&dirs.data, &dirs.data, view::DATA),
        (&tmp_src, &dirs.tmp, view::TMP),
    ] {
        b.bind(src, Path::new(dst), true, kept_flags(flags_of, false)?)?;
    }
    b.dir(Path::new("/proc"))?;
    if b.binds.len() > MAX_BINDS {
        bail!(
            "the job's root needs {} bind mounts, more than {MAX_BINDS}",
            b.binds.len()
        );
    }
    Ok(RootPlan {
        scratch,
        stage: CString::new(STAGE)?,
        entries: b.entries,
        binds: b.binds,
        proc_at: cstring(&staged(Path::new("/proc")))?,
    })
}

/// The scratch tmpfs over the run's host `/tmp` folder, and the overlay
/// over its working copy. Overlay options cannot carry `,` `:` or `\\`.
fn scratch_plan(dirs: &Dirs, size: ScratchSize, in_user_namespace: bool) -> Result<Scratch> {
    for p in [&dirs.work, &dirs.tmp] {
        let s = p.to_string_lossy();
        if s.contains([',', ':', '\\']) {
            bail!(
                "the run folder {} has a ',', ':' or '\\' in its path, which the scratch overlay cannot name; use a data root without them",
                p.display()
            );
        }
    }
    let in_tmp = |name: &str| cstring(&dirs.tmp.join(name));
    let (upper, work) = (dirs.tmp.join(".upper"), dirs.tmp.join(".overlay"));
    let mut overlay = format!(
        "lowerdir={},upperdir={},workdir={}",
        dirs.work.display(),
        upper.display(),
        work.display()
    );
    if in_user_namespace {
        // Overlay's own markers in user.* attributes (trusted.* needs the
        // host's root).
        overlay.push_str(",userxattr");
    }
    Ok(Scratch {
        at: cstring(&dirs.tmp)?,
        options: CString::new(format!(
            "size={},nr_inodes={},mode=755",
            size.bytes.max(4096),
            size.files.max(16)
        ))?,
        folders: [in_tmp(".upper")?, in_tmp(".overlay")?, in_tmp("tmp")?],
        work: cstring(&dirs.work)?,
        overlay: CString::new(overlay)?,
    })
}

/// Whether the stage's tmpfs might cover `src` (see [`Bind::early`]).
fn covered_by_stage(src: &Path) -> bool {
    let stage = std::fs::canonicalize(STAGE).unwrap_or_else(|_| PathBuf::from(STAGE));
    match std::fs::canonicalize(src) {
        Ok(real) => real != src || real.starts_with(&stage) || src.starts_with(STAGE),
        Err(_) => true,
    }
}

/// `p` (absolute, as the job sees it) under the stage.
fn staged(p: &Path) -> PathBuf {
    Path::new(STAGE).join(p.strip_prefix("/").unwrap_or(p))
}

#[derive(Default)]
struct Builder {
    made: BTreeSet<PathBuf>,
    entries: Vec<Entry>,
    binds: Vec<Bind>,
}

impl Builder {
    /// Makes `p` (as the job sees it) and its missing parents.
    fn dir(&mut self, p: &Path) -> Result<()> {
        if p == Path::new("/") || self.made.contains(p) {
            return Ok(());
        }
        if let Some(parent) = p.parent() {
            self.dir(parent)?;
        }
        self.entries.push(Entry::Dir(cstring(&staged(p))?));
        self.made.insert(p.to_path_buf());
        Ok(())
    }

    fn parent_of(&mut self, p: &Path) -> Result<()> {
        match p.parent() {
            Some(parent) => self.dir(parent),
            None => Ok(()),
        }
    }

    fn link(&mut self, p: &Path, target: &Path) -> Result<()> {
        self.parent_of(p)?;
        self.entries
            .push(Entry::Link(cstring(&staged(p))?, cstring(target)?));
        self.made.insert(p.to_path_buf());
        Ok(())
    }

    fn bind(&mut self, src: &Path, at: &Path, is_dir: bool, flags: libc::c_ulong) -> Result<()> {
        if is_dir {
            self.dir(at)?;
        } else {
            self.parent_of(at)?;
            self.entries.push(Entry::File(cstring(&staged(at))?));
            self.made.insert(at.to_path_buf());
        }
        self.binds.push(Bind {
            src: cstring(src)?,
            dst: cstring(&staged(at))?,
            flags,
            early: covered_by_stage(src),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_the_stage_might_cover_are_cloned_early() {
        assert!(covered_by_stage(Path::new("/home/someone/data")));
        assert!(covered_by_stage(Path::new("/no/such/path")));
        if std::fs::canonicalize("/usr").is_ok_and(|p| p == Path::new("/usr")) {
            assert!(!covered_by_stage(Path::new("/usr")));
        }
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        assert!(
            covered_by_stage(&real.join("link")),
            "a link may lead anywhere"
        );
    }

    fn names(plan: &RootPlan) -> Vec<String> {
        plan.binds
            .iter()
            .map(|b| b.dst.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_root_holds_only_what_a_job_needs() {
        let t = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            work: t.path().join("w"),
            data: t.path().join("d"),
            tmp: t.path().join("t"),
        };
        for d in [&dirs.work, &dirs.data, &dirs.tmp] {
            std::fs::create_dir(d).unwrap();
        }
        let p = plan(&dirs, &[PathBuf::from("/usr/lib")], None, false).unwrap();
        let binds = names(&p);
        assert!(binds.contains(&"/home/usr".to_string()), "{binds:?}");
        assert!(
            !binds.contains(&"/home/usr/lib".to_string()),
            "a folder inside a bound one is not bound again: {binds:?}"
        );
        for dst in [
            "/home/home/job",
            "/home/home/data",
            "/home/tmp",
            "/home/dev/null",
        ] {
            assert!(binds.contains(&dst.to_string()), "{dst}: {binds:?}");
        }
        for host_only in ["/run", "/var", "/root", "/etc/shadow", "/dev/shm"] {
            assert!(
                !binds.iter().any(|b| b == &format!("/home{host_only}")),
                "{host_only} is bound: {binds:?}"
            );
        }
        // System paths are read-only; the run's folders are not.
        for b in &p.binds {
            let ro = b.flags & libc::MS_RDONLY != 0;
            let run = b
                .src
                .to_bytes()
                .starts_with(t.path().as_os_str().as_bytes());
            let dev = b.dst.to_bytes().starts_with(b"/home/dev/");
            assert_eq!(ro, !run && !dev, "{b:?}");
        }
        // Parents come before what is inside them.
        let made: Vec<&CString> = p
            .entries
            .iter()
            .map(|e| match e {
                Entry::Dir(p) | Entry::File(p) | Entry::Link(p, _) => p,
            })
            .collect();
        let home = made.iter().position(|p| p.as_bytes() == b"/home/home");
        let job = made.iter().position(|p| p.as_bytes() == b"/home/home/job");
        assert!(home < job && home.is_some(), "{made:?}");
    }
}
