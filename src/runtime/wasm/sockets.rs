//! A guest's sockets: TCP and TLS streams the host opens for it, as the
//! imports of module `wasmjobs_net`. The guest names a host, a port and
//! what the connection is for; the host judges it by the run's policy
//! ([`crate::net::connect::Dialer`]: one lookup, every address checked),
//! speaks TLS itself against its own roots ([`crate::net::tls::Trust`]),
//! and moves bytes between the connection and buffers the guest reads
//! and fills without ever blocking. `poll` is the one call that waits:
//! the guest's event loop calls it when it has nothing else to do, and
//! while it waits the guest holds no CPU place. Every connection is a
//! line in the run's log, counted against the run's `limits.net_*`, the
//! same as a native run's through the host's proxy.
//!
//! The calls (every value an `i32`; a handle is positive):
//!
//! - `connect(host, host_len, port, mode) -> handle`: mode 0 a bare TCP
//!   stream, 1 TLS, 2 plain HTTP, 3 HTTPS (the mode is what the policy's
//!   scheme judges). The outcome comes later, as a poll event; -1 when it
//!   is refused at once (`error(0)` says why).
//! - `send(h, ptr, len) -> n`: bytes taken (fewer when the host holds
//!   [`BUFFER`] unsent already; `DRAINED` says when to go on), -1 closed.
//! - `recv(h, ptr, cap) -> n`: bytes read; 0 the peer's end; -1 nothing
//!   yet; -2 failed.
//! - `end(h)`: no more to send (after what is queued).
//! - `close(h)`: the connection goes.
//! - `poll(timeout_ms, ptr, cap) -> n`: waits up to `timeout_ms` (-1: a
//!   while) for events, writes `n` pairs of `(handle, events)`.
//! - `error(h, ptr, cap) -> len`: why the connection failed (`h` 0: the
//!   last connect refused at once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use wasmtime::{Caller, Extern, Linker};

use crate::net::connect::{DialError, Dialer, Resolver};
use crate::net::forward::{Budget, Exceeded, Say};
use crate::net::policy::{Policy, Scheme};
use crate::net::tls::Trust;
use crate::runtime::watch::Activity;
use crate::store::logline::Level;

/// The import module.
pub const MODULE: &str = "wasmjobs_net";

/// The connection is made (TLS included).
const CONNECTED: i32 = 1;
/// There is data, or the peer's end, to read.
const READABLE: i32 = 2;
/// The connection failed or was refused (`error` says why).
const FAILED: i32 = 4;
/// What was sent has all gone out.
const DRAINED: i32 = 8;

/// Bytes the host holds for a connection each way: it stops reading
/// from the peer, and takes fewer bytes from the guest, beyond this.
pub const BUFFER: usize = 256 << 10;
/// Longest one `poll` waits before the guest's loop goes round again.
const POLL_MAX: Duration = Duration::from_secs(1);
/// Longest host name a guest may ask for.
const HOST_MAX: usize = 1024;
/// Sockets a guest may hold beyond its connections at once: ended ones it
/// has not closed yet.
pub const SPARE: usize = 16;

/// What a run's connections are held to.
pub struct NetContext {
    /// The run's policy.
    pub policy: Arc<Policy>,
    /// Tells the run's log and the host's metrics.
    pub say: Say,
    /// Its connections and bytes.
    pub budget: Arc<Budget>,
    /// What TLS verifies against.
    pub trust: Trust,
    /// How names are resolved.
    pub resolver: Arc<dyn Resolver>,
    /// Touched when data arrives (a run waiting on the network is not idle
    /// while bytes come in).
    pub activity: Arc<Activity>,
}

/// A run's sockets (none, and every `connect` refused, for a run without
/// network). It holds at most `limits.net_connections` + [`SPARE`]
/// sockets, open or ended but not yet closed by the guest.
#[derive(Default)]
pub struct Sockets {
    net: Option<Arc<NetContext>>,
    table: HashMap<i32, Arc<Sock>>,
    next: i32,
    /// Why the last `connect` was refused at once.
    refusal: String,
    wake: Arc<Notify>,
    tasks: JoinSet<()>,
}

