//! The child side of a sandboxed spawn. Everything is prepared by the
//! parent ([`ChildPlan`]); between fork and exec the child only makes raw
//! system calls on that data: no allocation, no locks, no std I/O (the
//! parent is multi-threaded, so anything else could deadlock).
//!
//! With namespaces there are three processes:
//! - the spawned child (outside the new PID namespace) joins the cgroup,
//!   sets the rlimits, unshares the namespaces, forks the init and mirrors
//!   its exit status;
//! - the init (PID 1 inside) builds the job's minimal root ([`root`]: a
//!   read-only tmpfs with the system's read-only files, a fresh `/proc`,
//!   the job's folders and its private `/tmp`) and pivots into it, forks
//!   the job, reaps every orphan and, when the job
//!   ends, reports its wait status and CPU time on the status pipe and exits
//!   (which kills whatever the job left running);
//! - the job (PID 2) drops to its uid, applies Landlock and seccomp (last:
//!   it forbids the calls used before) and returns to std, which execs.
//!
//! Without namespaces the spawned child is the job and does the same
//! setup minus the namespace steps.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use seccompiler::BpfProgram;

use super::root::{self, Entry, RootPlan};

/// Namespace setup, prepared in the parent.
pub struct NsPlan {
    /// `unshare` flags.
    pub flags: libc::c_int,
    /// `uid_map` and `gid_map` contents, when a user namespace is made.
    pub maps: Option<(Vec<u8>, Vec<u8>)>,
    /// The job's root, which the init builds and pivots into.
    pub root: RootPlan,
    /// Write end of the status pipe (the init reports the job's end on it).
    pub status_fd: RawFd,
    /// With a network namespace whose way out is the host's proxy: the
    /// child's end of a socket pair, on which it sends the parent the
    /// proxy's listening socket (made inside the new namespace, on
    /// 127.0.0.1 at this port, its loopback brought up).
    pub proxy: Option<(RawFd, u16)>,
}

/// Everything the child needs, owned by the closure std runs after fork.
pub struct ChildPlan {
    /// The host process's pid (the parent-death check without namespaces).
    pub host_pid: libc::pid_t,
    /// `cgroup.procs` descriptors to write "0" to.
    pub cgroup_fds: Vec<RawFd>,
    /// (resource, value) with soft = hard, set in the spawned child.
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// The open-files limit, set only in the process that execs (the
    /// helpers need descriptors of their own first).
    pub open_files: Option<u64>,
    /// The uid (and gid) to run as, when the host is root.
    pub uid: Option<u32>,
    /// Namespaces, if used.
    pub ns: Option<NsPlan>,
    /// The Landlock ruleset, if used.
    pub landlock_fd: Option<RawFd>,
    /// Landlock rules the job adds itself, for folders that only exist
    /// once its root is mounted: (path as the job sees it, rights).
    pub late_rules: Vec<(CString, u64)>,
    /// Seccomp filters, installed in order.
    pub seccomp: Vec<BpfProgram>,
    /// When the host holds the job's own connections to its policy: the
    /// filter that hands every `connect` to the host, and the channel on
    /// which the job sends the host that filter's listener
    /// ([`super::intercept`]).
    pub connect_notify: Option<(RawFd, Vec<libc::sock_filter>)>,
    /// The job's working directory, as it sees it.
    pub cwd: CString,
}

/// The job's end as the init reports it on the status pipe.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct JobEnd {
    /// Raw wait status.
    pub status: i32,
    /// User plus system CPU time, in microseconds.
    pub cpu_us: i64,
    /// Bytes left in the scratch when the job ended (-1: no scratch).
    pub scratch_bytes_left: i64,
    /// Files left in the scratch when the job ended (-1: no scratch).
    pub scratch_files_left: i64,
}

