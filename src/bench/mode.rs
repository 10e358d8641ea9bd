//! The ways the bench runs a job, and what one run of each measures.
//!
//! Every mode but `plain` goes through the host's own path ([`Runner::run`]:
//! job lock, run record, working copy, executor, capture, history), so the
//! numbers are what a run costs in a warm `wasmjobs serve`. They differ
//! only in the executor: the wasm guest built three ways ([`CodeGen`]), or
//! the native sandbox with one set of layers. `plain` runs the same
//! interpreter command as the native sandbox, as an ordinary child process
//! with nothing around it: the baseline every ratio is taken against.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::bundle::entry::ScriptKind;
use crate::config::HostConfig;
use crate::job::Job;
use crate::runner::{RunRequest, Runner};
use crate::runtime::native::{Interpreter, Layers, NativeRuntime, Support};
use crate::runtime::{self, ExecutorChoice, Guest};
use crate::store::run::RunStatus;

/// Fuel given to `wasm-fuel` runs: enough for any benchmark job.
const BENCH_FUEL: u64 = 1 << 50;

/// A way of running a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The wasm guest compiled without epoch checks or fuel.
    WasmUnchecked,
    /// The wasm guest as every run gets it: epoch deadline.
    WasmEpoch,
    /// The wasm guest with epoch deadline and fuel metering.
    WasmFuel,
    /// Native, rlimits and cgroup only (`--native-sandbox off`).
    NativeLimits,
    /// Native, plus Landlock and seccomp; no namespaces or own uid.
    NativeLsm,
    /// Native, every layer but the network namespace.
    NativeNoNetns,
    /// Native, every layer (the default `strict` sandbox).
    NativeFull,
    /// The same interpreter command as an unsandboxed child process.
    Plain,
    /// `.py` only: CPython built natively from the guest's own source.
    PlainSameVersion,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 9] = [
        Mode::WasmUnchecked,
        Mode::WasmEpoch,
        Mode::WasmFuel,
        Mode::NativeLimits,
        Mode::NativeLsm,
        Mode::NativeNoNetns,
        Mode::NativeFull,
        Mode::Plain,
        Mode::PlainSameVersion,
    ];

    /// Its id in the JSON and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Mode::WasmUnchecked => "wasm-unchecked",
            Mode::WasmEpoch => "wasm-epoch",
            Mode::WasmFuel => "wasm-fuel",
            Mode::NativeLimits => "native-limits",
            Mode::NativeLsm => "native-lsm",
            Mode::NativeNoNetns => "native-no-netns",
            Mode::NativeFull => "native-full",
            Mode::Plain => "plain",
            Mode::PlainSameVersion => "plain-same-version",
        }
    }

    /// What it is, in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            Mode::WasmUnchecked => {
                "wasm guest compiled without epoch checks or fuel (baseline of the limit overheads; nothing can interrupt it)"
            }
            Mode::WasmEpoch => "wasm guest with the epoch deadline, as every run gets it",
            Mode::WasmFuel => "wasm guest with the epoch deadline and fuel metering",
            Mode::NativeLimits => {
                "native sandbox with rlimits and the cgroup only (--native-sandbox off)"
            }
            Mode::NativeLsm => {
                "native sandbox: rlimits, cgroup, Landlock and seccomp; no namespaces, no uid of its own"
            }
            Mode::NativeNoNetns => {
                "native sandbox: every layer but the network namespace (--no-net-namespace)"
            }
            Mode::NativeFull => "native sandbox: every layer (the default, strict)",
            Mode::Plain => {
                "the native sandbox's interpreter command as a plain child process: no sandbox, no host (unsafe; --plain)"
            }
            Mode::PlainSameVersion => {
                "CPython built natively from the Python guest's own source, as a plain child process (--plain)"
            }
        }
    }

    /// The mode with this id.
    pub fn from_id(id: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.id() == id)
    }

    /// Whether it runs in the wasm guest.
    pub fn is_wasm(self) -> bool {
        matches!(self, Mode::WasmUnchecked | Mode::WasmEpoch | Mode::WasmFuel)
    }

    /// Whether it weakens isolation below what a host may run a job with
    /// (no timeouts, or native layers left out): measured on the built-in
    /// suite, and on other jobs only when asked.
    pub fn is_weakened(self) -> bool {
        matches!(
            self,
            Mode::WasmUnchecked | Mode::NativeLimits | Mode::NativeLsm
        )
    }

    /// Whether it is an unsandboxed baseline.
    pub fn is_plain(self) -> bool {
        matches!(self, Mode::Plain | Mode::PlainSameVersion)
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    /// From the start of the run to its first output line, when it wrote one.
    #[serde(serialize_with = "ms_opt")]
    pub first_output_ms: Option<Duration>,
    /// From the start of the run to its end (record written, for the host's
    /// modes; process reaped, for `plain`).
    #[serde(serialize_with = "ms")]
    pub exit_ms: Duration,
    /// CPU time, user plus system: of the whole bench process and its
    /// children for the host's modes (so the host's own work counts), of the
    /// child for `plain`.
    #[serde(serialize_with = "ms")]
    pub cpu_ms: Duration,
    /// Peak memory, in bytes, measured as each kind of run allows: for
    /// wasm, the guest's largest linear memory (what `memory_mb` caps; the
    /// host's own structures per instance are not counted, and pages never
    /// touched are counted); for native, the most memory the run's cgroup
    /// was charged (its processes' own memory and the page cache they
    /// brought in, not shared pages already cached); for plain, the child's
    /// peak resident set (`ru_maxrss`, shared pages included).
    pub peak_memory_bytes: Option<u64>,
    /// Wasm only: time inside the guest's entry point; `exit_ms` minus this
    /// is the host's overhead (instantiate, WASI context, working copy,
    /// capture, record).
    #[serde(serialize_with = "ms_opt")]
    pub guest_ms: Option<Duration>,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

fn ms_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}

