//! The native executor: scripts with no WebAssembly guest (`.sh`, `.php`,
//! `.jar`, ELF executables; `.py` and `.js` when asked) run as ordinary
//! processes inside a capability-restricted sandbox: their own uid,
//! Landlock, seccomp, namespaces, rlimits and a per-run cgroup. The
//! timeouts, stop requests, output capture, environment and working copy
//! are the same as the wasm executor's (see [`super::watch`] and the
//! runner).

mod cgroup;
mod child;
mod intercept;
mod landlock;
pub mod layers;
pub mod program;
pub mod report;
pub mod rlimit;
pub mod root;
pub mod sandbox;
mod seccomp;
mod uid;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

pub use layers::{Layers, SandboxConfig, SandboxMode, Support};
pub use program::Interpreter;
use sandbox::{CpuProbe, Dirs, Rlimits, Spawner, Spec};

use super::limits::{LimitKind, Limits};
use super::watch::Activity;
use super::watch::{self, watch};
use super::{Ending, Invocation, Outcome, Usage};
use crate::store::disk::{self, Pool, RunDisk};
use crate::store::logline::Level;

/// Runs native jobs under the host's sandbox configuration.
pub struct NativeRuntime {
    config: SandboxConfig,
    fixed: Option<Layers>,
    spawner: Spawner,
}

impl NativeRuntime {
    /// A runtime with this configuration.
    pub fn new(config: SandboxConfig) -> NativeRuntime {
        NativeRuntime {
            config,
            fixed: None,
            spawner: Spawner::new(),
        }
    }

    /// A runtime that gives every run exactly `layers` (the benchmark
    /// measures each layer set this way); `config` supplies the rest.
    pub fn with_layers(config: SandboxConfig, layers: Layers) -> NativeRuntime {
        NativeRuntime {
            fixed: Some(layers),
            ..NativeRuntime::new(config)
        }
    }

    /// The sandbox configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The layers native runs get on this host and a note per layer left
    /// out, or why native runs are refused.
    pub fn plan(&self) -> Result<(Layers, Vec<String>), String> {
        if let Some(layers) = self.fixed {
            return Ok((layers, Vec::new()));
        }
        Layers::plan(&self.config, &Support::get(&self.config))
    }

    /// The rlimits a run of `interpreter` with `limits` gets, each within
    /// this host's own hard limit, and a note per limit lowered to it.
    pub fn rlimits(&self, interpreter: Interpreter, limits: &Limits) -> (Rlimits, Vec<String>) {
        use rlimit::Limit;
        let cfg = &self.config;
        let mut notes = Vec::new();
        let mut within = |limit: Limit, wanted: u64| {
            let (v, note) = rlimit::clamp(limit, wanted, rlimit::hard(limit));
            notes.extend(note);
            v
        };
        let r = Rlimits {
            cpu_s: within(Limit::Cpu, limits.timeout.as_secs().max(1)),
            address_space: within(
                Limit::AddressSpace,
                interpreter
                    .address_space_mb(limits.memory_mb)
                    .saturating_mul(1 << 20),
            ),
            // limits.file_mb, never above the sandbox's own cap.
            file_size: within(
                Limit::FileSize,
                limits.file_mb.min(cfg.max_file_mb).saturating_mul(1 << 20),
            ),
            open_files: within(Limit::OpenFiles, cfg.max_open_files),
            processes: within(Limit::Processes, cfg.max_processes),
        };
        (r, notes)
    }

    /// The host (a wasm run) is about to write in a job's data folder as
    /// itself: the next native run must give the folder to its uid again,
    /// walking it (see [`uid::give_data`]). A native run without a uid of
    /// its own does this itself.
    pub fn forget_owner(&self, data: &std::path::Path) {
        uid::forget_owner(data);
    }

