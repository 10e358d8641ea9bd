//! The bench's results: every sample, the summaries and ratios derived from
//! them, the goals they are checked against, and the machine they were
//! measured on. Serialised as the `--json` output; rendered as a table on
//! stdout and as the `--report` page ([`super::html`]).

use std::fmt::Write as _;

use serde::Serialize;

use super::mode::{Mode, Sample};
use super::stats::Summary;

/// Identifies the JSON layout.
pub const FORMAT: &str = "wasmjobs-bench/1";

/// A whole bench.
#[derive(Debug, Serialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: &'static str,
    /// When it ran (RFC 3339, UTC).
    pub date: String,
    /// The command line that produced it.
    pub command: String,
    /// Measured runs per job and mode (after one warm-up run each).
    pub runs: usize,
    /// The machine.
    pub machine: Machine,
    /// Every mode, and why one is missing on this host.
    pub modes: Vec<ModeInfo>,
    /// The results, job by job.
    pub jobs: Vec<JobResult>,
    /// The goals of the standard suite, where its jobs ran.
    pub goals: Vec<Goal>,
    /// Jobs that could not be built or run here, with the reason.
    pub skipped: Vec<String>,
}

/// Where the numbers come from.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Installed memory, in bytes.
    pub memory_bytes: u64,
    /// Kernel release.
    pub kernel: String,
    /// wasmjobs's version.
    pub wasmjobs: String,
    /// Whether wasmjobs itself was built with optimisations.
    pub optimized_build: bool,
    /// The native interpreters' own version lines.
    pub interpreters: Vec<(String, String)>,
}

/// A mode, and whether this host offers it.
#[derive(Debug, Serialize)]
pub struct ModeInfo {
    /// Its id.
    pub id: Mode,
    /// What it is.
    pub description: &'static str,
    /// Why it was not measured, if it was not.
    pub unavailable: Option<String>,
}

/// One job's results.
#[derive(Debug, Serialize)]
pub struct JobResult {
    /// Its name (`hello.js`).
    pub name: String,
    /// Its modes, in report order.
    pub results: Vec<ModeResult>,
}

/// One job in one mode.
#[derive(Debug, Serialize)]
pub struct ModeResult {
    /// The mode.
    pub mode: Mode,
    /// Why the mode stopped, if a run failed (its samples are discarded).
    pub error: Option<String>,
    /// Every measured run, in order.
    pub samples: Vec<Sample>,
    /// Start to first output line, in ms.
    pub first_output_ms: Option<Summary>,
    /// Start to end, in ms.
    pub exit_ms: Option<Summary>,
    /// CPU time, in ms.
    pub cpu_ms: Option<Summary>,
    /// Peak memory, in bytes.
    pub peak_memory_bytes: Option<Summary>,
    /// Wasm: the run minus the time inside the guest, in ms.
    pub host_overhead_ms: Option<Summary>,
    /// Medians divided by `plain`'s medians, when `plain` was measured.
    pub ratio_to_plain: Option<Ratios>,
}

/// A mode's medians divided by the plain process's medians.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// Start to end.
    pub exit: f64,
    /// Start to first output.
    pub first_output: Option<f64>,
    /// CPU time.
    pub cpu: f64,
}

