//! Run limits: host defaults (flags or environment), per-job overrides from
//! `settings.job`'s `limits` object, and the hard ceilings no job can pass.

use std::fmt;
use std::time::Duration;

/// The limits one run executes under. Every one is enforced by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time before the run is stopped (`timeout_s`).
    pub timeout: Duration,
    /// WebAssembly fuel (roughly, instructions) available, if metered (`fuel`).
    pub fuel: Option<u64>,
    /// Linear memory cap in MiB (`memory_mb`).
    pub memory_mb: u64,
    /// Output kept in `output_log.txt`, in KiB; beyond it the head and the
    /// tail are kept (`output_kb`).
    pub output_kb: u64,
    /// No output line and no CPU progress for this long ends the run
    /// (`idle_timeout_s`, WebJobs' `WEBJOBS_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// What one run's working copy and private tmp may hold together, in
    /// MiB of apparent size (`scratch_mb`).
    pub scratch_mb: u64,
    /// Files and folders one run's working copy and tmp may hold together
    /// (`scratch_files`).
    pub scratch_files: u64,
    /// What the job's persistent data folder may hold, in MiB of apparent
    /// size (`data_mb`).
    pub data_mb: u64,
    /// Files and folders the job's data folder may hold (`data_files`).
    pub data_files: u64,
    /// The largest file a run may write, in MiB (`file_mb`).
    pub file_mb: u64,
    /// Connections a run may have through the host at once
    /// (`net_connections`); beyond, a connection is refused.
    pub net_connections: u64,
    /// What a run may send through the host's connections, in MiB
    /// (`net_out_mb`); beyond, the run is stopped.
    pub net_out_mb: u64,
    /// What a run may receive through them, in MiB (`net_in_mb`).
    pub net_in_mb: u64,
    /// How long the host waits for a server to accept one of the run's
    /// connections, in seconds (`net_connect_timeout_s`).
    pub net_connect_timeout_s: u64,
}

/// The default ceilings (host settable with `--max-*`): a job's `limits` can
/// raise a default up to these, never beyond.
pub const CEILING: Limits = Limits {
    timeout: Duration::from_secs(7 * 24 * 3600),
    fuel: None,
    memory_mb: 4096,
    output_kb: 1 << 20,
    idle_timeout: Duration::from_secs(24 * 3600),
    scratch_mb: 16 << 10,
    scratch_files: 1_000_000,
    data_mb: 16 << 10,
    data_files: 1_000_000,
    file_mb: 16 << 10,
    net_connections: 1024,
    net_out_mb: 16 << 10,
    net_in_mb: 16 << 10,
    net_connect_timeout_s: 300,
};

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3600),
            fuel: None,
            memory_mb: 256,
            output_kb: 16 * 1024,
            idle_timeout: Duration::from_secs(120),
            scratch_mb: 1024,
            scratch_files: 65_536,
            data_mb: 1024,
            data_files: 100_000,
            file_mb: 1024,
            net_connections: 64,
            net_out_mb: 1024,
            net_in_mb: 1024,
            net_connect_timeout_s: 10,
        }
    }
}

/// Per-job overrides, as read from `settings.job` (`limits` object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// `limits.timeout_s`.
    pub timeout_s: Option<u64>,
    /// `limits.fuel`.
    pub fuel: Option<u64>,
    /// `limits.memory_mb`.
    pub memory_mb: Option<u64>,
    /// `limits.output_kb`.
    pub output_kb: Option<u64>,
    /// `limits.idle_timeout_s`.
    pub idle_timeout_s: Option<u64>,
    /// `limits.scratch_mb`.
    pub scratch_mb: Option<u64>,
    /// `limits.scratch_files`.
    pub scratch_files: Option<u64>,
    /// `limits.data_mb`.
    pub data_mb: Option<u64>,
    /// `limits.data_files`.
    pub data_files: Option<u64>,
    /// `limits.file_mb`.
    pub file_mb: Option<u64>,
    /// `limits.net_connections`.
    pub net_connections: Option<u64>,
    /// `limits.net_out_mb`.
    pub net_out_mb: Option<u64>,
    /// `limits.net_in_mb`.
    pub net_in_mb: Option<u64>,
    /// `limits.net_connect_timeout_s`.
    pub net_connect_timeout_s: Option<u64>,
}

