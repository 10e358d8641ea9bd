//! The parent side of a sandboxed spawn: prepares every layer (cgroup,
//! Landlock ruleset, seccomp BPF, uid lease, mount plan), forks from one
//! long-lived thread (a parent-death signal fires when the *thread* that
//! forked exits), and afterwards waits, kills the whole tree and says how
//! the job ended.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result};
use tokio::io::unix::AsyncFd;

use super::cgroup::{RunCgroup, TenantCgroup};
use super::child::{self, ChildPlan, JobEnd, NsPlan};
use super::landlock;
use super::layers::Layers;
use super::seccomp;
use super::uid::{self, UidLease};
use crate::net::forward::{self, PROXY_PORT};
use crate::runtime::NetAccess;

pub use super::root::view;

pub use crate::runtime::executor::Dirs;

impl Dirs {
    /// How a job with `layers` sees the host folders `host`: the fixed
    /// view inside namespaces, the host paths otherwise.
    pub fn seen_with(layers: &Layers, host: &Dirs) -> Dirs {
        if layers.namespaces {
            Dirs {
                work: view::JOB.into(),
                data: view::DATA.into(),
                tmp: view::TMP.into(),
            }
        } else {
            host.clone()
        }
    }
}

/// Per-process resource limits (soft = hard), each within the host's own
/// hard limit ([`super::rlimit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// CPU seconds.
    pub cpu_s: u64,
    /// Address space, bytes.
    pub address_space: u64,
    /// Largest file, bytes.
    pub file_size: u64,
    /// Open files.
    pub open_files: u64,
    /// Processes of the run's uid (and the cgroup's `pids.max`).
    pub processes: u64,
}

/// One sandboxed process to start.
pub struct Spec {
    /// The program, as the job sees it.
    pub program: PathBuf,
    /// Its arguments (after argv\[0\]).
    pub args: Vec<OsString>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// The working directory, as the job sees it.
    pub cwd: PathBuf,
    /// The run's folders on the host.
    pub dirs: Dirs,
    /// The layers to apply.
    pub layers: Layers,
    /// Process limits.
    pub rlimits: Rlimits,
    /// The cgroup memory cap, MiB.
    pub memory_mb: u64,
    /// The network the job gets: none (socket filter and Landlock's TCP
    /// rules), the sandbox's sockets, or only the host's proxy in its
    /// network namespace.
    pub network: crate::runtime::NetAccess,
    /// Extra read-only paths (the interpreter's home outside `/usr`).
    pub extra_read: Vec<PathBuf>,
    /// The uid range of a root host.
    pub uid_range: (u32, u32),
    /// The host is root for the sandbox ([`super::layers::Root`]):
    /// namespaces without a user namespace.
    pub host_root: bool,
    /// Where uid leases are kept.
    pub lease_dir: PathBuf,
    /// Names the run's cgroup.
    pub run_name: String,
    /// The tenant's share: its cgroup holds the run's.
    pub tenant: crate::runtime::TenantShare,
    /// The cap on the run's scratch (working copy and `/tmp`), a tmpfs of
    /// its own inside namespaces.
    pub scratch: super::root::ScratchSize,
    /// Refuse rather than weaken a layer the kernel only partly supports.
    pub strict: bool,
    /// Standard output.
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
}

/// The one thread every sandboxed process is forked from.
pub struct Spawner {
    tx: mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Spawner {
    /// Starts the thread.
    pub fn new() -> Spawner {
        let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("wasmjobs-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("starting the spawner thread");
        Spawner { tx }
    }

    async fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut cmd = cmd;
        self.tx
            .send(Box::new(move || {
                // Nobody waits any more (the run was cancelled): end it.
                if let Err(Ok(mut orphan)) = tx.send(cmd.spawn()) {
                    // SAFETY: kill only sends a signal, to the orphan's own
                    // process group.
                    unsafe { libc::kill(-(orphan.id() as i32), libc::SIGKILL) };
                    let _ = orphan.kill();
                    let _ = orphan.wait();
                }
            }))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the spawner thread dropped a request"))?
    }
}

impl Default for Spawner {
    fn default() -> Self {
        Spawner::new()
    }
}

/// A running sandboxed job.
pub struct Sandboxed {
    /// The host's proxy for the run, and the relay of its own
    /// connections, when its way out is the host.
    _forwarders: Vec<AbortOnDrop>,
    child: Child,
    pid: i32,
    namespaces: bool,
    pidfd: AsyncFd<OwnedFd>,
    cgroup: Option<RunCgroup>,
    status: Option<File>,
    uid: Option<UidLease>,
}

/// How a sandboxed job ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// The job's own wait status (from its init, or the process itself).
    pub status: ExitStatus,
    /// The job's CPU time in microseconds, when known.
    pub cpu_us: Option<i64>,
    /// The most memory the run's cgroup was charged at once, in bytes (a
    /// child's own peak resident set would include the host's pages it was
    /// forked with).
    pub peak_memory: Option<u64>,
    /// The cgroup's out-of-memory killer fired.
    pub oom_killed: bool,
    /// Processes still alive after the job ended, killed by the sweep.
    pub leftovers: usize,
    /// Bytes and files left in the run's scratch when the job ended.
    pub scratch_left: Option<(u64, u64)>,
}

