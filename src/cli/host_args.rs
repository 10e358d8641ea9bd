//! Host settings every command shares (`--root`, limits, sandbox,
//! scheduling) and how they become a [`HostConfig`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::choices::{ExecutorArg, SandboxArg};
use crate::bundle::ExtractLimits;
use crate::config::{self, HostConfig};
use crate::runtime::limits::LimitOverrides;
use crate::runtime::native::layers::ExplicitLimits;
use crate::tenant::Tenants;
use crate::tenant::quota::{self, Quotas};

/// The largest disk limit in MiB a flag may give (1 PiB).
const MAX_DISK_MB: u64 = 1 << 30;

/// Host settings shared by every command.
#[derive(Debug, Args)]
pub(super) struct HostArgs {
    /// Data root (jobs, history, data). Default: a per-user data directory.
    #[arg(long, global = true, env = "WASMJOBS_ROOT")]
    root: Option<PathBuf>,
    /// Default wall-clock limit of a run, in seconds.
    #[arg(long, global = true, env = "WASMJOBS_TIMEOUT_S")]
    timeout_s: Option<u64>,
    /// Default memory cap of a run, in MiB.
    #[arg(long, global = true, env = "WASMJOBS_MEMORY_MB")]
    memory_mb: Option<u64>,
    /// Default fuel of a run (unmetered when unset).
    #[arg(long, global = true, env = "WASMJOBS_FUEL")]
    fuel: Option<u64>,
    /// Default output kept per run, in KiB (head and tail beyond it).
    #[arg(long, global = true, env = "WASMJOBS_OUTPUT_KB")]
    output_kb: Option<u64>,
    /// Default idle timeout, in seconds; 0 disables it (else
    /// WEBJOBS_IDLE_TIMEOUT, else 120).
    #[arg(long, global = true)]
    idle_timeout_s: Option<u64>,
    /// Default room for a run's working copy and tmp together, in MiB
    /// (1024).
    #[arg(long, global = true, env = "WASMJOBS_SCRATCH_MB")]
    scratch_mb: Option<u64>,
    /// Default files and folders a run's working copy and tmp may hold
    /// (65536).
    #[arg(long, global = true, env = "WASMJOBS_SCRATCH_FILES")]
    scratch_files: Option<u64>,
    /// Default room for a job's data folder, in MiB (1024).
    #[arg(long, global = true, env = "WASMJOBS_DATA_MB")]
    data_mb: Option<u64>,
    /// Default files and folders a job's data folder may hold (100000).
    #[arg(long, global = true, env = "WASMJOBS_DATA_FILES")]
    data_files: Option<u64>,
    /// Default largest file a run may write, in MiB (1024).
    #[arg(long, global = true, env = "WASMJOBS_FILE_MB")]
    file_mb: Option<u64>,
    /// Default connections a run may have through the host at once (64).
    #[arg(long, global = true, env = "WASMJOBS_NET_CONNECTIONS")]
    net_connections: Option<u64>,
    /// Default MiB a run may send through the host's connections (1024).
    #[arg(long, global = true, env = "WASMJOBS_NET_OUT_MB")]
    net_out_mb: Option<u64>,
    /// Default MiB a run may receive through them (1024).
    #[arg(long, global = true, env = "WASMJOBS_NET_IN_MB")]
    net_in_mb: Option<u64>,
    /// Default seconds the host waits for a server to accept one of a
    /// run's connections (10).
    #[arg(long, global = true, env = "WASMJOBS_NET_CONNECT_TIMEOUT_S")]
    net_connect_timeout_s: Option<u64>,
    /// Most a job's limits.timeout_s may ask for (default 7 days).
    #[arg(long, global = true, env = "WASMJOBS_MAX_TIMEOUT_S")]
    max_timeout_s: Option<u64>,
    /// Most a job's limits.memory_mb may ask for (default 4096).
    #[arg(long, global = true, env = "WASMJOBS_MAX_MEMORY_MB")]
    max_memory_mb: Option<u64>,
    /// Most fuel a run may have; when set, every run is metered.
    #[arg(long, global = true, env = "WASMJOBS_MAX_FUEL")]
    max_fuel: Option<u64>,
    /// Most a job's limits.output_kb may ask for (default 1 GiB).
    #[arg(long, global = true, env = "WASMJOBS_MAX_OUTPUT_KB")]
    max_output_kb: Option<u64>,
    /// Most a job's limits.idle_timeout_s may ask for (default 1 day).
    #[arg(long, global = true, env = "WASMJOBS_MAX_IDLE_TIMEOUT_S")]
    max_idle_timeout_s: Option<u64>,
    /// Most a job's limits.scratch_mb may ask for (default 16384).
    #[arg(long, global = true, env = "WASMJOBS_MAX_SCRATCH_MB")]
    max_scratch_mb: Option<u64>,
    /// Most a job's limits.scratch_files may ask for (default 1000000).
    #[arg(long, global = true, env = "WASMJOBS_MAX_SCRATCH_FILES")]
    max_scratch_files: Option<u64>,
    /// Most a job's limits.data_mb may ask for (default 16384).
    #[arg(long, global = true, env = "WASMJOBS_MAX_DATA_MB")]
    max_data_mb: Option<u64>,
    /// Most a job's limits.data_files may ask for (default 1000000).
    #[arg(long, global = true, env = "WASMJOBS_MAX_DATA_FILES")]
    max_data_files: Option<u64>,
    /// Most a job's limits.file_mb may ask for (default 16384).
    #[arg(long, global = true, env = "WASMJOBS_MAX_FILE_MB")]
    max_file_mb: Option<u64>,
    /// Most a job's limits.net_connections may ask for (default 1024).
    #[arg(long, global = true, env = "WASMJOBS_MAX_NET_CONNECTIONS")]
    max_net_connections: Option<u64>,
    /// Most a job's limits.net_out_mb may ask for (default 16384).
    #[arg(long, global = true, env = "WASMJOBS_MAX_NET_OUT_MB")]
    max_net_out_mb: Option<u64>,
    /// Most a job's limits.net_in_mb may ask for (default 16384).
    #[arg(long, global = true, env = "WASMJOBS_MAX_NET_IN_MB")]
    max_net_in_mb: Option<u64>,
    /// Most a job's limits.net_connect_timeout_s may ask for (default 300).
    #[arg(long, global = true, env = "WASMJOBS_MAX_NET_CONNECT_TIMEOUT_S")]
    max_net_connect_timeout_s: Option<u64>,
    /// Runs kept per job (else WEBJOBS_HISTORY_SIZE, else 50).
    #[arg(long, global = true)]
    history_size: Option<usize>,
    /// Largest total size a bundle may unpack to, in MiB.
    #[arg(long, global = true, default_value_t = 256)]
    max_bundle_mb: u64,
    /// Largest size one bundle entry may unpack to, in MiB.
    #[arg(long, global = true, default_value_t = 64)]
    max_entry_mb: u64,
    /// Most entries a bundle may have.
    #[arg(long, global = true, default_value_t = 10_000)]
    max_entries: usize,
    /// An app setting passed to every job as an environment variable
    /// (repeatable; also read from <root>/app_settings.json).
    #[arg(long = "app-setting", global = true, value_name = "KEY=VALUE")]
    app_settings: Vec<String>,
    /// Which executors jobs may use: the wasm guest where one exists
    /// (auto), only wasm guests, or only the native sandbox.
    #[arg(long, global = true, value_enum, env = "WASMJOBS_EXECUTOR", default_value_t = ExecutorArg::Auto)]
    executor: ExecutorArg,
    /// How strictly native runs need every sandbox layer: strict refuses
    /// to run with fewer, best-effort names what is missing in the run log,
    /// off isolates nothing (resource limits only).
    #[arg(long, global = true, value_enum, env = "WASMJOBS_NATIVE_SANDBOX", default_value_t = SandboxArg::Strict)]
    native_sandbox: SandboxArg,
    /// What jobs may connect to at most: off, public (any public
    /// address), allow patterns (https://api.example.com,
    /// tcp://10.0.0.0/8:*), or public and patterns, comma-separated. A job
    /// gets what its settings.job "network" asks within this (and its
    /// tenant's quota); an address that is not public needs a pattern here
    /// naming it literally.
    #[arg(long, global = true, env = "WASMJOBS_NETWORK", default_value = "public", value_parser = parse_network)]
    network: crate::net::policy::Bound,
    /// A PEM file of certificate authorities that TLS the host speaks for
    /// jobs trusts besides the system's (repeat it, or separate files
    /// with ':' in the environment variable).
    #[arg(
        long,
        global = true,
        env = "WASMJOBS_NET_CA",
        value_name = "PEM",
        value_delimiter = ':'
    )]
    net_ca: Vec<PathBuf>,
    /// The DNS server the host asks for jobs' names instead of the
    /// system's resolver (an address, with :PORT if not 53): an internal
    /// DNS for jobs, apart from the host's own.
    #[arg(long, global = true, env = "WASMJOBS_NET_RESOLVER", value_name = "ADDR", value_parser = crate::net::dns::DnsResolver::parse)]
    net_resolver: Option<std::net::SocketAddr>,
    /// Give native runs no network namespace (saves ~2 ms per start; the
    /// socket filter and Landlock still deny networking).
    #[arg(long, global = true)]
    no_net_namespace: bool,
    /// The uids native runs get when the host is root, FIRST-LAST.
    #[arg(
        long,
        global = true,
        value_name = "FIRST-LAST",
        default_value = "2000000000-2000065535"
    )]
    native_uids: String,
    /// An extra cap, in MiB, on the largest file a native run may write
    /// (its RLIMIT_FSIZE is the smaller of this and limits.file_mb)
    /// (default 16384, lowered to the host's hard limit; set above it, the
    /// host refuses to start).
    #[arg(long, global = true, env = "WASMJOBS_NATIVE_MAX_FILE_MB")]
    native_max_file_mb: Option<u64>,
    /// Most processes a native run may have at once (default 256, lowered
    /// to the host's hard limit; set above it, the host refuses to start).
    #[arg(long, global = true, env = "WASMJOBS_NATIVE_MAX_PROCESSES")]
    native_max_processes: Option<u64>,
    /// Most open files per process of a native run (default 1024, lowered
    /// to the host's hard limit; set above it, the host refuses to start).
    #[arg(long, global = true, env = "WASMJOBS_NATIVE_MAX_OPEN_FILES")]
    native_max_open_files: Option<u64>,
    /// The folder where a root host keeps its native runs' uid leases,
    /// shared by every host on the machine (default /run/wasmjobs/uids).
    #[arg(
        long,
        global = true,
        env = "WASMJOBS_NATIVE_LEASE_DIR",
        value_name = "DIR"
    )]
    native_lease_dir: Option<PathBuf>,
    /// A continuous job that ran at least this long restarts at once;
    /// sooner, it waits WEBJOBS_RESTART_TIME (WebJobs: 120).
    #[arg(long, global = true)]
    restart_warmup_s: Option<u64>,
    /// How long changes to deployed jobs settle before `serve` acts on them.
    #[arg(long, global = true, default_value_t = 2000)]
    change_debounce_ms: u64,
    /// WebAssembly guests that may run at once (continuous wasm jobs hold
    /// one each for as long as they run).
    #[arg(long, global = true, default_value_t = 64)]
    wasm_slots: u32,
    /// Wasm slots continuous jobs may not take, kept for triggered and
    /// scheduled runs (default: a quarter of --wasm-slots; less than it).
    #[arg(long, global = true)]
    triggered_reserve: Option<u32>,
    /// Triggered runs that may be in flight on the host at once (API and
    /// schedules); beyond it a run is refused (429 in the API).
    #[arg(long, global = true, default_value_t = 64)]
    max_runs: u32,
    /// Work on this tenant's jobs (`<root>/tenants/<name>/`, its quota
    /// applied) instead of the data root's own.
    #[arg(long, global = true, env = "WASMJOBS_TENANT")]
    tenant: Option<String>,
    /// The tenants' quota file (TOML; default `<root>/quotas.toml`).
    #[arg(long, global = true, env = "WASMJOBS_QUOTAS")]
    quotas: Option<PathBuf>,
    /// A cluster's PostgreSQL database (`postgres://user@host:port/db`):
    /// `serve` joins the cluster (tenants, jobs, runs and schedules shared
    /// with every host on it), `tenant` manages the cluster's tenants.
    #[arg(long, global = true, env = "WASMJOBS_DATABASE_URL", value_name = "URL")]
    database: Option<String>,
}

