//! The rlimits a native run gets, held to this host's own hard limits.
//!
//! A process may lower its hard limits but never raise them without
//! `CAP_SYS_RESOURCE` (which a container's or a user namespace's root
//! usually lacks), so a run asking more than the host's hard limit would
//! fail to start with a bare `EPERM`. Instead every value is checked
//! against the host process's own hard limit (`getrlimit`): a value the
//! operator set explicitly (a flag or its environment variable) above it
//! refuses the host's start ([`check_explicit`]); any other value (a
//! default, or one that follows the job's `limits`) is lowered to it, with
//! a note for the run's log ([`clamp`]).

/// One rlimit of a native run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// CPU seconds (`RLIMIT_CPU`), from `limits.timeout_s`.
    Cpu,
    /// Address space in bytes (`RLIMIT_AS`), from `limits.memory_mb`.
    AddressSpace,
    /// Largest file in bytes (`RLIMIT_FSIZE`), from `limits.file_mb` and
    /// `--native-max-file-mb`.
    FileSize,
    /// Open files per process (`RLIMIT_NOFILE`), `--native-max-open-files`.
    OpenFiles,
    /// Processes (`RLIMIT_NPROC`), `--native-max-processes`.
    Processes,
}

impl Limit {
    /// The resource for `getrlimit` and `setrlimit`.
    pub fn resource(self) -> libc::__rlimit_resource_t {
        match self {
            Limit::Cpu => libc::RLIMIT_CPU,
            Limit::AddressSpace => libc::RLIMIT_AS,
            Limit::FileSize => libc::RLIMIT_FSIZE,
            Limit::OpenFiles => libc::RLIMIT_NOFILE,
            Limit::Processes => libc::RLIMIT_NPROC,
        }
    }

    /// What it limits, in words.
    pub fn what(self) -> &'static str {
        match self {
            Limit::Cpu => "CPU time",
            Limit::AddressSpace => "address space",
            Limit::FileSize => "largest file",
            Limit::OpenFiles => "open files per process",
            Limit::Processes => "processes",
        }
    }

    /// The shell's `ulimit` option for it.
    pub fn ulimit(self) -> &'static str {
        match self {
            Limit::Cpu => "ulimit -Ht",
            Limit::AddressSpace => "ulimit -Hv",
            Limit::FileSize => "ulimit -Hf",
            Limit::OpenFiles => "ulimit -Hn",
            Limit::Processes => "ulimit -Hu",
        }
    }

    /// What sets the value a run asks for.
    pub fn set_by(self) -> &'static str {
        match self {
            Limit::Cpu => "it follows limits.timeout_s",
            Limit::AddressSpace => "it follows limits.memory_mb",
            Limit::FileSize => "limits.file_mb and --native-max-file-mb set it",
            Limit::OpenFiles => "--native-max-open-files sets it",
            Limit::Processes => "--native-max-processes sets it",
        }
    }

    /// A value of it, in its unit (seconds, MiB, or a count).
    pub fn show(self, v: u64) -> String {
        match self {
            Limit::Cpu => format!("{v} s"),
            Limit::AddressSpace | Limit::FileSize => format!("{} MiB", v >> 20),
            Limit::OpenFiles | Limit::Processes => v.to_string(),
        }
    }
}

/// This host process's hard limit on `limit`, or `None` when it has none
/// (or it cannot be read).
pub fn hard(limit: Limit) -> Option<u64> {
    crate::runtime::confine::rlimit(limit.resource()).and_then(|(_, hard)| hard)
}

/// This host process's soft limit on `limit`, or `None` when it has none.
pub fn soft(limit: Limit) -> Option<u64> {
    crate::runtime::confine::rlimit(limit.resource()).and_then(|(soft, _)| soft)
}

/// The value a run gets for `limit` when it asks `wanted` on a host whose
/// hard limit is `hard`: `wanted`, or `hard` with a note for the run's log
/// naming the limit, both values, the `ulimit` option and what sets it.
pub fn clamp(limit: Limit, wanted: u64, hard: Option<u64>) -> (u64, Option<String>) {
    match hard {
        Some(h) if wanted > h => (
            h,
            Some(format!(
                "{} lowered from {} to {}, this host's hard limit ({}); {}",
                limit.what(),
                limit.show(wanted),
                limit.show(h),
                limit.ulimit(),
                limit.set_by()
            )),
        ),
        _ => (wanted, None),
    }
}

/// Checks a value the operator set explicitly with `flag` (or `env`): above the
/// host's hard limit `hard`, the host refuses to start, naming the limit,
/// the flag and the hard limit.
pub fn check_explicit(
    limit: Limit,
    value: u64,
    flag: &str,
    env: &str,
    hard: Option<u64>,
) -> Result<(), String> {
    match hard {
        Some(h) if value > h => Err(format!(
            "{flag} {} is above this host's hard limit on {}, {} ({}): lower {flag} ({env}) or raise the hard limit",
            match limit {
                // The flag's own unit.
                Limit::FileSize => (value >> 20).to_string(),
                _ => value.to_string(),
            },
            limit.what(),
            limit.show(h),
            limit.ulimit()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_above_the_hard_limit_is_lowered_with_a_note() {
        let (v, note) = clamp(Limit::OpenFiles, 1024, Some(64));
        assert_eq!(v, 64);
        assert_eq!(
            note.unwrap(),
            "open files per process lowered from 1024 to 64, this host's hard limit (ulimit -Hn); --native-max-open-files sets it"
        );
        let (v, note) = clamp(Limit::AddressSpace, 4096 << 20, Some(1000 << 20));
        assert_eq!(v, 1000 << 20);
        let note = note.unwrap();
        assert!(
            note.contains("address space lowered from 4096 MiB to 1000 MiB"),
            "{note}"
        );
        assert!(note.contains("ulimit -Hv") && note.contains("limits.memory_mb"));
        let (v, note) = clamp(Limit::Cpu, 3600, Some(60));
        assert_eq!(v, 60);
        assert!(
            note.unwrap()
                .contains("CPU time lowered from 3600 s to 60 s")
        );
    }

    #[test]
    fn a_value_within_the_hard_limit_or_without_one_is_kept() {
        assert_eq!(clamp(Limit::Processes, 128, Some(128)), (128, None));
        assert_eq!(clamp(Limit::Processes, 256, None), (256, None));
        assert_eq!(
            clamp(Limit::FileSize, 1 << 30, Some(2 << 30)),
            (1 << 30, None)
        );
    }

    #[test]
    fn an_explicit_value_above_the_hard_limit_is_refused_naming_the_flag() {
        let e = check_explicit(
            Limit::OpenFiles,
            4096,
            "--native-max-open-files",
            "WASMJOBS_NATIVE_MAX_OPEN_FILES",
            Some(64),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "--native-max-open-files 4096 is above this host's hard limit on open files per process, 64 (ulimit -Hn): lower --native-max-open-files (WASMJOBS_NATIVE_MAX_OPEN_FILES) or raise the hard limit"
        );
        let e = check_explicit(
            Limit::FileSize,
            2048 << 20,
            "--native-max-file-mb",
            "WASMJOBS_NATIVE_MAX_FILE_MB",
            Some(1 << 30),
        )
        .unwrap_err();
        assert!(
            e.starts_with("--native-max-file-mb 2048 is above") && e.contains("1024 MiB"),
            "{e}"
        );
        let procs =
            |v, hard| check_explicit(Limit::Processes, v, "--native-max-processes", "E", hard);
        assert!(procs(64, Some(64)).is_ok());
        assert!(procs(1 << 40, None).is_ok());
    }
}