/// The runners of the host's modes, built once for the whole bench.
pub struct Modes {
    runners: Vec<(Mode, Runner)>,
    plain: bool,
    same_version_python: Option<PathBuf>,
    memory_mb: u64,
    /// Modes this host cannot offer, with the reason.
    pub unavailable: Vec<(Mode, String)>,
}

impl Modes {
    /// Every mode this host can run; `plain` (and its same-version variant)
    /// only when asked for.
    pub fn new(host: &HostConfig, plain: bool) -> Modes {
        let mut unavailable = Vec::new();
        // Each mode's own fuel, whatever the host's ceiling says (a job that
        // asks for fuel itself is refused in the unmetered modes, see
        // `sample_runner`).
        let variant = |executors, fuel: Option<u64>| {
            let mut h = host.clone();
            h.executors = executors;
            h.limits.fuel = fuel;
            h.ceiling.fuel = None;
            Runner::new(h)
        };
        let epoch = variant(ExecutorChoice::Wasm, None);
        let wasm = epoch.wasm().clone();
        let mut runners = vec![
            (
                Mode::WasmUnchecked,
                variant(ExecutorChoice::Wasm, None).with_wasm(Arc::new(wasm.unchecked())),
            ),
            (Mode::WasmEpoch, epoch),
            (
                Mode::WasmFuel,
                variant(ExecutorChoice::Wasm, Some(BENCH_FUEL)).with_wasm(wasm),
            ),
        ];
        let mut seen: Vec<Layers> = Vec::new();
        for (mode, layers) in layer_sets(&Support::get(&host.sandbox)) {
            match layers {
                Ok(l) if seen.contains(&l) => {
                    unavailable.push((mode, "same layers as another set on this host".to_string()))
                }
                Ok(l) => {
                    seen.push(l);
                    let native = NativeRuntime::with_layers(host.sandbox.clone(), l);
                    runners.push((
                        mode,
                        variant(ExecutorChoice::Native, None).with_native(Arc::new(native)),
                    ));
                }
                Err(why) => unavailable.push((mode, why)),
            }
        }
        let same_version_python = Guest::Python
            .files()
            .ok()
            .flatten()
            .and_then(|f| std::fs::read_to_string(f.dir.join("native-python.txt")).ok())
            .map(|p| PathBuf::from(p.trim()))
            .filter(|p| p.is_file());
        if !plain {
            for m in [Mode::Plain, Mode::PlainSameVersion] {
                unavailable.push((m, "not asked for (--plain)".into()));
            }
        } else if same_version_python.is_none() {
            unavailable.push((
                Mode::PlainSameVersion,
                "the Python guest build's native CPython is gone (guests/python/build.sh leaves it)"
                    .into(),
            ));
        }
        Modes {
            runners,
            plain,
            same_version_python,
            memory_mb: host.limits.memory_mb,
            unavailable,
        }
    }

    /// Drops the weakened modes, saying why.
    pub fn refuse_weakened(&mut self, why: &str) {
        for (m, _) in self.runners.iter().filter(|(m, _)| m.is_weakened()) {
            self.unavailable.push((*m, why.to_string()));
        }
        self.runners.retain(|(m, _)| !m.is_weakened());
    }

