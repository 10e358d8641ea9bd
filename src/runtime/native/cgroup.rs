//! Per-tenant and per-run cgroups. A tenant's cgroup holds its runs'
//! cgroups: its CPU weight and process budget hold for all its runs
//! together. A run's cgroup has a memory and a pids limit, and "kill the
//! whole tree". cgroup v2 (one unified folder) and v1 (separate memory,
//! pids and cpu hierarchies, as on this project's build machines) are both
//! handled. Tenant cgroups are made below the host process's own cgroup,
//! named `wasmjobs-<host pid>-tenant-<tenant>`, so a later host can sweep
//! the ones a dead host left behind.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
const PREFIX: &str = "wasmjobs-";

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
        let name = format!(
            "{PREFIX}{}-tenant-{}",
            std::process::id(),
            if tenant.is_empty() { "-" } else { tenant }
        );
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
        let name = format!("{PREFIX}{}-{run}", std::process::id());
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
    let probe = format!("probe{}", std::process::id());
    match RunCgroup::create(v, None, &probe, 64 << 20, 16) {
        Ok(cg) => {
            drop(cg);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Kills and removes run cgroups left by hosts that are gone (a host killed
/// with SIGKILL cannot clean up). Returns how many were swept.
pub fn sweep_stale(v: Version) -> usize {
    let Ok(parents) = parents(v) else {
        return 0;
    };
    let mut stale: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for parent in &parents {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(owner) = name
                .strip_prefix(PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let alive = unsafe { libc::kill(owner, 0) } == 0
                || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            if !alive {
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