const PROC: &[u8] = b"/proc\0";
const PROC_FS: &[u8] = b"proc\0";
const OVERLAY: &[u8] = b"overlay\0";
const TMPFS: &[u8] = b"tmpfs\0";
const TMPFS_OPTS: &[u8] = b"size=1m,nr_inodes=4096,mode=755\0";
const ROOT: &[u8] = b"/\0";
const HERE: &[u8] = b".\0";
const SETGROUPS: &[u8] = b"/proc/self/setgroups\0";
const UID_MAP: &[u8] = b"/proc/self/uid_map\0";
const GID_MAP: &[u8] = b"/proc/self/gid_map\0";
const DENY: &[u8] = b"deny";
const HOSTNAME: &[u8] = b"wasmjobs";

fn err() -> io::Error {
    io::Error::last_os_error()
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 { Err(err()) } else { Ok(()) }
}

fn cstr(b: &[u8]) -> *const libc::c_char {
    b.as_ptr().cast()
}

/// Runs in the forked child. Async-signal-safe only.
///
/// # Safety
/// Must be called between fork and exec, with a plan built in the parent.
pub unsafe fn setup(plan: &ChildPlan) -> io::Result<()> {
    // SAFETY: between fork and exec (the caller's contract): raw system calls
    // on the plan's data only; nothing allocates.
    unsafe {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() != plan.host_pid {
            libc::_exit(125);
        }
        for fd in &plan.cgroup_fds {
            if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(err());
            }
            // Not needed again: one descriptor less under a low open-files
            // limit (this child's copy only).
            libc::close(*fd);
        }
        for (res, v) in &plan.rlimits {
            let rl = libc::rlimit {
                rlim_cur: *v,
                rlim_max: *v,
            };
            check(libc::setrlimit(*res, &rl))?;
        }
        if let Some(ns) = &plan.ns {
            enter_namespaces(plan, ns)?;
        } else {
            check(libc::chdir(plan.cwd.as_ptr()))?;
            drop_uid(plan)?;
        }
        restrict(plan)
    }
}

/// Drops to the run's uid (root host only), then re-arms the parent-death
/// signal, which a uid change clears.
unsafe fn drop_uid(plan: &ChildPlan) -> io::Result<()> {
    // SAFETY: raw system calls whose only pointer is a null group list.
    unsafe {
        if let Some(uid) = plan.uid {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(uid, uid, uid))?;
            check(libc::setresuid(uid, uid, uid))?;
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        }
        Ok(())
    }
}

/// Landlock's late rules, the open-files limit, then Landlock itself,
/// then seccomp, in the process that will exec the job.
unsafe fn restrict(plan: &ChildPlan) -> io::Result<()> {
    // SAFETY: raw system calls on descriptors and NUL-terminated paths the
    // plan owns; nothing allocates.
    unsafe {
        // Nothing the host inherited (a supervisor's, a shell's or a
        // service manager's open files) reaches the job: every descriptor
        // above stderr is closed when it execs (the Landlock ruleset and
        // std's exec-error pipe are still needed until then).
        check(libc::close_range(
            3,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
        ))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        if let Some(fd) = plan.landlock_fd {
            if plan.ns.is_some() {
                // The parent's /proc rule names the host procfs; allow the
                // fresh one instead.
                add_rule(fd, cstr(PROC), super::landlock::PROC_READ_ACCESS)?;
            }
            for (path, access) in &plan.late_rules {
                add_rule(fd, path.as_ptr(), *access)?;
            }
        }
        // After the rules, which open descriptors of their own (the host's
        // inherited ones still count until exec).
        if let Some(n) = plan.open_files {
            let rl = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            check(libc::setrlimit(libc::RLIMIT_NOFILE, &rl))?;
        }
        if let Some(fd) = plan.landlock_fd
            && libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0
        {
            return Err(err());
        }
        // Before the deny-list (which does not forbid these calls anyway).
        if let Some((channel, filter)) = &plan.connect_notify {
            let prog = libc::sock_fprog {
                len: filter.len() as libc::c_ushort,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            // The job waits for the host's answer killably only: a signal
            // does not restart its connect (and the host's dial) midway.
            // (Linux 5.19; without it, as before.)
            let install = |flags: libc::c_ulong| {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &prog as *const libc::sock_fprog,
                )
            };
            let mut listener = install(
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                    | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
            );
            if listener < 0 && *libc::__errno_location() == libc::EINVAL {
                listener = install(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
            }
            if listener < 0 {
                return Err(err());
            }
            let sent = send_fd(*channel, listener as RawFd);
            libc::close(*channel);
            sent?;
        }
        for prog in &plan.seccomp {
            seccompiler::apply_filter(prog).map_err(|_| err())?;
        }
        Ok(())
    }
}

/// Adds a Landlock rule for the folder at `path` (as the job sees it).
unsafe fn add_rule(ruleset: RawFd, path: *const libc::c_char, allowed: u64) -> io::Result<()> {
    // SAFETY: raw system calls on a NUL-terminated path the plan owns and a
    // struct on this stack; nothing allocates.
    unsafe {
        let dir = libc::open(path, libc::O_PATH | libc::O_CLOEXEC);
        if dir < 0 {
            return Err(err());
        }
        #[repr(C, packed)]
        struct PathBeneath {
            allowed: u64,
            fd: i32,
        }
        let attr = PathBeneath { allowed, fd: dir };
        let r = libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            1, // LANDLOCK_RULE_PATH_BENEATH
            &attr as *const PathBeneath,
            0,
        );
        libc::close(dir);
        if r != 0 {
            return Err(err());
        }
        Ok(())
    }
}

