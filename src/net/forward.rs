//! The host's forwarder for a run whose only way out is the host: an HTTP
//! proxy on a listener inside the run's network namespace (which has
//! nothing else: no route out). `CONNECT host:port` (HTTPS, TLS or any
//! TCP stream) and plain `http://` requests are dialled by the host
//! ([`Dialer`]: resolved once, judged by the run's policy, connected to
//! exactly an allowed address) and then copied both ways. A refusal is a
//! `403` naming the pattern that would allow the connection, and a line in
//! the run's log; every connection's end is a line with its bytes and
//! duration. A client that ignores the proxy finds no route at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::connect::{DialError, Dialer, Resolver};
use super::policy::{Policy, Scheme, split_authority};
use crate::store::logline::Level;

/// Where the forwarder listens inside a run's network namespace.
pub const PROXY_PORT: u16 = 3128;

/// The proxy URL a run's environment names (`HTTP_PROXY` and the like).
pub fn proxy_url() -> String {
    format!("http://127.0.0.1:{PROXY_PORT}")
}

/// The JVM's system properties that point Java's own clients
/// (`HttpClient`, `HttpURLConnection`) at the forwarder, for every host
/// (none bypasses it: the run has no other way out).
pub fn java_proxy_properties() -> Vec<String> {
    let port = PROXY_PORT;
    vec![
        "-Dhttp.proxyHost=127.0.0.1".into(),
        format!("-Dhttp.proxyPort={port}"),
        "-Dhttps.proxyHost=127.0.0.1".into(),
        format!("-Dhttps.proxyPort={port}"),
        "-Dhttp.nonProxyHosts=".into(),
    ]
}

/// The environment variables that point clients at the forwarder.
pub fn proxy_env() -> Vec<(String, String)> {
    let url = proxy_url();
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .iter()
    .map(|k| (k.to_string(), url.clone()))
    .chain(
        ["NO_PROXY", "no_proxy"]
            .iter()
            .map(|k| (k.to_string(), String::new())),
    )
    .collect()
}

/// What the forwarder tells of a run's connections: lines for its log,
/// and the counts.
pub trait Observer: Send + Sync {
    /// A line for the run's log.
    fn line(&self, level: Level, line: &str);
    /// A connection was made (`true`) or refused by the policy.
    fn connection(&self, allowed: bool);
    /// A connection closed after `out` bytes out and `back` bytes in.
    fn closed(&self, out: u64, back: u64);
}

/// A run's observer, shared by its connections.
pub type Say = Arc<dyn Observer>;

/// Longest a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read.
const HEAD_MAX: usize = 16 << 10;

/// Which of a run's byte budgets ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// What it sent (`limits.net_out_mb`).
    Out,
    /// What it received (`limits.net_in_mb`).
    In,
}

/// What one run may use of the host's network: connections at once, and
/// bytes each way; once a byte budget runs out every connection of the
/// run closes and [`Budget::exceeded`] resolves (the executor stops the
/// run, naming the limit).
pub struct Budget {
    connections: usize,
    /// Connections open now, through any of the run's ways out.
    open: std::sync::atomic::AtomicUsize,
    /// UDP sockets relayed now (counted apart: the host cannot see when
    /// the job is done with one, so each holds its place a while).
    datagrams: std::sync::atomic::AtomicUsize,
    /// How long one address may take to accept.
    connect_timeout: Duration,
    out_left: std::sync::atomic::AtomicU64,
    in_left: std::sync::atomic::AtomicU64,
    tripped: std::sync::Mutex<Option<Exceeded>>,
    wake: tokio::sync::Notify,
}

