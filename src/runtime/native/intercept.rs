//! A native run's own connections, held to its policy: a client that
//! ignores the proxy variables (a C program's `connect`, PHP's streams,
//! bash's `/dev/tcp`) still reaches what the policy allows, and nothing
//! else.
//!
//! The job installs a seccomp filter that hands every `connect` to the
//! host (a user notification) and sends the host its listener. For a TCP
//! connect the host reads the address the job gave, judges it as the
//! proxy judges a request ([`crate::net::connect::Dialer`]), and either
//! fails the call (`EACCES`, logged with the pattern that would allow
//! it) or dials the address itself and puts in place of the job's socket
//! one connected, inside the run's own network namespace, to a relay
//! that copies to that connection within the run's budget. Every other
//! `connect` (Unix sockets, UDP, the proxy's own address) goes on as the
//! job made it, inside the namespace, which has no route out: the
//! namespace is the fence, and the host only adds connections it allowed.
//! The sockets the job gets are all the namespace's, so nothing it does
//! with one (disconnect, connect again, `sendto` with an address) leaves
//! it.
//!
//! Needs a root host (the host reads the job's memory and descriptors and
//! enters its network namespace); elsewhere such a client finds no route.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::net::connect::{DialError, Dialer, Resolver};
use crate::net::forward::{Budget, Exceeded, PROXY_PORT, Say};
use crate::net::policy::Policy;
use crate::store::logline::Level;

/// The filter the job installs: `connect` goes to the host, every other
/// call on.
pub fn filter() -> Vec<libc::sock_filter> {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    vec![
        // seccomp_data.arch, then .nr
        stmt(load, 4),
        jump(ARCH, 0, 3),
        stmt(load, 0),
        jump(libc::SYS_connect as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_USER_NOTIF),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// What the host does with one `connect`.
enum Verdict {
    /// The kernel makes it, inside the run's namespace.
    Continue,
    /// It fails with this errno.
    Fail(i32),
    /// It succeeds: this socket takes the job's descriptor's place, and
    /// the relay starts once it has.
    Replace(OwnedFd, Relay),
}

/// A connection the host made for the job, to relay once the job has its
/// end.
struct Relay {
    pipe: Pipe,
    what: String,
    _admitted: crate::net::forward::Admission,
}

/// The two ends a relay copies between: the namespace's and the host's.
enum Pipe {
    /// A TCP connection.
    Stream(TcpStream, tokio::net::TcpStream),
    /// A connected UDP socket (`udp://` patterns).
    Datagrams(UdpSocket, tokio::net::UdpSocket),
}

/// A relayed UDP socket ends after this long without a datagram (the host
/// cannot see the job close its socket).
const UDP_IDLE: Duration = Duration::from_secs(15);

/// What the host holds a run's connections to.
pub struct Held {
    /// The run's policy.
    pub policy: Arc<Policy>,
    /// How names are resolved (the job's own connections name addresses).
    pub resolver: Arc<dyn Resolver>,
    /// The run's log and the host's counts.
    pub say: Say,
    /// Its connections and bytes.
    pub budget: Arc<Budget>,
    /// The names the host looked up for the run, by address.
    pub names: Arc<crate::net::answer::Names>,
}

/// Answers the job's `connect` calls on `listener` (the filter's) until
/// the task is dropped or the run's processes are gone. `pid` is the
/// run's first process, whose network namespace the relays live in.
pub async fn serve(listener: OwnedFd, pid: i32, held: Held) {
    let listener = Arc::new(listener);
    let entered = tokio::task::spawn_blocking(move || Netns::enter(pid))
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r);
    let netns = match entered {
        Ok(n) => Arc::new(n),
        Err(e) => {
            held.say.line(
                Level::Warn,
                &format!("Network: the job's own connections cannot be relayed: {e}"),
            );
            return;
        }
    };
    let held = Arc::new(held);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (listener, stop) = (listener.clone(), stop.clone());
        std::thread::Builder::new()
            .name("connect-notify".into())
            .spawn(move || receive(&listener, &stop, &tx))
    };
    if reader.is_err() {
        return;
    }
    let _stop = StopOnDrop(stop);
    let mut calls = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            n = rx.recv() => {
                let Some(n) = n else { break };
                let (listener, held, netns) = (listener.clone(), held.clone(), netns.clone());
                calls.spawn(async move { answer(&listener, n, &held, &netns).await });
            }
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
    // The processes are gone; the relays end with the task.
    while calls.join_next().await.is_some() {}
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads notifications (on a thread of its own: the call blocks) until
/// the filter has no processes left or the host stops.
fn receive(
    listener: &OwnedFd,
    stop: &AtomicBool,
    tx: &tokio::sync::mpsc::UnboundedSender<libc::seccomp_notif>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut p = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes the one pollfd on this stack.
        let r = unsafe { libc::poll(&mut p, 1, 500) };
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
        if r <= 0 {
            continue;
        }
        if p.revents & libc::POLLIN == 0 {
            // POLLHUP: no process uses the filter any more.
            return;
        }
        // SAFETY: seccomp_notif is plain data, valid all zero (the kernel
        // requires it zeroed).
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctl writes one seccomp_notif into `n`.
        let r = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut n,
            )
        };
        if r == 0 {
            if tx.send(n).is_err() {
                return;
            }
        } else if io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
            // (ENOENT: the caller died before it was read.)
            return;
        }
    }
}

