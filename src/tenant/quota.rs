//! Per-tenant quotas, from a TOML file (`<root>/quotas.toml`, or
//! `serve --quotas FILE`): a `[default]` table for every tenant and a
//! `[tenants.<name>]` table per tenant, whose keys override the default's.
//!
//! ```toml
//! [default]
//! concurrent_runs = 4        # triggered runs in flight at once
//! job_bytes_mb = 512         # all deployed jobs together
//! history_size = 50          # runs kept per job
//! max_timeout_s = 3600       # the most a job's settings.job limits may ask
//! max_memory_mb = 512
//! max_output_kb = 16384
//! max_idle_timeout_s = 600
//! max_fuel = 10000000000     # when set, every run of the tenant is metered
//! max_processes = 1024       # processes of all its native runs at once
//! max_scratch_mb = 2048      # and max_scratch_files, max_data_mb, max_data_files, max_file_mb
//! disk_mb = 10240            # every job's data folder plus the scratch of runs in progress
//! disk_files = 1000000
//! cpu_share = 100            # weight in sharing CPU time between wasm guests
//! wasm_slots = 16            # wasm guests at once (default: a quarter of --wasm-slots)
//! continuous_jobs = 16       # continuous jobs running at once (the same default)
//!
//! [tenants.acme]
//! concurrent_runs = 16
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::runtime::limits::{LimitOverrides, Limits};

/// The largest `job_bytes_mb` and `disk_mb` (1 PiB; bytes must fit in a u64).
const MAX_JOB_BYTES_MB: u64 = 1 << 30;

/// The largest `cpu_share` (ten thousand times the default's weight).
const MAX_CPU_SHARE: u32 = 1_000_000;

/// The file `serve` reads quotas from, under the data root.
pub const FILE_NAME: &str = "quotas.toml";

/// One tenant's quota; an unset key means "no quota beyond the host's".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Triggered runs of the tenant in flight at once (API and schedules).
    pub concurrent_runs: Option<u32>,
    /// Total size of the tenant's deployed jobs, in MiB.
    pub job_bytes_mb: Option<u64>,
    /// Runs kept per job (older ones are pruned).
    pub history_size: Option<usize>,
    /// The most a job's `limits.timeout_s` may ask for.
    pub max_timeout_s: Option<u64>,
    /// The most a job's `limits.memory_mb` may ask for.
    pub max_memory_mb: Option<u64>,
    /// The most a job's `limits.output_kb` may ask for.
    pub max_output_kb: Option<u64>,
    /// The most a job's `limits.idle_timeout_s` may ask for.
    pub max_idle_timeout_s: Option<u64>,
    /// The most fuel a run may have; when set, every run is metered.
    pub max_fuel: Option<u64>,
    /// Processes of all the tenant's native runs at once (its cgroup's
    /// `pids.max`; continuous jobs included).
    pub max_processes: Option<u64>,
    /// The most a job's `limits.scratch_mb` may ask for.
    pub max_scratch_mb: Option<u64>,
    /// The most a job's `limits.scratch_files` may ask for.
    pub max_scratch_files: Option<u64>,
    /// The most a job's `limits.data_mb` may ask for.
    pub max_data_mb: Option<u64>,
    /// The most a job's `limits.data_files` may ask for.
    pub max_data_files: Option<u64>,
    /// The most a job's `limits.file_mb` may ask for.
    pub max_file_mb: Option<u64>,
    /// What all the tenant's data folders and the scratch of its runs in
    /// progress may hold together, in MiB.
    pub disk_mb: Option<u64>,
    /// Files and folders in all the tenant's data folders and the scratch
    /// of its runs in progress together.
    pub disk_files: Option<u64>,
    /// The tenant's weight in sharing CPU time between wasm guests
    /// (default [`DEFAULT_CPU_SHARE`]).
    pub cpu_share: Option<u32>,
    /// The tenant's wasm guests running at once, triggered and continuous
    /// (default: [`default_slots`] of the host's).
    pub wasm_slots: Option<u32>,
    /// The tenant's continuous jobs running at once, whatever their
    /// executor (default: [`default_slots`] of the host's wasm slots).
    pub continuous_jobs: Option<u32>,
    /// The most a job's `limits.net_connections` may ask for.
    pub max_net_connections: Option<u64>,
    /// The most a job's `limits.net_out_mb` may ask for.
    pub max_net_out_mb: Option<u64>,
    /// The most a job's `limits.net_in_mb` may ask for.
    pub max_net_in_mb: Option<u64>,
    /// The most a job's `limits.net_connect_timeout_s` may ask for.
    pub max_net_connect_timeout_s: Option<u64>,
    /// What the tenant's jobs may connect to at most, within the host's
    /// `--network` (`"off"`, `"public"`, patterns, comma-separated).
    pub network: Option<crate::net::policy::Bound>,
}

