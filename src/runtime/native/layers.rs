//! Which isolation layers a native run gets: what the host asks for
//! (`--native-sandbox strict|best-effort|off`), what this kernel and user
//! allow (probed once per process, on first use by a native run, `doctor`
//! or `bench`), and the plan that follows. Strict refuses to run with less
//! than the full set rather than silently weakening. Also whether the host
//! counts as root ([`Root`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::cgroup::{self, Version};
use super::rlimit::{self, Limit};
use super::{landlock, seccomp};

/// How strictly the native sandbox is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Every layer, or the run is refused (cgroups: where writable).
    #[default]
    Strict,
    /// Every layer this host allows; missing ones are named in the run log.
    BestEffort,
    /// No isolation, only the resource limits (rlimits, cgroup). For
    /// trusted jobs and for measuring what isolation costs.
    Off,
}

/// Host settings for native runs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// How strictly the layers are required.
    pub mode: SandboxMode,
    /// Give each run its own network namespace (no network at all, costs
    /// about 2 ms per start).
    pub net_namespace: bool,
    /// The uids runs get when the host is root (inclusive).
    pub uids: (u32, u32),
    /// Largest file a run may write, in MiB (`RLIMIT_FSIZE`).
    pub max_file_mb: u64,
    /// Most processes a run may have (cgroup `pids.max`, `RLIMIT_NPROC`).
    pub max_processes: u64,
    /// Most open files per process (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
    /// Which of the three above the operator set explicitly: such a value
    /// above this host's hard limit refuses the host's start, where a
    /// default is lowered to it ([`rlimit`]).
    pub explicit: ExplicitLimits,
    /// Where a root host keeps its uid leases ([`super::uid`]).
    pub lease_dir: PathBuf,
}

/// Which native limits the operator set explicitly (a flag or its
/// environment variable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExplicitLimits {
    /// `--native-max-file-mb`.
    pub file_mb: bool,
    /// `--native-max-processes`.
    pub processes: bool,
    /// `--native-max-open-files`.
    pub open_files: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            mode: SandboxMode::Strict,
            net_namespace: true,
            uids: (2_000_000_000, 2_000_065_535),
            max_file_mb: 1024,
            max_processes: 256,
            max_open_files: 1024,
            explicit: ExplicitLimits::default(),
            lease_dir: PathBuf::from(super::uid::LEASE_DIR),
        }
    }
}

impl SandboxConfig {
    /// The explicitly set limits checked against this host's hard limits:
    /// one above its hard limit refuses the host's start (`serve`, `run`),
    /// naming the limit, the flag and the hard limit.
    pub fn check_hard_limits(&self) -> Result<(), String> {
        let e = self.explicit;
        for (set, limit, value, flag, env) in [
            (
                e.open_files,
                Limit::OpenFiles,
                self.max_open_files,
                "--native-max-open-files",
                "WASMJOBS_NATIVE_MAX_OPEN_FILES",
            ),
            (
                e.processes,
                Limit::Processes,
                self.max_processes,
                "--native-max-processes",
                "WASMJOBS_NATIVE_MAX_PROCESSES",
            ),
            (
                e.file_mb,
                Limit::FileSize,
                self.max_file_mb.saturating_mul(1 << 20),
                "--native-max-file-mb",
                "WASMJOBS_NATIVE_MAX_FILE_MB",
            ),
        ] {
            if set {
                rlimit::check_explicit(limit, value, flag, env, rlimit::hard(limit))?;
            }
        }
        Ok(())
    }
}

/// Whether the host counts as root for the sandbox: only a root that owns
/// the sandbox's uids can give each run a uid of its own (and make
/// namespaces without a user namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Effective uid 0, and the sandbox's uid range is mapped in this
    /// user namespace (the initial one maps every uid).
    Real,
    /// Effective uid 0 inside a user namespace that does not map the
    /// sandbox's uid range (`unshare -Ur`, a rootless container): treated
    /// as not root. `mapped` is how many uids it maps.
    InUserNamespace {
        /// The uids the namespace maps in all.
        mapped: u64,
    },
    /// Any other uid.
    No,
}

impl Root {
    /// The one decision, from the effective uid, the text of
    /// `/proc/self/uid_map` and the sandbox's uid range.
    pub fn decide(euid: u32, uid_map: &str, range: (u32, u32)) -> Root {
        if euid != 0 {
            return Root::No;
        }
        let map = super::uid::parse_uid_map(uid_map);
        if super::uid::maps_range(&map, range) {
            Root::Real
        } else {
            Root::InUserNamespace {
                mapped: map.iter().map(|r| r.count).sum(),
            }
        }
    }

