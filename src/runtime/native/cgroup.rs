//! Per-tenant and per-run cgroups. A tenant's cgroup holds its runs'
//! cgroups: its CPU weight and process budget hold for all its runs
//! together. A run's cgroup has a memory and a pids limit, and "kill the
//! whole tree". cgroup v2 (one unified folder) and v1 (separate memory,
//! pids and cpu hierarchies, as on this project's build machines) are both
//! handled. Tenant cgroups are made below the host process's own cgroup,
//! named `wasmjobs-<host>-tenant-<tenant>` (runs' `wasmjobs-<host>-<run>`),
//! where `<host>` is `<pid namespace>.<pid>.<start time>` ([`HostId`]), so
//! a later host can sweep the ones a dead host left behind, and only those.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
const PREFIX: &str = "wasmjobs-";
/// The longest name a cgroup folder may have.
const NAME_MAX: usize = 255;

/// Which host process made a cgroup: enough to tell, from another host,
/// whether that process is still alive. A pid alone is not: a host in
/// another PID namespace (a container, `unshare -p`) has pids that mean
/// something else here, and a pid is reused once its process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostId {
    /// The inode of the host's `/proc/self/ns/pid`.
    pub pid_ns: u64,
    /// The host's pid, in that namespace.
    pub pid: u32,
    /// When the host process started, in clock ticks after boot (field
    /// 22 of `/proc/<pid>/stat`).
    pub start: u64,
}

impl HostId {
    /// This process's identity (read once).
    pub fn own() -> HostId {
        static OWN: std::sync::OnceLock<HostId> = std::sync::OnceLock::new();
        *OWN.get_or_init(|| HostId {
            pid_ns: own_pid_ns().unwrap_or(0),
            pid: std::process::id(),
            start: start_time("self").unwrap_or(0),
        })
    }

    /// The name part `<pid namespace>.<pid>.<start time>`. (A sweep of an
    /// older wasmjobs reads the part before the first `-` as a pid: this
    /// one does not parse as one, so such a host leaves these alone.)
    fn tag(self) -> String {
        format!("{}.{}.{}", self.pid_ns, self.pid, self.start)
    }