impl LimitOverrides {
    /// The keys of the `limits` object.
    pub const KEYS: [&'static str; 14] = [
        "timeout_s",
        "fuel",
        "memory_mb",
        "output_kb",
        "idle_timeout_s",
        "scratch_mb",
        "scratch_files",
        "data_mb",
        "data_files",
        "file_mb",
        "net_connections",
        "net_out_mb",
        "net_in_mb",
        "net_connect_timeout_s",
    ];

    /// Sets the value of `key` (one of [`LimitOverrides::KEYS`]); an
    /// unknown key is ignored.
    pub fn set(&mut self, key: &str, v: Option<u64>) {
        let slot = match key {
            "timeout_s" => &mut self.timeout_s,
            "fuel" => &mut self.fuel,
            "memory_mb" => &mut self.memory_mb,
            "output_kb" => &mut self.output_kb,
            "idle_timeout_s" => &mut self.idle_timeout_s,
            "scratch_mb" => &mut self.scratch_mb,
            "scratch_files" => &mut self.scratch_files,
            "data_mb" => &mut self.data_mb,
            "data_files" => &mut self.data_files,
            "file_mb" => &mut self.file_mb,
            "net_connections" => &mut self.net_connections,
            "net_out_mb" => &mut self.net_out_mb,
            "net_in_mb" => &mut self.net_in_mb,
            "net_connect_timeout_s" => &mut self.net_connect_timeout_s,
            _ => return,
        };
        *slot = v;
    }
}

impl Limits {
    /// The disk part of these limits, as the disk ledger counts it.
    pub fn disk_allowance(&self) -> crate::store::disk::RunAllowance {
        use crate::store::disk::{Allowance, RunAllowance};
        RunAllowance {
            scratch: Allowance {
                bytes: Some(self.scratch_mb.saturating_mul(1 << 20)),
                files: Some(self.scratch_files),
            },
            data: Allowance {
                bytes: Some(self.data_mb.saturating_mul(1 << 20)),
                files: Some(self.data_files),
            },
            file_max: self.file_mb.saturating_mul(1 << 20),
        }
    }

    /// A continuous job's limits: it runs until stopped, so the host's
    /// default wall-clock and idle limits do not apply (WebJobs has none for
    /// them); the job's own `limits` (`asked`) still bind.
    pub fn keep_running_unless(&mut self, asked: &LimitOverrides) {
        if asked.timeout_s.is_none() {
            self.timeout = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
        }
        if asked.idle_timeout_s.is_none() {
            self.idle_timeout = std::time::Duration::ZERO;
        }
    }