/// Decides one call and answers it; relays the connection it made, if
/// any, until it ends (the task ends with the run's).
async fn answer(listener: &OwnedFd, n: libc::seccomp_notif, held: &Held, netns: &Netns) {
    let fd = n.data.args[0] as RawFd;
    let verdict = decide(listener, &n, held, netns).await;
    let mut relay = None;
    // SAFETY: plain data, valid all zero.
    let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    resp.id = n.id;
    match verdict {
        Verdict::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        Verdict::Fail(errno) => resp.error = -errno,
        Verdict::Replace(sock, made) => {
            let cloexec = fd_flags(n.pid, fd).is_some_and(|f| f & libc::O_CLOEXEC != 0);
            let add = libc::seccomp_notif_addfd {
                id: n.id,
                flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
                srcfd: sock.as_raw_fd() as u32,
                newfd: fd as u32,
                newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
            };
            // SAFETY: the ioctl reads the one struct on this stack.
            let r = unsafe {
                libc::ioctl(
                    listener.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
                    &add,
                )
            };
            if r < 0 {
                // The caller is gone (or was interrupted): the connection
                // goes, and its place in the count.
                resp.error = -libc::ECONNREFUSED;
            } else {
                relay = Some(made);
            }
        }
    }
    // SAFETY: the ioctl reads the one struct on this stack. (A caller
    // that died meanwhile makes it fail: nothing to answer.)
    let sent = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            &resp,
        )
    };
    if let Some(r) = relay.filter(|_| sent == 0) {
        held.say.connection(true);
        let line = match &r.pipe {
            Pipe::Stream(..) => format!(
                "Network: connected to {} (the job's own connection, relayed by the host)",
                r.what
            ),
            Pipe::Datagrams(..) => {
                format!(
                    "Network: {} (the job's own socket), relayed by the host",
                    r.what
                )
            }
        };
        held.say.line(Level::Info, &line);
        let started = Instant::now();
        let (out, back) = match r.pipe {
            Pipe::Stream(ours, up) => copy(ours, up, &held.budget).await,
            Pipe::Datagrams(ours, up) => datagrams(ours, up, &held.budget).await,
        };
        crate::net::forward::tell_closed(&held.say, &r.what, out, back, started);
    }
}

