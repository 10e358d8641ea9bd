//! A resolver that asks one DNS server the operator names
//! (`--net-resolver`) instead of the system's: an internal DNS for jobs'
//! names, apart from the host's own. It asks for A and AAAA records over
//! UDP, one question per message, and takes the addresses of the answers;
//! a truncated answer, a server failure or no answer in time is an error
//! that names the server. [`message`] reads and writes the messages.

pub mod message;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::UdpSocket;

use super::connect::Resolver;
use message::{A, AAAA, answer, query};

/// How long the server may take to answer one question.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks one DNS server.
#[derive(Debug, Clone)]
pub struct DnsResolver {
    server: SocketAddr,
}

impl DnsResolver {
    /// A resolver that asks `server`.
    pub fn new(server: SocketAddr) -> DnsResolver {
        DnsResolver { server }
    }

    /// `--net-resolver`'s value: an address, with port 53 unless given.
    pub fn parse(s: &str) -> Result<SocketAddr, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a);
        }
        let bare = s.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, 53))
            .map_err(|_| {
                format!("'{s}' is not a DNS server's address (an IP, with :PORT if not 53)")
            })
    }

    async fn ask(&self, name: &str, qtype: u16) -> io::Result<Vec<IpAddr>> {
        let local: SocketAddr = if self.server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local).await?;
        sock.connect(self.server).await?;
        let mut id = [0u8; 2];
        getrandom(&mut id)?;
        let id = u16::from_be_bytes(id);
        sock.send(&query(id, name, qtype)?).await?;
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the DNS server {} did not answer", self.server),
                    )
                })??;
            // Another message (a late answer to someone else): not ours.
            match answer(&buf[..n], id, qtype) {
                Ok(Some(ips)) => return Ok(ips),
                Ok(None) => continue,
                Err(why) => {
                    return Err(io::Error::other(format!(
                        "the DNS server {}: {why}",
                        self.server
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl Resolver for DnsResolver {
    async fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        let (v4, v6) = tokio::join!(self.ask(name, A), self.ask(name, AAAA));
        match (v4, v6) {
            (Ok(mut a), Ok(b)) => {
                a.extend(b);
                Ok(a)
            }
            (Ok(a), Err(_)) | (Err(_), Ok(a)) if !a.is_empty() => Ok(a),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

/// Unpredictable bytes (a query's id: an answer must match it).
fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: `buf` is valid for writes of its length; getrandom writes at
    // most that many bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(io::Error::other("no random source for a DNS query's id"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_parsed() {
        assert_eq!(
            DnsResolver::parse("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            DnsResolver::parse("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            DnsResolver::parse("[::1]").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert!(DnsResolver::parse("dns.example").is_err());
    }

    #[tokio::test]
    async fn it_asks_its_server() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let q = &buf[..n];
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let ips: &[[u8; 4]] = if qtype == A { &[[127, 0, 0, 9]] } else { &[] };
                server
                    .send_to(&message::tests::canned(q, ips, 0), from)
                    .unwrap();
            }
        });
        let ips = DnsResolver::new(addr).resolve("db.internal").await.unwrap();
        assert_eq!(ips, vec!["127.0.0.9".parse::<IpAddr>().unwrap()]);
    }
}