    /// The modes that can run a job of this kind, in report order.
    pub fn for_kind(&self, kind: ScriptKind) -> Vec<Mode> {
        let mut v: Vec<Mode> = self
            .runners
            .iter()
            .filter(|(m, _)| {
                let choice = if m.is_wasm() {
                    ExecutorChoice::Wasm
                } else {
                    ExecutorChoice::Native
                };
                runtime::executor_for(kind, choice, choice, &|g| g.installed()).is_ok()
            })
            .map(|(m, _)| *m)
            .collect();
        if self.plain && plain_interpreter(kind).is_ok() {
            v.push(Mode::Plain);
            if kind == ScriptKind::Py && self.same_version_python.is_some() {
                v.push(Mode::PlainSameVersion);
            }
        }
        v
    }

    /// A label for the same-version CPython baseline.
    pub fn same_version_python(&self) -> Option<&Path> {
        self.same_version_python.as_deref()
    }

    /// Runs `job` once in `mode`; `plain_dir` is a copy of the job for the
    /// plain modes. An unsuccessful run is an error naming its status.
    pub async fn sample(&self, mode: Mode, job: &Job, plain_dir: &Path) -> Result<Sample> {
        if mode.is_plain() {
            let (program, args, cwd) = self.plain_command(mode, job, plain_dir)?;
            return tokio::task::spawn_blocking(move || sample_plain(&program, &args, &cwd))
                .await
                .context("the plain run's thread failed")?;
        }
        let runner = self
            .runners
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, r)| r)
            .context("mode not available")?;
        sample_runner(runner, mode, job).await
    }

    fn plain_command(
        &self,
        mode: Mode,
        job: &Job,
        dir: &Path,
    ) -> Result<(PathBuf, Vec<std::ffi::OsString>, PathBuf)> {
        let kind = job.script.context("the job has no entry script")?;
        let command = job.run_command.clone().unwrap_or_default();
        let script = dir.join(&command);
        let cwd = script.parent().unwrap_or(dir).to_path_buf();
        if mode == Mode::PlainSameVersion {
            let python = self
                .same_version_python
                .clone()
                .context("no same-version CPython")?;
            return Ok((python, vec![script.into_os_string()], cwd));
        }
        let interp = plain_interpreter(kind).map_err(anyhow::Error::msg)?;
        let exe = interp.locate().map_err(anyhow::Error::msg)?;
        let (program, args) = interp.command(exe.as_deref(), &script, &[], self.memory_mb, &[]);
        Ok((program, args, cwd))
    }
}

/// The native interpreter of a kind, for the plain baseline.
fn plain_interpreter(kind: ScriptKind) -> Result<Interpreter, String> {
    let interp = Interpreter::for_kind(kind).ok_or_else(|| format!("no native host for {kind}"))?;
    interp.locate()?;
    Ok(interp)
}

/// The layer sets the bench measures, or why this host cannot apply one.
fn layer_sets(support: &Support) -> Vec<(Mode, Result<Layers, String>)> {
    let all = Layers::all(support);
    let limits = Layers::limits_only(support);
    // Without namespaces a job sees the host's paths, which a uid of its
    // own may not be able to traverse: this set keeps the host's uid.
    let lsm = Layers {
        landlock: all.landlock,
        seccomp: all.seccomp,
        ..limits
    };
    let no_netns = Layers {
        net_namespace: false,
        ..all
    };
    vec![
        (Mode::NativeLimits, Ok(limits)),
        (
            Mode::NativeLsm,
            if lsm.landlock || lsm.seccomp {
                Ok(lsm)
            } else {
                Err("neither Landlock nor seccomp is available".into())
            },
        ),
        (
            Mode::NativeNoNetns,
            support
                .namespaces
                .clone()
                .map(|()| no_netns)
                .map_err(|e| format!("no namespaces: {e}")),
        ),
        (
            Mode::NativeFull,
            match (&support.namespaces, &support.net_namespace) {
                (Ok(()), Ok(())) => Ok(all),
                (Err(e), _) | (_, Err(e)) => Err(format!("no network namespace: {e}")),
            },
        ),
    ]
}

/// CPU time (user + system) of this process and its reaped children.
fn cpu_time() -> Duration {
    let get = |who| {
        // SAFETY: rusage is plain data, valid all zero.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage only writes the struct it is given.
        unsafe { libc::getrusage(who, &mut ru) };
        rusage_cpu(&ru)
    };
    get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
}