/// A tenant's weight when its quota sets no `cpu_share`.
pub const DEFAULT_CPU_SHARE: u32 = crate::runtime::wasm::share::DEFAULT_SHARE;

/// The default of `wasm_slots` and `continuous_jobs`: a quarter of the
/// host's wasm slots, at least one.
pub fn default_slots(host_slots: u32) -> u32 {
    (host_slots / 4).max(1)
}

impl Quota {
    /// This quota with every key `over` sets replacing the current one.
    fn overridden_by(self, over: Quota) -> Quota {
        Quota {
            concurrent_runs: over.concurrent_runs.or(self.concurrent_runs),
            job_bytes_mb: over.job_bytes_mb.or(self.job_bytes_mb),
            history_size: over.history_size.or(self.history_size),
            max_timeout_s: over.max_timeout_s.or(self.max_timeout_s),
            max_memory_mb: over.max_memory_mb.or(self.max_memory_mb),
            max_output_kb: over.max_output_kb.or(self.max_output_kb),
            max_idle_timeout_s: over.max_idle_timeout_s.or(self.max_idle_timeout_s),
            max_fuel: over.max_fuel.or(self.max_fuel),
            cpu_share: over.cpu_share.or(self.cpu_share),
            wasm_slots: over.wasm_slots.or(self.wasm_slots),
            continuous_jobs: over.continuous_jobs.or(self.continuous_jobs),
            max_processes: over.max_processes.or(self.max_processes),
            max_scratch_mb: over.max_scratch_mb.or(self.max_scratch_mb),
            max_scratch_files: over.max_scratch_files.or(self.max_scratch_files),
            max_data_mb: over.max_data_mb.or(self.max_data_mb),
            max_data_files: over.max_data_files.or(self.max_data_files),
            max_file_mb: over.max_file_mb.or(self.max_file_mb),
            disk_mb: over.disk_mb.or(self.disk_mb),
            disk_files: over.disk_files.or(self.disk_files),
            max_net_connections: over.max_net_connections.or(self.max_net_connections),
            max_net_out_mb: over.max_net_out_mb.or(self.max_net_out_mb),
            max_net_in_mb: over.max_net_in_mb.or(self.max_net_in_mb),
            max_net_connect_timeout_s: over
                .max_net_connect_timeout_s
                .or(self.max_net_connect_timeout_s),
            network: over.network.or(self.network),
        }
    }

    /// The tenant's disk allowance (`disk_mb`, `disk_files`), if it has one.
    pub fn disk(&self) -> crate::store::disk::Allowance {
        crate::store::disk::Allowance {
            bytes: self.disk_mb.map(|mb| mb << 20),
            files: self.disk_files,
        }
    }

