//! The host under load, through the real `wasmjobs serve`:
//!
//! - `throughput`: clients POST `.../run` for 32 hello.js jobs over
//!   keep-alive HTTP for 10 s (a job that is still running answers 409 and
//!   the client moves on to the next); reports accepted runs per second and
//!   checks that every accepted run has its record and ended `Success`.
//! - `idle`: 100 continuous jobs that sleep, as wasm guests in one `serve`,
//!   against the same 100 scripts as native `node` processes; reports the
//!   proportional set size (PSS) each side adds, and the ratio.
//!
//! `cargo bench --bench host_scale [-- throughput|idle]` (default: both).
//! Numbers only: nothing here asserts a timing.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, add_bench_tenant, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_wasmjobs");

fn wasmjobs(root: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("WASMJOBS_ROOT", root)
        .env_remove("WEBJOBS_HISTORY_SIZE");
    c
}

/// `wasmjobs tenant add bench`; returns the Basic credentials.
fn tenant(root: &Path) -> String {
    add_bench_tenant(wasmjobs(root))
}

fn write_job(root: &Path, kind: &str, name: &str, script: &str) {
    let dir = root.join("tenants/bench/jobs").join(kind).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.js"), script).unwrap();
}

struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn serve(root: &Path, extra: &[&str]) -> Serve {
    let port = free_port();
    let child = wasmjobs(root)
        .args(extra)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Serve { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Client::new(port, "").request("GET", "/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "serve never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn throughput() {
    const JOBS: usize = 32;
    const CLIENTS: usize = 8;
    const SECONDS: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let auth = tenant(&root);
    for i in 0..JOBS {
        write_job(
            &root,
            "triggered",
            &format!("hello-{i}"),
            "console.log('hello, world');\n",
        );
    }
    let s = serve(&root, &["--max-runs", "256"]);
    // One run of each first: the guest is compiled or loaded once.
    let mut warm = Client::new(s.port, &auth);
    for i in 0..JOBS {
        warm.request("POST", &format!("/api/triggeredwebjobs/hello-{i}/run"));
    }
    std::thread::sleep(Duration::from_secs(2));
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let counts: Vec<(u64, u64, u64)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let auth = auth.clone();
                sc.spawn(move || {
                    let mut cl = Client::new(s.port, &auth);
                    let (mut accepted, mut busy, mut other) = (0, 0, 0);
                    let mut j = c;
                    while Instant::now() < until {
                        let path = format!("/api/triggeredwebjobs/hello-{}/run", j % JOBS);
                        match cl.request("POST", &path).0 {
                            202 => accepted += 1,
                            409 | 429 => busy += 1,
                            _ => other += 1,
                        }
                        j += CLIENTS;
                    }
                    (accepted, busy, other)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let accepted: u64 = counts.iter().map(|c| c.0).sum();
    let busy: u64 = counts.iter().map(|c| c.1).sum();
    let other: u64 = counts.iter().map(|c| c.2).sum();
    // Every accepted run must end with its record: wait for the last ones.
    std::thread::sleep(Duration::from_secs(2));
    let mut recorded = 0;
    let mut failed = 0;
    let data = root.join("tenants/bench/data/jobs/triggered");
    for i in 0..JOBS {
        let Ok(entries) = std::fs::read_dir(data.join(format!("hello-{i}"))) else {
            continue;
        };
        for e in entries.flatten() {
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            if status.contains("\"Success\"") {
                recorded += 1;
            } else if !status.is_empty() {
                failed += 1;
            }
        }
    }
    println!(
        "throughput: {accepted} runs accepted in {elapsed:.1} s = {:.0} runs/s ({CLIENTS} clients, {JOBS} jobs; {busy} answered 409/429 because the job was running, {other} other answers)",
        accepted as f64 / elapsed
    );
    println!(
        "throughput: run records kept (history 50 per job): {recorded} Success, {failed} not Success"
    );
}

/// Sum of the proportional set sizes of these processes, in bytes.
fn pss(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

fn idle() {
    const N: usize = 100;
    const SCRIPT: &str = "setInterval(() => {}, 60000);\n";
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    tenant(&root);
    let s = serve(&root, &["--wasm-slots", "128"]);
    std::thread::sleep(Duration::from_secs(3));
    let base = pss(&[s.child.id()]);
    for i in 0..N {
        write_job(&root, "continuous", &format!("sleeper-{i}"), SCRIPT);
    }
    // The host picks the jobs up after its change debounce, then starts them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = root.join("tenants/bench/data/jobs/continuous");
    loop {
        let running = (0..N)
            .filter(|i| {
                std::fs::read_to_string(logs.join(format!("sleeper-{i}/job_log.txt"))).is_ok_and(
                    |l| l.contains("Status changed to Running") || l.contains("Run script"),
                )
            })
            .count();
        if running == N || Instant::now() > deadline {
            println!("idle: {running} of {N} continuous wasm jobs running");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let wasm = pss(&[s.child.id()]).saturating_sub(base);
    drop(s);

    let script = dir.path().join("sleeper.js");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut nodes: Vec<Child> = (0..N)
        .map(|_| {
            Command::new("node")
                .arg(&script)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("node")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    let pids: Vec<u32> = nodes.iter().map(|c| c.id()).collect();
    let native = pss(&pids);
    for n in &mut nodes {
        let _ = n.kill();
        let _ = n.wait();
    }
    println!(
        "idle: {N} sleeping continuous jobs: wasm guests add {:.1} MiB to the host ({:.2} MiB each); {N} node processes take {:.1} MiB ({:.2} MiB each); ratio {:.3}",
        mib(wasm),
        mib(wasm) / N as f64,
        mib(native),
        mib(native) / N as f64,
        wasm as f64 / native as f64
    );
}

fn main() {
    let what: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = what.is_empty();
    if all || what.iter().any(|w| w == "throughput") {
        throughput();
    }
    if all || what.iter().any(|w| w == "idle") {
        idle();
    }
}