async fn decide(
    listener: &OwnedFd,
    n: &libc::seccomp_notif,
    held: &Held,
    netns: &Netns,
) -> Verdict {
    let Ok(sock) = their_fd(n.pid, n.data.args[0] as RawFd) else {
        return Verdict::Continue;
    };
    // (`n.pid` is the calling thread's id; memory and fdinfo take it as is.)
    let (domain, kind) = (
        sockopt(&sock, libc::SO_DOMAIN),
        sockopt(&sock, libc::SO_TYPE),
    );
    if !matches!(domain, Some(libc::AF_INET | libc::AF_INET6))
        || !matches!(kind, Some(libc::SOCK_STREAM | libc::SOCK_DGRAM))
    {
        return Verdict::Continue;
    }
    let udp = kind == Some(libc::SOCK_DGRAM);
    let Some(addr) = their_address(n.pid, n.data.args[1], n.data.args[2]) else {
        return Verdict::Continue;
    };
    // The address was read from the caller still waiting in this call.
    // SAFETY: the ioctl reads the notification id it is given.
    let valid = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
            &n.id,
        )
    };
    if valid != 0 {
        return Verdict::Fail(libc::ECONNREFUSED);
    }
    let Some(target) = addr else {
        // AF_UNSPEC: a disconnect, inside the namespace.
        return Verdict::Continue;
    };
    // The namespace's own services: the proxy, and its DNS server.
    let local = target.ip().to_canonical() == IpAddr::V4(Ipv4Addr::LOCALHOST);
    if local && target.port() == if udp { 53 } else { PROXY_PORT } {
        return Verdict::Continue;
    }
    let family = if domain == Some(libc::AF_INET6) {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    if udp {
        return datagram_route(target, family, held, netns).await;
    }
    let Some(admitted) = held.budget.admit_or_tell(&held.say, &target.to_string()) else {
        return Verdict::Fail(libc::EACCES);
    };
    let dialer = Dialer {
        policy: &held.policy,
        resolver: &*held.resolver,
        connect_timeout: held.budget.connect_timeout(),
    };
    // An address the host gave the job for a name is judged as that name
    // (the first the policy allows), any other as an address.
    let ip = target.ip().to_canonical();
    let names = held.names.of(ip);
    let mut dialed = None;
    for name in names.iter().map(|n| Some(n.as_str())).chain([None]) {
        match dialer.dial_to(name, vec![ip], target.port(), None).await {
            Err(DialError::Refused(r)) => {
                dialed.get_or_insert(Err(DialError::Refused(r)));
            }
            other => {
                dialed = Some(other);
                break;
            }
        }
    }
    // (The first refusal: the one naming the name, when there is one.)
    let dialed = dialed.unwrap_or_else(|| Err(DialError::Connect(format!("{target}: no address"))));
    let upstream = match dialed {
        Ok(d) => d,
        Err(e) => {
            let errno = match &e {
                DialError::Refused(_) => {
                    held.say.connection(false);
                    libc::EACCES
                }
                DialError::Connect(why) if why.contains("no answer within") => libc::ETIMEDOUT,
                _ => libc::ECONNREFUSED,
            };
            held.say.line(Level::Warn, &format!("Network: {e}"));
            return Verdict::Fail(errno);
        }
    };
    let what = upstream.target.describe();
    let Ok(Made::Stream(theirs, ours)) = netns.make(family, false).await else {
        return Verdict::Fail(libc::ECONNREFUSED);
    };
    if status_flags(&sock).is_some_and(|f| f & libc::O_NONBLOCK != 0) {
        let _ = theirs.set_nonblocking(true);
    }
    Verdict::Replace(
        theirs.into(),
        Relay {
            pipe: Pipe::Stream(ours, upstream.stream),
            what,
            _admitted: admitted,
        },
    )
}