    /// This process, for the uids `range`.
    pub fn of_this_process(range: (u32, u32)) -> Root {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        // Unreadable: nothing is known to be mapped.
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        Root::decide(euid, &map, range)
    }

    /// Runs get a uid of their own, and namespaces need no user namespace.
    pub fn is_real(self) -> bool {
        self == Root::Real
    }
}

/// What this kernel and user allow.
#[derive(Debug, Clone)]
pub struct Support {
    /// Whether the host is root for the sandbox (uid drop, namespaces
    /// without a user namespace): [`Root::decide`].
    pub root: Root,
    /// Landlock ABI (0: none).
    pub landlock_abi: i32,
    /// seccomp filters.
    pub seccomp: bool,
    /// PID, mount, IPC and UTS namespaces (plus a user namespace when not
    /// root): empty when they work, else why not.
    pub namespaces: Result<(), String>,
    /// A network namespace on top.
    pub net_namespace: Result<(), String>,
    /// Why the probe process could not even start (no descriptor or
    /// process left under this host's limits): the namespaces are then
    /// unknown and no native run can start. Such a probe is not kept: the
    /// next native run probes again.
    pub blocked: Option<String>,
    /// A writable cgroup interface.
    pub cgroup: Result<Version, String>,
}

impl Support {
    /// The host's support, probed on first use (by a native run, `doctor`
    /// or `bench`, never by a host that runs only wasm guests); the first
    /// probe also sweeps the cgroups that dead hosts left. `config` gives
    /// the uid range that decides [`Root`] (one per host process).
    pub fn get(config: &SandboxConfig) -> Arc<Support> {
        static SUPPORT: Mutex<Option<Arc<Support>>> = Mutex::new(None);
        let mut kept = SUPPORT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = &*kept {
            return s.clone();
        }
        let s = Arc::new(Support::probe(config.uids));
        if s.blocked.is_none() {
            *kept = Some(s.clone());
        }
        s
    }

    fn probe(uids: (u32, u32)) -> Support {
        let root = Root::of_this_process(uids);
        let base = namespace_flags(root.is_real(), false);
        let (namespaces, net_namespace, blocked) = match try_unshare(base) {
            Probe::NotStarted(why) => (
                Err("unknown: the probe could not start".to_string()),
                Err("unknown: the probe could not start".to_string()),
                Some(why),
            ),
            Probe::Refused(why) => (Err(why.clone()), Err(why), None),
            Probe::Works => match try_unshare(base | libc::CLONE_NEWNET) {
                Probe::Works => (Ok(()), Ok(()), None),
                Probe::Refused(why) => (Ok(()), Err(why), None),
                Probe::NotStarted(why) => (
                    Ok(()),
                    Err("unknown: the probe could not start".to_string()),
                    Some(why),
                ),
            },
        };
        let cgroup = match cgroup::version() {
            None => Err("no cgroup memory and pids controllers".to_string()),
            Some(v) => cgroup::writable(v).map(|()| v),
        };
        if let Ok(v) = cgroup {
            static SWEPT: std::sync::Once = std::sync::Once::new();
            SWEPT.call_once(|| {
                let swept = cgroup::sweep_stale(v);
                if swept > 0 {
                    tracing::info!("removed {swept} run cgroups left by hosts that are gone");
                }
            });
        }
        Support {
            root,
            landlock_abi: landlock::kernel_abi(),
            seccomp: seccomp::available(),
            namespaces,
            net_namespace,
            blocked,
            cgroup,
        }
    }
}

/// `unshare` flags for a run's namespaces.
pub fn namespace_flags(root: bool, net: bool) -> libc::c_int {
    let mut f = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    if !root {
        f |= libc::CLONE_NEWUSER;
    }
    if net {
        f |= libc::CLONE_NEWNET;
    }
    f
}

/// What a namespace probe found.
enum Probe {
    /// The namespaces work.
    Works,
    /// The kernel refused them: why.
    Refused(String),
    /// The probe process could not start: why (the namespaces are unknown).
    NotStarted(String),
}

/// The probe's exit code when `unshare` fails: this plus its errno.
const UNSHARE_FAILED: i32 = 64;