/// A goal and what was measured for it.
#[derive(Debug, Serialize)]
pub struct Goal {
    /// What is compared.
    pub name: String,
    /// How it is computed.
    pub how: String,
    /// The bound (the measured value must be at most this).
    pub at_most: f64,
    /// The measured value.
    pub measured: f64,
    /// Whether it holds.
    pub met: bool,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl ModeResult {
    /// Summarises a mode's samples (ratios are added by [`JobResult::new`]).
    pub fn new(mode: Mode, samples: Vec<Sample>, error: Option<String>) -> ModeResult {
        let samples = if error.is_some() { Vec::new() } else { samples };
        let s = &samples;
        ModeResult {
            mode,
            error,
            first_output_ms: Summary::of(s.iter().filter_map(|x| x.first_output_ms.map(ms))),
            exit_ms: Summary::of(s.iter().map(|x| ms(x.exit_ms))),
            cpu_ms: Summary::of(s.iter().map(|x| ms(x.cpu_ms))),
            peak_memory_bytes: Summary::of(
                s.iter()
                    .filter_map(|x| x.peak_memory_bytes.map(|b| b as f64)),
            ),
            host_overhead_ms: Summary::of(
                s.iter()
                    .filter_map(|x| x.guest_ms.map(|g| ms(x.exit_ms.saturating_sub(g)))),
            ),
            samples,
            ratio_to_plain: None,
        }
    }
}

impl ModeResult {
    /// The mode, its first-output and exit min/median/p90 (joined by
    /// `sep`), and its median CPU ms and peak MiB, formatted for a table.
    pub fn cells(&self, sep: &str) -> [String; 5] {
        let median =
            |s: Option<Summary>, f: fn(f64) -> String| s.map_or("-".into(), |s| f(s.median));
        [
            self.mode.id().to_string(),
            fmt_three(self.first_output_ms, sep),
            fmt_three(self.exit_ms, sep),
            median(self.cpu_ms, fmt_ms),
            median(self.peak_memory_bytes, fmt_mib),
        ]
    }
}

impl JobResult {
    /// A job's results, with each mode's ratios to `plain`.
    pub fn new(name: String, mut results: Vec<ModeResult>) -> JobResult {
        let plain = results
            .iter()
            .find(|r| r.mode == Mode::Plain)
            .and_then(|p| {
                Some((
                    p.exit_ms?.median,
                    p.first_output_ms.map(|s| s.median),
                    p.cpu_ms?.median,
                ))
            });
        if let Some((exit, first, cpu)) = plain {
            for r in &mut results {
                let Some(e) = r.exit_ms else { continue };
                r.ratio_to_plain = Some(Ratios {
                    exit: e.median / exit,
                    first_output: r
                        .first_output_ms
                        .zip(first)
                        .map(|(f, base)| f.median / base),
                    cpu: r.cpu_ms.map_or(f64::NAN, |c| c.median) / cpu,
                });
            }
        }
        JobResult { name, results }
    }

