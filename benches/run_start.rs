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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = run_start
}
criterion_main!(benches);
