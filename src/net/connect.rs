//! The host's side of a job's connection: the host resolves the name
//! itself, once, judges every address it got by the run's [`Policy`], and
//! connects to exactly an address it allowed (never a second lookup, so a
//! name that resolves elsewhere a moment later — DNS rebinding — cannot
//! steer the connection). Every executor's way out goes through
//! [`Dialer::dial`]: what a job asked for, what the host resolved and
//! what it refused are the same whichever executor runs the job.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpStream;

use super::policy::{Host, Policy, Refusal, Scheme, Target, Transport, parse_host};

/// Most addresses of one name the host tries to connect to (each may take
/// the whole connect timeout).
const MAX_TRIED: usize = 4;

/// Resolves names for the host.
#[async_trait]
pub trait Resolver: Send + Sync {
    /// The addresses `name` resolves to now.
    async fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>>;
}

/// The system's resolver (`getaddrinfo`, on a blocking thread).
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((name, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

/// Why a connection was not made.
#[derive(Debug)]
pub enum DialError {
    /// The policy refused every address (the first refusal says why and
    /// what would allow it).
    Refused(Refusal),
    /// The host is not a name or an address, or the name did not resolve.
    Resolve(String),
    /// Every allowed address failed to connect (the last error).
    Connect(String),
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Refused(r) => write!(f, "{r}"),
            DialError::Resolve(e) | DialError::Connect(e) => f.write_str(e),
        }
    }
}

/// A connection made for a job.
#[derive(Debug)]
pub struct Dialed {
    /// The stream, connected.
    pub stream: TcpStream,
    /// What it is connected to (the name asked for, the address).
    pub target: Target,
}

/// Opens TCP connections for one run, as its policy allows.
pub struct Dialer<'a> {
    /// The run's policy.
    pub policy: &'a Policy,
    /// How names are resolved.
    pub resolver: &'a dyn Resolver,
    /// How long one address may take to accept.
    pub connect_timeout: Duration,
}