    /// Reads the host part of a cgroup name made by [`HostId::tag`]
    /// (`wasmjobs-<tag>-...`); `None` for any other name, the older
    /// `wasmjobs-<pid>-...` included.
    pub fn parse(name: &str) -> Option<HostId> {
        let tag = name.strip_prefix(PREFIX)?.split('-').next()?;
        let mut it = tag.split('.');
        let id = HostId {
            pid_ns: it.next()?.parse().ok()?,
            pid: it.next()?.parse().ok()?,
            start: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(id)
    }
}

/// The inode of this process's PID namespace.
fn own_pid_ns() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Field 22 (start time) of `/proc/<pid>/stat`.
fn start_time(pid: &str) -> Option<u64> {
    parse_start_time(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `stat` line (the command name, field 2, may hold spaces
/// and parentheses: fields are counted after its last `)`).
fn parse_start_time(stat: &str) -> Option<u64> {
    // After ") ": field 3 (state) is the first; 22 is the 20th.
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// A cgroup name for this host: `wasmjobs-<host>-<what>`, `<what>`
/// shortened (a hash of it kept) if the whole would pass [`NAME_MAX`].
fn name_for(what: &str) -> String {
    let name = format!("{PREFIX}{}-{what}", HostId::own().tag());
    if name.len() <= NAME_MAX {
        return name;
    }
    let hash = what.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = NAME_MAX - (name.len() - what.len()) - 17;
    let mut cut = keep.min(what.len());
    while !what.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{PREFIX}{}-{}-{hash:016x}",
        HostId::own().tag(),
        &what[..cut]
    )
}

/// What is known of a pid of this host's PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// No process has it (`kill(pid, 0)`: `ESRCH`).
    Gone,
    /// A process that started then (clock ticks after boot) has it.
    Started(u64),
    /// A process has it, but when it started cannot be read.
    Unknown,
}

/// What the sweep does with a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its host is gone: kill what is inside and remove it.
    Sweep,
    /// Its host is alive, or might be: leave it.
    Keep,
}

/// The sweep's decision for a cgroup named for `owner` (its
/// [`HostId::parse`]), judged from host `me`; `pid(n)` says what is known
/// of pid `n` in `me`'s PID namespace. Only a cgroup proven to belong to a
/// dead host of this PID namespace is swept:
/// - a name of another form (an older wasmjobs's `wasmjobs-<pid>-...`, or
///   anything else) is kept: its pid may be of another PID namespace,
///   where a process of that number may well be alive;
/// - a cgroup of another PID namespace is kept: its pid means nothing
///   here, and whether that namespace's host is alive cannot be told
///   (such cgroups wait for a host of their own namespace);
/// - in this namespace, it is swept when its pid is dead or is now
///   another process (another start time), kept while it cannot be told.
pub fn verdict(owner: Option<HostId>, me: HostId, pid: impl Fn(u32) -> Pid) -> Verdict {
    let Some(owner) = owner else {
        return Verdict::Keep;
    };
    if owner.pid_ns != me.pid_ns || me.pid_ns == 0 {
        return Verdict::Keep;
    }
    if owner == me {
        return Verdict::Keep;
    }
    match pid(owner.pid) {
        Pid::Gone => Verdict::Sweep,
        Pid::Started(s) if s != owner.start => Verdict::Sweep,
        Pid::Started(_) | Pid::Unknown => Verdict::Keep,
    }
}

/// What is known of pid `n` of this PID namespace: `kill` works in this
/// namespace whatever `/proc` is mounted; the start time is read only
/// from a `/proc` of this namespace (`proc_ours`).
fn probe_pid(n: u32, proc_ours: bool) -> Pid {
    let Ok(pid) = i32::try_from(n) else {
        return Pid::Unknown;
    };
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return Pid::Gone;
    }
    match start_time(&n.to_string()) {
        Some(s) if proc_ours => Pid::Started(s),
        _ => Pid::Unknown,
    }
}

/// Whether `/proc` shows this process's own PID namespace (`/proc/self`
/// names our pid): in another namespace's `/proc` (say `unshare -p`
/// without a fresh `/proc`) pid numbers name other processes.
fn proc_is_ours() -> bool {
    fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// Which cgroup interface the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The unified hierarchy.
    V2,
    /// Separate `memory` and `pids` hierarchies.
    V1,
}

/// The cgroup interface of this host, if it has memory and pids control.
pub fn version() -> Option<Version> {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        let c = fs::read_to_string(Path::new(ROOT).join("cgroup.controllers")).unwrap_or_default();
        (c.contains("memory") && c.contains("pids")).then_some(Version::V2)
    } else if Path::new(ROOT).join("memory").is_dir() && Path::new(ROOT).join("pids").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

/// The folders (one for v2, memory and pids for v1) run cgroups go under:
/// the host process's own cgroups.
fn parents(v: Version) -> io::Result<Vec<PathBuf>> {
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let find = |want: &str| -> io::Result<PathBuf> {
        for line in own.lines() {
            let mut it = line.splitn(3, ':');
            let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
            let hit = if want.is_empty() {
                ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == want)
            };
            if hit {
                let base = if want.is_empty() {
                    PathBuf::from(ROOT)
                } else {
                    Path::new(ROOT).join(want)
                };
                return Ok(base.join(path.trim_start_matches('/')));
            }
        }
        Err(io::Error::other(format!(
            "no '{want}' line in /proc/self/cgroup"
        )))
    };
    match v {
        Version::V2 => Ok(vec![find("")?]),
        Version::V1 => {
            let mut dirs = vec![find("memory")?, find("pids")?];
            // The cpu hierarchy is optional: without it, no CPU weight.
            if let Ok(cpu) = find("cpu") {
                dirs.push(cpu);
            }
            Ok(dirs)
        }
    }
}

/// A tenant's cgroup (v2: one folder; v1: one per memory, pids and cpu
/// hierarchy), parent of its runs' cgroups. Each run holds one; the last
/// run of the tenant to end removes it.
#[derive(Debug)]
pub struct TenantCgroup {
    version: Version,
    name: String,
    dirs: Vec<PathBuf>,
}