fn rusage_cpu(ru: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn sample_runner(runner: &Runner, mode: Mode, job: &Job) -> Result<Sample> {
    // As the API starts runs: no console echo.
    let req = RunRequest::new(job.clone(), "External - wasmjobs-bench");
    let cpu_before = cpu_time();
    let start = Instant::now();
    let prepared = runner.prepare(req)?;
    let log = prepared.log().clone();
    let report = prepared.execute().await;
    let exit = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    if report.status != RunStatus::Success {
        bail!(
            "run {} ended {} (exit code {:?}, limit {:?})",
            report.run_id,
            report.status,
            report.exit_code,
            report.limit
        );
    }
    let metered = report.fuel_consumed.is_some();
    if mode.is_wasm() && metered != (mode == Mode::WasmFuel) {
        bail!(
            "the job's settings.job sets limits.fuel, so {} cannot be measured as it is: remove the limit from a copy to compare the modes",
            mode.id()
        );
    }
    let usage = report.usage;
    Ok(Sample {
        first_output_ms: log.first_output().map(|t| t.duration_since(start)),
        exit_ms: exit,
        cpu_ms: cpu,
        peak_memory_bytes: usage.peak_memory,
        guest_ms: usage.guest_time,
    })
}

/// The hidden subcommand that measures a plain run (`wasmjobs bench-plain`).
pub const PLAIN_HELPER: &str = "bench-plain";

/// Measures one plain run through a fresh `wasmjobs bench-plain` process.
/// A child's peak resident set (`ru_maxrss`) includes whatever its parent
/// had mapped when it forked, so the child is forked from that small
/// process rather than from the bench with its engines and caches; the
/// helper also takes the times, so its own start is not counted.
fn sample_plain(program: &Path, args: &[std::ffi::OsString], cwd: &Path) -> Result<Sample> {
    let exe = std::env::current_exe().context("locating the wasmjobs binary")?;
    let out = Command::new(exe)
        .arg(PLAIN_HELPER)
        .arg(cwd)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("starting the plain-run helper")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<u64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    match (out.status.success(), fields.as_slice()) {
        (true, &[first, exit, cpu, rss]) => Ok(Sample {
            first_output_ms: (first > 0).then(|| Duration::from_nanos(first)),
            exit_ms: Duration::from_nanos(exit),
            cpu_ms: Duration::from_nanos(cpu),
            peak_memory_bytes: Some(rss),
            guest_ms: None,
        }),
        _ => bail!("{}", String::from_utf8_lossy(&out.stderr).trim()),
    }
}

/// `wasmjobs bench-plain CWD PROGRAM ARGS...`: runs the program as a plain
/// child (forked, not spawned with a shared address space, so its peak
/// resident set is its own) and prints nanoseconds to its first stdout
/// line (0: none) and to its end, its CPU nanoseconds and its peak
/// resident bytes.
pub fn plain_helper(cwd: &Path, program: &Path, args: &[std::ffi::OsString]) -> Result<String> {
    let s = measure_plain(program, args, cwd)?;
    Ok(format!(
        "{} {} {} {}",
        s.first_output_ms.map_or(0, |d| d.as_nanos().max(1) as u64),
        s.exit_ms.as_nanos() as u64,
        s.cpu_ms.as_nanos() as u64,
        s.peak_memory_bytes.unwrap_or(0)
    ))
}

/// Runs the command as a plain child process, timing its first stdout line
/// and its end; its CPU time and peak memory come from `wait4`.
fn measure_plain(program: &Path, args: &[std::ffi::OsString], cwd: &Path) -> Result<Sample> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut cmd = Command::new(program);
    // A pre-exec hook makes the standard library fork instead of spawning
    // with the parent's address space (which `ru_maxrss` would count).
    // SAFETY: the hook does nothing between fork and exec.
    unsafe { cmd.pre_exec(|| Ok(())) };
    let mut child = cmd
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    // The first line on either stream, as the host's capture counts it;
    // stderr is kept for the error message.
    let first = Arc::new(std::sync::OnceLock::new());
    let read = |mut pipe: Box<dyn Read + Send>, keep: bool| {
        let first = first.clone();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if buf[..n].contains(&b'\n') {
                    first.get_or_init(Instant::now);
                }
                if keep && kept.len() < 64 * 1024 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            kept
        })
    };
    let reader = read(Box::new(stdout), false);
    let errors = read(Box::new(stderr), true);
    let mut status = 0;
    // SAFETY: rusage is plain data, valid all zero.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // Reaped here, with its resource usage; `child` is not waited on again.
    let pid = child.id() as libc::pid_t;
    // SAFETY: wait4 on our own unreaped child writes only the two structs
    // it is given.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let _ = reader.join();
    let exit = start.elapsed();
    let err = errors.join().unwrap_or_default();
    if r != pid {
        bail!(
            "waiting for {}: {}",
            program.display(),
            std::io::Error::last_os_error()
        );
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!(
            "{} ended with wait status {status:#x}: {}",
            program.display(),
            String::from_utf8_lossy(&err).trim()
        );
    }
    Ok(Sample {
        first_output_ms: first.get().map(|t| t.duration_since(start)),
        exit_ms: exit,
        cpu_ms: rusage_cpu(&ru),
        peak_memory_bytes: Some(ru.ru_maxrss as u64 * 1024),
        guest_ms: None,
    })
}
