//! Host configuration: the data root, default limits, bundle caps, history
//! size, app settings and the instance id, from flags and the environment
//! (WebJobs' own variables where WebJobs has one).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::bundle::ExtractLimits;
use crate::runtime::ExecutorChoice;
use crate::runtime::limits::Limits;
use crate::runtime::native::SandboxConfig;
use crate::store::layout::Layout;
use crate::store::logline::short_instance_id;

/// Everything a host (CLI or server) runs jobs with.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The data root.
    pub layout: Layout,
    /// Short instance id used in log lines.
    pub instance: String,
    /// Default limits for runs (a job's `limits` may override them).
    pub limits: Limits,
    /// The most a job's `limits` may ask for (`--max-*`).
    pub ceiling: Limits,
    /// Whose maximums `ceiling` holds, as clamp notes name them ("the
    /// host's", or a tenant's quota).
    pub ceiling_owner: String,
    /// The tenant quota's disk allowance (`disk_mb`, `disk_files`): all its
    /// data folders and the scratch of its runs in progress together.
    pub tenant_disk: crate::store::disk::Allowance,
    /// What any job may connect to at most (`--network`, default
    /// `public`).
    pub network: crate::net::policy::Bound,
    /// What TLS the host speaks for jobs trusts: the system's roots and
    /// `--net-ca` files.
    pub trust: crate::net::tls::Trust,
    /// The DNS server the host asks for jobs' names (`--net-resolver`;
    /// `None`: the system's resolver).
    pub net_resolver: Option<std::net::SocketAddr>,
    /// What the tenant's quota lets its jobs connect to at most, if it
    /// says (within [`HostConfig::network`]).
    pub tenant_network: Option<crate::net::policy::Bound>,
    /// The most triggered runs in flight on the host at once (`None`: no
    /// bound); beyond it a run is refused (429 in the API).
    pub max_runs: Option<u32>,
    /// Caps on unpacking bundles.
    pub extract: ExtractLimits,
    /// Runs kept per triggered job (`WEBJOBS_HISTORY_SIZE`, default 50).
    pub history_size: usize,
    /// App settings passed to every job as environment variables.
    pub app_settings: Vec<(String, String)>,
    /// Scheme and authority used to build URLs outside a request.
    pub base_url: String,
    /// Where compiled guests are cached.
    pub cache_dir: PathBuf,
    /// Guest instances that may run at once (per engine).
    pub max_concurrent_runs: u32,
    /// Of those, the slots continuous jobs may not take (kept for
    /// triggered runs; `--triggered-reserve`).
    pub triggered_reserve: u32,
    /// Which executors jobs may use (`--executor`).
    pub executors: ExecutorChoice,
    /// The native sandbox's settings.
    pub sandbox: SandboxConfig,
    /// The zone schedules are read in (`WEBSITE_TIME_ZONE`, IANA name;
    /// `None` is UTC).
    pub time_zone: Option<String>,
    /// `WEBJOBS_RESTART_TIME`: wait before restarting a continuous job that
    /// ran less than `restart_warmup` (default 60 s).
    pub restart_time: std::time::Duration,
    /// A continuous job that ran at least this long restarts at once
    /// (WebJobs: 2 minutes).
    pub restart_warmup: std::time::Duration,
    /// How long changes to deployed jobs settle before the host acts.
    pub change_debounce: std::time::Duration,
    /// `WEBJOBS_DISABLE_SCHEDULE`: no scheduled runs.
    pub schedule_disabled: bool,
    /// `WEBJOBS_STOPPED`: no runs at all (continuous jobs stay stopped).
    pub jobs_stopped: bool,
}

/// WebJobs' truthy app setting values: `1` or `true` (any case).
pub fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"))
}

/// The default data root: `$XDG_DATA_HOME/wasmjobs` (`~/.local/share/wasmjobs`).
/// Never a shared temporary folder: without a home, `--root` is required.
pub fn default_root() -> Result<PathBuf> {
    match dirs::data_dir() {
        Some(d) => Ok(d.join("wasmjobs")),
        None => bail!("no home directory to keep jobs in: pass --root or set WASMJOBS_ROOT"),
    }
}

/// The cache directory: `$WASMJOBS_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmjobs`
/// (the wasm runtime's: [`crate::runtime::wasm::default_cache_dir`]).
pub fn default_cache_dir() -> Result<PathBuf> {
    crate::runtime::wasm::default_cache_dir()
}

/// `WEBJOBS_HISTORY_SIZE` as Kudu reads it: an int > 0, otherwise 50.
pub fn history_size_from(value: Option<&str>) -> usize {
    value
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|n| *n > 0)
        .map(|n| n as usize)
        .unwrap_or(50)
}

/// `WEBJOBS_IDLE_TIMEOUT` as Kudu reads it: Int32 seconds, negative is 0,
/// unparsable is the default (120).
pub fn idle_timeout_from(value: Option<&str>) -> u64 {
    match value.map(|v| v.trim().parse::<i32>()) {
        Some(Ok(n)) => n.max(0) as u64,
        _ => 120,
    }
}