/// A task stopped when dropped (a run's forwarder ends with the run).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connected pair of Unix sockets (ours, the child's), close-on-exec.
fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array it is given.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just made by socketpair and are owned here alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The listening socket the child sent on `channel`. The child sends it
/// before it forks the job's init, so by the time the spawn has returned
/// it is there: this never waits.
fn receive_listener(channel: &OwnedFd) -> io::Result<tokio::net::TcpListener> {
    let fd = receive_fd(channel)?;
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// The descriptor the child sent on `channel` (sent before it execs: by
/// the time the spawn has returned it is there, so this never waits).
fn receive_fd(channel: &OwnedFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data, valid all zero; its pointers are set to
    // buffers on this stack that outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: recvmsg writes into the buffers msg points to.
    let n = unsafe {
        libc::recvmsg(
            channel.as_raw_fd(),
            &mut msg,
            libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
        )
    };
    if n != 1 {
        return Err(io::Error::other(
            "the run's channel closed without a descriptor",
        ));
    }
    // SAFETY: the control buffer was filled by recvmsg; CMSG_FIRSTHDR reads
    // msg's fields, and the header is checked before its data is read.
    let fd = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::other("the run sent no descriptor"));
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>())
    };
    // SAFETY: the descriptor was just received and is owned here alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} has a NUL byte", p.display()))
}