/// Tries the namespaces in a throwaway child (`/bin/true`). A refused
/// `unshare` ends the child with [`UNSHARE_FAILED`] plus its errno, so it
/// is told apart from a probe that could not start at all (no descriptor
/// for std's pipes, no process left).
fn try_unshare(flags: libc::c_int) -> Probe {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/bin/true");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the closure runs between fork and exec and makes raw system
    // calls only (unshare, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(flags) != 0 {
                let errno = *libc::__errno_location();
                libc::_exit(UNSHARE_FAILED + errno.clamp(0, 127));
            }
            Ok(())
        });
    }
    match cmd.status() {
        Ok(s) if s.success() => Probe::Works,
        Ok(s) => match s.code() {
            Some(c) if c > UNSHARE_FAILED => Probe::Refused(format!(
                "unshare: {}",
                crate::runtime::confine::describe(&std::io::Error::from_raw_os_error(
                    c - UNSHARE_FAILED
                ))
            )),
            _ => Probe::Refused(format!("the probe exited with {s}")),
        },
        Err(e) => Probe::NotStarted(format!(
            "cannot start the probe: {}",
            crate::runtime::confine::describe(&e)
        )),
    }
}

/// The layers a run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layers {
    /// CPU, address space, file size, open files and process rlimits.
    pub rlimits: bool,
    /// A uid of its own (root host).
    pub own_uid: bool,
    /// Landlock: files, TCP, signal and abstract-socket scoping.
    pub landlock: bool,
    /// The seccomp deny-list.
    pub seccomp: bool,
    /// PID (with an init), mount, IPC, UTS and cgroup namespaces, plus a
    /// user namespace when the host is not root.
    pub namespaces: bool,
    /// A network namespace.
    pub net_namespace: bool,
    /// A per-run cgroup.
    pub cgroup: Option<Version>,
}

impl Layers {
    /// Every layer, as far as the host's `support` goes (the benchmark
    /// switches them one by one from here).
    pub fn all(support: &Support) -> Layers {
        Layers {
            rlimits: true,
            own_uid: support.root.is_real(),
            landlock: support.landlock_abi >= 1,
            seccomp: support.seccomp,
            namespaces: support.namespaces.is_ok(),
            net_namespace: support.net_namespace.is_ok(),
            cgroup: support.cgroup.as_ref().ok().copied(),
        }
    }

    /// Only the resource limits.
    pub fn limits_only(support: &Support) -> Layers {
        Layers {
            rlimits: true,
            cgroup: support.cgroup.as_ref().ok().copied(),
            ..Layers::default()
        }
    }

    /// The plan for `config` on a host with `support`: the layers, and a
    /// note per layer left out. Strict mode refuses with the list of what
    /// is missing; any mode refuses while the probe cannot even start (no
    /// job could either).
    pub fn plan(
        config: &SandboxConfig,
        support: &Support,
    ) -> Result<(Layers, Vec<String>), String> {
        if let Some(why) = &support.blocked {
            return Err(format!("native runs cannot start on this host now: {why}"));
        }
        if config.mode == SandboxMode::Off {
            return Ok((
                Layers::limits_only(support),
                vec!["the native sandbox is off (--native-sandbox off): the job runs with resource limits only".into()],
            ));
        }
        let mut layers = Layers::all(support);
        let mut missing = Vec::new();
        if support.landlock_abi < landlock::ABI_WANTED {
            missing.push(format!(
                "Landlock ABI {} (this kernel has {})",
                landlock::ABI_WANTED,
                support.landlock_abi
            ));
        }
        if !support.seccomp {
            missing.push("seccomp filters".to_string());
        }
        if let Err(e) = &support.namespaces {
            missing.push(format!("namespaces ({e})"));
        }
        if config.net_namespace {
            if let (Ok(()), Err(e)) = (&support.namespaces, &support.net_namespace) {
                missing.push(format!("a network namespace ({e})"));
            }
        } else {
            layers.net_namespace = false;
        }
        let mut notes = Vec::new();
        if let Err(e) = &support.cgroup {
            notes.push(format!(
                "no per-run cgroup ({e}): memory is capped by RLIMIT_AS only"
            ));
        }
        if !missing.is_empty() {
            if config.mode == SandboxMode::Strict {
                return Err(format!(
                    "the native sandbox is strict and this host lacks: {}. Use --native-sandbox best-effort to run with fewer layers",
                    missing.join("; ")
                ));
            }
            notes.extend(
                missing
                    .into_iter()
                    .map(|m| format!("sandbox layer missing: {m}")),
            );
        }
        Ok((layers, notes))
    }