unsafe fn write_file(path: &[u8], data: &[u8]) -> io::Result<()> {
    // SAFETY: open, write and close on a NUL-terminated constant path and a
    // borrowed buffer passed with its length.
    unsafe {
        let fd = libc::open(cstr(path), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(err());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = err();
        libc::close(fd);
        if n != data.len() as isize {
            return Err(e);
        }
        Ok(())
    }
}

/// Closes every descriptor but those in `keep` (std's exec-error pipe,
/// the stdio pipes and other runs' descriptors must not be held by the
/// helpers). Negative entries keep nothing.
unsafe fn close_all_but(keep: [RawFd; 2]) {
    // SAFETY: close_range only closes descriptors of this process.
    unsafe {
        let (a, b) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
        let mut from = 0u32;
        for k in [a, b] {
            if k < 0 || (k as u32) < from {
                continue;
            }
            if k as u32 > from {
                libc::close_range(from, k as u32 - 1, 0);
            }
            from = k as u32 + 1;
        }
        libc::close_range(from, u32::MAX, 0);
    }
}

/// Exits the way `status` says a process ended (same code or signal).
unsafe fn mirror(status: libc::c_int) -> ! {
    // SAFETY: raw system calls on an rlimit and a signal set on this stack;
    // the process ends here.
    unsafe {
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

unsafe fn enter_namespaces(plan: &ChildPlan, ns: &NsPlan) -> io::Result<()> {
    // SAFETY: between fork and exec: raw system calls on the plan's data;
    // after each fork, both processes make raw system calls only.
    unsafe {
        check(libc::unshare(ns.flags))?;
        if let Some((uid_map, gid_map)) = &ns.maps {
            write_file(SETGROUPS, DENY)?;
            write_file(UID_MAP, uid_map)?;
            write_file(GID_MAP, gid_map)?;
        }
        // (Before the init is forked: it must not inherit the listener.)
        if let Some((channel, port)) = ns.proxy {
            let sent = send_proxy_listener(channel, port);
            libc::close(channel);
            sent?;
        }
        let mut alive = [0; 2];
        check(libc::pipe2(alive.as_mut_ptr(), libc::O_CLOEXEC))?;
        let init = libc::fork();
        if init < 0 {
            return Err(err());
        }
        if init > 0 {
            // The spawned child: wait for the init and end the same way.
            close_all_but([alive[1], -1]);
            let mut st = 0;
            loop {
                let r = libc::waitpid(init, &mut st, 0);
                if r == init {
                    mirror(st);
                }
                if r < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(126);
                }
            }
        }
        // The init, PID 1 of the new namespace.
        libc::close(alive[1]);
        scrub_cmdline();
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        let mut pfd = libc::pollfd {
            fd: alive[0],
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & libc::POLLHUP != 0 {
            libc::_exit(125);
        }
        let scratch_fd = mount_view(plan, ns)?;
        libc::sethostname(HOSTNAME.as_ptr().cast(), HOSTNAME.len());
        let job = libc::fork();
        if job < 0 {
            return Err(err());
        }
        if job > 0 {
            init_loop(plan, ns, job, scratch_fd);
        }
        // The job, PID 2.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() != 1 {
            libc::_exit(125);
        }
        check(libc::chdir(plan.cwd.as_ptr()))?;
        drop_uid(plan)?;
        Ok(())
    }
}

/// Brings the new network namespace's loopback up, listens on
/// 127.0.0.1:`port` in it, and sends the listening socket to the parent on
/// `channel` (the host answers it: the namespace's only way out); then
/// the namespace's DNS socket, UDP on 127.0.0.1:53 (where a resolver
/// without `/etc/resolv.conf` asks), which the host answers too.
unsafe fn send_proxy_listener(channel: RawFd, port: u16) -> io::Result<()> {
    // SAFETY: raw system calls on structures on this stack; every
    // descriptor made here is closed here (the listener once sent).
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(err());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let up = if libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr)
        } else {
            -1
        };
        let up_err = err();
        libc::close(s);
        if up != 0 {
            return Err(up_err);
        }
        let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if l < 0 {
            return Err(err());
        }
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let bound = libc::bind(
            l,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if bound != 0 || libc::listen(l, 128) != 0 {
            let e = err();
            libc::close(l);
            return Err(e);
        }
        send_fd(channel, l)?;
        let d = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if d < 0 {
            return Err(err());
        }
        let dns = libc::sockaddr_in {
            sin_port: 53u16.to_be(),
            ..addr
        };
        if libc::bind(
            d,
            (&dns as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
        {
            let e = err();
            libc::close(d);
            return Err(e);
        }
        send_fd(channel, d)
    }
}

/// Sends `fd` to the parent on `channel` (one byte, the descriptor as
/// SCM_RIGHTS), and closes it here.
unsafe fn send_fd(channel: RawFd, fd: RawFd) -> io::Result<()> {
    // SAFETY: raw system calls on buffers on this stack.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        let sent = libc::sendmsg(channel, &msg, libc::MSG_NOSIGNAL);
        let e = err();
        libc::close(fd);
        if sent != 1 {
            return Err(e);
        }
        Ok(())
    }
}

/// Blanks the init's copy of the host's command line (the job can read
/// `/proc/1/cmdline`, and the host's flags are none of its business). The
/// argument area's bounds come from `/proc/self/stat`, parsed in place.
unsafe fn scrub_cmdline() {
    // SAFETY: reads /proc/self/stat into a buffer on this stack, and writes
    // zeros only within the argument area the kernel reports for this process.
    unsafe {
        let mut buf = [0u8; 2048];
        let fd = libc::open(
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        if n <= 0 {
            return;
        }
        let text = &buf[..n as usize];
        // Fields after the command name: state is field 3; arg_start and
        // arg_end are fields 48 and 49.
        let Some(close) = text.iter().rposition(|&b| b == b')') else {
            return;
        };
        let (mut field, mut value, mut start) = (2usize, 0u64, 0u64);
        for &b in &text[close + 1..] {
            if b.is_ascii_digit() {
                value = value * 10 + u64::from(b - b'0');
                continue;
            }
            if b != b' ' && b != b'\n' {
                continue; // the state letter, a minus sign
            }
            if field == 48 {
                start = value;
            } else if field == 49 {
                if start > 0 && value > start {
                    std::ptr::write_bytes(start as *mut u8, 0, (value - start) as usize);
                }
                return;
            }
            field += 1;
            value = 0;
        }
    }
}

/// Builds the job's root and makes it `/`: private propagation; every
/// bind source cloned as a detached mount (`open_tree`) *before* anything
/// covers it (a data root under the stage still works); a tmpfs on the
/// stage with the mountpoints and links; the binds moved in and remounted
/// with their flags; a fresh `/proc`; `pivot_root` into the stage, the
/// host's root detached; and the new root made read-only.
unsafe fn mount_view(plan: &ChildPlan, ns: &NsPlan) -> io::Result<RawFd> {
    // SAFETY: raw system calls on NUL-terminated strings the plan owns and
    // a fixed array on this stack, in the run's own mount namespace (the
    // init, between fork and exec); nothing allocates.
    unsafe {
        let null = std::ptr::null();
        let r = &ns.root;
        check(libc::mount(
            null,
            cstr(ROOT),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            null.cast(),
        ))?;
        let scratch_fd = match &r.scratch {
            Some(s) => mount_scratch(plan, s)?,
            None => -1,
        };
        const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
        // Sources the stage's tmpfs would cover are cloned now; the others
        // just before they are moved in, one descriptor at a time (a host
        // with a low open-files limit has few to spare).
        let mut trees = [-1 as RawFd; root::MAX_BINDS];
        for (i, b) in r.binds.iter().enumerate().take(root::MAX_BINDS) {
            if b.early {
                trees[i] = clone_tree(b)?;
            }
        }
        let tmpfs_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        check(libc::mount(
            cstr(TMPFS),
            r.stage.as_ptr(),
            cstr(TMPFS),
            tmpfs_flags,
            TMPFS_OPTS.as_ptr().cast(),
        ))?;
        for e in &r.entries {
            match e {
                Entry::Dir(p) => check(libc::mkdir(p.as_ptr(), 0o755))?,
                Entry::File(p) => {
                    let fd = libc::open(
                        p.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd < 0 {
                        return Err(err());
                    }
                    libc::close(fd);
                }
                Entry::Link(p, target) => check(libc::symlink(target.as_ptr(), p.as_ptr()))?,
            }
        }
        for (i, b) in r.binds.iter().enumerate().take(root::MAX_BINDS) {
            if trees[i] < 0 {
                trees[i] = clone_tree(b)?;
            }
            let moved = libc::syscall(
                libc::SYS_move_mount,
                trees[i],
                c"".as_ptr(),
                libc::AT_FDCWD,
                b.dst.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            );
            libc::close(trees[i]);
            if moved != 0 {
                return Err(err());
            }
            check(libc::mount(
                null,
                b.dst.as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_BIND | b.flags,
                null.cast(),
            ))?;
        }
        check(libc::mount(
            cstr(PROC_FS),
            r.proc_at.as_ptr(),
            cstr(PROC_FS),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            null.cast(),
        ))?;
        // pivot_root(".", "."): the host's root ends up stacked on the new
        // one and is detached at once (with every mount under it).
        check(libc::chdir(r.stage.as_ptr()))?;
        check(libc::syscall(libc::SYS_pivot_root, HERE.as_ptr(), HERE.as_ptr()) as libc::c_int)?;
        check(libc::umount2(cstr(HERE), libc::MNT_DETACH))?;
        check(libc::chdir(cstr(ROOT)))?;
        check(libc::mount(
            null,
            cstr(ROOT),
            null,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | tmpfs_flags,
            null.cast(),
        ))?;
        Ok(scratch_fd)
    }
}

/// A detached clone of a bind's source (`open_tree`), as a descriptor: one
/// raw system call, fit for between fork and exec.
fn clone_tree(b: &root::Bind) -> io::Result<RawFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    // SAFETY: a raw system call on a NUL-terminated path the plan owns.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            b.src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE,
        )
    };
    if fd < 0 {
        return Err(err());
    }
    Ok(fd as RawFd)
}

