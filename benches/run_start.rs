//! Run start and CPU cost of jobs in the guests against native interpreters,
//! all measured in the same run so the numbers are comparable ratios.
//!
//! Each job is started three ways: `wasmjobs/in-process` is `Runner::run`
//! in a warm host (what a server pays per run: lock, record, working copy,
//! instantiate the pooled, pre-linked, cached guest, run, capture);
//! `wasmjobs/cli-process` is `wasmjobs run` as a child process (a cold
//! process each time, like the baselines); and the native interpreter runs
//! the same file as a child process with its output captured the same way.
//! A baseline that is not installed is skipped, loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use wasmjobs::bundle;
use wasmjobs::config::HostConfig;
use wasmjobs::job::{Job, JobType};
use wasmjobs::runner::{RunRequest, Runner};
use wasmjobs::runtime::Guest;
use wasmjobs::store::run::RunStatus;

/// A deployed one-file job in a scratch root, and a warm runner for it.
struct JobBench {
    _dir: tempfile::TempDir,
    script: PathBuf,
    job: Job,
    runner: Runner,
    rt: tokio::runtime::Runtime,
}

impl JobBench {
    fn new(file: &str, source: &str) -> JobBench {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("job");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(file), source).unwrap();
        let mut host = HostConfig::new(dir.path().join("root")).unwrap();
        host.history_size = 5;
        let job = bundle::install(
            &host.layout,
            host.executors,
            &src,
            "hello",
            JobType::Triggered,
            host.extract,
        )
        .unwrap();
        let runner = Runner::new(host);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let b = JobBench {
            script: src.join(file),
            _dir: dir,
            job,
            runner,
            rt,
        };
        b.run_in_process(); // compile, pre-initialise or load the cached guest once
        b
    }

    fn run_in_process(&self) {
        let req = RunRequest::new(self.job.clone(), "External - bench");
        let report = self.rt.block_on(self.runner.run(req)).unwrap();
        assert_eq!(report.status, RunStatus::Success);
    }

    fn run_cli(&self) {
        let out = Command::new(env!("CARGO_BIN_EXE_wasmjobs"))
            .args(["run", "hello"])
            .env("WASMJOBS_ROOT", self.runner.host().layout.root())
            .env("WEBJOBS_HISTORY_SIZE", "5")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.starts_with(b"hello, world"));
    }

    fn run_native(&self, interpreter: &Path) {
        let out = Command::new(interpreter)
            .arg(&self.script)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.starts_with(b"hello, world"));
    }
}

/// `program --version`, as a label, when the program runs.
fn version_of(program: &str) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .replace(' ', "-")
            .to_lowercase(),
    )
}

/// Native Python interpreters to compare with: CPython built natively from
/// the guest's own source (left by the guest build), and Debian's python3
/// (not a version manager's shim, which adds its own start-up).
fn native_pythons() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    let same = Guest::Python
        .files()
        .ok()
        .flatten()
        .and_then(|f| std::fs::read_to_string(f.dir.join("native-python.txt")).ok());
    match same
        .map(|p| PathBuf::from(p.trim()))
        .filter(|p| p.is_file())
    {
        Some(p) => v.push(("native-cpython-3.13.5-same-source".to_string(), p)),
        None => eprintln!(
            "SKIPPED same-version native CPython baseline: the guest build's native python is gone"
        ),
    }
    match ["/usr/bin/python3", "python3"]
        .into_iter()
        .find_map(|p| version_of(p).map(|ver| (p, ver)))
    {
        Some((p, ver)) => v.push((format!("system-{ver}"), p.into())),
        None => eprintln!("SKIPPED python3 baseline: python3 is not installed"),
    }
    v
}

fn run_start_js(c: &mut Criterion) {
    let bench = JobBench::new("run.js", "console.log('hello, world');\n");
    let mut g = c.benchmark_group("run_start_hello_js");
    g.bench_function("wasmjobs/in-process", |b| b.iter(|| bench.run_in_process()));
    g.bench_function("wasmjobs/cli-process", |b| b.iter(|| bench.run_cli()));
    match version_of("node") {
        Some(ver) => g.bench_function(format!("node-{ver}/process"), |b| {
            b.iter(|| bench.run_native(Path::new("node")))
        }),
        None => {
            eprintln!("SKIPPED node baseline: `node` is not installed on this machine");
            &mut g
        }
    };
    g.finish();
}

fn python_guest_ready() -> bool {
    match Guest::Python.files() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED Python benchmarks: {e:#}");
            false
        }
    }
}

fn run_start_python(c: &mut Criterion) {
    if !python_guest_ready() {
        return;
    }
    let bench = JobBench::new("run.py", "print('hello, world')\n");
    let mut g = c.benchmark_group("run_start_hello_py");
    g.bench_function("wasmjobs/in-process", |b| b.iter(|| bench.run_in_process()));
    g.bench_function("wasmjobs/cli-process", |b| b.iter(|| bench.run_cli()));
    for (label, python) in native_pythons() {
        g.bench_function(format!("{label}/process"), |b| {
            b.iter(|| bench.run_native(&python))
        });
    }
    g.finish();
}

fn cpu_loop_python(c: &mut Criterion) {
    if !python_guest_ready() {
        return;
    }
    let bench = JobBench::new(
        "run.py",
        "s = 0\nfor i in range(1_000_000):\n    s += i * i\nprint('hello, world', s)\n",
    );
    let mut g = c.benchmark_group("cpu_loop_1e6_py");
    g.sample_size(10);
    g.bench_function("wasmjobs/in-process", |b| b.iter(|| bench.run_in_process()));
    for (label, python) in native_pythons() {
        g.bench_function(format!("{label}/process"), |b| {
            b.iter(|| bench.run_native(&python))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = run_start_js, run_start_python, cpu_loop_python
}
criterion_main!(benches);
