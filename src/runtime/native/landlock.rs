//! The Landlock layer: the ruleset is built in the parent (it allocates and
//! opens a path fd per rule); the child only calls `landlock_restrict_self`.
//! Landlock is an allow-list, so system folders are listed one by one
//! (never `/etc` whole: that would allow `/etc/shadow` too).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

/// The newest ABI this module asks for (6: TCP rules and scoping).
pub const ABI_WANTED: i32 = 6;

/// The Landlock ABI this kernel offers (0 when it has none).
pub fn kernel_abi() -> i32 {
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    // SAFETY: a version query: no ruleset, no pointer the kernel reads.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    v.max(0) as i32
}

/// What one run may touch.
pub struct Rules<'a> {
    /// Extra read-only paths (the interpreter's own files outside `/usr`).
    pub read: &'a [PathBuf],
    /// Read and write beneath, but no FIFO, socket or device may be made
    /// there: the working copy and the data folder, which the host and wasm
    /// guests open later.
    pub write: &'a [&'a Path],
    /// As `write`, and FIFOs and sockets may be made there too (never
    /// devices): the private tmp, which nothing opens after the run.
    pub scratch: &'a [&'a Path],
    /// Also give `/proc` of the host (when there is no fresh `/proc`).
    pub host_proc: bool,
    /// Deny TCP bind and connect (but connecting to `connect_ports`).
    pub deny_tcp: bool,
    /// The ports a job denied TCP may still connect to (the host's proxy
    /// in its network namespace).
    pub connect_ports: &'a [u16],
    /// Fail instead of silently applying less than asked.
    pub strict: bool,
}

/// Builds the ruleset; the returned fd is close-on-exec.
pub fn build(rules: &Rules<'_>) -> Result<OwnedFd> {
    let abi = ABI::V6;
    let level = if rules.strict {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))?;
    if rules.deny_tcp {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    let mut created = ruleset.create()?;
    if rules.deny_tcp {
        for port in rules.connect_ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    let read = AccessFs::from_read(abi);
    for (fd, is_dir) in system_paths() {
        created = created.add_rule(PathBeneath::new(fd, fit(read, *is_dir)))?;
    }
    let mut read_paths: Vec<PathBuf> = rules.read.to_vec();
    if rules.host_proc {
        read_paths.push("/proc".into());
    }
    for p in read_paths.iter().filter(|p| p.exists()) {
        created = add(created, p, read)?;
    }
    created = add(created, Path::new("/dev/null"), read | AccessFs::WriteFile)?;
    for p in rules.write {
        created = add(created, p, write_access(abi))?;
    }
    for p in rules.scratch {
        created = add(created, p, scratch_access(abi))?;
    }
    let fd: Option<OwnedFd> = created.into();
    match fd {
        Some(fd) => Ok(fd),
        None => bail!("this kernel does not enforce Landlock"),
    }
}

/// The system paths that exist on this host, opened once per process
/// (every run's ruleset gets its rules from these descriptors).
fn system_paths() -> &'static [(PathFd, bool)] {
    static PATHS: OnceLock<Vec<(PathFd, bool)>> = OnceLock::new();
    PATHS.get_or_init(|| {
        // The job's root holds the same files ([`super::root`]); /dev/null
        // is also writable and has a rule of its own.
        super::root::SYSTEM
            .iter()
            .chain(super::root::DEVICES.iter().filter(|d| **d != "/dev/null"))
            .map(Path::new)
            .filter(|p| p.exists())
            .filter_map(|p| Some((PathFd::new(p).ok()?, p.is_dir())))
            .collect()
    })
}

/// A file (not a folder) only takes the file rights.
fn fit(access: landlock::BitFlags<AccessFs>, is_dir: bool) -> landlock::BitFlags<AccessFs> {
    if is_dir {
        access
    } else {
        access & AccessFs::from_file(ABI::V6)
    }
}

fn add(
    created: landlock::RulesetCreated,
    path: &Path,
    access: landlock::BitFlags<AccessFs>,
) -> Result<landlock::RulesetCreated> {
    let fd =
        PathFd::new(path).with_context(|| format!("opening {} for Landlock", path.display()))?;
    Ok(created.add_rule(PathBeneath::new(fd, fit(access, path.is_dir())))?)
}

/// Everything in a job's own folders but making FIFOs, sockets and device
/// nodes (which could block or confuse the host that later opens them).
fn write_access(abi: ABI) -> landlock::BitFlags<AccessFs> {
    AccessFs::from_all(abi)
        & !(AccessFs::MakeFifo | AccessFs::MakeSock | AccessFs::MakeChar | AccessFs::MakeBlock)
}

/// Everything in a run's private scratch but making device nodes.
fn scratch_access(abi: ABI) -> landlock::BitFlags<AccessFs> {
    AccessFs::from_all(abi) & !(AccessFs::MakeChar | AccessFs::MakeBlock)
}

/// The rights of a rule the child adds itself for a folder it mounts (the
/// working copy's overlay, the scratch's `/tmp`): `write_access` or
/// `scratch_access`, as far as this kernel's ABI has them.
pub fn late_access(scratch: bool) -> u64 {
    let abi = ABI::from(kernel_abi().min(ABI_WANTED));
    let access = if scratch {
        scratch_access(abi)
    } else {
        write_access(abi)
    };
    access.bits()
}

/// Read-file and read-dir rights, for the fresh `/proc` the child mounts
/// (a rule made in the parent names the host's procfs inode, not it).
pub const PROC_READ_ACCESS: u64 = (1 << 2) | (1 << 3);