impl Sockets {
    /// Sockets held to `net` (`None`: the run has no network).
    pub fn new(net: Option<NetContext>) -> Sockets {
        Sockets {
            net: net.map(Arc::new),
            ..Sockets::default()
        }
    }

    /// Refuses a connect at once, saying why; -1.
    fn refuse(&mut self, why: String) -> i32 {
        self.refusal = why;
        -1
    }

    fn connect(&mut self, host: String, port: u16, mode: i32) -> i32 {
        let (scheme, tls) = match mode {
            1 => (Some(Scheme::Tls), true),
            2 => (Some(Scheme::Http), false),
            3 => (Some(Scheme::Https), true),
            _ => (None, false),
        };
        let Some(net) = self.net.clone() else {
            return self.refuse(format!(
                "{host}:{port}: refused: this run has no network (settings.job \"network\" lists what a job may connect to; the run's log says what it got)"
            ));
        };
        if self.table.len() >= net.budget.connections().saturating_add(SPARE) {
            return self.refuse(format!(
                "{host}:{port}: refused: the guest holds {} sockets already (close the ones it is done with)",
                self.table.len()
            ));
        }
        let what = format!("{host}:{port}");
        let Some(admitted) = net.budget.admit_or_tell(&net.say, &what) else {
            return self.refuse(format!(
                "{what}: refused: the run has as many connections through the host as it may (limits.net_connections = {})",
                net.budget.connections()
            ));
        };
        // A handle not in use (they wrap after 2^31 connects).
        loop {
            self.next = self.next.checked_add(1).unwrap_or(1);
            if !self.table.contains_key(&self.next) {
                break;
            }
        }
        let h = self.next;
        let sock = Arc::new(Sock::default());
        self.table.insert(h, sock.clone());
        let wake = self.wake.clone();
        self.tasks.spawn(async move {
            let _admitted = admitted;
            drive(&sock, &wake, &net, &host, port, scheme, tls).await;
        });
        h
    }

    fn get(&self, h: i32) -> Option<&Arc<Sock>> {
        self.table.get(&h)
    }

    /// Events since the last poll, as `(handle, events)`.
    fn events(&self, max: usize) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        for (&h, s) in &self.table {
            if out.len() >= max {
                break;
            }
            let mut st = s.lock();
            if st.events != 0 {
                out.push((h, std::mem::take(&mut st.events)));
            }
        }
        out
    }
}

#[derive(Default)]
struct State {
    /// The connection failed or was refused (`error` says why).
    failed: bool,
    error: String,
    /// Received, not yet read by the guest.
    inbound: Vec<u8>,
    /// The peer's end was received.
    eof: bool,
    /// Taken from the guest, not yet sent.
    outbound: Vec<u8>,
    /// The guest has no more to send.
    ending: bool,
    /// The guest closed it.
    closed: bool,
    events: i32,
}

/// One connection, as the guest's calls and the host's task share it.
#[derive(Default)]
struct Sock {
    state: Mutex<State>,
    /// Wakes the reader (room in `inbound`) or the writer (`outbound` has
    /// bytes, or the guest ended or closed).
    reader: Notify,
    writer: Notify,
    closing: Notify,
    sent: AtomicU64,
    received: AtomicU64,
}

impl Sock {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signal(&self, events: i32, wake: &Notify) {
        self.lock().events |= events;
        wake.notify_one();
    }

    fn fail(&self, why: String, wake: &Notify) {
        {
            let mut st = self.lock();
            if st.failed {
                return;
            }
            st.failed = true;
            st.error = why;
            st.events |= FAILED;
        }
        wake.notify_one();
    }
}

