//! What `doctor` (and `serve` at its start) says about the native sandbox
//! on this host: each layer the kernel and user allow, the rlimits against
//! the host's own hard limits, the plan native runs get, and the fences
//! between a job and the host and other tenants.

use std::fmt::Write as _;

use super::cgroup;
use super::landlock;
use super::layers::{Layers, Root, SandboxConfig, Support};
use super::rlimit::{self, Limit};

/// A report of what this host allows, one layer per line (`doctor`).
pub fn report(config: &SandboxConfig) -> String {
    let s = Support::get(config);
    let mut r = String::new();
    let (first, last) = config.uids;
    let _ = writeln!(
        r,
        "running as root       : {}",
        match s.root {
            Root::Real => "yes".to_string(),
            Root::InUserNamespace { mapped } => format!(
                "uid 0 inside a user namespace that maps {mapped} uids: treated as not root (no uid of its own per run)"
            ),
            Root::No => "NO".to_string(),
        }
    );
    let _ = writeln!(
        r,
        "own uid per run       : {}",
        match s.root {
            Root::Real => format!(
                "yes (uids {first}-{last}, leases in {} (--native-lease-dir))",
                config.lease_dir.display()
            ),
            Root::InUserNamespace { .. } => format!(
                "no (this user namespace does not map uids {first}-{last}: runs use the host's uid)"
            ),
            Root::No => "no (not root: runs use the host's uid)".into(),
        }
    );
    let _ = writeln!(
        r,
        "landlock              : {} (ABI {}, want {})",
        if s.landlock_abi >= landlock::ABI_WANTED {
            "yes"
        } else {
            "NO"
        },
        s.landlock_abi,
        landlock::ABI_WANTED
    );
    let _ = writeln!(
        r,
        "seccomp               : {}",
        if s.seccomp { "yes" } else { "NO" }
    );
    let res = |x: &Result<(), String>| match (x, &s.blocked) {
        (Ok(()), _) => "yes".to_string(),
        (Err(_), Some(why)) => format!("UNKNOWN ({why})"),
        (Err(e), None) => format!("NO ({e})"),
    };
    let _ = writeln!(
        r,
        "namespaces            : {}{}",
        res(&s.namespaces),
        if s.root.is_real() {
            ""
        } else {
            " (with a user namespace)"
        }
    );
    let _ = writeln!(
        r,
        "network namespace     : {}{}",
        res(&s.net_namespace),
        if config.net_namespace {
            ""
        } else {
            " (disabled by --no-net-namespace)"
        }
    );
    let _ = writeln!(
        r,
        "cgroup                : {}",
        match &s.cgroup {
            Ok(v) => format!("yes ({v:?})"),
            Err(e) => format!("NO ({e})"),
        }
    );
    let _ = write!(r, "{}", rlimits(config));
    let plan = match Layers::plan(config, &s) {
        Ok((l, notes)) => {
            let mut p = format!("native runs get: {}", l.describe());
            for n in notes {
                let _ = write!(p, "\n  note: {n}");
            }
            p
        }
        Err(e) => format!("native runs are REFUSED: {e}"),
    };
    let _ = writeln!(r, "mode                  : {:?}\n{plan}", config.mode);
    if let Err(e) = config.check_hard_limits() {
        let _ = writeln!(r, "host start is REFUSED: {e}");
    }
    let _ = write!(r, "{}", fences(&s));
    r
}

/// The rlimits native runs get against this host's hard limits, one per
/// line.
fn rlimits(config: &SandboxConfig) -> String {
    let mut r = String::from("rlimits:\n");
    let e = config.explicit;
    for (limit, asked, explicit, flag) in [
        (
            Limit::OpenFiles,
            Some(config.max_open_files),
            e.open_files,
            "--native-max-open-files",
        ),
        (
            Limit::Processes,
            Some(config.max_processes),
            e.processes,
            "--native-max-processes",
        ),
        (
            Limit::FileSize,
            Some(config.max_file_mb.saturating_mul(1 << 20)),
            e.file_mb,
            "--native-max-file-mb",
        ),
        (Limit::AddressSpace, None, false, ""),
        (Limit::Cpu, None, false, ""),
    ] {
        let hard = rlimit::hard(limit);
        let hard_text = match hard {
            Some(h) => format!("hard limit {}, {}", limit.show(h), limit.ulimit()),
            None => "no hard limit".to_string(),
        };
        let line = match asked {
            Some(v) => {
                let (low, lowered) = rlimit::clamp(limit, v, hard);
                let at_most = if limit == Limit::FileSize {
                    "limits.file_mb, at most "
                } else {
                    ""
                };
                match lowered {
                    None => format!("{at_most}{} ({hard_text})", limit.show(v)),
                    Some(_) if explicit => format!(
                        "{} set by {flag}, above the {hard_text}: serve and run refuse to start",
                        limit.show(v)
                    ),
                    Some(_) => format!(
                        "{at_most}{}, lowered from {} to the {hard_text}; {}",
                        limit.show(low),
                        limit.show(v),
                        limit.set_by()
                    ),
                }
            }
            None => format!(
                "each job's {} ({hard_text}{})",
                if limit == Limit::Cpu {
                    "limits.timeout_s"
                } else {
                    "limits.memory_mb"
                },
                if hard.is_some() {
                    ": a job asking more is lowered to it"
                } else {
                    ""
                }
            ),
        };
        let _ = writeln!(r, "  {:<28}: {line}", limit.what());
    }
    r
}

/// What keeps a native run from the host and from other tenants, as far
/// as this host can apply it.
fn fences(s: &Support) -> String {
    let mut r = String::from("fences:\n");
    let ns = s.namespaces.is_ok();
    let line = |r: &mut String, name: &str, v: String| {
        let _ = writeln!(r, "  {name:<28}: {v}");
    };
    line(
        &mut r,
        "minimal root",
        if ns {
            "yes (no host /run, /var, /tmp, /dev/shm or home: host sockets unreachable)".into()
        } else {
            "NO (needs namespaces): the job sees the host's folders Landlock allows, and any pathname socket".into()
        },
    );
    line(
        &mut r,
        "inherited descriptors",
        "closed (close_range) before every native job".into(),
    );
    line(
        &mut r,
        "scratch quota",
        if ns {
            "yes (a tmpfs of limits.scratch_mb, limits.scratch_files; ENOSPC in the job; counts toward memory_mb)".into()
        } else {
            "NO (needs namespaces): scratch is bounded by the data quota's measurements only".into()
        },
    );
    line(
        &mut r,
        "data quota",
        "wasm: counted in the WASI layer (ENOSPC); native: measured 4 times a second, the run stopped past it".into(),
    );
    line(
        &mut r,
        "file size",
        "limits.file_mb (wasm: the WASI layer; native: RLIMIT_FSIZE)".into(),
    );
    let (procs, cpu) = match &s.cgroup {
        Ok(v) => (
            "yes (the tenant's cgroup pids.max: quota max_processes)".to_string(),
            if cgroup::cpu_weighting(*v) {
                "yes (the tenant's cgroup CPU weight)".to_string()
            } else {
                "NO (no cpu controller): native runs are not weighted by tenant".to_string()
            },
        ),
        Err(e) => (
            format!("NO ({e}): RLIMIT_NPROC per run only"),
            "NO (no cgroups)".to_string(),
        ),
    };
    line(&mut r, "tenant process budget", procs);
    line(&mut r, "tenant CPU weight (native)", cpu);
    r
}