/// Mounts the run's scratch tmpfs over its host `/tmp` folder, makes the
/// folders in it (the job's `/tmp` owned by the job's uid), and overlays
/// the working copy with it. Returns a descriptor of the tmpfs, for how
/// full it was when the job ended.
unsafe fn mount_scratch(plan: &ChildPlan, s: &root::Scratch) -> io::Result<RawFd> {
    // SAFETY: raw system calls on NUL-terminated strings the plan owns,
    // inside the run's own mount namespace; nothing allocates.
    unsafe {
        check(libc::mount(
            cstr(TMPFS),
            s.at.as_ptr(),
            cstr(TMPFS),
            libc::MS_NOSUID | libc::MS_NODEV,
            s.options.as_ptr().cast(),
        ))?;
        for f in &s.folders {
            check(libc::mkdir(f.as_ptr(), 0o755))?;
        }
        if let Some(uid) = plan.uid {
            // The job's /tmp, and the overlay's upper folder (whose owner
            // the working copy's root shows), are the job's.
            check(libc::chown(s.folders[0].as_ptr(), uid, uid))?;
            check(libc::chown(s.folders[2].as_ptr(), uid, uid))?;
        }
        check(libc::mount(
            cstr(OVERLAY),
            s.work.as_ptr(),
            cstr(OVERLAY),
            libc::MS_NOSUID | libc::MS_NODEV,
            s.overlay.as_ptr().cast(),
        ))?;
        let fd = libc::open(
            s.at.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(err());
        }
        Ok(fd)
    }
}

