//! Who is asking: HTTP Basic `tenant:secret`, or `Authorization: Bearer
//! <tenant>.<secret>`, checked against the tenants' argon2 hashes. A
//! successful check is remembered for a few minutes (keyed by a SHA-256 of
//! the credentials, never the secret itself), so clients do not pay a slow
//! hash on every request; a remembered check ends at once when the
//! tenant's record changes (`tenant rotate`, `tenant remove`). Checks that
//! need a hash go through the per-client [`Throttle`] and the bounded
//! [`Checker`] pool, so a flood of wrong secrets costs the host a fixed
//! amount of memory and threads and leaves other clients' sign-ins room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::throttle::{ClientKey, Throttle, Verdict};
use crate::tenant::Tenants;
use crate::tenant::checker::{Busy, Checker};

/// Secrets waiting for a checking thread, at most, in each of the
/// checker's two lanes (beyond: `503`).
const QUEUED_CHECKS: usize = 64;

/// How long a verified credential is trusted without a new hash.
const REMEMBER: Duration = Duration::from_secs(300);

/// Why credentials were not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client failed too often (`429`): retry after this long.
    Throttled(Duration),
    /// The client has its most checks under way (`429`).
    ClientBusy,
    /// Every checking thread is busy and the queue full (`503`).
    Busy,
}

/// Checks credentials, with a short memory of good ones.
pub struct Auth {
    tenants: Tenants,
    checker: Checker,
    throttle: Throttle,
    verified: Mutex<HashMap<[u8; 32], Remembered>>,
}

/// A verified credential: whose, when, and the tenant record's stamp then.
struct Remembered {
    tenant: String,
    at: Instant,
    stamp: Option<std::time::SystemTime>,
}

/// A check the throttle counts as under way, until dropped (also when the
/// request is dropped while it waits: a client that gives up does not
/// keep its place).
struct UnderWay<'a> {
    throttle: &'a Throttle,
    client: ClientKey,
    failed: bool,
}

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.throttle.done(self.client, self.failed);
    }
}

/// The `(tenant, secret)` an `Authorization` header carries.
pub fn credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    let pair = if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()?;
        String::from_utf8(raw).ok()?
    } else if scheme.eq_ignore_ascii_case("bearer") {
        value.trim().replacen('.', ":", 1)
    } else {
        return None;
    };
    let (t, s) = pair.split_once(':')?;
    Some((t.to_string(), s.to_string()))
}

/// Threads that check secrets: half the machine's cores, at least one (the
/// rest stay free for requests and runs).
fn check_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

impl Auth {
    /// Checks against `tenants`; starts the checking threads.
    pub fn new(tenants: Tenants) -> std::io::Result<Auth> {
        Ok(Auth {
            checker: Checker::start(tenants.clone(), check_threads(), QUEUED_CHECKS)?,
            tenants,
            throttle: Throttle::default(),
            verified: Mutex::new(HashMap::new()),
        })
    }

    fn key(tenant: &str, secret: &str) -> [u8; 32] {
        Sha256::digest(format!("{tenant}\0{secret}")).into()
    }

    /// Whether a check of `secret` for `tenant` is remembered and the
    /// tenant's record has not changed since.
    fn remembered(&self, tenant: &str, secret: &str) -> bool {
        let stamp = self.tenants.stamp(tenant);
        let v = self.verified.lock().expect("auth lock");
        v.get(&Self::key(tenant, secret)).is_some_and(|r| {
            r.tenant == tenant && r.stamp == stamp && stamp.is_some() && r.at.elapsed() < REMEMBER
        })
    }

    /// Whether `secret` is `tenant`'s: remembered (no hash: cheap enough
    /// for the request's own thread), or checked by the pool when `client`
    /// (if known) is not throttled.
    pub async fn sign_in(
        &self,
        client: Option<IpAddr>,
        tenant: &str,
        secret: &str,
    ) -> Result<bool, Refused> {
        if self.remembered(tenant, secret) {
            return Ok(true);
        }
        // Without an address (no server under the router) the check waits
        // with everyone's.
        let (mut under_way, clean) = match client.map(ClientKey::of) {
            None => (None, false),
            Some(c) => match self.throttle.begin(c) {
                Verdict::Check { clean } => {
                    let u = UnderWay {
                        throttle: &self.throttle,
                        client: c,
                        failed: false,
                    };
                    (Some(u), clean)
                }
                Verdict::Wait(d) => return Err(Refused::Throttled(d)),
                Verdict::Busy => return Err(Refused::ClientBusy),
            },
        };
        let stamp = self.tenants.stamp(tenant);
        let checked = self.checker.check(tenant, secret, clean).await;
        if let Some(u) = &mut under_way {
            u.failed = checked == Ok(false);
        }
        drop(under_way);
        match checked {
            Err(Busy) => Err(Refused::Busy),
            Ok(false) => Ok(false),
            Ok(true) => {
                let mut v = self.verified.lock().expect("auth lock");
                // Expired entries go when a new one comes, not on every request.
                v.retain(|_, r| r.at.elapsed() < REMEMBER);
                v.insert(
                    Self::key(tenant, secret),
                    Remembered {
                        tenant: tenant.to_string(),
                        at: Instant::now(),
                        stamp,
                    },
                );
                Ok(true)
            }
        }
    }

    /// Whether a tenant's record is still as it was at `stamp` (a session
    /// started then is still good).
    pub fn unchanged(&self, tenant: &str, stamp: Option<std::time::SystemTime>) -> bool {
        stamp.is_some() && self.tenants.stamp(tenant) == stamp
    }

    /// The tenant record's stamp now.
    pub fn stamp(&self, tenant: &str) -> Option<std::time::SystemTime> {
        self.tenants.stamp(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        let basic = base64::engine::general_purpose::STANDARD.encode("acme:s3:cret");
        assert_eq!(
            credentials(&format!("Basic {basic}")),
            Some(("acme".into(), "s3:cret".into()))
        );
        assert_eq!(
            credentials("Bearer acme.abc"),
            Some(("acme".into(), "abc".into()))
        );
        assert_eq!(credentials("Digest x"), None);
        assert_eq!(credentials("Basic !!!"), None);
    }
}