    /// One line naming the layers.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let mut add = |on: bool, name: &str| {
            if on {
                if !s.is_empty() {
                    s.push_str(", ");
                }
                s.push_str(name);
            }
        };
        add(self.rlimits, "rlimits");
        add(self.own_uid, "own uid");
        add(self.landlock, "landlock");
        add(self.seccomp, "seccomp");
        add(self.namespaces, "namespaces (pid, mount, ipc, uts)");
        add(self.net_namespace, "network namespace");
        add(self.cgroup.is_some(), "cgroup");
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Support {
        Support {
            root: Root::Real,
            blocked: None,
            landlock_abi: 7,
            seccomp: true,
            namespaces: Ok(()),
            net_namespace: Ok(()),
            cgroup: Ok(Version::V1),
        }
    }

    fn config(mode: SandboxMode) -> SandboxConfig {
        SandboxConfig {
            mode,
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn a_full_host_gets_every_layer() {
        let (l, notes) = Layers::plan(&config(SandboxMode::Strict), &full()).unwrap();
        assert!(l.rlimits && l.own_uid && l.landlock && l.seccomp && l.namespaces);
        assert!(l.net_namespace && l.cgroup.is_some());
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn strict_refuses_what_best_effort_names() {
        let weak = Support {
            landlock_abi: 3,
            namespaces: Err("unshare: EPERM".into()),
            net_namespace: Err("unshare: EPERM".into()),
            ..full()
        };
        let err = Layers::plan(&config(SandboxMode::Strict), &weak).unwrap_err();
        assert!(err.contains("Landlock ABI 6 (this kernel has 3)"), "{err}");
        assert!(err.contains("namespaces (unshare: EPERM)"), "{err}");
        let (l, notes) = Layers::plan(&config(SandboxMode::BestEffort), &weak).unwrap();
        assert!(!l.namespaces && !l.net_namespace && l.seccomp && l.landlock);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn net_namespace_can_be_turned_off_and_cgroups_are_optional() {
        let mut c = config(SandboxMode::Strict);
        c.net_namespace = false;
        let no_cg = Support {
            cgroup: Err("EACCES".into()),
            net_namespace: Err("no".into()),
            ..full()
        };
        let (l, notes) = Layers::plan(&c, &no_cg).unwrap();
        assert!(!l.net_namespace && l.cgroup.is_none() && l.namespaces);
        assert!(notes[0].contains("no per-run cgroup"), "{notes:?}");
    }

    #[test]
    fn root_is_real_only_where_the_sandbox_uids_are_mapped() {
        let range = SandboxConfig::default().uids;
        let init = "         0          0 4294967295\n";
        assert_eq!(Root::decide(0, init, range), Root::Real);
        // unshare -Ur: uid 0 of a namespace that maps one uid.
        let one = "         0       1000          1\n";
        assert_eq!(
            Root::decide(0, one, range),
            Root::InUserNamespace { mapped: 1 }
        );
        // A rootless container's 65536 subordinate uids.
        let sub = "0 1000 1\n1 100000 65536\n";
        assert_eq!(
            Root::decide(0, sub, range),
            Root::InUserNamespace { mapped: 65_537 }
        );
        // ...which a range inside them would make real.
        assert_eq!(Root::decide(0, sub, (1000, 1999)), Root::Real);
        assert_eq!(Root::decide(1000, init, range), Root::No);
        // Unreadable map: nothing is known to be mapped.
        assert_eq!(
            Root::decide(0, "", range),
            Root::InUserNamespace { mapped: 0 }
        );
    }

    #[test]
    fn a_root_in_a_user_namespace_gets_no_uid_and_a_user_namespace() {
        let userns = Support {
            root: Root::InUserNamespace { mapped: 1 },
            ..full()
        };
        let (l, notes) = Layers::plan(&config(SandboxMode::Strict), &userns).unwrap();
        assert!(!l.own_uid && l.namespaces, "{l:?}");
        assert!(notes.is_empty(), "{notes:?}");
        assert_ne!(
            namespace_flags(userns.root.is_real(), false) & libc::CLONE_NEWUSER,
            0
        );
        assert_eq!(namespace_flags(true, false) & libc::CLONE_NEWUSER, 0);
    }

    #[test]
    fn a_probe_that_could_not_start_refuses_every_mode_naming_why() {
        let blocked = Support {
            namespaces: Err("unknown: the probe could not start".into()),
            net_namespace: Err("unknown: the probe could not start".into()),
            blocked: Some("cannot start the probe: Too many open files (ulimit -n 16)".into()),
            ..full()
        };
        for mode in [
            SandboxMode::Strict,
            SandboxMode::BestEffort,
            SandboxMode::Off,
        ] {
            let err = Layers::plan(&config(mode), &blocked).unwrap_err();
            assert_eq!(
                err,
                "native runs cannot start on this host now: cannot start the probe: Too many open files (ulimit -n 16)"
            );
        }
    }

    #[test]
    fn off_keeps_only_resource_limits() {
        let (l, notes) = Layers::plan(&config(SandboxMode::Off), &full()).unwrap();
        assert_eq!(l, Layers::limits_only(&full()));
        assert!(notes[0].contains("off"));
    }
}