    /// The executor for scripts `interpreter` runs.
    pub fn executor(&self, interpreter: Interpreter) -> NativeExecutor<'_> {
        NativeExecutor {
            runtime: self,
            interpreter,
        }
    }

    /// How a native job sees the run's host folders.
    pub fn view(&self, host: &Dirs) -> Dirs {
        match self.plan() {
            Ok((layers, _)) => Dirs::seen_with(&layers, host),
            Err(_) => host.clone(),
        }
    }

    /// Runs one invocation to its end.
    pub async fn run(&self, interpreter: Interpreter, inv: Invocation) -> Outcome {
        let (layers, _) = match self.plan() {
            Ok(p) => p,
            Err(e) => return crashed(e),
        };
        match self.run_with(interpreter, inv, layers).await {
            Ok(o) => o,
            Err(e) => crashed(crate::runtime::confine::start_failure(&format!("{e:#}"))),
        }
    }

    /// Runs one invocation with explicit layers (the benchmark's entry).
    pub async fn run_with(
        &self,
        interpreter: Interpreter,
        inv: Invocation,
        layers: Layers,
    ) -> anyhow::Result<Outcome> {
        let exe = interpreter.locate().map_err(anyhow::Error::msg)?;
        let host = Dirs {
            work: inv.work_dir.clone(),
            data: inv.data_dir.clone(),
            tmp: inv.tmp_dir.clone(),
        };
        let seen = Dirs::seen_with(&layers, &host);
        let cwd = seen.work.join(&inv.script_subdir);
        let script = cwd.join(&inv.script);
        if interpreter == Interpreter::Direct {
            // Zips made on Windows carry no exec bit: the working copy of an
            // ELF entry gets one.
            use std::os::unix::fs::PermissionsExt;
            let host_script = host.work.join(&inv.script_subdir).join(&inv.script);
            std::fs::set_permissions(&host_script, std::fs::Permissions::from_mode(0o755))?;
        }
        let limits = inv.limits;
        let (program, args) =
            interpreter.command(exe.as_deref(), &script, &inv.args, limits.memory_mb, &{
                match inv.network {
                    crate::runtime::NetAccess::Proxied { .. } => {
                        crate::net::forward::java_proxy_properties()
                    }
                    _ => Vec::new(),
                }
            });
        let mut env = inv.env.clone();
        if matches!(inv.network, crate::runtime::NetAccess::Proxied { .. }) {
            env.extend(crate::net::forward::proxy_env());
        }
        let tmp = seen.tmp.to_string_lossy().into_owned();
        for (k, v) in [
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_string()),
            ("HOME", tmp.clone()),
            ("TMPDIR", tmp),
            ("LANG", "C.UTF-8".to_string()),
        ] {
            if !env.iter().any(|(n, _)| n == k) {
                env.push((k.to_string(), v));
            }
        }
        let cfg = &self.config;
        let spec = Spec {
            extra_read: exe
                .as_deref()
                .map(|e| interpreter.extra_read(e))
                .unwrap_or_default(),
            program,
            args,
            env,
            cwd,
            dirs: host,
            layers,
            rlimits: self.rlimits(interpreter, &limits).0,
            memory_mb: limits.memory_mb,
            network: inv.network.clone(),
            uid_range: cfg.uids,
            host_root: Support::get(cfg).root.is_real(),
            lease_dir: cfg.lease_dir.clone(),
            run_name: inv.run_name.clone(),
            tenant: inv.tenant.clone(),
            scratch: scratch_size(inv.disk.as_deref(), &limits),
            strict: cfg.mode == SandboxMode::Strict,
            stdout: inv.stdout.into(),
            stderr: inv.stderr.into(),
        };
        inv.activity.touch();
        let mut job = sandbox::spawn(spec, &self.spawner).await?;
        let probe = job.cpu_probe();
        // Inside namespaces the job's /tmp is a folder of its scratch
        // tmpfs, which only its mount namespace has: the shutdown file is
        // made there through the job's root as /proc shows it.
        let shutdown =
            inv.shutdown
                .as_ref()
                .map(|s| match (layers.namespaces, s.file.file_name()) {
                    (true, Some(name)) => watch::Shutdown {
                        file: std::path::Path::new(&format!("/proc/{}/root", job.pid()))
                            .join(seen.tmp.strip_prefix("/").unwrap_or(&seen.tmp))
                            .join(name),
                        wait: s.wait,
                    },
                    _ => watch::Shutdown {
                        file: s.file.clone(),
                        wait: s.wait,
                    },
                });
        let mut notes = Vec::new();
        let stopped = tokio::select! {
            r = job.wait() => { r?; None }
            e = watch(&limits, &inv.activity, &inv.stop, shutdown.as_ref()) => Some(e),
            _ = sample_cpu(probe, &inv.activity, limits.idle_timeout) => unreachable!(),
            note = watch_data(inv.disk.clone(), inv.data_dir.clone(), limits) => {
                notes.push(note);
                Some(Ending::Limit(LimitKind::Disk, None))
            }
            ending = inv.network.exceeded() => Some(ending),
        };
        if stopped.is_some() {
            job.kill();
            job.wait().await?;
        }
        let ending = stopped;
        let ended = job.finish()?;
        if ended.leftovers > 0 {
            tracing::debug!("killed {} processes the job left behind", ended.leftovers);
        }
        Ok(Outcome {
            ending: ending.unwrap_or_else(|| classify(&ended, &limits)),
            fuel_consumed: None,
            usage: Usage {
                peak_memory: ended.peak_memory,
                guest_time: None,
            },
            notes: {
                notes.extend(scratch_notes(ended.scratch_left, &limits));
                if let Some(d) = &inv.disk {
                    // What the job left in its data folder, for the
                    // tenant's next runs.
                    let (dir, max) = (inv.data_dir.clone(), limits.data_files.saturating_add(1));
                    if let Ok(used) =
                        tokio::task::spawn_blocking(move || disk::measure(&dir, max)).await
                    {
                        d.report(Pool::Data, used);
                    }
                }
                notes
            },
        })
    }
}