/// Parses `KEY=VALUE`.
pub fn parse_setting(s: &str) -> Result<(String, String)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("app setting '{s}' is not KEY=VALUE")
    };
    if k.is_empty() || k.contains('\0') || v.contains('\0') {
        bail!("app setting '{s}' has an empty name or a NUL character");
    }
    Ok((k.to_string(), v.to_string()))
}

/// Reads `<root>/app_settings.json` (an object of strings), if present.
pub fn read_app_settings(layout: &Layout) -> Result<Vec<(String, String)>> {
    let path = layout.app_settings_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON object", path.display()))?;
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => bail!(
                "{}: value of '{k}' must be a string, found {other}",
                path.display()
            ),
        })
        .collect()
}

impl HostConfig {
    /// This host's configuration for a tenant: its data root, its own
    /// `app_settings.json` instead of the operator's (a missing or malformed
    /// one gives no settings), and its quota's ceilings and history size
    /// where they are tighter.
    pub fn for_tenant(
        &self,
        tenant: &str,
        layout: Layout,
        quota: &crate::tenant::quota::Quota,
    ) -> HostConfig {
        let mut host = self.clone();
        // The operator's app settings (often secrets) are not the
        // tenant's: a tenant's jobs get its own app_settings.json only.
        host.app_settings = read_app_settings(&layout).unwrap_or_default();
        host.layout = layout;
        host.ceiling = quota.ceiling(&self.ceiling);
        if host.ceiling != self.ceiling {
            host.ceiling_owner = format!("tenant '{tenant}' quota's");
        }
        if let Some(n) = quota.history_size {
            host.history_size = host.history_size.min(n);
        }
        host.tenant_disk = quota.disk();
        host.tenant_network = quota.network.clone();
        host
    }

    /// The network policy of a run whose job asks for `request`: within
    /// the host's bound and the tenant's.
    pub fn network_policy(
        &self,
        request: crate::net::policy::Request,
    ) -> crate::net::policy::Policy {
        crate::net::policy::Policy {
            request,
            host: self.network.clone(),
            tenant: self.tenant_network.clone(),
        }
    }

    /// How the host resolves jobs' names: the operator's DNS server, or
    /// the system's resolver.
    pub fn resolver(&self) -> std::sync::Arc<dyn crate::net::connect::Resolver> {
        match self.net_resolver {
            Some(server) => std::sync::Arc::new(crate::net::dns::DnsResolver::new(server)),
            None => std::sync::Arc::new(crate::net::connect::SystemResolver),
        }
    }

    /// A configuration for `root` with defaults read from the environment.
    pub fn new(root: PathBuf) -> Result<HostConfig> {
        // Absolute, so that paths handed to jobs and processes do not
        // depend on a working directory.
        let root = std::path::absolute(&root)
            .with_context(|| format!("resolving the data root {}", root.display()))?;
        let env = |k: &str| std::env::var(k).ok();
        let limits = Limits {
            idle_timeout: std::time::Duration::from_secs(idle_timeout_from(
                env("WEBJOBS_IDLE_TIMEOUT").as_deref(),
            )),
            ..Limits::default()
        };
        let base_url = env("WASMJOBS_BASE_URL")
            .or_else(|| env("HTTP_HOST").map(|h| format!("https://{h}")))
            .unwrap_or_else(|| "http://localhost:8080".to_string());
        Ok(HostConfig {
            layout: Layout::new(root),
            instance: short_instance_id(env("WEBSITE_INSTANCE_ID").as_deref()),
            limits,
            ceiling: crate::runtime::limits::CEILING,
            ceiling_owner: "the host's".to_string(),
            tenant_disk: Default::default(),
            network: crate::net::policy::Bound::public(),
            tenant_network: None,
            trust: crate::net::tls::Trust::default(),
            net_resolver: None,
            max_runs: None,
            extract: ExtractLimits::default(),
            history_size: history_size_from(env("WEBJOBS_HISTORY_SIZE").as_deref()),
            app_settings: Vec::new(),
            base_url: base_url.trim_end_matches('/').to_string(),
            cache_dir: default_cache_dir()?,
            max_concurrent_runs: 16,
            triggered_reserve: 4,
            executors: ExecutorChoice::Auto,
            sandbox: SandboxConfig::default(),
            time_zone: env("WEBSITE_TIME_ZONE").filter(|z| !z.is_empty()),
            restart_time: std::time::Duration::from_secs(
                env("WEBJOBS_RESTART_TIME")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(60),
            ),
            restart_warmup: std::time::Duration::from_secs(120),
            change_debounce: std::time::Duration::from_secs(2),
            schedule_disabled: is_true(env("WEBJOBS_DISABLE_SCHEDULE").as_deref()),
            jobs_stopped: is_true(env("WEBJOBS_STOPPED").as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kudu_parsing_rules() {
        assert_eq!(history_size_from(Some("3")), 3);
        assert_eq!(history_size_from(Some("0")), 50);
        assert_eq!(history_size_from(Some("x")), 50);
        assert_eq!(history_size_from(None), 50);
        assert_eq!(idle_timeout_from(Some("-5")), 0);
        assert_eq!(idle_timeout_from(Some("7")), 7);
        assert_eq!(idle_timeout_from(Some("soon")), 120);
        assert!(parse_setting("A=b=c").is_ok_and(|(k, v)| k == "A" && v == "b=c"));
        assert!(parse_setting("nope").is_err());
    }
}
