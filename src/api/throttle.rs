//! Per-client throttling of sign-ins: each client (an IPv4 address, or an
//! IPv6 /64) may have a few secret checks under way at once, and after a
//! burst of failed ones must wait (`429` with `Retry-After`) while its
//! failures leak away. A client flooding wrong secrets therefore costs the
//! host a handful of hashes a minute, and cannot hold the checking threads
//! that other clients' sign-ins need. A success does not reset the count
//! (a tenant's own valid secret cannot buy another tenant more guesses).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed checks a client may have before it must wait.
pub const BURST: f64 = 10.0;
/// One failure leaks away per this long (so 10 a minute, sustained).
pub const LEAK: Duration = Duration::from_secs(6);
/// Checks a client may have under way (queued or hashing) at once.
pub const IN_FLIGHT: u32 = 2;
/// Clients remembered at once; beyond, idle ones are forgotten first.
const MAX_CLIENTS: usize = 100_000;

/// Who a request comes from, for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    /// An IPv4 address (or an IPv4-mapped IPv6 one) as it is; an IPv6
    /// address by its /64, which one user usually holds whole.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(u128::from(u32::from(v4))),
                None => ClientKey((u128::from(v6) & !((1u128 << 64) - 1)) | 1),
            },
        }
    }
}

#[derive(Debug)]
struct Client {
    /// Failures not yet leaked away, as of `at`.
    level: f64,
    at: Instant,
    checking: u32,
}

impl Client {
    fn leak(&mut self, now: Instant) {
        let gone = now.duration_since(self.at).as_secs_f64() / LEAK.as_secs_f64();
        self.level = (self.level - gone).max(0.0);
        self.at = now;
    }
}

/// What a client may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check its secret (then report with [`Throttle::done`]); `clean`
    /// when the client has no recent failure (its check may go first).
    Check {
        /// No failure of the client's is still counted.
        clean: bool,
    },
    /// It failed too often: wait this long.
    Wait(Duration),
    /// It already has [`IN_FLIGHT`] checks under way (or every place for
    /// a client is taken by clients with recent failures).
    Busy,
}

/// The clients' recent failures and checks under way.
#[derive(Default)]
pub struct Throttle {
    clients: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    by_key: HashMap<ClientKey, Client>,
    /// When the idle clients were last forgotten.
    purged: Option<Instant>,
}

impl Throttle {
    /// Whether `client` may have a secret checked now; on
    /// [`Verdict::Check`] the check counts as under way until
    /// [`Throttle::done`].
    pub fn begin(&self, client: ClientKey) -> Verdict {
        let now = Instant::now();
        let mut all = self.clients.lock().expect("throttle lock");
        let Clients { by_key: m, purged } = &mut *all;
        if !m.contains_key(&client) && m.len() >= MAX_CLIENTS {
            // Idle clients are forgotten, at most once a second (a flood
            // of new addresses does not make every request walk the map).
            if purged.is_none_or(|p| now.duration_since(p) >= Duration::from_secs(1)) {
                *purged = Some(now);
                m.retain(|_, c| {
                    c.leak(now);
                    c.level > 0.0 || c.checking > 0
                });
            }
            if m.len() >= MAX_CLIENTS {
                // Every place holds a client with recent failures: a new
                // client waits until some have leaked away.
                return Verdict::Busy;
            }
        }
        let c = m.entry(client).or_insert(Client {
            level: 0.0,
            at: now,
            checking: 0,
        });
        c.leak(now);
        if c.level > BURST - 1.0 {
            let over = c.level - (BURST - 1.0);
            return Verdict::Wait(Duration::from_secs_f64(over * LEAK.as_secs_f64()));
        }
        if c.checking >= IN_FLIGHT {
            return Verdict::Busy;
        }
        c.checking += 1;
        Verdict::Check {
            clean: c.level < 0.5,
        }
    }

    /// A check [`Throttle::begin`] allowed has ended; `failed` when the
    /// secret was wrong.
    pub fn done(&self, client: ClientKey, failed: bool) {
        let now = Instant::now();
        let mut all = self.clients.lock().expect("throttle lock");
        if let Some(c) = all.by_key.get_mut(&client) {
            c.leak(now);
            c.checking = c.checking.saturating_sub(1);
            if failed {
                c.level += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_makes_a_client_wait() {
        let t = Throttle::default();
        let a = ClientKey::of("192.0.2.1".parse().unwrap());
        let b = ClientKey::of("192.0.2.2".parse().unwrap());
        assert_eq!(t.begin(a), Verdict::Check { clean: true });
        t.done(a, true);
        for _ in 1..BURST as usize {
            assert_eq!(t.begin(a), Verdict::Check { clean: false });
            t.done(a, true);
        }
        match t.begin(a) {
            Verdict::Wait(d) => assert!(d > Duration::ZERO && d <= LEAK, "{d:?}"),
            v => panic!("{v:?}"),
        }
        assert_eq!(
            t.begin(b),
            Verdict::Check { clean: true },
            "another client is not held"
        );
    }

    #[test]
    fn checks_under_way_are_bounded_per_client() {
        let t = Throttle::default();
        let a = ClientKey::of("2001:db8::1".parse().unwrap());
        let same_64 = ClientKey::of("2001:db8::ffff".parse().unwrap());
        assert_eq!(a, same_64);
        for _ in 0..IN_FLIGHT {
            assert_eq!(t.begin(a), Verdict::Check { clean: true });
        }
        assert_eq!(t.begin(same_64), Verdict::Busy);
        t.done(a, false);
        assert_eq!(t.begin(a), Verdict::Check { clean: true });
        let mapped = ClientKey::of("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(mapped, ClientKey::of("192.0.2.1".parse().unwrap()));
    }
}