/// How many runs hold each tenant cgroup of this host (made and removed
/// under this lock only, so no run finds its tenant's folder gone).
fn holders() -> std::sync::MutexGuard<'static, std::collections::HashMap<String, usize>> {
    static HOLDERS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, usize>>,
    > = std::sync::OnceLock::new();
    HOLDERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl TenantCgroup {
    /// Makes (or finds) `share`'s tenant's cgroup and sets its process
    /// budget and CPU weight, each time (a changed quota applies to the
    /// next run) (v2 `cpu.weight`, 1..=10000, 100 the default; v1
    /// `cpu.shares`, 1024 for 100).
    pub fn open(v: Version, share: &crate::runtime::TenantShare) -> io::Result<TenantCgroup> {
        let (tenant, max_procs, cpu_weight) = (
            &*share.name,
            share.max_processes,
            u64::from(share.cpu_share),
        );
        let name = name_for(&format!(
            "tenant-{}",
            if tenant.is_empty() { "-" } else { tenant }
        ));
        let mut held = holders();
        let mut dirs = Vec::new();
        for parent in parents(v)? {
            let dir = parent.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("creating {}: {e}", dir.display()),
                    ));
                }
            }
            dirs.push(dir);
        }
        let weight = cpu_weight.clamp(1, 10_000);
        match v {
            Version::V2 => {
                // Best effort: the controllers a run cgroup inside needs.
                let _ = write(
                    &dirs[0].join("cgroup.subtree_control"),
                    "+cpu +memory +pids",
                );
                write(&dirs[0].join("pids.max"), &max_procs.to_string())?;
                let _ = write(&dirs[0].join("cpu.weight"), &weight.to_string());
            }
            Version::V1 => {
                write(&dirs[1].join("pids.max"), &max_procs.to_string())?;
                if let Some(cpu) = dirs.get(2) {
                    write(
                        &cpu.join("cpu.shares"),
                        &(weight * 1024 / 100).max(2).to_string(),
                    )?;
                }
            }
        }
        *held.entry(name.clone()).or_default() += 1;
        Ok(TenantCgroup {
            version: v,
            name,
            dirs,
        })
    }

    /// Where a run's cgroups go: v2 its one folder; v1 its memory and pids
    /// folders (a run joins the tenant's cpu cgroup itself).
    fn run_parents(&self) -> Vec<PathBuf> {
        match self.version {
            Version::V2 => vec![self.dirs[0].clone()],
            Version::V1 => self.dirs[..2].to_vec(),
        }
    }

    /// The tenant's own `cgroup.procs` files a run joins directly (v1:
    /// the cpu hierarchy's).
    fn joined_directly(&self) -> Vec<PathBuf> {
        match self.version {
            Version::V2 => Vec::new(),
            Version::V1 => self
                .dirs
                .get(2)
                .map(|d| d.join("cgroup.procs"))
                .into_iter()
                .collect(),
        }
    }
}

impl Drop for TenantCgroup {
    fn drop(&mut self) {
        let mut held = holders();
        let left = held.get_mut(&self.name).map(|n| {
            *n -= 1;
            *n
        });
        if left == Some(0) {
            held.remove(&self.name);
            remove_dirs(&self.dirs);
        }
    }
}

/// One run's cgroup. Dropping it kills what is left inside and removes it
/// (and its tenant's, when it was the tenant's last run).
pub struct RunCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
    procs: Vec<File>,
    oom_before: u64,
    /// Dropped after the run's own folders are removed.
    tenant: Option<TenantCgroup>,
}