/// A UDP socket connected to `target`: relayed when a `udp://` pattern
/// allows it (judged as the name the host gave the address for, if any).
async fn datagram_route(
    target: SocketAddr,
    family: libc::c_int,
    held: &Held,
    netns: &Netns,
) -> Verdict {
    let ip = target.ip().to_canonical();
    let names = held.names.of(ip);
    let mut refusal = None;
    let mut allowed = None;
    for name in names.iter().map(|n| Some(n.clone())).chain([None]) {
        let t = crate::net::policy::Target {
            transport: crate::net::policy::Transport::Udp,
            scheme: None,
            name,
            ip,
            port: target.port(),
        };
        match held.policy.check(&t) {
            Ok(()) => {
                allowed = Some(t);
                break;
            }
            Err(r) => {
                refusal.get_or_insert(r);
            }
        }
    }
    let Some(t) = allowed else {
        held.say.connection(false);
        if let Some(r) = refusal {
            held.say.line(Level::Warn, &format!("Network: UDP to {r}"));
        }
        return Verdict::Fail(libc::EACCES);
    };
    let what = format!("UDP to {}", t.describe());
    let Some(admitted) = held.budget.admit_datagrams_or_tell(&held.say, &what) else {
        return Verdict::Fail(libc::EACCES);
    };
    let local: SocketAddr = match ip {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let up = match tokio::net::UdpSocket::bind(local).await {
        Ok(u) if u.connect(SocketAddr::new(ip, target.port())).await.is_ok() => u,
        _ => return Verdict::Fail(libc::ENETUNREACH),
    };
    let Ok(Made::Datagrams(theirs, ours)) = netns.make(family, true).await else {
        return Verdict::Fail(libc::ECONNREFUSED);
    };
    Verdict::Replace(
        theirs.into(),
        Relay {
            pipe: Pipe::Datagrams(ours, up),
            what,
            _admitted: admitted,
        },
    )
}

/// Copies datagrams between the namespace's socket and the upstream one
/// until neither sends for [`UDP_IDLE`] or the budget runs out.
async fn datagrams(ours: UdpSocket, up: tokio::net::UdpSocket, budget: &Budget) -> (u64, u64) {
    if ours.set_nonblocking(true).is_err() {
        return (0, 0);
    }
    let Ok(ours) = tokio::net::UdpSocket::from_std(ours) else {
        return (0, 0);
    };
    let (mut a, mut b) = (vec![0u8; 65536], vec![0u8; 65536]);
    let (mut out, mut back) = (0u64, 0u64);
    loop {
        tokio::select! {
            r = ours.recv(&mut a) => {
                let Ok(n) = r else { continue };
                if !budget.charge(Exceeded::Out, n as u64) {
                    break;
                }
                let _ = up.send(&a[..n]).await;
                out += n as u64;
            }
            r = up.recv(&mut b) => {
                // (An error is the peer's ICMP refusal of an earlier one.)
                let Ok(n) = r else { continue };
                if !budget.charge(Exceeded::In, n as u64) {
                    break;
                }
                let _ = ours.send(&b[..n]).await;
                back += n as u64;
            }
            _ = tokio::time::sleep(UDP_IDLE) => break,
            _ = budget.exceeded() => break,
        }
    }
    (out, back)
}

/// Copies between the namespace's end and the upstream connection.
async fn copy(ours: TcpStream, mut up: tokio::net::TcpStream, budget: &Budget) -> (u64, u64) {
    if ours.set_nonblocking(true).is_err() {
        return (0, 0);
    }
    let Ok(mut ours) = tokio::net::TcpStream::from_std(ours) else {
        return (0, 0);
    };
    let (or, ow) = ours.split();
    let (ur, uw) = up.split();
    tokio::select! {
        counted = async {
            tokio::join!(
                crate::net::forward::pump(or, uw, budget, Exceeded::Out),
                crate::net::forward::pump(ur, ow, budget, Exceeded::In)
            )
        } => counted,
        _ = budget.exceeded() => (0, 0),
    }
}

/// A copy of descriptor `fd` of thread `tid`'s process.
fn their_fd(tid: u32, fd: RawFd) -> io::Result<OwnedFd> {
    // pidfd_open takes a process, not a thread: its thread group's leader.
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
    let pid: libc::pid_t = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Tgid"))?;
    // SAFETY: pidfd_open takes a pid and flags, and returns a new
    // descriptor (or -1).
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just made, owned here alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: pidfd_getfd takes descriptors and flags, and returns a new
    // descriptor (or -1).
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just made, owned here alone.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

fn sockopt(fd: &OwnedFd, opt: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

fn status_flags(fd: &OwnedFd) -> Option<libc::c_int> {
    // SAFETY: F_GETFL takes no argument.
    let f = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    (f >= 0).then_some(f)
}

/// The flags `/proc/PID/fdinfo/FD` shows (O_CLOEXEC among them).
fn fd_flags(pid: u32, fd: RawFd) -> Option<libc::c_int> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let line = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    libc::c_int::from_str_radix(line.trim(), 8).ok()
}

/// The address the caller passed: `Some(None)` for AF_UNSPEC; `None` when
/// it cannot be read or is not an Internet address.
fn their_address(pid: u32, ptr: u64, len: u64) -> Option<Option<SocketAddr>> {
    let mut buf = [0u8; 28];
    let want = (len as usize).min(buf.len());
    if want < 2 {
        return None;
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: want,
    };
    let remote = libc::iovec {
        iov_base: ptr as *mut libc::c_void,
        iov_len: want,
    };
    // SAFETY: reads `want` bytes of the caller's memory into `buf`; the
    // remote address is only read by the kernel, checked there.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n != want as isize {
        return None;
    }
    let family = u16::from_ne_bytes([buf[0], buf[1]]) as libc::c_int;
    let port = u16::from_be_bytes([buf[2], buf[3]]);
    match family {
        libc::AF_UNSPEC => Some(None),
        libc::AF_INET if want >= 16 => {
            let ip = Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]);
            Some(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        libc::AF_INET6 if want >= 24 => {
            let b: [u8; 16] = buf[8..24].try_into().ok()?;
            Some(Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), port)))
        }
        _ => None,
    }
}