/// A connection's byte stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Makes the connection and moves its bytes until it ends, the guest
/// closes it, or the run's byte budget runs out.
async fn drive(
    sock: &Sock,
    wake: &Notify,
    net: &NetContext,
    host: &str,
    port: u16,
    scheme: Option<Scheme>,
    tls: bool,
) {
    let dialer = Dialer {
        policy: &net.policy,
        resolver: &*net.resolver,
        connect_timeout: net.budget.connect_timeout(),
    };
    let dialed = tokio::select! {
        d = dialer.dial(host, port, scheme) => d,
        _ = sock.closing.notified() => return,
    };
    let dialed = match dialed {
        Ok(d) => d,
        Err(e) => {
            if matches!(e, DialError::Refused(_)) {
                net.say.connection(false);
            }
            net.say.line(Level::Warn, &format!("Network: {e}"));
            return sock.fail(e.to_string(), wake);
        }
    };
    let what = dialed.target.describe();
    let stream: Box<dyn Stream> = if tls {
        let name = match crate::net::tls::server_name(host) {
            Ok(n) => n,
            Err(e) => return sock.fail(e, wake),
        };
        let connector = tokio_rustls::TlsConnector::from(net.trust.client_config());
        let shake = connector.connect(name, dialed.stream);
        let shook = tokio::select! {
            r = tokio::time::timeout(net.budget.connect_timeout(), shake) => r,
            _ = sock.closing.notified() => return,
        };
        match shook {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                let why = format!("{what}: TLS failed: {e}");
                net.say.line(Level::Warn, &format!("Network: {why}"));
                return sock.fail(why, wake);
            }
            Err(_) => {
                let why = format!(
                    "{what}: TLS failed: no handshake within {:?}",
                    net.budget.connect_timeout()
                );
                net.say.line(Level::Warn, &format!("Network: {why}"));
                return sock.fail(why, wake);
            }
        }
    } else {
        Box::new(dialed.stream)
    };
    net.say.connection(true);
    let secure = if tls { " (TLS, verified)" } else { "" };
    net.say.line(
        Level::Info,
        &format!("Network: connected to {what}{secure}"),
    );
    sock.signal(CONNECTED, wake);
    let started = Instant::now();
    let (r, w) = tokio::io::split(stream);
    tokio::select! {
        _ = async { tokio::join!(read(sock, wake, net, r), write(sock, wake, net, w)) } => {}
        // The run ends, naming the limit; the guest is not told first.
        _ = net.budget.exceeded() => {}
        _ = sock.closing.notified() => {}
    }
    crate::net::forward::tell_closed(
        &net.say,
        &what,
        sock.sent.load(Ordering::Relaxed),
        sock.received.load(Ordering::Relaxed),
        started,
    );
}

/// Reads from the peer into the guest's buffer while it has room.
async fn read(sock: &Sock, wake: &Notify, net: &NetContext, mut r: impl AsyncRead + Unpin) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        loop {
            let room = {
                let st = sock.lock();
                if st.closed {
                    return;
                }
                st.inbound.len() < BUFFER
            };
            if room {
                break;
            }
            sock.reader.notified().await;
        }
        match r.read(&mut buf).await {
            // A TLS peer that closes without its close_notify (many do)
            // has ended, as for Node: what it sent says whether it is whole.
            Ok(0) => {
                sock.lock().eof = true;
                return sock.signal(READABLE, wake);
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                sock.lock().eof = true;
                return sock.signal(READABLE, wake);
            }
            Ok(n) => {
                if !net.budget.charge(Exceeded::In, n as u64) {
                    return;
                }
                sock.received.fetch_add(n as u64, Ordering::Relaxed);
                sock.lock().inbound.extend_from_slice(&buf[..n]);
                net.activity.touch();
                sock.signal(READABLE, wake);
            }
            Err(e) => return sock.fail(format!("reading: {e}"), wake),
        }
    }
}

/// Sends what the guest queued; shuts its side once the guest ends.
async fn write(sock: &Sock, wake: &Notify, net: &NetContext, mut w: impl AsyncWrite + Unpin) {
    loop {
        let (chunk, ending) = loop {
            {
                let mut st = sock.lock();
                if st.closed {
                    return;
                }
                if !st.outbound.is_empty() || st.ending {
                    break (std::mem::take(&mut st.outbound), st.ending);
                }
            }
            sock.writer.notified().await;
        };
        if !chunk.is_empty() {
            if !net.budget.charge(Exceeded::Out, chunk.len() as u64) {
                return;
            }
            if let Err(e) = w.write_all(&chunk).await {
                return sock.fail(format!("sending: {e}"), wake);
            }
            sock.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if sock.lock().outbound.is_empty() {
                sock.signal(DRAINED, wake);
            }
        }
        if ending && sock.lock().outbound.is_empty() {
            let _ = w.shutdown().await;
            return;
        }
    }
}