/// Prepares every layer and starts the job.
pub async fn spawn(spec: Spec, spawner: &Spawner) -> Result<Sandboxed> {
    let l = spec.layers;
    let uid = if l.own_uid {
        // A job usually gets the uid it had (the search starts from its
        // data folder's), so its data folder, already that uid's, is not
        // walked again; the walks run on a blocking thread.
        let (dirs, range, leases) = (spec.dirs.clone(), spec.uid_range, spec.lease_dir.clone());
        let leasing = tokio::task::spawn_blocking(move || -> Result<UidLease> {
            let lease = uid::lease(&leases, range.0, range.1, uid::seed_for(&dirs.data))
                .context("leasing a sandbox uid")?;
            for d in [&dirs.work, &dirs.tmp] {
                uid::give_tree(d, lease.uid, range)
                    .with_context(|| format!("giving {} to the run's uid", d.display()))?;
            }
            uid::give_data(&dirs.data, lease.uid, range)
                .with_context(|| format!("giving {} to the run's uid", dirs.data.display()))?;
            Ok(lease)
        });
        Some(leasing.await.context("leasing a sandbox uid")??)
    } else {
        // The job writes in its data folder as the host.
        uid::forget_owner(&spec.dirs.data);
        None
    };
    let cgroup = match l.cgroup {
        Some(v) => Some(
            RunCgroup::create(
                v,
                Some(TenantCgroup::open(v, &spec.tenant).context("creating the tenant's cgroup")?),
                &spec.run_name,
                spec.memory_mb << 20,
                spec.rlimits.processes,
            )
            .context("creating the run's cgroup")?,
        ),
        None => None,
    };
    // Inside namespaces the working copy is an overlay and /tmp a folder
    // of the scratch tmpfs, both mounted by the child: it adds their rules.
    let (write, scratch, late_rules) = if l.namespaces {
        (
            vec![spec.dirs.data.as_path()],
            vec![],
            vec![
                (CString::new(view::JOB)?, landlock::late_access(false)),
                (CString::new(view::TMP)?, landlock::late_access(true)),
            ],
        )
    } else {
        (
            vec![spec.dirs.work.as_path(), spec.dirs.data.as_path()],
            vec![spec.dirs.tmp.as_path()],
            vec![],
        )
    };
    let ruleset = if l.landlock {
        Some(
            landlock::build(&landlock::Rules {
                read: &spec.extra_read,
                write: &write,
                scratch: &scratch,
                host_proc: !l.namespaces,
                deny_tcp: !matches!(spec.network, NetAccess::Sockets),
                connect_ports: match spec.network {
                    NetAccess::Proxied { .. } => &[PROXY_PORT],
                    _ => &[],
                },
                strict: spec.strict,
            })
            .context("building the Landlock ruleset")?,
        )
    } else {
        None
    };
    let filters = if l.seccomp {
        seccomp::cached(matches!(spec.network, NetAccess::None))
            .context("compiling the seccomp filter")?
    } else {
        Vec::new()
    };
    let mut status_pipe = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error()).context("creating the status pipe");
    }
    // SAFETY: both ends were just made by pipe2 and are owned here alone.
    let status_read = unsafe { File::from_raw_fd(status_pipe[0]) };
    // SAFETY: as above, the other end.
    let status_write = unsafe { OwnedFd::from_raw_fd(status_pipe[1]) };
    // A run whose way out is the host's proxy: the child makes its
    // listener inside the new network namespace and sends it back here.
    let proxy = match &spec.network {
        NetAccess::Proxied {
            policy,
            say,
            budget,
            resolver,
            ..
        } => {
            if !(l.namespaces && l.net_namespace) {
                anyhow::bail!(
                    "network allow patterns need the run's own network namespace, which this run does not get"
                );
            }
            Some((
                socket_pair().context("creating the proxy's channel")?,
                policy.clone(),
                say.clone(),
                budget.clone(),
                resolver.clone(),
            ))
        }
        _ => None,
    };
    // And, on a root host, the job's own connections: it sends the host
    // the listener of a filter that hands the host every `connect`.
    let intercept = match &proxy {
        Some(_) if spec.host_root => {
            Some(socket_pair().context("creating the connect filter's channel")?)
        }
        _ => None,
    };
    let root = spec.host_root;
    let ns = if l.namespaces {
        let flags = super::layers::namespace_flags(root, l.net_namespace);
        let maps = (!root).then(|| {
            // SAFETY: geteuid and getegid have no preconditions.
            let (u, g) = unsafe { (libc::geteuid(), libc::getegid()) };
            (
                format!("{u} {u} 1").into_bytes(),
                format!("{g} {g} 1").into_bytes(),
            )
        });
        Some(NsPlan {
            flags,
            maps,
            root: super::root::plan(&spec.dirs, &spec.extra_read, Some(spec.scratch), !root)
                .context("planning the job's root")?,
            status_fd: status_write.as_raw_fd(),
            proxy: proxy
                .as_ref()
                .map(|((_, child_end), ..)| (child_end.as_raw_fd(), PROXY_PORT)),
        })
    } else {
        None
    };
    let r = spec.rlimits;
    let rlimits = if l.rlimits {
        vec![
            (libc::RLIMIT_CPU, r.cpu_s.max(1)),
            (libc::RLIMIT_AS, r.address_space),
            (libc::RLIMIT_FSIZE, r.file_size),
            (libc::RLIMIT_NPROC, r.processes),
            (libc::RLIMIT_CORE, 0),
        ]
    } else {
        Vec::new()
    };
    let plan = ChildPlan {
        host_pid: std::process::id() as i32,
        cgroup_fds: cgroup
            .as_ref()
            .map(RunCgroup::procs_fds)
            .unwrap_or_default(),
        rlimits,
        open_files: l.rlimits.then_some(r.open_files),
        uid: uid.as_ref().map(|u| u.uid),
        ns,
        landlock_fd: ruleset.as_ref().map(|f| f.as_raw_fd()),
        late_rules,
        seccomp: filters,
        connect_notify: intercept
            .as_ref()
            .map(|(_, theirs)| (theirs.as_raw_fd(), super::intercept::filter())),
        cwd: cstring(&spec.cwd)?,
    };
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .process_group(0);
    // SAFETY: child::setup runs between fork and exec and makes raw system
    // calls only, on the plan the closure owns (see the child module).
    unsafe {
        cmd.pre_exec(move || child::setup(&plan));
    }
    let mut child = spawner
        .spawn(cmd)
        .await
        .with_context(|| format!("starting {} in the sandbox", spec.program.display()))?;
    drop(status_write);
    drop(ruleset);
    let pid = child.id() as i32;
    let mut forwarders = Vec::new();
    if let Some(((ours, theirs), policy, say, budget, resolver)) = proxy {
        drop(theirs);
        let received = receive_listener(&ours)
            .context("receiving the proxy's listener from the run")
            .and_then(|l| {
                let dns = receive_fd(&ours).context("receiving the run's DNS socket")?;
                let dns = std::net::UdpSocket::from(dns);
                dns.set_nonblocking(true)?;
                let dns = tokio::net::UdpSocket::from_std(dns)?;
                let notify = match &intercept {
                    Some((ours, _)) => Some(
                        receive_fd(ours).context("receiving the connect filter from the run")?,
                    ),
                    None => None,
                };
                Ok((l, dns, notify))
            });
        match received {
            Ok((l, dns, notify)) => {
                let names = std::sync::Arc::new(crate::net::answer::Names::default());
                forwarders.push(AbortOnDrop(tokio::spawn(crate::net::answer::serve(
                    dns,
                    policy.clone(),
                    resolver.clone(),
                    say.clone(),
                    names.clone(),
                ))));
                say.line(
                    crate::store::logline::Level::Info,
                    if notify.is_some() {
                        "Network: a connection the job opens itself (a client that ignores the proxy) is held to the same policy, and relayed by the host"
                    } else {
                        "Network: a client that ignores the proxy finds no route out (relaying the job's own connections needs a root host)"
                    },
                );
                if let Some(notify) = notify {
                    let held = super::intercept::Held {
                        policy: policy.clone(),
                        resolver: resolver.clone(),
                        say: say.clone(),
                        budget: budget.clone(),
                        names,
                    };
                    forwarders.push(AbortOnDrop(tokio::spawn(super::intercept::serve(
                        notify, pid, held,
                    ))));
                }
                forwarders.push(AbortOnDrop(tokio::spawn(forward::serve(
                    l, policy, resolver, say, budget,
                ))));
            }
            Err(e) => {
                // SAFETY: kill only sends a signal, to the job's process group.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
    }
    drop(intercept);
    let give_up = |child: &mut Child| {
        // SAFETY: kill only sends a signal, to the job's process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    };
    // SAFETY: pidfd_open takes a pid and flags; the result is checked.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 {
        let e = io::Error::last_os_error();
        give_up(&mut child);
        return Err(e).context("pidfd_open");
    }
    // SAFETY: the descriptor was just opened and is owned by the AsyncFd.
    let pidfd = match unsafe { AsyncFd::register(OwnedFd::from_raw_fd(raw)) } {
        Ok(fd) => fd,
        Err(e) => {
            give_up(&mut child);
            anyhow::bail!("watching the job: {e}");
        }
    };
    Ok(Sandboxed {
        _forwarders: forwarders,
        child,
        pid,
        namespaces: l.namespaces,
        pidfd,
        cgroup,
        status: Some(status_read),
        uid,
    })
}

impl Sandboxed {
    /// The spawned process's pid (on the host).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The run's uid, when it has its own.
    pub fn uid(&self) -> Option<u32> {
        self.uid.as_ref().map(|u| u.uid)
    }

    /// Waits for the spawned process to exit, without reaping it: its pid
    /// (and process group) stay reserved until [`Sandboxed::finish`] has
    /// swept the tree, so no signal can reach a recycled pid.
    pub async fn wait(&mut self) -> io::Result<()> {
        loop {
            if self.exited()? {
                return Ok(());
            }
            let mut guard = self.pidfd.readable().await?;
            guard.clear_ready();
        }
    }

    /// Whether the spawned process has exited (it is not reaped).
    fn exited(&self) -> io::Result<bool> {
        // SAFETY: siginfo_t is plain data, valid all zero; waitid on our pidfd
        // writes into it (WNOWAIT leaves the process unreaped).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above: waitid writes only `info`.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.pidfd.get_ref().as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `info` was filled by waitid (or is still zero): si_pid reads
        // its pid field.
        Ok(unsafe { info.si_pid() } != 0)
    }

    /// Kills the whole tree now: the process group, the spawned process
    /// (its init and namespace die with it) and the cgroup.
    pub fn kill(&self) {
        // SAFETY: kill only sends signals, to the job's process group and to
        // the process we spawned (not yet reaped, so its pid is still ours).
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
            libc::kill(self.pid, libc::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
    }

    /// A probe of the job's CPU time, for the idle timeout.
    pub fn cpu_probe(&self) -> CpuProbe {
        CpuProbe {
            pgid: self.pid,
            cgroup_procs: self
                .cgroup
                .as_ref()
                .map(RunCgroup::procs_files)
                .unwrap_or_default(),
        }
    }

    /// After the spawned process exited ([`Sandboxed::wait`]): kills
    /// whatever the job left (process group, cgroup, and for a run with its
    /// own uid but no PID namespace, every process of that uid), reaps the
    /// spawned process, reads the job's own end from its init, and releases
    /// the cgroup and the uid.
    pub fn finish(mut self) -> io::Result<Ended> {
        let mut leftovers = 0;
        // SAFETY: kill only checks for, then signals, the job's process group
        // (its leader is not reaped yet).
        if unsafe { libc::kill(-self.pid, 0) } == 0 {
            leftovers += process_group_members(self.pid).len();
            // SAFETY: as above: a signal to the job's own process group.
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
        // Reaped only now, after the group kill: until then its pid and
        // process group cannot be recycled. (It leaves its cgroup when
        // reaped, so the cgroup sweep comes after.)
        let spawned = self.child.wait()?;
        let oom_killed = self
            .cgroup
            .as_ref()
            .is_some_and(|cg| cg.oom_kills_since_start() > 0);
        let peak_memory = self.cgroup.as_ref().and_then(RunCgroup::memory_peak);
        if let Some(cg) = self.cgroup.take() {
            leftovers += cg.kill_all();
        }
        if let (Some(lease), false) = (&self.uid, self.namespaces) {
            kill_uid(lease.uid);
        }
        let mut end = JobEnd::default();
        let reported = self.status.take().is_some_and(|mut f| {
            // SAFETY: JobEnd is repr(C) plain data; the slice covers exactly
            // its bytes and lives no longer than `end`.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(
                    (&mut end as *mut JobEnd).cast::<u8>(),
                    std::mem::size_of::<JobEnd>(),
                )
            };
            matches!(f.read(buf), Ok(n) if n == buf.len())
        });
        Ok(Ended {
            status: if reported {
                ExitStatus::from_raw(end.status)
            } else {
                spawned
            },
            cpu_us: reported.then_some(end.cpu_us),
            peak_memory,
            oom_killed,
            leftovers,
            scratch_left: (reported && end.scratch_bytes_left >= 0).then_some((
                end.scratch_bytes_left as u64,
                end.scratch_files_left.max(0) as u64,
            )),
        })
    }
}

/// Kills every process of `uid`: a forked helper becomes `uid` and signals
/// everything it may (`kill(-1)` spares only itself and init). No exec:
/// between fork and exit it makes raw system calls only.
fn kill_uid(uid: u32) {
    // SAFETY: the forked child makes raw system calls only and exits; the
    // parent waits for it.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            if libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(uid, uid, uid) == 0
                && libc::setresuid(uid, uid, uid) == 0
            {
                libc::kill(-1, libc::SIGKILL);
            }
            libc::_exit(0);
        }
        if pid > 0 {
            let mut st = 0;
            while libc::waitpid(pid, &mut st, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
        }
    }
}

impl Drop for Sandboxed {
    fn drop(&mut self) {
        // A run dropped mid-way (its future cancelled) leaves nothing.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads the CPU time of a job's processes: the cgroup's members, or the
/// process group's.
pub struct CpuProbe {
    pgid: i32,
    cgroup_procs: Vec<PathBuf>,
}

impl CpuProbe {
    /// utime + stime of the job's processes now, in clock ticks.
    pub fn ticks(&self) -> u64 {
        let pids: Vec<i32> = if self.cgroup_procs.is_empty() {
            process_group_members(self.pgid)
        } else {
            let mut v: Vec<i32> = self
                .cgroup_procs
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .flat_map(|s| {
                    s.lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect::<Vec<i32>>()
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        pids.into_iter().filter_map(stat_cpu_ticks).sum()
    }
}

/// Pids whose process group is `pgid` (a scan of /proc).
fn process_group_members(pgid: i32) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        // SAFETY: getpgid only reads a process's group.
        .filter(|pid| unsafe { libc::getpgid(*pid) } == pgid)
        .collect()
}

/// utime + stime of one process, in clock ticks.
fn stat_cpu_ticks(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: ") S ppid ...".
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}