    /// The host's ceiling tightened by this quota (never loosened).
    pub fn ceiling(&self, host: &Limits) -> Limits {
        let min = |a: u64, b: Option<u64>| b.map_or(a, |b| a.min(b));
        let tightened = host.overridden_by(LimitOverrides {
            timeout_s: Some(min(host.timeout.as_secs(), self.max_timeout_s)),
            memory_mb: Some(min(host.memory_mb, self.max_memory_mb)),
            output_kb: Some(min(host.output_kb, self.max_output_kb)),
            idle_timeout_s: Some(min(host.idle_timeout.as_secs(), self.max_idle_timeout_s)),
            fuel: None,
            scratch_mb: Some(min(host.scratch_mb, self.max_scratch_mb)),
            scratch_files: Some(min(host.scratch_files, self.max_scratch_files)),
            data_mb: Some(min(host.data_mb, self.max_data_mb)),
            data_files: Some(min(host.data_files, self.max_data_files)),
            file_mb: Some(min(host.file_mb, self.max_file_mb)),
            net_connections: Some(min(host.net_connections, self.max_net_connections)),
            net_out_mb: Some(min(host.net_out_mb, self.max_net_out_mb)),
            net_in_mb: Some(min(host.net_in_mb, self.max_net_in_mb)),
            net_connect_timeout_s: Some(min(
                host.net_connect_timeout_s,
                self.max_net_connect_timeout_s,
            )),
        });
        Limits {
            fuel: match (host.fuel, self.max_fuel) {
                (Some(h), Some(q)) => Some(h.min(q)),
                (h, q) => h.or(q),
            },
            ..tightened
        }
    }
}

/// Every tenant's quota, as read from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Applies to every tenant.
    #[serde(default)]
    default: Quota,
    /// Per tenant, over the default.
    #[serde(default)]
    tenants: BTreeMap<String, Quota>,
}

impl Quotas {
    /// Parses a quota file's text; errors name the key that is wrong.
    pub fn parse(text: &str) -> Result<Quotas> {
        let q: Quotas = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        for (name, quota) in std::iter::once(("default", &q.default))
            .chain(q.tenants.iter().map(|(n, q)| (n.as_str(), q)))
        {
            let zero = [
                ("concurrent_runs", quota.concurrent_runs.map(u64::from)),
                ("job_bytes_mb", quota.job_bytes_mb),
                ("history_size", quota.history_size.map(|v| v as u64)),
                ("max_timeout_s", quota.max_timeout_s),
                ("max_memory_mb", quota.max_memory_mb),
                ("max_output_kb", quota.max_output_kb),
                ("max_idle_timeout_s", quota.max_idle_timeout_s),
                ("max_fuel", quota.max_fuel),
                ("max_processes", quota.max_processes),
                ("max_scratch_mb", quota.max_scratch_mb),
                ("max_scratch_files", quota.max_scratch_files),
                ("max_data_mb", quota.max_data_mb),
                ("max_data_files", quota.max_data_files),
                ("max_file_mb", quota.max_file_mb),
                ("max_net_connections", quota.max_net_connections),
                ("max_net_out_mb", quota.max_net_out_mb),
                ("max_net_in_mb", quota.max_net_in_mb),
                ("max_net_connect_timeout_s", quota.max_net_connect_timeout_s),
                ("disk_mb", quota.disk_mb),
                ("disk_files", quota.disk_files),
                ("cpu_share", quota.cpu_share.map(u64::from)),
                ("wasm_slots", quota.wasm_slots.map(u64::from)),
                ("continuous_jobs", quota.continuous_jobs.map(u64::from)),
            ]
            .into_iter()
            .find(|(_, v)| *v == Some(0));
            if let Some((key, _)) = zero {
                anyhow::bail!("quota '{name}': {key} must be at least 1");
            }
            for (key, v) in [
                ("job_bytes_mb", quota.job_bytes_mb),
                ("disk_mb", quota.disk_mb),
            ] {
                if v.is_some_and(|mb| mb > MAX_JOB_BYTES_MB) {
                    anyhow::bail!("quota '{name}': {key} must be at most {MAX_JOB_BYTES_MB}");
                }
            }
            if quota.cpu_share.is_some_and(|w| w > MAX_CPU_SHARE) {
                anyhow::bail!("quota '{name}': cpu_share must be at most {MAX_CPU_SHARE}");
            }
        }
        Ok(q)
    }