impl RunCgroup {
    /// Creates the run's cgroup with a memory cap (swap included where it
    /// can be set) and a process cap.
    pub fn create(
        v: Version,
        tenant: Option<TenantCgroup>,
        run: &str,
        memory_bytes: u64,
        max_procs: u64,
    ) -> io::Result<RunCgroup> {
        let name = name_for(run);
        let (run_parents, joined) = match &tenant {
            Some(t) => (t.run_parents(), t.joined_directly()),
            None => {
                let mut p = parents(v)?;
                p.truncate(if v == Version::V1 { 2 } else { 1 });
                (p, Vec::new())
            }
        };
        let mut cg = RunCgroup {
            version: v,
            dirs: Vec::new(),
            procs: Vec::new(),
            oom_before: 0,
            tenant: None,
        };
        let settings: Vec<(&str, u64)> = match v {
            Version::V2 => vec![("memory.max", memory_bytes), ("pids.max", max_procs)],
            Version::V1 => vec![
                ("memory.limit_in_bytes", memory_bytes),
                ("pids.max", max_procs),
            ],
        };
        for (i, parent) in run_parents.into_iter().enumerate() {
            let dir = parent.join(&name);
            fs::create_dir(&dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
            cg.dirs.push(dir.clone());
            let own: &[(&str, u64)] = match v {
                Version::V2 => &settings,
                Version::V1 => &settings[i..=i],
            };
            for (file, value) in own {
                write(&dir.join(file), &value.to_string())?;
            }
            // Best effort: no swap to spill into, where the kernel has it.
            let _ = match v {
                Version::V2 => write(&dir.join("memory.swap.max"), "0"),
                Version::V1 if i == 0 => write(
                    &dir.join("memory.memsw.limit_in_bytes"),
                    &memory_bytes.to_string(),
                ),
                Version::V1 => Ok(()),
            };
            cg.procs.push(
                OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))?,
            );
        }
        for procs in joined {
            cg.procs.push(OpenOptions::new().write(true).open(procs)?);
        }
        cg.oom_before = cg.oom_kills();
        cg.tenant = tenant;
        Ok(cg)
    }

    /// Descriptors the child writes "0" to, to move itself in before it
    /// can fork.
    pub fn procs_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// The `cgroup.procs` files listing the cgroup's processes.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Kills everything inside until it is empty (v1 has no `cgroup.kill`;
    /// the pids cap bounds the fork race). Returns how many were killed.
    pub fn kill_all(&self) -> usize {
        kill_dirs(self.version, &self.dirs)
    }

    /// The most memory charged to the cgroup at once, in bytes: what its
    /// processes allocated and the page cache they brought in (v2's
    /// `memory.peak`, v1's `memory.max_usage_in_bytes`).
    pub fn memory_peak(&self) -> Option<u64> {
        let file = match self.version {
            Version::V2 => "memory.peak",
            Version::V1 => "memory.max_usage_in_bytes",
        };
        fs::read_to_string(self.dirs.first()?.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Out-of-memory kills inside the cgroup since it was created.
    pub fn oom_kills_since_start(&self) -> u64 {
        self.oom_kills().saturating_sub(self.oom_before)
    }

    fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            Version::V2 => ("memory.events", "oom_kill "),
            Version::V1 => ("memory.oom_control", "oom_kill "),
        };
        let Some(dir) = self.dirs.first() else {
            return 0;
        };
        fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
            })
            .unwrap_or(0)
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.kill_all();
        remove_dirs(&self.dirs);
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

fn kill_dirs(v: Version, dirs: &[PathBuf]) -> usize {
    let mut killed = std::collections::HashSet::new();
    if v == Version::V2
        && let Some(d) = dirs.first()
    {
        let _ = fs::write(d.join("cgroup.kill"), "1");
    }
    for _ in 0..500 {
        let mut any = false;
        for d in dirs {
            let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) else {
                continue;
            };
            for pid in s.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                any = true;
                // SAFETY: kill only sends a signal, to a pid listed in a run
                // cgroup of ours.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    killed.insert(pid);
                }
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    killed.len()
}

fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        for _ in 0..200 {
            match fs::remove_dir(d) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
    }
}

/// Whether tenant cgroups get a CPU weight here (v1: a cpu hierarchy;
/// v2: the cpu controller).
pub fn cpu_weighting(v: Version) -> bool {
    match v {
        Version::V1 => parents(v).is_ok_and(|p| p.len() > 2),
        Version::V2 => fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu")),
    }
}

