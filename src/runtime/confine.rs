//! How the host process itself is confined, as far as its executors care:
//! how much address space it may still reserve (`ulimit -v`, a container
//! runtime's `RLIMIT_AS`) and whether it may make memory executable
//! (systemd's `MemoryDenyWriteExecute=`, `prctl(PR_SET_MDWE)`, SELinux's
//! `execmem`). Both are read from the running process, never assumed: a
//! wasm engine needs to reserve its memory pool and publish compiled code,
//! and a JIT in a native job (V8 in `node`) needs executable memory too.

use std::sync::OnceLock;

/// The address space this process may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpace {
    /// `RLIMIT_AS` (soft) in bytes; `None`: unlimited.
    pub limit: Option<u64>,
    /// What the process has mapped now (`VmSize`), in bytes.
    pub in_use: u64,
}

impl AddressSpace {
    /// Reads this process's limit and use.
    pub fn read() -> AddressSpace {
        let limit = rlimit(libc::RLIMIT_AS).and_then(|(soft, _)| soft);
        let in_use = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| vm_size(&s))
            .unwrap_or(0);
        AddressSpace { limit, in_use }
    }

    /// What may still be reserved, keeping `headroom` bytes for the
    /// host's own threads and heap; `None`: no limit.
    pub fn available(&self, headroom: u64) -> Option<u64> {
        self.limit
            .map(|l| l.saturating_sub(self.in_use).saturating_sub(headroom))
    }
}

/// This process's soft and hard limits on `resource` (`None` each: no
/// limit), or `None` when they cannot be read.
pub fn rlimit(resource: libc::__rlimit_resource_t) -> Option<(Option<u64>, Option<u64>)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return None;
    }
    let finite = |v| (v != libc::RLIM_INFINITY).then_some(v);
    Some((finite(r.rlim_cur), finite(r.rlim_max)))
}

/// The limit of this process's that an OS error runs into, if it is one:
/// out of descriptors (`EMFILE`) or of processes (`EAGAIN` from a fork):
/// its errno, what it bounds, the `ulimit` option and its soft value.
fn limit_of(errno: i32) -> Option<(&'static str, &'static str, u64)> {
    let (what, option, resource) = match errno {
        libc::EMFILE => ("open files per process", "ulimit -n", libc::RLIMIT_NOFILE),
        libc::EAGAIN => ("processes", "ulimit -u", libc::RLIMIT_NPROC),
        _ => return None,
    };
    let (soft, _) = rlimit(resource)?;
    Some((what, option, soft?))
}

/// An OS error in words, without std's "(os error N)", plus this
/// process's limit a failure to get a descriptor or a process runs into
/// (e.g. "Too many open files (ulimit -n 16)").
pub fn describe(e: &std::io::Error) -> String {
    let text = e.to_string();
    let Some(n) = e.raw_os_error() else {
        return text;
    };
    let text = text
        .strip_suffix(&format!(" (os error {n})"))
        .unwrap_or(&text)
        .to_string();
    match limit_of(n) {
        Some((_, option, v)) => format!("{text} ({option} {v})"),
        None => text,
    }
}

/// A run's failure to start (an error chain in words) that ran into this
/// process's own limit on open files or processes names the limit and its
/// value, in [`describe`]'s words: "Too many open files (ulimit -n 16);
/// the host ran out of open files per process starting the run". A cause
/// repeated by the chain (an error whose text includes its source's) is
/// said once.
pub fn start_failure(msg: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in msg.split(": ") {
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    let msg = parts.join(": ");
    for errno in [libc::EMFILE, libc::EAGAIN] {
        let code = format!("(os error {errno})");
        if let (true, Some((what, option, v))) = (msg.contains(&code), limit_of(errno)) {
            return format!(
                "{}; the host ran out of {what} starting the run",
                msg.replace(&code, &format!("({option} {v})"))
            );
        }
    }
    msg
}

/// `VmSize` from `/proc/<pid>/status`, in bytes.
fn vm_size(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb << 10)
}

/// Whether this process may turn memory it wrote into code, probed once
/// (what every JIT does: map a page writable, then make it executable).
/// `Err` names what is denying it.
pub fn exec_memory() -> Result<(), &'static str> {
    static PROBED: OnceLock<Result<(), &'static str>> = OnceLock::new();
    *PROBED.get_or_init(probe_exec_memory)
}

/// The message for a host that denies executable memory.
pub const NO_EXEC_MEMORY: &str = "this host denies executable memory to wasmjobs (systemd MemoryDenyWriteExecute=, prctl PR_SET_MDWE or SELinux execmem)";

fn probe_exec_memory() -> Result<(), &'static str> {
    let len = 4096;
    // SAFETY: a fresh private anonymous mapping of one page, changed and
    // unmapped here only; no pointer to it escapes.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            // Not the question asked: an exhausted address space is
            // reported where it is needed.
            return Ok(());
        }
        p.cast::<u8>().write(0xc3);
        let denied = libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) != 0;
        libc::munmap(p, len);
        if denied {
            return Err(NO_EXEC_MEMORY);
        }
    }
    Ok(())
}

/// Bytes as a short human size (`4.0 GiB`, `512 MiB`).
pub fn human(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_errors_name_the_limit_they_run_into() {
        let n = super::rlimit(libc::RLIMIT_NOFILE).unwrap().0.unwrap();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(
            super::describe(&e),
            format!("Too many open files (ulimit -n {n})")
        );
        let d = super::describe(&std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(d, "Operation not permitted");
    }

    #[test]
    fn a_start_that_ran_out_of_open_files_names_the_limit_once() {
        let n = super::rlimit(libc::RLIMIT_NOFILE).unwrap().0.unwrap();
        let msg = super::start_failure(
            "building the Landlock ruleset: failed to create a ruleset: Too many open files (os error 24): Too many open files (os error 24)",
        );
        assert_eq!(
            msg,
            format!(
                "building the Landlock ruleset: failed to create a ruleset: Too many open files (ulimit -n {n}); the host ran out of open files per process starting the run"
            )
        );
        assert_eq!(super::start_failure("no such file"), "no such file");
    }

    use super::*;

    #[test]
    fn vm_size_is_read_in_bytes() {
        let s = "Name:\tx\nVmPeak:\t  2000 kB\nVmSize:\t  1024 kB\nVmRSS:\t 10 kB\n";
        assert_eq!(vm_size(s), Some(1 << 20));
        assert_eq!(vm_size("Name: x\n"), None);
    }

    #[test]
    fn available_keeps_headroom_and_never_underflows() {
        let a = AddressSpace {
            limit: Some(2 << 30),
            in_use: 1 << 30,
        };
        assert_eq!(a.available(256 << 20), Some((1 << 30) - (256 << 20)));
        assert_eq!(a.available(4 << 30), Some(0));
        let none = AddressSpace {
            limit: None,
            in_use: 1 << 30,
        };
        assert_eq!(none.available(0), None);
    }

    #[test]
    fn this_test_process_may_make_code() {
        // The test machine does not deny it; a host that does is tested
        // end to end (tests/lockdown.rs).
        assert_eq!(exec_memory(), Ok(()));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(4 << 30), "4.0 GiB");
        assert_eq!(human(512 << 20), "512 MiB");
    }
}