    /// Reads `path`; a missing file means no quotas.
    pub fn load(path: &Path) -> Result<Quotas> {
        match std::fs::read_to_string(path) {
            Ok(text) => Quotas::parse(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Quotas::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// A tenant's quota: its own table over the default one.
    pub fn of(&self, tenant: &str) -> Quota {
        match self.tenants.get(tenant) {
            Some(q) => self.default.clone().overridden_by(q.clone()),
            None => self.default.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::limits::CEILING;

    #[test]
    fn tenant_tables_override_the_default() {
        let q = Quotas::parse(
            "[default]\nconcurrent_runs = 2\nmax_memory_mb = 128\n\
             [tenants.acme]\nconcurrent_runs = 8\n",
        )
        .unwrap();
        assert_eq!(q.of("acme").concurrent_runs, Some(8));
        assert_eq!(q.of("acme").max_memory_mb, Some(128));
        assert_eq!(q.of("other").concurrent_runs, Some(2));
        assert_eq!(Quotas::default().of("x"), Quota::default());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let e = Quotas::parse("[default]\nconcurent_runs = 2\n").unwrap_err();
        assert!(e.to_string().contains("concurent_runs"), "{e}");
        let e = Quotas::parse("[default]\nconcurrent_runs = \"two\"\n").unwrap_err();
        assert!(e.to_string().contains("concurrent_runs"), "{e}");
        let e = Quotas::parse("[tenants.a]\nconcurrent_runs = 0\n").unwrap_err();
        assert!(e.to_string().contains("quota 'a'"), "{e}");
        let e = Quotas::parse("[tenants.b]\ndisk_mb = 0\n").unwrap_err();
        assert!(e.to_string().contains("quota 'b': disk_mb"), "{e}");
        let e = Quotas::parse("[default]\nmax_data_files = 0\n").unwrap_err();
        assert!(e.to_string().contains("max_data_files"), "{e}");
        let e = Quotas::parse("[default]\ndisk_mb = 9999999999999\n").unwrap_err();
        assert!(e.to_string().contains("disk_mb must be at most"), "{e}");
    }

    #[test]
    fn disk_keys_tighten_and_allow() {
        let q = Quotas::parse(
            "[default]\nmax_scratch_mb = 10\nmax_file_mb = 5\ndisk_mb = 100\n\
             [tenants.acme]\ndisk_files = 7\n",
        )
        .unwrap()
        .of("acme");
        let c = q.ceiling(&CEILING);
        assert_eq!((c.scratch_mb, c.file_mb), (10, 5));
        assert_eq!(c.data_mb, CEILING.data_mb);
        assert_eq!(q.disk().bytes, Some(100 << 20));
        assert_eq!(q.disk().files, Some(7));
        for key in ["cpu_share", "wasm_slots", "continuous_jobs"] {
            let e = Quotas::parse(&format!("[tenants.b]\n{key} = 0\n")).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("quota 'b': {key} must be at least 1")
            );
        }
        let e = Quotas::parse("[default]\ncpu_share = 2000000\n").unwrap_err();
        assert!(e.to_string().contains("cpu_share must be at most"), "{e}");
        let q = Quotas::parse("[default]\nwasm_slots = 3\n[tenants.c]\ncpu_share = 200\n").unwrap();
        assert_eq!(q.of("c").wasm_slots, Some(3));
        assert_eq!(q.of("c").cpu_share, Some(200));
        assert_eq!(default_slots(64), 16);
        assert_eq!(default_slots(2), 1);
    }

    #[test]
    fn quotas_only_tighten_the_ceiling() {
        let q = Quota {
            max_memory_mb: Some(64),
            max_timeout_s: Some(u64::MAX),
            max_fuel: Some(1000),
            ..Quota::default()
        };
        let c = q.ceiling(&CEILING);
        assert_eq!(c.memory_mb, 64);
        assert_eq!(c.timeout, CEILING.timeout);
        assert_eq!(c.fuel, Some(1000));
        assert_eq!(Quota::default().ceiling(&CEILING), CEILING);
    }
}