/// How often a native run's data folder is measured.
const DATA_EVERY: Duration = Duration::from_millis(250);

/// The run's scratch tmpfs: what its account still has room for (its
/// `scratch_mb` and `scratch_files` less the working copy, and no more
/// than its tenant's disk quota has left), or its limits without one.
fn scratch_size(disk: Option<&RunDisk>, limits: &Limits) -> root::ScratchSize {
    match disk {
        Some(d) => {
            let room = d.room(Pool::Scratch);
            root::ScratchSize {
                bytes: room.bytes.min(limits.scratch_mb << 20),
                files: room.files.min(limits.scratch_files),
            }
        }
        None => root::ScratchSize {
            bytes: limits.scratch_mb << 20,
            files: limits.scratch_files,
        },
    }
}

/// Measures the job's data folder every [`DATA_EVERY`], or four times as
/// long as a walk of it takes when that is longer (a native job
/// writes it directly: no layer of the host's sees its writes) and
/// resolves, with the sentence for the run's log, once it holds more than
/// its account allows (`data_mb`, `data_files`, the tenant's `disk_mb`,
/// `disk_files`). Never resolves without an account.
async fn watch_data(disk: Option<Arc<RunDisk>>, dir: PathBuf, limits: Limits) -> String {
    let Some(d) = disk else {
        return std::future::pending().await;
    };
    let mut every = DATA_EVERY;
    loop {
        tokio::time::sleep(every).await;
        let walked = std::time::Instant::now();
        let before = (d.used(Pool::Data), d.room(Pool::Data));
        let max = (
            before.0.bytes.saturating_add(before.1.bytes),
            before.0.files.saturating_add(before.1.files),
        );
        let (at, files) = (dir.clone(), max.1.min(limits.data_files).saturating_add(1));
        let Ok(now) = tokio::task::spawn_blocking(move || disk::measure(&at, files)).await else {
            continue;
        };
        // A folder that takes long to walk is walked less often (at most
        // a fifth of the run's time goes to walking it).
        every = DATA_EVERY.max(walked.elapsed() * 4);
        d.report(Pool::Data, now);
        if now.bytes > max.0 || now.files > max.1 {
            return format!(
                "The job's /data held {} MiB in {} files, past the {} MiB and {} files it may hold (limits.data_mb, limits.data_files, and its tenant's disk_mb, disk_files).",
                now.bytes >> 20,
                now.files,
                max.0 >> 20,
                max.1
            );
        }
    }
}