impl Dialer<'_> {
    /// Connects to `host:port` for `scheme` (`None`: a bare stream): the
    /// name is resolved once, each address judged, and the first allowed
    /// address that accepts is the connection.
    pub async fn dial(
        &self,
        host: &str,
        port: u16,
        scheme: Option<Scheme>,
    ) -> Result<Dialed, DialError> {
        let (name, ips) = match parse_host(host).map_err(DialError::Resolve)? {
            Host::Ip(ip) => (None, vec![ip]),
            Host::Name(n) => {
                self.policy.may_look_up(&n).map_err(DialError::Refused)?;
                let ips = self
                    .resolver
                    .resolve(&n)
                    .await
                    .map_err(|e| DialError::Resolve(format!("{n}: cannot resolve: {e}")))?;
                if ips.is_empty() {
                    return Err(DialError::Resolve(format!("{n}: no address")));
                }
                (Some(n), ips)
            }
        };
        self.dial_to(name.as_deref(), ips, port, scheme).await
    }

    /// Connects to the first of `ips` (what `name`, if any, resolved to)
    /// that the policy allows and that accepts.
    pub async fn dial_to(
        &self,
        name: Option<&str>,
        ips: Vec<IpAddr>,
        port: u16,
        scheme: Option<Scheme>,
    ) -> Result<Dialed, DialError> {
        let mut refused = None;
        let mut failed = None;
        let mut seen = Vec::new();
        let mut tried = 0;
        for ip in ips.into_iter().map(|ip| ip.to_canonical()) {
            if seen.contains(&ip) || tried >= MAX_TRIED {
                continue;
            }
            seen.push(ip);
            let target = Target {
                transport: Transport::Tcp,
                scheme,
                name: name.map(str::to_string),
                ip,
                port,
            };
            if let Err(r) = self.policy.check(&target) {
                refused.get_or_insert(r);
                continue;
            }
            tried += 1;
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(Dialed { stream, target }),
                Ok(Err(e)) => failed = Some(format!("{}: {e}", target.describe())),
                Err(_) => {
                    failed = Some(format!(
                        "{}: no answer within {:?}",
                        target.describe(),
                        self.connect_timeout
                    ))
                }
            }
        }
        match (failed, refused) {
            (Some(e), _) => Err(DialError::Connect(e)),
            (None, Some(r)) => Err(DialError::Refused(r)),
            (None, None) => Err(DialError::Resolve(format!(
                "{}: no address",
                name.unwrap_or("the host")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::policy::{Bound, Pattern, Request};
    use super::*;

    /// A resolver whose answers the test sets, counting its lookups.
    struct Fixed {
        answers: Mutex<Vec<Vec<IpAddr>>>,
        lookups: AtomicUsize,
    }

    impl Fixed {
        fn new(answers: &[&[&str]]) -> Fixed {
            Fixed {
                answers: Mutex::new(
                    answers
                        .iter()
                        .map(|a| a.iter().map(|s| s.parse().unwrap()).collect())
                        .collect(),
                ),
                lookups: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait]
    impl Resolver for Fixed {
        async fn resolve(&self, _: &str) -> io::Result<Vec<IpAddr>> {
            let n = self.lookups.fetch_add(1, Ordering::SeqCst);
            let answers = self.answers.lock().unwrap();
            Ok(answers[n.min(answers.len() - 1)].clone())
        }
    }

    fn policy(request: &[&str], host: &str) -> Policy {
        Policy {
            request: Request::Allow(
                request
                    .iter()
                    .map(|s| s.parse::<Pattern>().unwrap())
                    .collect(),
            ),
            host: host.parse::<Bound>().unwrap(),
            tenant: None,
        }
    }

    /// A listener on loopback and whether it was connected to.
    async fn listener() -> (tokio::net::TcpListener, u16) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    async fn was_reached(l: &tokio::net::TcpListener) -> bool {
        tokio::time::timeout(Duration::from_millis(200), l.accept())
            .await
            .is_ok()
    }

    fn dialer<'a>(policy: &'a Policy, resolver: &'a dyn Resolver) -> Dialer<'a> {
        Dialer {
            policy,
            resolver,
            connect_timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn an_allowed_address_is_connected_and_judged_as_written() {
        let (l, port) = listener().await;
        let pol = policy(
            &[&format!("tcp://127.0.0.1:{port}")],
            &format!("public,tcp://127.0.0.1:{port}"),
        );
        let none = Fixed::new(&[&[]]);
        // 0x7f.1 is 127.0.0.1.
        let d = dialer(&pol, &none)
            .dial("0x7f.1", port, None)
            .await
            .unwrap();
        assert_eq!(d.target.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(was_reached(&l).await);
        // Another loopback address, or another port, is refused and
        // nothing is connected.
        let e = dialer(&pol, &none)
            .dial("127.0.0.2", port, None)
            .await
            .unwrap_err();
        assert!(matches!(e, DialError::Refused(_)), "{e}");
        let e = dialer(&pol, &none)
            .dial("127.0.0.1", port + 1, None)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("no pattern of the job's allows it"),
            "{e}"
        );
        assert!(!was_reached(&l).await);
        assert_eq!(none.lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_name_is_resolved_once_and_judged_by_the_address_it_gave() {
        let (l, port) = listener().await;
        // The job may reach the name; the name resolves to loopback (at
        // once, or after a public answer the job saw first): refused, and
        // the listener sees nothing.
        let pol = policy(&[&format!("tcp://rebind.example:{port}")], "public");
        let rebinding = Fixed::new(&[&["127.0.0.1"], &["93.184.216.34"]]);
        let e = dialer(&pol, &rebinding)
            .dial("rebind.example", port, None)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("127.0.0.1 is a loopback address"),
            "{e}"
        );
        assert_eq!(rebinding.lookups.load(Ordering::SeqCst), 1);
        assert!(!was_reached(&l).await);
        // The metadata service by any name is refused the same way.
        let meta = Fixed::new(&[&["169.254.169.254"]]);
        let e = dialer(&pol, &meta)
            .dial("rebind.example", port, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("a link-local address"), "{e}");
        // A name resolving to an address the job and the host both name
        // literally is allowed, by that address; a name no pattern names
        // is not even looked up.
        let pol = policy(
            &[
                &format!("tcp://db.local:{port}"),
                &format!("tcp://127.0.0.1:{port}"),
            ],
            &format!("tcp://127.0.0.1:{port}"),
        );
        let local = Fixed::new(&[&["::ffff:127.0.0.1"]]);
        let e = dialer(&pol, &local)
            .dial("secret.evil.example", port, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("refused without a lookup"), "{e}");
        assert_eq!(local.lookups.load(Ordering::SeqCst), 0);
        let d = dialer(&pol, &local)
            .dial("db.local", port, None)
            .await
            .unwrap();
        assert_eq!(d.target.name.as_deref(), Some("db.local"));
        assert!(was_reached(&l).await);
    }

    #[tokio::test]
    async fn the_systems_resolver_is_held_to_the_policy_too() {
        let (l, port) = listener().await;
        let pol = policy(&[&format!("tcp://localhost:{port}")], "public");
        let e = dialer(&pol, &SystemResolver)
            .dial("localhost", port, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("a loopback address"), "{e}");
        assert!(!was_reached(&l).await);
    }

    #[tokio::test]
    async fn an_address_that_does_not_answer_is_given_up_after_the_timeout() {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        // Fill its accept queue and never accept: later SYNs are dropped.
        let held: Vec<_> = (0..4)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
            })
            .collect();
        assert!(!held.is_empty());
        let port = addr.port();
        let pol = policy(
            &[&format!("tcp://127.0.0.1:{port}")],
            &format!("tcp://127.0.0.1:{port}"),
        );
        let none = Fixed::new(&[&[]]);
        let d = Dialer {
            policy: &pol,
            resolver: &none,
            connect_timeout: Duration::from_millis(300),
        };
        let started = std::time::Instant::now();
        let e = d.dial("127.0.0.1", port, None).await.unwrap_err();
        assert!(matches!(e, DialError::Connect(_)), "{e}");
        assert!(e.to_string().contains("no answer within 300ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