impl Budget {
    /// `connections` at once, `out` and `back` bytes in all, each
    /// address given `connect_timeout` to accept.
    pub fn new(connections: u64, out: u64, back: u64, connect_timeout: Duration) -> Budget {
        Budget {
            connections: connections.min(usize::MAX as u64) as usize,
            open: 0.into(),
            datagrams: 0.into(),
            connect_timeout,
            out_left: out.into(),
            in_left: back.into(),
            tripped: std::sync::Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Connections a run may have at once.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// One more connection, if the run has fewer than it may at once;
    /// else the refusal is told (`what` names the connection) and `None`.
    pub fn admit_or_tell(self: &Arc<Self>, say: &Say, what: &str) -> Option<Admission> {
        self.admit_or_tell_as(say, what, false)
    }

    /// [`Budget::admit_or_tell`] for a relayed UDP socket (as many of
    /// those as connections, counted apart).
    pub fn admit_datagrams_or_tell(self: &Arc<Self>, say: &Say, what: &str) -> Option<Admission> {
        self.admit_or_tell_as(say, what, true)
    }

    fn admit_or_tell_as(self: &Arc<Self>, say: &Say, what: &str, udp: bool) -> Option<Admission> {
        let admitted = self.admit_as(udp);
        if admitted.is_none() {
            say.connection(false);
            say.line(
                Level::Warn,
                &format!(
                    "Network: {what}: refused: the run has as many connections through the host as it may (limits.net_connections = {})",
                    self.connections
                ),
            );
        }
        admitted
    }

    /// One more connection, if the run has fewer than it may at once; it
    /// counts until the admission is dropped.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        self.admit_as(false)
    }

    fn admit_as(self: &Arc<Self>, udp: bool) -> Option<Admission> {
        use std::sync::atomic::Ordering;
        let count = if udp { &self.datagrams } else { &self.open };
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.connections).then_some(n + 1)
            })
            .ok()
            .map(|_| Admission {
                budget: self.clone(),
                udp,
            })
    }

    /// How long one address may take to accept.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Takes `n` bytes from a budget; `false` (and the budget tripped)
    /// when it has fewer left.
    pub fn charge(&self, which: Exceeded, n: u64) -> bool {
        use std::sync::atomic::Ordering;
        let left = match which {
            Exceeded::Out => &self.out_left,
            Exceeded::In => &self.in_left,
        };
        let ok = left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(n))
            .is_ok();
        if !ok {
            left.store(0, Ordering::SeqCst);
            let mut t = self.tripped.lock().unwrap_or_else(|e| e.into_inner());
            if t.is_none() {
                *t = Some(which);
            }
            self.wake.notify_waiters();
        }
        ok
    }

    /// Which byte budget has run out, if one has.
    pub fn tripped(&self) -> Option<Exceeded> {
        *self.tripped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once a byte budget has run out, with which.
    pub async fn exceeded(&self) -> Exceeded {
        loop {
            let notified = self.wake.notified();
            if let Some(which) = self.tripped() {
                return which;
            }
            notified.await;
        }
    }
}

/// A connection counted against its run's `limits.net_connections`.
pub struct Admission {
    budget: Arc<Budget>,
    udp: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let count = if self.udp {
            &self.budget.datagrams
        } else {
            &self.budget.open
        };
        count.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Serves the run's connections until the task is dropped (which ends
/// every connection it holds).
pub async fn serve(
    listener: TcpListener,
    policy: Arc<Policy>,
    resolver: Arc<dyn Resolver>,
    say: Say,
    budget: Arc<Budget>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok((mut client, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(admitted) = budget.admit_or_tell(&say, "a connection to the proxy") else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    answer(
                        &mut client,
                        "503 Service Unavailable",
                        "wasmjobs: too many connections (limits.net_connections)",
                    ),
                )
                .await;
            });
            continue;
        };
        let (policy, resolver, say, budget) = (
            policy.clone(),
            resolver.clone(),
            say.clone(),
            budget.clone(),
        );
        conns.spawn(async move {
            let _admitted = admitted;
            one(client, &policy, &*resolver, &say, &budget).await
        });
    }
}

/// Copies from `r` to `w`, charging each chunk to `budget` (ends at EOF,
/// an error, or when the budget runs out); the bytes copied.
pub async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    mut w: impl tokio::io::AsyncWrite + Unpin,
    budget: &Budget,
    which: Exceeded,
) -> u64 {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !budget.charge(which, n as u64) || w.write_all(&buf[..n]).await.is_err() {
            break;
        }
        total += n as u64;
    }
    let _ = w.shutdown().await;
    total
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Ask {
    /// `CONNECT host:port`: a stream.
    Connect { host: String, port: u16 },
    /// A plain-HTTP request in absolute form: the host, the port and the
    /// head to send on (in origin form, `Connection: close`).
    Http {
        host: String,
        port: u16,
        head: Vec<u8>,
    },
}

/// Reads what a request head asks for; the error is the `400`'s reason.
fn parse_head(head: &[u8]) -> Result<Ask, String> {
    let text = std::str::from_utf8(head).map_err(|_| "the request head is not text")?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 request: {first}"));
    }
    if method == "CONNECT" {
        let (host, port) = split_host_port(target, None)?;
        return Ok(Ask::Connect { host, port });
    }
    let rest = target.strip_prefix("http://").ok_or_else(|| {
        format!("only CONNECT and http:// requests go through this proxy, not '{target}'")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority, Some(80))?;
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.take_while(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name.starts_with("proxy-") || name == "connection" {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Ask::Http {
        host,
        port,
        head: out.into_bytes(),
    })
}

/// `host:port` (IPv6 in brackets, [`split_authority`]); `default` when
/// the port is left out.
fn split_host_port(s: &str, default: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = split_authority(s)?;
    let port = match (port, default) {
        (Some(p), _) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("'{p}' is not a port")),
        },
        (None, Some(d)) => d,
        (None, None) => return Err(format!("'{s}' has no port")),
    };
    if host.is_empty() {
        return Err(format!("'{s}' has no host"));
    }
    Ok((host.to_string(), port))
}

