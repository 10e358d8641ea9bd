//! The HTTP/1.1 server under the API, bounded so that no client can take
//! it over: connections are limited in all and per client (beyond, a
//! connection gets an immediate `503` and is closed), a request head must
//! arrive within the header timeout (idle keep-alive connections too) and
//! fit a small buffer, and a connection whose client stops reading its
//! response is dropped once the write has stalled for the stall timeout.
//! Each request carries its client's address (axum's [`ConnectInfo`]) for
//! the sign-in throttle.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::throttle::ClientKey;
use crate::metrics::{Metrics, Refusal};

/// The most bytes of a request head (and of any one read) a connection
/// buffers.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// Limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once, from every client together.
    pub max: usize,
    /// Connections open at once from one client (an IPv4 address or an
    /// IPv6 /64).
    pub per_client: usize,
    /// A request head (or, on a kept-alive connection, the next one) must
    /// arrive within this long.
    pub header_timeout: Duration,
    /// A response write that makes no progress for this long drops the
    /// connection.
    pub stall_timeout: Duration,
}

impl ConnectionLimits {
    /// The defaults for a process allowed `descriptors` open files: a
    /// quarter of them for connections (at most 4,096), and for one client
    /// a sixteenth of those (8 to 256), so that a few clients cannot take
    /// them all.
    pub fn for_descriptors(descriptors: u64) -> ConnectionLimits {
        let max = (descriptors / 4).clamp(16, 4096) as usize;
        ConnectionLimits {
            max,
            per_client: (max / 16).clamp(8, 256),
            header_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Raises this process's open-file limit to its hard limit; returns the
/// limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    r.rlim_cur
}

/// Connections open now: in all, and by client.
#[derive(Default)]
struct Open {
    counts: Mutex<(usize, HashMap<ClientKey, usize>)>,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    open: Arc<Open>,
    client: ClientKey,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut guard = self.open.counts.lock().expect("connections lock");
        let (total, m) = &mut *guard;
        *total -= 1;
        if let Some(n) = m.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

impl Open {
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &ConnectionLimits) -> Result<Admitted, Refusal> {
        let client = ClientKey::of(ip);
        let mut guard = self.counts.lock().expect("connections lock");
        let (total, m) = &mut *guard;
        if *total >= limits.max {
            return Err(Refusal::Connections);
        }
        let n = m.entry(client).or_default();
        if *n >= limits.per_client {
            return Err(Refusal::ClientConnections);
        }
        *n += 1;
        *total += 1;
        Ok(Admitted {
            open: self.clone(),
            client,
        })
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then lets the
/// requests under way finish (for at most `drain`).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let open = Arc::new(Open::default());
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = &mut shutdown => break,
            // Ended connections are reaped as they go.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (or another passing failure): the
                // connections that end free some; wait a moment.
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    metrics.refused(Refusal::Descriptors);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match open.admit(peer.ip(), &limits) {
            Ok(a) => a,
            Err(why) => {
                metrics.refused(why);
                refuse(stream, why);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let metrics = metrics.clone();
        let mut closing = closing.clone();
        tasks.spawn(async move {
            let _admitted = admitted;
            let stall = Arc::new(Stall::new());
            let io = TokioIo::new(Watched {
                inner: stream,
                stall: stall.clone(),
            });
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(io, service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r
                        && e.is_timeout()
                    {
                        metrics.refused(Refusal::HeaderTimeout);
                    }
                }
                _ = stall.stalled_for(limits.stall_timeout) => {
                    metrics.refused(Refusal::Stalled);
                }
                _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// Answers a connection beyond the limits with a `503` and closes it,
/// without reading its request or waiting for the client.
fn refuse(stream: TcpStream, why: Refusal) {
    let body = format!(
        "{{\"error\": \"too many connections ({}); retry later\"}}",
        why.reason()
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Since when a write has been waiting for the client (0: none is), in
/// milliseconds from `origin`.
struct Stall {
    origin: Instant,
    since_ms: AtomicU64,
}

impl Stall {
    fn new() -> Stall {
        Stall {
            origin: Instant::now(),
            since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    fn blocked(&self) {
        let now = self.now_ms();
        let _ = self
            .since_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn moved(&self) {
        self.since_ms.store(0, Ordering::Relaxed);
    }

    /// Resolves once a write has waited `limit` without progress.
    async fn stalled_for(&self, limit: Duration) {
        let limit_ms = limit.as_millis() as u64;
        loop {
            tokio::time::sleep((limit / 4).max(Duration::from_millis(100))).await;
            let since = self.since_ms.load(Ordering::Relaxed);
            if since != 0 && self.now_ms().saturating_sub(since) >= limit_ms {
                return;
            }
        }
    }
}

/// A connection's socket, noting when a write cannot proceed.
struct Watched {
    inner: TcpStream,
    stall: Arc<Stall>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(r.is_pending());
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(r.is_pending());
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Watched {
    fn note(&self, pending: bool) {
        if pending {
            self.stall.blocked();
        } else {
            self.stall.moved();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_in_all_and_per_client() {
        let open = Arc::new(Open::default());
        let limits = ConnectionLimits {
            max: 3,
            per_client: 2,
            ..ConnectionLimits::for_descriptors(1024)
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = open.admit(a, &limits).unwrap();
        let _a2 = open.admit(a, &limits).unwrap();
        assert!(matches!(
            open.admit(a, &limits),
            Err(Refusal::ClientConnections)
        ));
        let _b1 = open.admit(b, &limits).unwrap();
        assert!(matches!(open.admit(b, &limits), Err(Refusal::Connections)));
        drop(a1);
        assert!(open.admit(b, &limits).is_ok(), "a closed one frees a place");
    }

    #[tokio::test]
    async fn a_write_that_stays_blocked_is_a_stall_one_that_moves_is_not() {
        let limit = Duration::from_millis(300);
        let stall = Stall::new();
        // Blocked, then moving again: never a stall.
        stall.blocked();
        let moving = async {
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stall.moved();
                stall.blocked();
            }
        };
        tokio::select! {
            _ = stall.stalled_for(limit) => panic!("a moving write was taken for a stall"),
            _ = moving => {}
        }
        // Blocked for good: a stall, soon after the limit.
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), stall.stalled_for(limit))
            .await
            .expect("a blocked write is a stall");
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn limits_follow_the_descriptors() {
        assert_eq!(ConnectionLimits::for_descriptors(1024).max, 256);
        assert_eq!(ConnectionLimits::for_descriptors(1024).per_client, 16);
        assert_eq!(ConnectionLimits::for_descriptors(1 << 20).max, 4096);
        assert_eq!(ConnectionLimits::for_descriptors(1 << 20).per_client, 256);
    }
}