/// A note naming the scratch limit when the job left its scratch full
/// (its writes beyond it failed with `ENOSPC`).
fn scratch_notes(left: Option<(u64, u64)>, limits: &Limits) -> Vec<String> {
    let Some((bytes, files)) = left else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    // tmpfs keeps a few blocks back: "full" is less than 64 KiB left.
    if bytes < 64 << 10 {
        notes.push(format!(
            "The run's scratch (working copy and /tmp) was full: writes beyond it failed with ENOSPC (limits.scratch_mb = {} MiB, or the tenant's disk_mb).",
            limits.scratch_mb
        ));
    }
    if files == 0 {
        notes.push(format!(
            "The run's scratch (working copy and /tmp) was full: new files failed with ENOSPC (limits.scratch_files = {}, or the tenant's disk_files).",
            limits.scratch_files
        ));
    }
    notes
}

fn crashed(msg: String) -> Outcome {
    Ending::Crashed(msg).into()
}

/// Touches `activity` whenever the job's processes used CPU since the last
/// look; never resolves. Idle means no output *and* no CPU, as in WebJobs.
async fn sample_cpu(probe: CpuProbe, activity: &Activity, idle: Duration) {
    if idle.is_zero() {
        return std::future::pending().await;
    }
    let every = (idle / 8).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut last = 0;
    loop {
        tokio::time::sleep(every).await;
        let now = probe.ticks();
        if now > last {
            activity.touch();
        }
        last = now;
    }
}

/// How the job's own end maps to a run ending.
fn classify(ended: &sandbox::Ended, limits: &Limits) -> Ending {
    let status: ExitStatus = ended.status;
    if let Some(code) = status.code() {
        return if code != 0 && ended.oom_killed {
            Ending::Limit(LimitKind::Memory, Some(code))
        } else {
            Ending::Exited(code)
        };
    }
    let sig = status.signal().unwrap_or(0);
    let cpu_spent = ended
        .cpu_us
        .is_some_and(|us| us as u128 + 50_000 >= limits.timeout.as_micros());
    match sig {
        libc::SIGXCPU => Ending::Limit(LimitKind::Cpu, None),
        libc::SIGXFSZ => Ending::Limit(LimitKind::FileSize, None),
        libc::SIGKILL if ended.oom_killed => Ending::Limit(LimitKind::Memory, None),
        libc::SIGKILL if cpu_spent => Ending::Limit(LimitKind::Cpu, None),
        _ => Ending::Crashed(format!(
            "the job was killed by signal {sig} ({})",
            signal_name(sig)
        )),
    }
}

fn signal_name(sig: i32) -> String {
    // SAFETY: strsignal returns a NUL-terminated string (or null, checked)
    // that stays valid until the next call on this thread.
    let p = unsafe { libc::strsignal(sig) };
    if p.is_null() {
        return format!("signal {sig}");
    }
    // SAFETY: `p` is non-null and NUL-terminated; it is copied at once.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// The native sandbox as the runner sees it, for one interpreter.
pub struct NativeExecutor<'a> {
    runtime: &'a NativeRuntime,
    interpreter: Interpreter,
}

impl crate::runtime::executor::Executor for NativeExecutor<'_> {
    fn host_name(&self) -> &'static str {
        self.interpreter.host_name()
    }

    /// The sandbox's layers, each layer left out, and each rlimit lowered
    /// to the host's hard limit. (A refused plan is the run's to report:
    /// it fails.)
    fn describe(&self, limits: &Limits) -> Vec<(Level, String)> {
        let Ok((layers, notes)) = self.runtime.plan() else {
            return Vec::new();
        };
        let mut v = vec![(
            Level::Info,
            format!("Native sandbox: {}", layers.describe()),
        )];
        v.extend(notes.into_iter().map(|n| (Level::Warn, n)));
        if layers.rlimits {
            let lowered = self.runtime.rlimits(self.interpreter, limits).1;
            v.extend(lowered.into_iter().map(|n| (Level::Warn, n)));
        }
        v
    }

    fn view(&self, host: &Dirs) -> Dirs {
        self.runtime.view(host)
    }

    fn writes_as_host(&self) -> bool {
        false
    }

    fn run(&self, inv: Invocation) -> crate::runtime::executor::Running<'_> {
        Box::pin(self.runtime.run(self.interpreter, inv))
    }
}