/// Whether this process can make run cgroups (a probe cgroup is made and
/// removed).
pub fn writable(v: Version) -> Result<(), String> {
    match RunCgroup::create(v, None, "probe", 64 << 20, 16) {
        Ok(cg) => {
            drop(cg);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Kills and removes run cgroups left by hosts that are gone (a host killed
/// with SIGKILL cannot clean up). Returns how many were swept.
///
/// It looks at the children of this host's own cgroups ([`parents`]),
/// which every process of the same cgroups shares: on a v1 host whose
/// hosts all sit in the root pids and cpu cgroups, those hold the cgroups
/// of every host on the machine, whatever their PID namespace. So a
/// cgroup is swept only when [`verdict`] proves its host dead.
pub fn sweep_stale(v: Version) -> usize {
    let Ok(parents) = parents(v) else {
        return 0;
    };
    let me = HostId::own();
    let proc_ours = proc_is_ours();
    let alive = |n: u32| probe_pid(n, proc_ours);
    let mut stale: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for parent in &parents {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(PREFIX) {
                continue;
            }
            if verdict(HostId::parse(&name), me, alive) == Verdict::Sweep {
                stale.entry(name).or_default().push(e.path());
            }
        }
    }
    for dirs in stale.values() {
        // A tenant's cgroup holds run cgroups: those go first.
        for d in dirs {
            let inner: Vec<PathBuf> = fs::read_dir(d)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            kill_dirs(v, &inner);
            remove_dirs(&inner);
        }
        kill_dirs(v, dirs);
        remove_dirs(dirs);
    }
    stale.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: HostId = HostId {
        pid_ns: 4_026_531_836,
        pid: 100,
        start: 5_000,
    };

    #[test]
    fn names_carry_the_host_and_parse_back() {
        let name = format!("{PREFIX}{}-job-202612060018123181", ME.tag());
        assert_eq!(name, "wasmjobs-4026531836.100.5000-job-202612060018123181");
        assert_eq!(HostId::parse(&name), Some(ME));
        let tenant = format!("{PREFIX}{}-tenant-a-b", ME.tag());
        assert_eq!(HostId::parse(&tenant), Some(ME));
        // The older form, and other names, are not a host's.
        assert_eq!(HostId::parse("wasmjobs-1234-job-1"), None);
        assert_eq!(HostId::parse("wasmjobs-1.2-job"), None);
        assert_eq!(HostId::parse("wasmjobs-1.2.3.4-job"), None);
        assert_eq!(HostId::parse("other-1.2.3-job"), None);
    }

    #[test]
    fn names_stay_within_the_length_limit() {
        let long = "j".repeat(400);
        let a = name_for(&long);
        assert!(a.len() <= NAME_MAX, "{}", a.len());
        assert!(HostId::parse(&a).is_some());
        // Two long names that differ only at the end stay apart.
        let b = name_for(&format!("{}x", "j".repeat(399)));
        assert_ne!(a, b);
        // The longest a run can have: a 64-character job, an 18-digit run.
        let run = format!("{}-{}", "j".repeat(64), "2".repeat(18));
        assert_eq!(
            name_for(&run),
            format!("{PREFIX}{}-{run}", HostId::own().tag())
        );
    }

    #[test]
    fn only_a_dead_host_of_this_pid_namespace_is_swept() {
        let other = |pid, start| Some(HostId { pid, start, ..ME });
        // Its pid is gone, or is another process now.
        assert_eq!(verdict(other(200, 7), ME, |_| Pid::Gone), Verdict::Sweep);
        assert_eq!(
            verdict(other(200, 7), ME, |_| Pid::Started(8)),
            Verdict::Sweep
        );
        // Alive, or cannot be told.
        assert_eq!(
            verdict(other(200, 7), ME, |_| Pid::Started(7)),
            Verdict::Keep
        );
        assert_eq!(verdict(other(200, 7), ME, |_| Pid::Unknown), Verdict::Keep);
        // This host's own.
        assert_eq!(verdict(Some(ME), ME, |_| Pid::Gone), Verdict::Keep);
        // Another PID namespace: its pid means nothing here.
        let foreign = HostId {
            pid_ns: 4_026_532_000,
            ..ME
        };
        assert_eq!(
            verdict(Some(HostId { pid: 1, ..foreign }), ME, |_| Pid::Gone),
            Verdict::Keep
        );
        // An older name, or this host's namespace unknown.
        assert_eq!(verdict(None, ME, |_| Pid::Gone), Verdict::Keep);
        let unknown = HostId { pid_ns: 0, ..ME };
        assert_eq!(
            verdict(Some(HostId { pid: 9, ..unknown }), unknown, |_| Pid::Gone),
            Verdict::Keep
        );
    }

    #[test]
    fn the_start_time_is_field_22() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert!(start_time("self").is_some_and(|t| t > 0));
        assert_eq!(
            probe_pid(std::process::id(), true),
            Pid::Started(start_time("self").unwrap())
        );
    }
}
