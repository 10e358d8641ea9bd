//! Tenants and jobs, shared through the database and materialised on each
//! host. A change made through any host (an upload, new settings, a
//! continuous job stopped or started, a tenant added) is applied to that
//! host's data root first, which validates it as on a single host, then
//! published: the job's installed folder as a zip, under a new version.
//! Every host compares versions every second and installs what changed
//! through the same installer, so its watcher restarts the job's task as
//! for a local deploy.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::Cluster;
use crate::bundle::{self, ExtractLimits};
use crate::job::JobType;
use crate::runtime::ExecutorChoice;
use crate::tenant::{Tenant, Tenants};

/// A job's key: tenant, type, name.
type JobKey = (String, JobType, String);

/// What this host has materialised, by version.
#[derive(Default)]
pub struct Synced {
    tenants: HashMap<String, i64>,
    jobs: HashMap<JobKey, i64>,
    /// Jobs being changed here and not yet published: the sync leaves
    /// them alone (it would put the cluster's older version back, or
    /// remove a job the cluster does not have yet).
    changing: HashMap<JobKey, u32>,
}

/// A job being changed on this host until dropped (see [`Cluster::changing`]).
pub struct Changing<'a> {
    cluster: &'a Cluster,
    key: JobKey,
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        let mut synced = self.cluster.synced();
        if let Some(n) = synced.changing.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                synced.changing.remove(&self.key);
            }
        }
    }
}

/// Zips a job folder (regular files and folders, modes kept).
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>> {
    fn add(
        zw: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
        root: &Path,
        dir: &Path,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path)?;
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(meta.permissions().mode() & 0o777);
            if meta.is_dir() {
                zw.add_directory(format!("{rel}/"), opts)?;
                add(zw, root, &path)?;
            } else if meta.is_file() {
                zw.start_file(rel, opts)?;
                zw.write_all(&std::fs::read(&path)?)?;
            }
        }
        Ok(())
    }
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    add(&mut zw, dir, dir).with_context(|| format!("packing {}", dir.display()))?;
    Ok(zw.finish()?.into_inner())
}