/// Finds a run's sockets in a store's data.
pub type Project<T> = fn(&mut T) -> &mut Sockets;

fn memory<T>(caller: &mut Caller<'_, T>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => wasmtime::bail!("missing required memory export"),
    }
}

/// `len` bytes of guest memory at `ptr`, if they are all in it.
fn span(mem: &[u8], ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let end = ptr.checked_add(len)?;
    (end <= mem.len()).then_some(ptr..end)
}

/// The guest's memory, the span of `len` bytes at `ptr` in it, and
/// socket `h`; `None` when the span is outside memory or there is no
/// such socket.
#[allow(clippy::type_complexity)]
fn buffer_of<'a, T: 'static>(
    caller: &'a mut Caller<'_, T>,
    project: Project<T>,
    h: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Option<(&'a mut [u8], std::ops::Range<usize>, Arc<Sock>)>> {
    let mem = memory(caller)?;
    let (data, state) = mem.data_and_store_mut(caller);
    let Some(range) = span(data, ptr, len) else {
        return Ok(None);
    };
    let Some(sock) = project(state).get(h).cloned() else {
        return Ok(None);
    };
    Ok(Some((data, range, sock)))
}

/// Adds the socket calls to `linker`.
pub fn add<T: Send + 'static>(linker: &mut Linker<T>, project: Project<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "connect",
        move |mut caller: Caller<'_, T>,
              ptr: i32,
              len: i32,
              port: i32,
              mode: i32|
              -> wasmtime::Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let sockets = project(state);
            if len as u32 as usize > HOST_MAX {
                return Ok(sockets.refuse(format!(
                    "refused: a host name of {len} bytes (at most {HOST_MAX})"
                )));
            }
            let Some(range) = span(data, ptr, len) else {
                return Ok(
                    sockets.refuse("refused: the host name is outside the guest's memory".into())
                );
            };
            let Ok(port) = u16::try_from(port) else {
                return Ok(sockets.refuse(format!("refused: {port} is not a port")));
            };
            let host = String::from_utf8_lossy(&data[range]).into_owned();
            Ok(sockets.connect(host, port, mode))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "send",
        move |mut caller: Caller<'_, T>, h: i32, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let Some((data, range, sock)) = buffer_of(&mut caller, project, h, ptr, len)? else {
                return Ok(-1);
            };
            let mut st = sock.lock();
            if st.failed || st.ending || st.closed {
                return Ok(-1);
            }
            let n = range.len().min(BUFFER.saturating_sub(st.outbound.len()));
            st.outbound
                .extend_from_slice(&data[range.start..range.start + n]);
            drop(st);
            sock.writer.notify_one();
            Ok(n as i32)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "recv",
        move |mut caller: Caller<'_, T>, h: i32, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let Some((data, range, sock)) = buffer_of(&mut caller, project, h, ptr, cap)? else {
                return Ok(-2);
            };
            let mut st = sock.lock();
            if !st.inbound.is_empty() {
                let n = range.len().min(st.inbound.len());
                data[range.start..range.start + n].copy_from_slice(&st.inbound[..n]);
                st.inbound.drain(..n);
                drop(st);
                sock.reader.notify_one();
                return Ok(n as i32);
            }
            Ok(match (st.failed, st.eof) {
                (true, _) => -2,
                (_, true) => 0,
                _ => -1,
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "end",
        move |mut caller: Caller<'_, T>, h: i32| -> wasmtime::Result<i32> {
            let Some(sock) = project(caller.data_mut()).get(h) else {
                return Ok(-1);
            };
            sock.lock().ending = true;
            sock.writer.notify_one();
            Ok(0)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "close",
        move |mut caller: Caller<'_, T>, h: i32| -> wasmtime::Result<i32> {
            let Some(sock) = project(caller.data_mut()).table.remove(&h) else {
                return Ok(-1);
            };
            sock.lock().closed = true;
            sock.closing.notify_one();
            sock.reader.notify_one();
            sock.writer.notify_one();
            Ok(0)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "error",
        move |mut caller: Caller<'_, T>, h: i32, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let Some(range) = span(data, ptr, cap) else {
                return Ok(-1);
            };
            let sockets = project(state);
            let why = if h == 0 {
                sockets.refusal.clone()
            } else {
                match sockets.get(h) {
                    Some(sock) => sock.lock().error.clone(),
                    None => return Ok(-1),
                }
            };
            let bytes = why.as_bytes();
            let n = bytes.len().min(range.len());
            data[range.start..range.start + n].copy_from_slice(&bytes[..n]);
            Ok(n as i32)
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "poll",
        move |mut caller: Caller<'_, T>, (timeout, ptr, cap): (i32, i32, i32)| {
            Box::new(async move {
                let max = (cap.max(0) / 8) as usize;
                let sockets = project(caller.data_mut());
                let mut ready = sockets.events(max);
                if ready.is_empty() && timeout != 0 {
                    let wait = if timeout < 0 {
                        POLL_MAX
                    } else {
                        Duration::from_millis(timeout as u64).min(POLL_MAX)
                    };
                    let wake = sockets.wake.clone();
                    let _ = tokio::time::timeout(wait, wake.notified()).await;
                    ready = project(caller.data_mut()).events(max);
                }
                let mem = memory(&mut caller)?;
                let data = mem.data_mut(&mut caller);
                let Some(range) = span(data, ptr, (ready.len() * 8) as i32) else {
                    return Ok(-1);
                };
                for (i, (h, ev)) in ready.iter().enumerate() {
                    let at = range.start + i * 8;
                    data[at..at + 4].copy_from_slice(&h.to_le_bytes());
                    data[at + 4..at + 8].copy_from_slice(&ev.to_le_bytes());
                }
                Ok(ready.len() as i32)
            })
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_stay_inside_memory() {
        let mem = [0u8; 16];
        assert_eq!(span(&mem, 0, 16), Some(0..16));
        assert_eq!(span(&mem, 8, 9), None);
        assert_eq!(span(&mem, -1, 1), None);
        assert_eq!(span(&mem, 4, -1), None);
    }

    #[tokio::test]
    async fn a_run_without_network_has_every_connect_refused() {
        let mut s = Sockets::new(None);
        for _ in 0..1000 {
            assert_eq!(s.connect("example.com".into(), 443, 3), -1);
        }
        assert!(s.refusal.contains("no network"), "{}", s.refusal);
        // Nothing is held for a refusal.
        assert!(s.table.is_empty());
        assert!(s.events(8).is_empty());
    }

    /// A run's sockets held to `net_connections` = 2, refusing every
    /// address (its log lines discarded).
    fn held_to_two() -> Sockets {
        struct Quiet;
        impl crate::net::forward::Observer for Quiet {
            fn line(&self, _: Level, _: &str) {}
            fn connection(&self, _: bool) {}
            fn closed(&self, _: u64, _: u64) {}
        }
        let policy = Policy {
            request: "tcp://192.0.2.1:9"
                .parse()
                .map(|p| crate::net::policy::Request::Allow(vec![p]))
                .unwrap(),
            host: crate::net::policy::Bound::public(),
            tenant: None,
        };
        Sockets::new(Some(NetContext {
            policy: Arc::new(policy),
            say: Arc::new(Quiet),
            budget: Arc::new(Budget::new(2, 1 << 20, 1 << 20, Duration::from_secs(1))),
            trust: Trust::default(),
            resolver: Arc::new(crate::net::connect::SystemResolver),
            activity: Arc::new(Activity::default()),
        }))
    }

    #[tokio::test]
    async fn a_guest_holds_at_most_its_connections_and_a_few_ended_sockets() {
        let mut s = held_to_two();
        let mut handles = Vec::new();
        for _ in 0..100 {
            let h = s.connect("127.0.0.1".into(), 9, 0);
            if h > 0 {
                handles.push(h);
            }
            // Let each refusal land (its place in the count goes back).
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Refused connections the guest never closed still hold entries:
        // no more than the connections plus SPARE.
        assert_eq!(s.table.len(), 2 + SPARE);
        assert_eq!(handles.len(), 2 + SPARE);
        assert!(
            s.refusal.contains("holds 18 sockets already"),
            "{}",
            s.refusal
        );
        // Closing one makes room for another.
        s.table.remove(&handles[0]);
        assert!(s.connect("127.0.0.1".into(), 9, 0) > 0);
    }
}
