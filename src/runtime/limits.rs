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
}

/// The default ceilings (host settable with `--max-*`): a job's `limits` can
/// raise a default up to these, never beyond.
pub const CEILING: Limits = Limits {
    timeout: Duration::from_secs(7 * 24 * 3600),
    fuel: None,
    memory_mb: 4096,
    output_kb: 1 << 20,
    idle_timeout: Duration::from_secs(24 * 3600),
};

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3600),
            fuel: None,
            memory_mb: 256,
            output_kb: 16 * 1024,
            idle_timeout: Duration::from_secs(120),
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
}

impl LimitOverrides {
    /// The keys of the `limits` object.
    pub const KEYS: [&'static str; 5] = [
        "timeout_s",
        "fuel",
        "memory_mb",
        "output_kb",
        "idle_timeout_s",
    ];
}

impl Limits {
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
    /// A file grew past the host's per-file cap (native runs: `RLIMIT_FSIZE`).
    FileSize,
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
            LimitKind::FileSize => {
                "Job was stopped: a file it wrote reached the host's file size limit.".to_string()
            }
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