/// Bytes and files left in the scratch behind `fd` (-1, -1 without one).
unsafe fn scratch_left(fd: RawFd) -> (i64, i64) {
    // SAFETY: fstatfs writes into the zeroed struct on this stack.
    unsafe {
        if fd < 0 {
            return (-1, -1);
        }
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::fstatfs(fd, &mut st) != 0 {
            return (-1, -1);
        }
        (
            (st.f_bavail as i64).saturating_mul(st.f_bsize as i64),
            st.f_ffree as i64,
        )
    }
}

/// The init's life after forking the job: drop privileges, reap every
/// process, and when the job ends report it and exit.
unsafe fn init_loop(plan: &ChildPlan, ns: &NsPlan, job: libc::pid_t, scratch_fd: RawFd) -> ! {
    // SAFETY: the init after its fork: raw system calls on its own descriptors
    // and on structs on its stack; it never returns.
    unsafe {
        // The status pipe and the scratch's descriptor are all it keeps.
        close_all_but([ns.status_fd, scratch_fd]);
        if let Some(uid) = plan.uid {
            libc::setgroups(0, std::ptr::null());
            libc::setresgid(uid, uid, uid);
            libc::setresuid(uid, uid, uid);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
        loop {
            let mut st = 0;
            let mut ru: libc::rusage = std::mem::zeroed();
            let r = libc::wait4(-1, &mut st, 0, &mut ru);
            if r == job {
                let tv = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
                let (bytes_left, files_left) = scratch_left(scratch_fd);
                let end = JobEnd {
                    status: st,
                    cpu_us: tv(ru.ru_utime) + tv(ru.ru_stime),
                    scratch_bytes_left: bytes_left,
                    scratch_files_left: files_left,
                };
                libc::write(
                    ns.status_fd,
                    (&end as *const JobEnd).cast(),
                    std::mem::size_of::<JobEnd>(),
                );
                // Exiting as PID 1 kills everything left in the namespace.
                if libc::WIFSIGNALED(st) {
                    libc::_exit(128 + libc::WTERMSIG(st));
                }
                libc::_exit(libc::WEXITSTATUS(st));
            }
            if r < 0 && *libc::__errno_location() == libc::ECHILD {
                libc::_exit(126);
            }
        }
    }
}
