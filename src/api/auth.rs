//! Who is asking: HTTP Basic `tenant:secret`, or `Authorization: Bearer
//! <tenant>.<secret>`, checked against the tenants' argon2 hashes. A
//! successful check is remembered for a few minutes (keyed by a SHA-256 of
//! the credentials, never the secret itself), so clients do not pay a slow
//! hash on every request; a remembered check ends at once when the
//! tenant's record changes (`tenant rotate`, `tenant remove`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::tenant::Tenants;

/// Most argon2 checks running at once.
const MAX_HASHING: usize = 2;

/// How long a verified credential is trusted without a new hash.
const REMEMBER: Duration = Duration::from_secs(300);

/// Checks credentials, with a short memory of good ones.
pub struct Auth {
    tenants: Tenants,
    /// Slow hashes in progress, bounded (each takes ~19 MiB): a flood of
    /// wrong credentials waits here instead of exhausting memory.
    hashing: (Mutex<usize>, std::sync::Condvar),
    verified: Mutex<HashMap<[u8; 32], Remembered>>,
}

/// A verified credential: whose, when, and the tenant record's stamp then.
struct Remembered {
    tenant: String,
    at: Instant,
    stamp: Option<std::time::SystemTime>,
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

impl Auth {
    /// Checks against `tenants`.
    pub fn new(tenants: Tenants) -> Auth {
        Auth {
            tenants,
            hashing: (Mutex::new(0), std::sync::Condvar::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant an `Authorization` header proves, if it proves one.
    pub fn tenant(&self, header: Option<&str>) -> Option<String> {
        let (tenant, secret) = credentials(header?)?;
        self.verify(&tenant, &secret).then_some(tenant)
    }

    /// The tenant an `Authorization` header proves from the remembered
    /// checks alone (no hash: cheap enough for the request's own thread).
    pub fn remembered_tenant(&self, header: &str) -> Option<String> {
        let (tenant, secret) = credentials(header)?;
        self.remembered(&tenant, &secret).then_some(tenant)
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

    /// Whether `secret` is `tenant`'s (slow the first time, remembered).
    pub fn verify(&self, tenant: &str, secret: &str) -> bool {
        if self.remembered(tenant, secret) {
            return true;
        }
        let stamp = self.tenants.stamp(tenant);
        if !self.slow_verify(tenant, secret) {
            return false;
        }
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
        true
    }

    /// The argon2 check, at most [`MAX_HASHING`] at once (blocking).
    fn slow_verify(&self, tenant: &str, secret: &str) -> bool {
        let (count, freed) = &self.hashing;
        let mut n = count.lock().expect("auth lock");
        while *n >= MAX_HASHING {
            n = freed.wait(n).expect("auth lock");
        }
        *n += 1;
        drop(n);
        let ok = self.tenants.verify(tenant, secret);
        *count.lock().expect("auth lock") -= 1;
        freed.notify_one();
        ok
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
