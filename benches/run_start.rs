//! Run start for `hello.js`: everything from "start this job" to "its
//! output is captured and its record written", measured three ways in the
//! same run so the numbers are comparable ratios:
//!
//! - `wasmjobs/in-process`: `Runner::run` in a warm host (what a server
//!   pays per run: lock, record, working copy, instantiate from the pooled,
//!   pre-linked, cached guest, run, capture);
//! - `wasmjobs/cli-process`: `wasmjobs run hello` as a child process (a
//!   cold process each time, like the node baseline);
//! - `node/process`: `node hello.js` as a child process with its output
//!   captured the same way (skipped, loudly, when node is not installed).

use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use wasmjobs::bundle;
use wasmjobs::config::HostConfig;
use wasmjobs::job::JobType;
use wasmjobs::runner::{RunRequest, Runner};
use wasmjobs::runtime::stop::StopSignal;

const HELLO: &str = "console.log('hello, world');\n";

fn run_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("run.js"), HELLO).unwrap();
    std::fs::write(src.join("hello.js"), HELLO).unwrap();
    let root = dir.path().join("root");

    let mut host = HostConfig::new(root.clone()).unwrap();
    host.history_size = 5;
    let job = bundle::install(
        &host.layout,
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
    let run_once = || {
        let req = RunRequest {
            job: job.clone(),
            trigger: "External - bench".into(),
            args: Vec::new(),
            echo: None,
            stop: StopSignal::default(),
        };
        let report = rt.block_on(runner.run(req)).unwrap();
        assert_eq!(report.status, wasmjobs::store::run::RunStatus::Success);
    };
    run_once(); // compile or load the cached guest once

    let mut g = c.benchmark_group("run_start_hello_js");
    g.bench_function("wasmjobs/in-process", |b| b.iter(run_once));

    let bin = env!("CARGO_BIN_EXE_wasmjobs");
    g.bench_function("wasmjobs/cli-process", |b| {
        b.iter(|| {
            let out = Command::new(bin)
                .args(["run", "hello"])
                .env("WASMJOBS_ROOT", &root)
                .env("WEBJOBS_HISTORY_SIZE", "5")
                .stderr(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success() && out.stdout.starts_with(b"hello, world"));
        })
    });

    match Command::new("node").arg("--version").output() {
        Ok(v) if v.status.success() => {
            eprintln!(
                "baseline: node {}",
                String::from_utf8_lossy(&v.stdout).trim()
            );
            g.bench_function("node/process", |b| {
                b.iter(|| {
                    let out = Command::new("node")
                        .arg(src.join("hello.js"))
                        .stderr(Stdio::null())
                        .output()
                        .unwrap();
                    assert!(out.status.success() && out.stdout.starts_with(b"hello, world"));
                })
            });
        }
        _ => eprintln!("SKIPPED node/process baseline: `node` is not installed on this machine"),
    }
    g.finish();
}

/// Starting `hello.py` the same three ways, against `python3 hello.py`.
fn run_start_python(c: &mut Criterion) {
    let Some(bench) = PyBench::new("print('hello, world')\n") else {
        return;
    };
    let mut g = c.benchmark_group("run_start_hello_py");
    g.bench_function("wasmjobs/in-process", |b| b.iter(|| bench.run_in_process()));
    g.bench_function("wasmjobs/cli-process", |b| b.iter(|| bench.run_cli()));
    for (label, python) in bench.natives() {
        g.bench_function(format!("{label}/process"), |b| {
            b.iter(|| bench.run_native(&python))
        });
    }
    g.finish();
}

/// A CPU-bound loop in the guest against native CPython: the same version
/// built from the same source (when the guest build left it), and the
/// system's python3.
fn cpu_loop_python(c: &mut Criterion) {
    let Some(bench) = PyBench::new(
        "s = 0\nfor i in range(1_000_000):\n    s += i * i\nprint('hello, world', s)\n",
    ) else {
        return;
    };
    let mut g = c.benchmark_group("cpu_loop_1e6_py");
    g.sample_size(10);
    g.bench_function("wasmjobs/in-process", |b| b.iter(|| bench.run_in_process()));
    for (label, python) in bench.natives() {
        g.bench_function(format!("{label}/process"), |b| {
            b.iter(|| bench.run_native(&python))
        });
    }
    g.finish();
}

struct PyBench {
    _dir: tempfile::TempDir,
    script: std::path::PathBuf,
    job: wasmjobs::job::Job,
    runner: Runner,
    rt: tokio::runtime::Runtime,
}

impl PyBench {
    fn new(script: &str) -> Option<PyBench> {
        if let Err(e) = wasmjobs::runtime::Guest::Python.files() {
            eprintln!("SKIPPED Python benchmarks: {e:#}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("job");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("run.py"), script).unwrap();
        let mut host = HostConfig::new(dir.path().join("root")).unwrap();
        host.history_size = 5;
        let job = bundle::install(
            &host.layout,
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
        let b = PyBench {
            script: src.join("run.py"),
            _dir: dir,
            job,
            runner,
            rt,
        };
        b.run_in_process(); // pre-initialise or load the cached guest once
        Some(b)
    }

    fn run_in_process(&self) {
        let req = RunRequest {
            job: self.job.clone(),
            trigger: "External - bench".into(),
            args: Vec::new(),
            echo: None,
            stop: StopSignal::default(),
        };
        let report = self.rt.block_on(self.runner.run(req)).unwrap();
        assert_eq!(report.status, wasmjobs::store::run::RunStatus::Success);
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

    fn run_native(&self, python: &std::path::Path) {
        let out = Command::new(python)
            .arg(&self.script)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.starts_with(b"hello, world"));
    }

    /// Native interpreters to compare with, labelled with their versions.
    fn natives(&self) -> Vec<(String, std::path::PathBuf)> {
        let mut v = Vec::new();
        let files = wasmjobs::runtime::Guest::Python.files().ok().flatten();
        let same =
            files.and_then(|f| std::fs::read_to_string(f.dir.join("native-python.txt")).ok());
        match same
            .map(|p| std::path::PathBuf::from(p.trim()))
            .filter(|p| p.is_file())
        {
            Some(p) => v.push(("native-cpython-3.13.5-same-source".to_string(), p)),
            None => eprintln!(
                "SKIPPED same-version native CPython baseline: the guest build's native python is gone"
            ),
        }
        // Debian's own python3 (not a version-manager shim, which adds its own start-up).
        let system = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| Command::new(p).arg("--version").output().is_ok());
        match system.map(|p| (p, Command::new(p).arg("--version").output())) {
            Some((p, Ok(o))) if o.status.success() => {
                let ver = String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .replace(' ', "-")
                    .to_lowercase();
                v.push((format!("system-{ver}"), p.into()));
            }
            _ => eprintln!("SKIPPED python3 baseline: python3 is not installed"),
        }
        v
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = run_start, run_start_python, cpu_loop_python
}
criterion_main!(benches);