impl Cluster {
    /// Publishes a job as installed in `dir` on this host.
    pub async fn publish_job(
        &self,
        tenant: &str,
        t: JobType,
        name: &str,
        dir: &Path,
    ) -> Result<()> {
        let d = dir.to_path_buf();
        let zip = tokio::task::spawn_blocking(move || zip_dir(&d)).await??;
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO jobs (tenant, job_type, name, bundle, version)
                 VALUES ($1, $2, $3, $4, nextval('versions'))
                 ON CONFLICT (tenant, job_type, name) DO UPDATE
                 SET bundle = EXCLUDED.bundle, version = EXCLUDED.version
                 RETURNING version",
                &[&tenant, &t.as_str(), &name, &zip],
            )
            .await
            .context("publishing the job")?;
        self.synced()
            .jobs
            .insert((tenant.into(), t, name.into()), row.get(0));
        Ok(())
    }

    /// Removes a job from the cluster (every host removes its copy), with
    /// its runs.
    pub async fn delete_job(&self, tenant: &str, t: JobType, name: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM jobs WHERE tenant = $1 AND job_type = $2 AND name = $3",
            &[&tenant, &t.as_str(), &name],
        )
        .await?;
        self.synced().jobs.remove(&(tenant.into(), t, name.into()));
        match t {
            JobType::Triggered => self.forget_runs(tenant, name).await,
            JobType::Continuous => self.forget_continuous(tenant, name).await,
        }
    }

    /// Marks a job as being changed on this host (installed, its settings
    /// or `disable.job` written) until the guard is dropped, after it is
    /// published: the sync leaves it alone meanwhile.
    pub fn changing(&self, tenant: &str, t: JobType, name: &str) -> Changing<'_> {
        let key = (tenant.to_string(), t, name.to_string());
        *self.synced().changing.entry(key.clone()).or_default() += 1;
        Changing { cluster: self, key }
    }

    /// Forgets what this host has of a job, so the next sync installs the
    /// database's version again (a local change that could not be
    /// published is undone that way).
    pub fn unsync_job(&self, tenant: &str, t: JobType, name: &str) {
        self.synced()
            .jobs
            .insert((tenant.into(), t, name.into()), -1);
    }

    /// The cluster's version of a job, `None` when it has no such job.
    pub async fn job_version(&self, tenant: &str, t: JobType, name: &str) -> Result<Option<i64>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT version FROM jobs WHERE tenant = $1 AND job_type = $2 AND name = $3",
                &[&tenant, &t.as_str(), &name],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Whether this host has version `v` (or a later one) of a job.
    pub fn has_job_version(&self, tenant: &str, t: JobType, name: &str, v: i64) -> bool {
        self.synced()
            .jobs
            .get(&(tenant.into(), t, name.into()))
            .is_some_and(|have| *have >= v)
    }

    fn synced(&self) -> std::sync::MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a tenant; `None` if it exists already.
    pub async fn add_tenant(&self, record: &Tenant) -> Result<Option<()>> {
        let c = self.client().await?;
        let text = serde_json::to_string(record)?;
        let n = c
            .execute(
                "INSERT INTO tenants (name, record, version) VALUES ($1, $2, nextval('versions'))
                 ON CONFLICT DO NOTHING",
                &[&record.name, &text],
            )
            .await?;
        Ok((n == 1).then_some(()))
    }

    /// Replaces a tenant's record (a new secret); `false` if there is no
    /// such tenant.
    pub async fn put_tenant(&self, record: &Tenant) -> Result<bool> {
        let c = self.client().await?;
        let text = serde_json::to_string(record)?;
        let n = c
            .execute(
                "UPDATE tenants SET record = $2, version = nextval('versions') WHERE name = $1",
                &[&record.name, &text],
            )
            .await?;
        Ok(n == 1)
    }

    /// A tenant's record, if it exists.
    pub async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT record FROM tenants WHERE name = $1", &[&name])
            .await?;
        row.map(|r| serde_json::from_str(r.get(0)).context("a tenant record"))
            .transpose()
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT record FROM tenants ORDER BY name", &[])
            .await?;
        rows.iter()
            .map(|r| serde_json::from_str(r.get(0)).context("a tenant record"))
            .collect()
    }

    /// Removes a tenant with its jobs and history; `false` if there was none.
    pub async fn remove_tenant(&self, name: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute("DELETE FROM tenants WHERE name = $1", &[&name])
            .await?;
        for table in ["jobs", "runs", "ticks", "continuous"] {
            tx.execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[&name])
                .await?;
        }
        // (Not LIKE: `_` is a wildcard there and allowed in names.)
        let prefix = super::leases::singleton_lease(name, "");
        tx.execute(
            "DELETE FROM leases WHERE left(name, length($1)) = $1",
            &[&prefix],
        )
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Brings this host's data root to the database's tenants and jobs:
    /// records written, jobs installed or removed where their version
    /// differs. Failures are per item and retried at the next sync.
    pub async fn sync_local(
        self: &Arc<Self>,
        root: &Path,
        executors: ExecutorChoice,
        extract: ExtractLimits,
    ) -> Result<()> {
        let c = self.client().await?;
        let tenants = Tenants::new(root);
        let rows = c
            .query("SELECT name, record, version FROM tenants", &[])
            .await?;
        let mut live = HashMap::new();
        for r in &rows {
            let (name, text, version): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
            live.insert(name.clone(), ());
            if self.synced().tenants.get(&name) == Some(&version) {
                continue;
            }
            let put = serde_json::from_str::<Tenant>(&text)
                .context("a tenant record")
                .and_then(|t| tenants.put(&t));
            match put {
                Ok(()) => {
                    self.synced().tenants.insert(name, version);
                }
                Err(e) => tracing::warn!("tenant {name}: {e:#}"),
            }
        }
        for t in tenants.list() {
            if !live.contains_key(&t.name) {
                match tenants.remove(&t.name) {
                    Ok(_) => {
                        self.synced().tenants.remove(&t.name);
                    }
                    Err(e) => tracing::warn!("removing tenant {}: {e:#}", t.name),
                }
            }
        }
        let rows = c
            .query("SELECT tenant, job_type, name, version FROM jobs", &[])
            .await?;
        let mut wanted: HashMap<JobKey, i64> = HashMap::new();
        for r in &rows {
            let Ok(t) = r.get::<_, &str>(1).parse::<JobType>() else {
                continue;
            };
            if live.contains_key(r.get::<_, &str>(0)) {
                wanted.insert((r.get(0), t, r.get(2)), r.get(3));
            }
        }
        for (key, version) in &wanted {
            let current = {
                let synced = self.synced();
                synced.jobs.get(key) == Some(version) || synced.changing.contains_key(key)
            };
            if current {
                continue;
            }
            let row = c
                .query_opt(
                    "SELECT bundle, version FROM jobs WHERE tenant = $1 AND job_type = $2 AND name = $3",
                    &[&key.0, &key.1.as_str(), &key.2],
                )
                .await?;
            let Some(row) = row else { continue };
            let (zip, version): (Vec<u8>, i64) = (row.get(0), row.get(1));
            let layout = tenants.layout(&key.0);
            let (t, name) = (key.1, key.2.clone());
            let installed = tokio::task::spawn_blocking(move || {
                install_zip(&layout, executors, extract, t, &name, &zip)
            })
            .await?;
            match installed {
                Ok(()) => {
                    self.synced().jobs.insert(key.clone(), version);
                }
                // A run in progress here: the next sync tries again.
                Err(e) => tracing::info!("job {} {} of {}: {e:#}", key.1, key.2, key.0),
            }
        }
        // Jobs this host has that the cluster no longer has.
        for tenant in live.keys() {
            let layout = tenants.layout(tenant);
            for job in bundle::list_jobs(&layout, executors) {
                let key = (tenant.clone(), job.job_type, job.name.clone());
                // (Asked again: it may have been published since the list
                // was read.)
                if wanted.contains_key(&key) || self.synced().changing.contains_key(&key) {
                    continue;
                }
                if self.job_version(&key.0, key.1, &key.2).await?.is_none()
                    && bundle::remove(&layout, key.1, &key.2).is_ok()
                {
                    self.synced().jobs.remove(&key);
                }
            }
        }
        Ok(())
    }
}

