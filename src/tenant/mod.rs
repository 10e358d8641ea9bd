//! Tenants: each owns its jobs, data and history under
//! `<root>/tenants/<tenant>/` (WebJobs' layout inside) and authenticates
//! with a secret the host stores only as a slow hash (argon2id, salted),
//! in `tenant.json` beside the tenant's folders. Secrets are shown once,
//! when made (`add`, `rotate`).

pub mod checker;
pub mod quota;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use serde::{Deserialize, Serialize};

use crate::bundle::name;
use crate::store::fsutil;
use crate::store::layout::Layout;

/// The tenant record's file name in the tenant's folder.
pub const RECORD: &str = "tenant.json";

/// A tenant as recorded (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's name (a job-name-like identifier).
    pub name: String,
    /// When it was added (RFC 3339, UTC).
    pub created: String,
    /// argon2id PHC string of the secret.
    secret_hash: String,
}

impl Tenant {
    /// A new tenant's record and its secret (shown once, stored hashed).
    pub fn new(tenant: &str) -> Result<(Tenant, String)> {
        name::validate(tenant)?;
        let secret = new_secret()?;
        let record = Tenant {
            name: tenant.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            secret_hash: hash(&secret)?,
        };
        Ok((record, secret))
    }

    /// The same tenant with a new secret, and that secret.
    pub fn rotated(&self) -> Result<(Tenant, String)> {
        let secret = new_secret()?;
        let record = Tenant {
            secret_hash: hash(&secret)?,
            ..self.clone()
        };
        Ok((record, secret))
    }
}

/// The tenants of a data root.
#[derive(Debug, Clone)]
pub struct Tenants {
    dir: PathBuf,
}

/// `N` bytes from the kernel's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(b)
}

fn hash(secret: &str) -> Result<String> {
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the secret: {e}"))?
        .to_string())
}

impl Tenants {
    /// The tenants under `<data_root>/tenants`.
    pub fn new(data_root: &Path) -> Tenants {
        Tenants {
            dir: data_root.join("tenants"),
        }
    }

    /// The folder holding every tenant's (`<data root>/tenants`).
    pub fn root(&self) -> &Path {
        &self.dir
    }

    /// A tenant's folder.
    pub fn dir(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant)
    }

    /// A tenant's WebJobs layout (its jobs, data and temp folders).
    pub fn layout(&self, tenant: &str) -> Layout {
        Layout::new(self.dir(tenant))
    }

    fn record_path(&self, tenant: &str) -> PathBuf {
        self.dir(tenant).join(RECORD)
    }

    /// A tenant's record, if it exists.
    pub fn get(&self, tenant: &str) -> Option<Tenant> {
        name::validate(tenant).ok()?;
        let text = std::fs::read_to_string(self.record_path(tenant)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// When the tenant's record last changed (a new secret, a removal):
    /// what remembered credentials and sessions are checked against.
    pub fn stamp(&self, tenant: &str) -> Option<std::time::SystemTime> {
        name::validate(tenant).ok()?;
        std::fs::metadata(self.record_path(tenant))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Every tenant, by name.
    pub fn list(&self) -> Vec<Tenant> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<Tenant> = rd
            .flatten()
            .filter_map(|e| self.get(e.file_name().to_str()?))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn write(&self, t: &Tenant) -> Result<()> {
        let dir = self.dir(&t.name);
        fsutil::ensure_private_dir(&self.dir)?;
        fsutil::ensure_private_dir(&dir)?;
        let body = serde_json::to_vec_pretty(t)?;
        fsutil::write_atomic(&self.record_path(&t.name), &body)
            .with_context(|| format!("writing {}", self.record_path(&t.name).display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.record_path(&t.name),
            std::fs::Permissions::from_mode(0o600),
        )?;
        Ok(())
    }

    /// Adds a tenant; returns its new secret (shown once, stored hashed).
    pub fn add(&self, tenant: &str) -> Result<String> {
        if self.get(tenant).is_some() {
            bail!("tenant '{tenant}' already exists (use `tenant rotate` for a new secret)");
        }
        let (record, secret) = Tenant::new(tenant)?;
        self.write(&record)?;
        Ok(secret)
    }

    /// Gives a tenant a new secret (the old one stops working); returns it.
    pub fn rotate(&self, tenant: &str) -> Result<String> {
        let Some(t) = self.get(tenant) else {
            bail!("no tenant named '{tenant}'");
        };
        let (record, secret) = t.rotated()?;
        self.write(&record)?;
        Ok(secret)
    }

    /// Writes a tenant's record as it is (a cluster host materialising
    /// the record the database holds).
    pub fn put(&self, record: &Tenant) -> Result<()> {
        name::validate(&record.name)?;
        self.write(record)
    }

    /// Removes a tenant with its jobs, data and history (gone at once, its
    /// files deleted in the background). Returns whether it existed.
    pub fn remove(&self, tenant: &str) -> Result<bool> {
        name::validate(tenant)?;
        if self.get(tenant).is_none() {
            return Ok(false);
        }
        let root = self.dir.parent().unwrap_or(&self.dir);
        crate::store::trash::discard(root, &self.dir(tenant))
            .with_context(|| format!("removing {}", self.dir(tenant).display()))?;
        Ok(true)
    }

    /// The tenant's secret hash (an argon2id PHC string), if the tenant
    /// exists; [`checker`] checks secrets against it.
    pub fn secret_hash(&self, tenant: &str) -> Option<String> {
        self.get(tenant).map(|t| t.secret_hash)
    }

    /// Whether `secret` is the tenant's (for tests: the API checks through
    /// a [`checker::Checker`], which also spends a hash on unknown tenants).
    #[cfg(test)]
    fn verify(&self, tenant: &str, secret: &str) -> bool {
        let mut blocks = vec![argon2::Block::default(); checker::MAX_BLOCKS];
        self.secret_hash(tenant)
            .is_some_and(|h| checker::matches(&h, secret, &mut blocks))
    }
}

/// A new secret: 32 random bytes, hex.
fn new_secret() -> Result<String> {
    Ok(hex::encode(random_bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_rotate_remove() {
        let d = tempfile::tempdir().unwrap();
        let t = Tenants::new(d.path());
        let s1 = t.add("acme").unwrap();
        assert_eq!(s1.len(), 64);
        assert!(t.add("acme").is_err(), "no second add");
        assert!(t.verify("acme", &s1));
        assert!(!t.verify("acme", "wrong"));
        assert!(!t.verify("nobody", &s1));
        // The record holds a salted argon2id hash, never the secret.
        let record = std::fs::read_to_string(t.dir("acme").join(RECORD)).unwrap();
        assert!(!record.contains(&s1));
        assert!(record.contains("$argon2id$"), "{record}");
        let s2 = t.rotate("acme").unwrap();
        assert!(!t.verify("acme", &s1), "the old secret still works");
        assert!(t.verify("acme", &s2));
        assert_eq!(
            t.list().iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["acme"]
        );
        assert_eq!(t.layout("acme").root(), d.path().join("tenants/acme"));
        assert!(t.remove("acme").unwrap());
        assert!(!t.remove("acme").unwrap());
        assert!(t.list().is_empty());
        assert!(t.add("../evil").is_err(), "names are validated");
    }
}