    /// Applies a job's overrides, each clamped to the host's `ceiling`.
    /// When the ceiling meters fuel, every run is metered: a job without a
    /// fuel value gets the host default, or the ceiling. Returns the limits
    /// and a note for every value that was clamped.
    pub fn with_overrides(
        &self,
        o: LimitOverrides,
        ceiling: &Limits,
        owner: &str,
    ) -> (Limits, Vec<String>) {
        let asked = self.overridden_by(o);
        let mut notes = Vec::new();
        let mut clamp = |key: &str, v: u64, max: u64| {
            if v > max {
                notes.push(format!(
                    "limits.{key} = {v} is above {owner} maximum {max}; using {max}"
                ));
                max
            } else {
                v
            }
        };
        let secs = |d: Duration| d.as_secs();
        let fuel = match (asked.fuel, ceiling.fuel) {
            (Some(v), Some(max)) => Some(clamp("fuel", v, max)),
            (None, Some(max)) => Some(max),
            (v, None) => v,
        };
        let l = Limits {
            timeout: Duration::from_secs(clamp(
                "timeout_s",
                secs(asked.timeout),
                secs(ceiling.timeout),
            )),
            fuel,
            memory_mb: clamp("memory_mb", asked.memory_mb, ceiling.memory_mb),
            output_kb: clamp("output_kb", asked.output_kb, ceiling.output_kb),
            idle_timeout: Duration::from_secs(clamp(
                "idle_timeout_s",
                secs(asked.idle_timeout),
                secs(ceiling.idle_timeout),
            )),
            scratch_mb: clamp("scratch_mb", asked.scratch_mb, ceiling.scratch_mb),
            scratch_files: clamp("scratch_files", asked.scratch_files, ceiling.scratch_files),
            data_mb: clamp("data_mb", asked.data_mb, ceiling.data_mb),
            data_files: clamp("data_files", asked.data_files, ceiling.data_files),
            file_mb: clamp("file_mb", asked.file_mb, ceiling.file_mb),
            net_connections: clamp(
                "net_connections",
                asked.net_connections,
                ceiling.net_connections,
            ),
            net_out_mb: clamp("net_out_mb", asked.net_out_mb, ceiling.net_out_mb),
            net_in_mb: clamp("net_in_mb", asked.net_in_mb, ceiling.net_in_mb),
            net_connect_timeout_s: clamp(
                "net_connect_timeout_s",
                asked.net_connect_timeout_s,
                ceiling.net_connect_timeout_s,
            ),
        };
        (l, notes)
    }

    /// These limits with every value `o` sets replacing the current one
    /// (no ceilings applied).
    pub fn overridden_by(&self, o: LimitOverrides) -> Limits {
        Limits {
            timeout: o.timeout_s.map(Duration::from_secs).unwrap_or(self.timeout),
            fuel: o.fuel.or(self.fuel),
            memory_mb: o.memory_mb.unwrap_or(self.memory_mb),
            output_kb: o.output_kb.unwrap_or(self.output_kb),
            idle_timeout: o
                .idle_timeout_s
                .map(Duration::from_secs)
                .unwrap_or(self.idle_timeout),
            scratch_mb: o.scratch_mb.unwrap_or(self.scratch_mb),
            scratch_files: o.scratch_files.unwrap_or(self.scratch_files),
            data_mb: o.data_mb.unwrap_or(self.data_mb),
            data_files: o.data_files.unwrap_or(self.data_files),
            file_mb: o.file_mb.unwrap_or(self.file_mb),
            net_connections: o.net_connections.unwrap_or(self.net_connections),
            net_out_mb: o.net_out_mb.unwrap_or(self.net_out_mb),
            net_in_mb: o.net_in_mb.unwrap_or(self.net_in_mb),
            net_connect_timeout_s: o
                .net_connect_timeout_s
                .unwrap_or(self.net_connect_timeout_s),
        }
    }
}

/// Which limit ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Wall-clock timeout.
    Timeout,
    /// Linear memory cap.
    Memory,
    /// Fuel exhausted.
    Fuel,
    /// No output and no progress.
    Idle,
    /// CPU time used up (native runs: `RLIMIT_CPU`, set to `timeout_s`).
    Cpu,
    /// A native run's data folder grew past what it may hold (measured by
    /// the host while it runs).
    Disk,
    /// A file grew past the per-file cap, `limits.file_mb` (native runs:
    /// `RLIMIT_FSIZE`).
    FileSize,
    /// What the run sent through the host's connections passed
    /// `limits.net_out_mb`.
    NetOut,
    /// What it received passed `limits.net_in_mb`.
    NetIn,
}