impl HostArgs {
    /// The cluster's database URL, if any.
    pub(super) fn database(&self) -> Option<&str> {
        self.database.as_deref().filter(|u| !u.is_empty())
    }

    /// The tenants' quotas (`--quotas`, else `<root>/quotas.toml`; none
    /// when that file does not exist).
    pub(super) fn quotas(&self, host: &HostConfig) -> Result<Quotas> {
        match &self.quotas {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading --quotas {}", p.display()))?;
                Quotas::parse(&text).with_context(|| format!("{}", p.display()))
            }
            None => Quotas::load(&host.layout.root().join(quota::FILE_NAME)),
        }
    }

    /// The `--tenant` to work on, if any, checked to exist.
    pub(super) fn tenant(&self, host: &HostConfig) -> Result<Option<String>> {
        let Some(t) = &self.tenant else {
            return Ok(None);
        };
        if Tenants::new(host.layout.root()).get(t).is_none() {
            bail!("no tenant named '{t}' (see `wasmjobs tenant list`)");
        }
        Ok(Some(t.clone()))
    }

    pub(super) fn config(&self) -> Result<HostConfig> {
        use std::time::Duration;
        let root = match &self.root {
            Some(r) => r.clone(),
            None => config::default_root()?,
        };
        let mut host = HostConfig::new(root)?;
        // App settings first: WebJobs reads its own switches from them too.
        host.app_settings = config::read_app_settings(&host.layout)?;
        for s in &self.app_settings {
            host.app_settings.push(config::parse_setting(s)?);
        }
        let app = |k: &str| {
            host.app_settings
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let app_history = app("WEBJOBS_HISTORY_SIZE");
        let app_idle = app("WEBJOBS_IDLE_TIMEOUT");
        if let Some(tz) = app("WEBSITE_TIME_ZONE") {
            host.time_zone = Some(tz).filter(|z| !z.is_empty());
        }
        if let Some(v) = app("WEBJOBS_RESTART_TIME") {
            let secs: u64 = v.trim().parse().with_context(|| {
                format!("WEBJOBS_RESTART_TIME '{v}' is not a number of seconds")
            })?;
            host.restart_time = Duration::from_secs(secs);
        }
        if let Some(v) = app("WEBJOBS_DISABLE_SCHEDULE") {
            host.schedule_disabled = config::is_true(Some(&v));
        }
        if let Some(v) = app("WEBJOBS_STOPPED") {
            host.jobs_stopped = config::is_true(Some(&v));
        }
        if let Some(s) = self.restart_warmup_s {
            host.restart_warmup = Duration::from_secs(s);
        }
        host.change_debounce = Duration::from_millis(self.change_debounce_ms);
        if self.wasm_slots == 0 {
            bail!("--wasm-slots must be at least 1");
        }
        host.max_concurrent_runs = self.wasm_slots;
        host.triggered_reserve = match self.triggered_reserve {
            Some(r) if r >= self.wasm_slots => bail!(
                "--triggered-reserve ({r}) must be less than --wasm-slots ({})",
                self.wasm_slots
            ),
            Some(r) => r,
            None => self.wasm_slots / 4,
        };
        if let Some(tz) = &host.time_zone {
            crate::schedule::zone::parse_zone(tz)
                .map_err(|e| anyhow::anyhow!("WEBSITE_TIME_ZONE: {e}"))?;
        }
        if let Some(v) = app_history {
            host.history_size = config::history_size_from(Some(&v));
        }
        if let Some(v) = app_idle {
            host.limits.idle_timeout = Duration::from_secs(config::idle_timeout_from(Some(&v)));
        }

        host.limits = host.limits.overridden_by(LimitOverrides {
            timeout_s: self.timeout_s,
            fuel: self.fuel,
            memory_mb: self.memory_mb,
            output_kb: self.output_kb,
            idle_timeout_s: self.idle_timeout_s,
            scratch_mb: self.scratch_mb,
            scratch_files: self.scratch_files,
            data_mb: self.data_mb,
            data_files: self.data_files,
            file_mb: self.file_mb,
            net_connections: self.net_connections,
            net_out_mb: self.net_out_mb,
            net_in_mb: self.net_in_mb,
            net_connect_timeout_s: self.net_connect_timeout_s,
        });
        host.ceiling = host.ceiling.overridden_by(LimitOverrides {
            timeout_s: self.max_timeout_s,
            fuel: self.max_fuel,
            memory_mb: self.max_memory_mb,
            output_kb: self.max_output_kb,
            idle_timeout_s: self.max_idle_timeout_s,
            scratch_mb: self.max_scratch_mb,
            scratch_files: self.max_scratch_files,
            data_mb: self.max_data_mb,
            data_files: self.max_data_files,
            file_mb: self.max_file_mb,
            net_connections: self.max_net_connections,
            net_out_mb: self.max_net_out_mb,
            net_in_mb: self.max_net_in_mb,
            net_connect_timeout_s: self.max_net_connect_timeout_s,
        });
        let (l, c) = (&host.limits, &host.ceiling);
        if l.memory_mb == 0
            || l.output_kb == 0
            || l.timeout.is_zero()
            || c.memory_mb == 0
            || c.output_kb == 0
            || c.timeout.is_zero()
        {
            bail!("memory, output and timeout limits must be positive");
        }
        for (flag, v) in [
            ("--scratch-mb", self.scratch_mb),
            ("--scratch-files", self.scratch_files),
            ("--data-mb", self.data_mb),
            ("--data-files", self.data_files),
            ("--file-mb", self.file_mb),
            ("--max-scratch-mb", self.max_scratch_mb),
            ("--max-scratch-files", self.max_scratch_files),
            ("--max-data-mb", self.max_data_mb),
            ("--max-data-files", self.max_data_files),
            ("--max-file-mb", self.max_file_mb),
            ("--net-connections", self.net_connections),
            ("--net-out-mb", self.net_out_mb),
            ("--net-in-mb", self.net_in_mb),
            ("--max-net-connections", self.max_net_connections),
            ("--max-net-out-mb", self.max_net_out_mb),
            ("--max-net-in-mb", self.max_net_in_mb),
            ("--net-connect-timeout-s", self.net_connect_timeout_s),
            (
                "--max-net-connect-timeout-s",
                self.max_net_connect_timeout_s,
            ),
            ("--native-max-file-mb", self.native_max_file_mb),
            ("--native-max-processes", self.native_max_processes),
            ("--native-max-open-files", self.native_max_open_files),
        ] {
            if v == Some(0) {
                bail!("{flag} must be at least 1");
            }
            // Bytes must fit in a u64.
            if flag.ends_with("-mb") && v.is_some_and(|mb| mb > MAX_DISK_MB) {
                bail!("{flag} must be at most {MAX_DISK_MB}");
            }
        }
        let hard = crate::runtime::limits::CEILING.memory_mb;
        if l.memory_mb > hard || c.memory_mb > hard {
            bail!("memory limits cannot exceed {hard} MiB (the largest guest memory)");
        }
        if let Some(n) = self.history_size {
            if n == 0 {
                bail!("--history-size must be at least 1");
            }
            host.history_size = n;
        }
        host.executors = self.executor.into();
        host.sandbox.mode = self.native_sandbox.into();
        host.sandbox.net_namespace = !self.no_net_namespace;
        host.network = self.network.clone();
        host.trust = crate::net::tls::Trust::with_files(&self.net_ca)?;
        host.net_resolver = self.net_resolver;
        host.sandbox.uids = parse_uid_range(&self.native_uids)?;
        host.sandbox.max_file_mb = self.native_max_file_mb.unwrap_or(16 << 10);
        host.sandbox.max_processes = self.native_max_processes.unwrap_or(256);
        host.sandbox.max_open_files = self.native_max_open_files.unwrap_or(1024);
        host.sandbox.explicit = ExplicitLimits {
            file_mb: self.native_max_file_mb.is_some(),
            processes: self.native_max_processes.is_some(),
            open_files: self.native_max_open_files.is_some(),
        };
        if let Some(d) = &self.native_lease_dir {
            if !d.is_absolute() {
                bail!("--native-lease-dir must be an absolute path");
            }
            host.sandbox.lease_dir = d.clone();
        }
        host.extract = ExtractLimits {
            max_total_bytes: self.max_bundle_mb << 20,
            max_entry_bytes: self.max_entry_mb << 20,
            max_entries: self.max_entries,
        };
        if self.max_runs == 0 {
            bail!("--max-runs must be at least 1");
        }
        host.max_runs = Some(self.max_runs);
        Ok(host)
    }
}

/// Parses `FIRST-LAST` (a non-root uid range).
fn parse_uid_range(s: &str) -> Result<(u32, u32)> {
    let parsed = s
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((a, b)) if a > 0 && a <= b && b < u32::MAX => Ok((a, b)),
        _ => bail!("--native-uids must be FIRST-LAST with 0 < FIRST <= LAST, got '{s}'"),
    }
}

/// `--network`'s value, its error naming what is wrong.
fn parse_network(s: &str) -> Result<crate::net::policy::Bound, String> {
    s.parse()
}