/// Installs a published zip through the bundle installer.
fn install_zip(
    layout: &crate::store::layout::Layout,
    executors: ExecutorChoice,
    extract: ExtractLimits,
    t: JobType,
    name: &str,
    zip: &[u8],
) -> Result<()> {
    let scratch_root = layout.root().join("temp");
    std::fs::create_dir_all(&scratch_root)?;
    let scratch: PathBuf = crate::store::fsutil::fresh_dir(&scratch_root, "sync")?;
    let _cleanup = crate::store::fsutil::RemoveOnDrop(vec![scratch.clone()]);
    let file = scratch.join("bundle.zip");
    std::fs::write(&file, zip)?;
    bundle::install(layout, executors, &file, name, t, extract)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_folder_installs_as_it_was() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("lib")).unwrap();
        std::fs::write(src.join("run.sh"), "echo hi\n").unwrap();
        std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(src.join("lib/data.txt"), "x").unwrap();
        std::fs::write(src.join("settings.job"), r#"{"schedule": "0 * * * * *"}"#).unwrap();
        std::fs::write(src.join("disable.job"), "").unwrap();
        let zip = zip_dir(&src).unwrap();
        let layout = crate::store::layout::Layout::new(t.path().join("root"));
        install_zip(
            &layout,
            ExecutorChoice::Auto,
            ExtractLimits::default(),
            JobType::Triggered,
            "job",
            &zip,
        )
        .unwrap();
        let dir = layout.job_dir(JobType::Triggered, "job");
        assert_eq!(
            std::fs::read_to_string(dir.join("run.sh")).unwrap(),
            "echo hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("lib/data.txt")).unwrap(),
            "x"
        );
        assert!(dir.join("disable.job").exists());
        let mode = std::fs::metadata(dir.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o100, 0o100, "the script stays executable: {mode:o}");
        // A bundle the installer refuses installs nothing.
        std::fs::remove_file(src.join("run.sh")).unwrap();
        let bad = zip_dir(&src).unwrap();
        assert!(
            install_zip(
                &layout,
                ExecutorChoice::Auto,
                ExtractLimits::default(),
                JobType::Triggered,
                "other",
                &bad,
            )
            .is_err()
        );
        assert!(!layout.job_dir(JobType::Triggered, "other").exists());
    }
}
