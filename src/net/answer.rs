//! The host's answers to a job's own DNS questions: a native run's
//! network namespace has a DNS server on 127.0.0.1:53 (where a resolver
//! without `/etc/resolv.conf` asks) that the host answers. It answers A
//! and AAAA questions for names a pattern of the job's names, resolved by
//! the host's resolver, and remembers which name each address it gave
//! belongs to ([`Names`]): the connection the job then makes to that
//! address is judged as a connection to that name. Any other name is
//! refused without asking anyone (a job cannot have the host ask about a
//! name it makes up, a way to send data out), and so is any other kind of
//! question.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::connect::Resolver;
use super::dns::message::{self as dns, A, AAAA, NXDOMAIN, REFUSED};
use super::forward::Say;
use super::policy::Policy;
use crate::store::logline::Level;

/// Most addresses a run's table holds (beyond, an answer is refused).
const MAX_ADDRESSES: usize = 4096;
/// How long the job's resolver may keep an answer.
const TTL: u32 = 30;
/// Most names whose first answer or refusal a run's log tells (beyond,
/// one line says so and no more follow).
const MAX_TOLD: usize = 256;
/// Longest the host's resolver may take for one question.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which names the host gave each address for, in one run.
#[derive(Default)]
pub struct Names {
    map: Mutex<HashMap<IpAddr, Vec<String>>>,
}

impl Names {
    /// The names the host answered with `ip` (none for an address the job
    /// had from elsewhere).
    pub fn of(&self, ip: IpAddr) -> Vec<String> {
        self.lock()
            .get(&ip.to_canonical())
            .cloned()
            .unwrap_or_default()
    }

    /// Remembers that `name` is at `ips`; `false` when the table is full.
    fn remember(&self, name: &str, ips: &[IpAddr]) -> bool {
        let mut map = self.lock();
        for ip in ips {
            let ip = ip.to_canonical();
            if !map.contains_key(&ip) && map.len() >= MAX_ADDRESSES {
                return false;
            }
            let names = map.entry(ip).or_default();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Vec<String>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers the questions that reach `sock` until the task is dropped, one
/// at a time.
pub async fn serve(
    sock: UdpSocket,
    policy: Arc<Policy>,
    resolver: Arc<dyn Resolver>,
    say: Say,
    names: Arc<Names>,
) {
    let mut buf = vec![0u8; 1500];
    let mut told = Told::default();
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let m = &buf[..n];
        let Some(q) = dns::question(m) else {
            continue;
        };
        let answer = if q.class != 1 || !matches!(q.qtype, A | AAAA) {
            dns::reply(m, &q, REFUSED, &[], 0)
        } else if let Err(why) = policy.may_look_up(&q.name) {
            told.tell(&say, &q.name, Level::Warn, || format!("Network: {why}"));
            dns::reply(m, &q, REFUSED, &[], 0)
        } else {
            match tokio::time::timeout(LOOKUP_TIMEOUT, resolver.resolve(&q.name)).await {
                Ok(Ok(ips)) if !ips.is_empty() => {
                    if names.remember(&q.name, &ips) {
                        told.tell(&say, &q.name, Level::Info, || {
                            let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                            format!(
                                "Network: looked up {} for the job: {}",
                                q.name,
                                list.join(", ")
                            )
                        });
                        dns::reply(m, &q, 0, &ips, TTL)
                    } else {
                        dns::reply(m, &q, REFUSED, &[], 0)
                    }
                }
                _ => dns::reply(m, &q, NXDOMAIN, &[], 0),
            }
        };
        let _ = sock.send_to(&answer, from).await;
    }
}

/// The names a run's log has told of (each once, at most [`MAX_TOLD`]).
#[derive(Default)]
struct Told {
    names: std::collections::HashSet<String>,
    full: bool,
}

impl Told {
    fn tell(&mut self, say: &Say, name: &str, level: Level, line: impl FnOnce() -> String) {
        if self.full || self.names.contains(name) {
            return;
        }
        if self.names.len() >= MAX_TOLD {
            self.full = true;
            say.line(
                Level::Warn,
                &format!("Network: the job looked up more than {MAX_TOLD} names; no more are told"),
            );
            return;
        }
        self.names.insert(name.to_string());
        say.line(level, &line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_remembered_per_address_within_a_bound() {
        let names = Names::default();
        let ip: IpAddr = "93.184.216.34".parse().unwrap();
        assert!(names.remember("api.example.com", &[ip]));
        assert!(names.remember("www.example.com", &[ip]));
        assert!(names.remember("api.example.com", &[ip]));
        assert_eq!(names.of(ip), vec!["api.example.com", "www.example.com"]);
        let mapped: IpAddr = "::ffff:93.184.216.34".parse().unwrap();
        assert_eq!(names.of(mapped).len(), 2);
        for i in 0..MAX_ADDRESSES as u32 {
            names.remember("many.example.com", &[IpAddr::from((i + 1).to_be_bytes())]);
        }
        assert!(!names.remember("late.example.com", &["10.9.9.9".parse().unwrap()]));
    }
}