impl LimitKind {
    /// Short name, as stored in the status file's `Limit`.
    pub fn key(self) -> &'static str {
        match self {
            LimitKind::Timeout => "timeout",
            LimitKind::Memory => "memory",
            LimitKind::Fuel => "fuel",
            LimitKind::Idle => "idle",
            LimitKind::Cpu => "cpu",
            LimitKind::FileSize => "file_size",
            LimitKind::Disk => "disk",
            LimitKind::NetOut => "net_out",
            LimitKind::NetIn => "net_in",
        }
    }

    /// The `SYS ERR` message naming the limit and its value.
    pub fn message(self, l: &Limits, script: &str) -> String {
        match self {
            LimitKind::Timeout => format!(
                "Job was stopped: timeout after {} s (limits.timeout_s).",
                l.timeout.as_secs()
            ),
            LimitKind::Memory => {
                format!(
                    "Job was stopped: memory limit {} MiB reached (limits.memory_mb).",
                    l.memory_mb
                )
            }
            LimitKind::Fuel => format!(
                "Job was stopped: fuel exhausted after {} units (limits.fuel).",
                l.fuel.unwrap_or(0)
            ),
            LimitKind::Cpu => format!(
                "Job was stopped: CPU time limit {} s reached (limits.timeout_s).",
                l.timeout.as_secs()
            ),
            LimitKind::Disk => format!(
                "Job was stopped: its data folder grew past its limits ({} MiB, {} files: limits.data_mb, limits.data_files) or its tenant's disk quota.",
                l.data_mb, l.data_files
            ),
            LimitKind::NetOut => format!(
                "Job was stopped: it sent more than {} MiB through its network connections (limits.net_out_mb).",
                l.net_out_mb
            ),
            LimitKind::NetIn => format!(
                "Job was stopped: it received more than {} MiB through its network connections (limits.net_in_mb).",
                l.net_in_mb
            ),
            LimitKind::FileSize => format!(
                "Job was stopped: a file it wrote reached the file size limit {} MiB (limits.file_mb).",
                l.file_mb
            ),
            LimitKind::Idle => format!(
                "Command '{script}' was aborted due to no output nor CPU activity for {} seconds (idle {} s). \
                 You can increase the WEBJOBS_IDLE_TIMEOUT app setting (or limits.idle_timeout_s in settings.job) if needed.",
                l.idle_timeout.as_secs(),
                l.idle_timeout.as_secs()
            ),
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuous_job_keeps_running_unless_it_asks_for_limits() {
        let mut l = Limits::default();
        l.keep_running_unless(&LimitOverrides::default());
        assert!(l.timeout > std::time::Duration::from_secs(50 * 365 * 24 * 3600));
        assert_eq!(l.idle_timeout, std::time::Duration::ZERO);
        let asked = LimitOverrides {
            timeout_s: Some(30),
            idle_timeout_s: Some(5),
            ..LimitOverrides::default()
        };
        let (mut l, _) = Limits::default().with_overrides(asked, &CEILING, "the host's");
        l.keep_running_unless(&asked);
        assert_eq!(l.timeout, std::time::Duration::from_secs(30));
        assert_eq!(l.idle_timeout, std::time::Duration::from_secs(5));
    }

    #[test]
    fn overrides_apply_and_clamp() {
        let d = Limits::default();
        let o = LimitOverrides {
            timeout_s: Some(5),
            memory_mb: Some(100_000),
            fuel: Some(1000),
            ..Default::default()
        };
        let (l, notes) = d.with_overrides(o, &CEILING, "the host's");
        assert_eq!(l.timeout, Duration::from_secs(5));
        assert_eq!(l.memory_mb, CEILING.memory_mb);
        assert_eq!(l.fuel, Some(1000));
        assert_eq!(l.output_kb, d.output_kb);
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn host_maximums_bind_jobs() {
        let d = Limits::default();
        let max = Limits {
            fuel: Some(10_000),
            memory_mb: 64,
            ..CEILING
        };
        let (l, notes) = d.with_overrides(LimitOverrides::default(), &max, "the host's");
        assert_eq!(l.fuel, Some(10_000), "a fuel maximum meters every run");
        assert_eq!(l.memory_mb, 64, "defaults are clamped too");
        assert_eq!(notes.len(), 1);
        let o = LimitOverrides {
            fuel: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(d.with_overrides(o, &max, "the host's").0.fuel, Some(10_000));
    }
}