/// Reads a request head (up to the blank line), and what came after it.
async fn read_head(client: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if end.map_or(buf.len(), |e| e + 4) > HEAD_MAX {
            return Err("the request head is too large".into());
        }
        if let Some(end) = end {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        let n = client
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err("the client closed before its request head ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn answer(client: &mut TcpStream, status: &str, body: &str) {
    let r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    let _ = client.write_all(r.as_bytes()).await;
}

/// One client connection: its request, the host's connection, the copy.
async fn one(
    mut client: TcpStream,
    policy: &Policy,
    resolver: &dyn Resolver,
    say: &Say,
    budget: &Budget,
) {
    let (head, early) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await {
        Ok(Ok(h)) => h,
        Ok(Err(why)) => return answer(&mut client, "400 Bad Request", &why).await,
        Err(_) => return answer(&mut client, "408 Request Timeout", "no request head").await,
    };
    let ask = match parse_head(&head) {
        Ok(a) => a,
        Err(why) => {
            say.line(
                Level::Warn,
                &format!("Network: a request the host does not forward: {why}"),
            );
            return answer(&mut client, "400 Bad Request", &why).await;
        }
    };
    let (host, port, scheme) = match &ask {
        Ask::Connect { host, port } => (host.clone(), *port, None),
        Ask::Http { host, port, .. } => (host.clone(), *port, Some(Scheme::Http)),
    };
    let dialer = Dialer {
        policy,
        resolver,
        connect_timeout: budget.connect_timeout,
    };
    let mut upstream = match dialer.dial(&host, port, scheme).await {
        Ok(d) => d,
        Err(e) => {
            let status = match e {
                DialError::Refused(_) => {
                    say.connection(false);
                    "403 Forbidden"
                }
                DialError::Resolve(_) | DialError::Connect(_) => "502 Bad Gateway",
            };
            say.line(Level::Warn, &format!("Network: {e}"));
            return answer(&mut client, status, &format!("wasmjobs: {e}")).await;
        }
    };
    let what = upstream.target.describe();
    say.connection(true);
    say.line(Level::Info, &format!("Network: connected to {what}"));
    let started = Instant::now();
    let (sent, head_out) = match ask {
        Ask::Connect { .. } => (
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_ok(),
            0,
        ),
        Ask::Http { head, .. } => (
            budget.charge(Exceeded::Out, head.len() as u64)
                && upstream.stream.write_all(&head).await.is_ok(),
            head.len() as u64,
        ),
    };
    let early_ok = early.is_empty()
        || (budget.charge(Exceeded::Out, early.len() as u64)
            && upstream.stream.write_all(&early).await.is_ok());
    let (out, back) = if sent && early_ok {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.stream.split();
        let both = async {
            tokio::join!(
                pump(cr, uw, budget, Exceeded::Out),
                pump(ur, cw, budget, Exceeded::In)
            )
        };
        tokio::select! {
            counted = both => counted,
            _ = budget.exceeded() => (0, 0),
        }
    } else {
        (0, 0)
    };
    let out = out + head_out + early.len() as u64;
    tell_closed(say, &what, out, back, started);
}

/// Tells the run's log and the host's counts that the connection to
/// `what`, made at `started`, closed after `out` and `back` bytes.
pub fn tell_closed(say: &Say, what: &str, out: u64, back: u64, started: Instant) {
    say.closed(out, back);
    say.line(
        Level::Info,
        &format!(
            "Network: {what} closed: {out} bytes out, {back} bytes in, {} ms",
            started.elapsed().as_millis()
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::connect::SystemResolver;
    use crate::net::policy::{Bound, Request};

    #[test]
    fn request_heads_are_read_as_proxies_read_them() {
        assert_eq!(
            parse_head(b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Ask::Connect {
                host: "api.example.com".into(),
                port: 443
            })
        );
        assert_eq!(
            parse_head(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n"),
            Ok(Ask::Connect {
                host: "::1".into(),
                port: 8443
            })
        );
        let Ok(Ask::Http { host, port, head }) = parse_head(
            b"GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: x\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
        ) else {
            panic!()
        };
        assert_eq!((host.as_str(), port), ("example.com", 80));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert!(
            parse_head(b"GET /local HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .contains("only CONNECT")
        );
        assert!(
            parse_head(b"CONNECT example.com HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            parse_head(b"hello\r\n\r\n")
                .unwrap_err()
                .contains("not an HTTP/1 request")
        );
        // As patterns read them: port 0 and an unclosed IPv6 address are
        // refused.
        let refused = |head: &[u8]| parse_head(head).unwrap_err();
        assert!(refused(b"CONNECT example.com:0 HTTP/1.1\r\n\r\n").contains("not a port"));
        assert!(refused(b"CONNECT [::1:443 HTTP/1.1\r\n\r\n").contains("closing ']'"));
    }

    /// A forwarder over `policy`, its port, and the lines it logged.
    async fn forwarder(
        policy: Policy,
    ) -> (
        u16,
        Arc<std::sync::Mutex<Vec<String>>>,
        tokio::task::JoinHandle<()>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        struct Lines(Arc<std::sync::Mutex<Vec<String>>>);
        impl Observer for Lines {
            fn line(&self, _: Level, line: &str) {
                self.0.lock().unwrap().push(line.to_string());
            }
            fn connection(&self, allowed: bool) {
                self.0.lock().unwrap().push(format!("counted {allowed}"));
            }
            fn closed(&self, _: u64, _: u64) {}
        }

        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let say: Say = Arc::new(Lines(lines.clone()));
        let budget = Arc::new(Budget::new(64, 1 << 20, 1 << 20, Duration::from_secs(5)));
        let task = tokio::spawn(serve(
            l,
            Arc::new(policy),
            Arc::new(SystemResolver),
            say,
            budget,
        ));
        (port, lines, task)
    }

    async fn exchange(port: u16, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await;
        out
    }

    #[tokio::test]
    async fn allowed_requests_go_through_and_refused_ones_reach_nothing() {
        // An HTTP server on loopback that answers once per connection.
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sport = server.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let (mut c, _) = server.accept().await.unwrap();
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).await.unwrap_or(0);
                let got = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if got.starts_with("GET /hello HTTP/1.1\r\n") {
                    "hello"
                } else {
                    "what?"
                };
                let _ = c
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let policy = Policy {
            request: Request::Allow(vec![format!("http://127.0.0.1:{sport}").parse().unwrap()]),
            host: format!("public,http://127.0.0.1:{sport}")
                .parse::<Bound>()
                .unwrap(),
            tenant: None,
        };
        let (port, lines, task) = forwarder(policy).await;
        let ok = exchange(
            port,
            &format!("GET http://127.0.0.1:{sport}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        )
        .await;
        assert!(ok.ends_with("hello"), "{ok}");
        let tunnel = exchange(
            port,
            &format!("CONNECT 127.0.0.1:{sport} HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n"),
        )
        .await;
        assert!(
            tunnel.starts_with("HTTP/1.1 200 Connection established"),
            "{tunnel}"
        );
        assert!(tunnel.ends_with("hello"), "{tunnel}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
        for refused in [
            format!("CONNECT 127.0.0.2:{sport} HTTP/1.1\r\n\r\n"),
            format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", sport + 1),
            "CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n".to_string(),
            format!("GET http://2130706434:{sport}/ HTTP/1.1\r\n\r\n"),
        ] {
            let r = exchange(port, &refused).await;
            assert!(r.starts_with("HTTP/1.1 403 Forbidden"), "{refused}: {r}");
        }
        // A request head past HEAD_MAX is refused before anything is dialled.
        let huge = format!(
            "GET http://127.0.0.1:{sport}/hello HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "x".repeat(HEAD_MAX + 1024)
        );
        let r = exchange(port, &huge).await;
        assert!(r.starts_with("HTTP/1.1 400 Bad Request"), "{r}");
        assert!(r.contains("the request head is too large"), "{r}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
        let lines = lines.lock().unwrap().clone();
        assert_eq!(
            lines.iter().filter(|l| *l == "counted true").count(),
            2,
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| *l == "counted false").count(),
            4,
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("Network: connected to 127.0.0.1:{sport}"))),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("bytes out") && l.contains("bytes in")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Network: 169.254.169.254:80: refused")),
            "{lines:?}"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_budget_trips_once_and_says_which() {
        let b = Budget::new(1, 10, 100, Duration::from_secs(1));
        assert!(b.charge(Exceeded::Out, 6));
        assert!(b.charge(Exceeded::In, 60));
        assert!(!b.charge(Exceeded::Out, 6));
        assert!(!b.charge(Exceeded::In, 60));
        assert_eq!(b.exceeded().await, Exceeded::Out);
    }
}