    /// The result of a mode that was measured.
    pub fn get(&self, mode: Mode) -> Option<&ModeResult> {
        self.results
            .iter()
            .find(|r| r.mode == mode && r.exit_ms.is_some())
    }
}

/// The goals, for the standard suite's jobs that ran.
pub fn goals(jobs: &[JobResult]) -> Vec<Goal> {
    let job = |n: &str| jobs.iter().find(|j| j.name == n);
    let median = |n: &str, m: Mode| job(n)?.get(m)?.exit_ms.map(|s| s.median);
    let mut goals = Vec::new();
    let mut ratio = |name: String, how: String, a: Option<f64>, b: Option<f64>, at_most: f64| {
        if let (Some(a), Some(b)) = (a, b) {
            let measured = a / b;
            goals.push(Goal {
                name,
                how,
                at_most,
                measured,
                met: measured <= at_most,
            });
        }
    };
    ratio(
        "hello.js in the wasm guest ÷ node hello.js".into(),
        "median start-to-exit, wasm-epoch ÷ plain".into(),
        median("hello.js", Mode::WasmEpoch),
        median("hello.js", Mode::Plain),
        0.05,
    );
    let (py_base, py_label) = match median("hello.py", Mode::PlainSameVersion) {
        Some(m) => (
            Some(m),
            "plain-same-version (CPython 3.13, the guest's source)",
        ),
        None => (
            median("hello.py", Mode::Plain),
            "plain (the system python3)",
        ),
    };
    ratio(
        "hello.py in the wasm guest ÷ python3 hello.py".into(),
        format!("median start-to-exit, wasm-epoch ÷ {py_label}"),
        median("hello.py", Mode::WasmEpoch),
        py_base,
        0.5,
    );
    for n in ["loop.js", "loop.py"] {
        ratio(
            format!("{n}: epoch deadline ÷ no limits"),
            "median start-to-exit, wasm-epoch ÷ wasm-unchecked".into(),
            median(n, Mode::WasmEpoch),
            median(n, Mode::WasmUnchecked),
            1.15,
        );
        ratio(
            format!("{n}: epoch + fuel ÷ no limits"),
            "median start-to-exit, wasm-fuel ÷ wasm-unchecked".into(),
            median(n, Mode::WasmFuel),
            median(n, Mode::WasmUnchecked),
            1.5,
        );
    }
    ratio(
        "net-get.sh: 100 × 1 KiB GETs through the host ÷ curl plain".into(),
        "median start-to-exit, native-full (every connection through the host's proxy and policy) ÷ plain".into(),
        median("net-get.sh", Mode::NativeFull),
        median("net-get.sh", Mode::Plain),
        1.5,
    );
    // The download's own time: its run less a run of hello.sh in the same
    // mode (the sandbox's start and bash's).
    let transfer = |m: Mode| Some(median("net-download.sh", m)? - median("hello.sh", m)?);
    ratio(
        "net-download.sh: 10 MiB through the host ÷ curl plain (≥ 80 % of plain's MB/s)".into(),
        "median start-to-exit less hello.sh's in the same mode, native-full ÷ plain".into(),
        transfer(Mode::NativeFull),
        transfer(Mode::Plain),
        1.25,
    );
    ratio(
        "net-get.js: 100 × 1 KiB fetches in the wasm guest ÷ node plain".into(),
        "median start-to-exit, wasm-epoch (every connection the host's, held to the policy) ÷ plain (node)".into(),
        median("net-get.js", Mode::WasmEpoch),
        median("net-get.js", Mode::Plain),
        1.5,
    );
    let js_transfer = |m: Mode| Some(median("net-download.js", m)? - median("hello.js", m)?);
    ratio(
        "net-download.js: 10 MiB in the wasm guest ÷ node plain (≥ 80 % of plain's MB/s)".into(),
        "median start-to-exit less hello.js's in the same mode, wasm-epoch ÷ plain (node)".into(),
        js_transfer(Mode::WasmEpoch),
        js_transfer(Mode::Plain),
        1.25,
    );
    if let Some(o) = job("hello.js")
        .and_then(|j| j.get(Mode::WasmEpoch))
        .and_then(|r| r.host_overhead_ms)
    {
        goals.push(Goal {
            name: "host overhead per run, in ms (hello.js)".into(),
            how: "median of start-to-exit minus the time inside the guest's entry point (instantiate, WASI context, working copy, capture, run record), wasm-epoch".into(),
            at_most: 1.0,
            measured: o.median,
            met: o.median <= 1.0,
        });
    }
    goals
}

/// A duration in ms, compactly.
pub fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A summary's min, median and p90 in ms, joined by `sep` (`-` if none).
pub fn fmt_three(s: Option<Summary>, sep: &str) -> String {
    s.map_or("-".into(), |s| {
        [s.min, s.median, s.p90].map(fmt_ms).join(sep)
    })
}

/// Bytes in MiB, compactly.
pub fn fmt_mib(b: f64) -> String {
    format!("{:.1}", b / (1024.0 * 1024.0))
}

/// A ratio, compactly.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "-".into()
    } else if r < 0.1 {
        format!("{r:.3}×")
    } else {
        format!("{r:.2}×")
    }
}

impl Report {
    /// The results as a text table, then the goals.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<19} {:>22} {:>22} {:>8} {:>9} {:>8}",
            "job", "mode", "first output ms", "exit ms", "cpu ms", "peak MiB", "÷ plain"
        );
        let _ = writeln!(
            out,
            "{:<10} {:<19} {:>22} {:>22} {:>8} {:>9} {:>8}",
            "", "", "min/median/p90", "min/median/p90", "median", "median", "exit"
        );
        for j in &self.jobs {
            for r in &j.results {
                if let Some(e) = &r.error {
                    let _ = writeln!(out, "{:<10} {:<19} FAILED: {e}", j.name, r.mode.id());
                    continue;
                }
                let [mode, first, exit, cpu, mem] = r.cells("/");
                let ratio = r.ratio_to_plain.map_or("-".into(), |x| fmt_ratio(x.exit));
                let _ = writeln!(
                    out,
                    "{:<10} {mode:<19} {first:>22} {exit:>22} {cpu:>8} {mem:>9} {ratio:>8}",
                    j.name,
                );
            }
        }
        if !self.goals.is_empty() {
            let _ = writeln!(out, "\ngoals:");
            for g in &self.goals {
                let _ = writeln!(
                    out,
                    "  {} {}: {:.3} (at most {})",
                    if g.met { "met    " } else { "NOT MET" },
                    g.name,
                    g.measured,
                    g.at_most
                );
            }
        }
        for (what, list) in [("skipped", &self.skipped)] {
            for s in list {
                let _ = writeln!(out, "{what}: {s}");
            }
        }
        for m in &self.modes {
            if let Some(why) = &m.unavailable {
                let _ = writeln!(out, "mode {} not measured: {why}", m.id.id());
            }
        }
        out
    }
}