/// A thread inside the run's network namespace that makes connected
/// pairs of sockets there (one end for the job, one for the relay).
struct Netns {
    asks: std::sync::mpsc::Sender<(Ask, tokio::sync::oneshot::Sender<io::Result<Made>>)>,
}

/// What the namespace's thread is asked to make: a connected pair of
/// this family (UDP or TCP).
type Ask = (libc::c_int, bool);

/// A connected pair in the namespace: (the job's end, the relay's).
enum Made {
    Stream(TcpStream, TcpStream),
    Datagrams(UdpSocket, UdpSocket),
}

impl Netns {
    /// Starts the thread, in the namespace of process `pid`.
    fn enter(pid: i32) -> io::Result<Netns> {
        let ns = File::open(format!("/proc/{pid}/ns/net"))?;
        let (asks, rx) =
            std::sync::mpsc::channel::<(Ask, tokio::sync::oneshot::Sender<io::Result<Made>>)>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("run-netns".into())
            .spawn(move || {
                // SAFETY: setns moves this thread alone into the namespace
                // the descriptor names; no other thread is affected.
                let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                let _ = ready_tx.send(if r == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                });
                drop(ns);
                if r != 0 {
                    return;
                }
                let (mut v4, mut v6) = (None, None);
                while let Ok(((family, udp), reply)) = rx.recv() {
                    let made = if udp {
                        datagram_pair(family).map(|(a, b)| Made::Datagrams(a, b))
                    } else {
                        let slot = if family == libc::AF_INET6 {
                            &mut v6
                        } else {
                            &mut v4
                        };
                        pair(slot, family).map(|(a, b)| Made::Stream(a, b))
                    };
                    let _ = reply.send(made);
                }
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| io::Error::other("the namespace's thread did not start"))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("entering the run's network namespace: {e}"),
                )
            })?;
        Ok(Netns { asks })
    }

    async fn make(&self, family: libc::c_int, udp: bool) -> io::Result<Made> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.asks
            .send(((family, udp), tx))
            .map_err(|_| io::Error::other("the namespace's thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the namespace's thread is gone"))?
    }
}

/// A connected pair on the namespace's loopback (its listener made on
/// first use); IPv4 when the namespace has no IPv6 loopback.
fn pair(
    listener: &mut Option<TcpListener>,
    family: libc::c_int,
) -> io::Result<(TcpStream, TcpStream)> {
    if listener.is_none() {
        let l = if family == libc::AF_INET6 {
            TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
                .or_else(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))?
        } else {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        };
        *listener = Some(l);
    }
    let l = listener.as_ref().expect("made above");
    let theirs = TcpStream::connect_timeout(&l.local_addr()?, Duration::from_secs(2))?;
    let mine = theirs.local_addr()?;
    // Only our own connection (Landlock keeps the job from this port).
    loop {
        let (ours, peer) = l.accept()?;
        if peer == mine {
            return Ok((theirs, ours));
        }
    }
}

/// Two UDP sockets on the namespace's loopback, connected to each other.
fn datagram_pair(family: libc::c_int) -> io::Result<(UdpSocket, UdpSocket)> {
    let bind = || {
        if family == libc::AF_INET6 {
            UdpSocket::bind((Ipv6Addr::LOCALHOST, 0))
                .or_else(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
        } else {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        }
    };
    let (theirs, ours) = (bind()?, bind()?);
    theirs.connect(ours.local_addr()?)?;
    ours.connect(theirs.local_addr()?)?;
    Ok((theirs, ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_hands_connect_alone_to_the_host() {
        let f = filter();
        assert_eq!(f.len(), 6);
        assert_eq!(f[3].k, libc::SYS_connect as u32);
        assert_eq!(f[4].k, libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(f[5].k, libc::SECCOMP_RET_ALLOW);
    }
}
