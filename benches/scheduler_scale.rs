//! The scheduler at scale: `wasmjobs serve` over a root of N scheduled jobs
//! (default 10,000), measuring in one run
//! - the host's CPU use while every job waits for a far-off occurrence
//!   (goal: under 1 % of one core), and
//! - how late runs of a few every-second jobs start after their second
//!   (goal: within 10 ms), with the N jobs scheduled beside them.
//!
//! `cargo bench --bench scheduler_scale [-- JOBS]`. Jobs are written
//! straight into the root's jobs folder (as a deploy would leave them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn write_job(root: &Path, name: &str, schedule: &str) {
    let dir = root.join("jobs/triggered").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.js"), "console.log('tick')").unwrap();
    std::fs::write(
        dir.join("settings.job"),
        format!(r#"{{"schedule": "{schedule}"}}"#),
    )
    .unwrap();
}

fn main() {
    let jobs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for i in 0..jobs {
        // Every job fires once a day, at a second spread over the day.
        write_job(
            &root,
            &format!("idle{i}"),
            &format!("{} {} {} * * *", i % 60, (i / 60) % 60, (i / 3600 + 3) % 24),
        );
    }
    const TICKERS: usize = 5;
    let bin = env!("CARGO_BIN_EXE_wasmjobs");
    let run = |args: &[&str]| {
        let st = Command::new(bin)
            .arg("--root")
            .arg(&root)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    };
    run(&["prepare"]);
    let started = Instant::now();
    let mut serve = Command::new(bin)
        .arg("--root")
        .arg(&root)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every job is scheduled (each writes its scheduler log).
    let data = root.join("data/jobs/triggered");
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0) < jobs {
        assert!(Instant::now() < deadline, "the jobs were not all scheduled");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ready = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let window = Duration::from_secs(20);
    let t0 = cpu_ticks(serve.id());
    std::thread::sleep(window);
    let idle_cpu = (cpu_ticks(serve.id()) - t0) as f64 / hz / window.as_secs_f64() * 100.0;

    // Now a few every-second jobs beside the N waiting ones.
    for k in 0..TICKERS {
        write_job(&root, &format!("tick{k}"), "* * * * * *");
    }
    std::thread::sleep(Duration::from_secs(12));
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let _ = serve.wait();
    let mut late_ms: Vec<f64> = Vec::new();
    for k in 0..TICKERS {
        let out = Command::new(bin)
            .arg("--root")
            .arg(&root)
            .args(["history", &format!("tick{k}"), "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for r in v["runs"].as_array().unwrap() {
            let t: chrono::DateTime<chrono::Utc> =
                r["start_time"].as_str().unwrap().parse().unwrap();
            late_ms.push(f64::from(t.timestamp_subsec_micros()) / 1000.0);
        }
    }
    late_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| late_ms[((late_ms.len() - 1) as f64 * p) as usize];
    println!(
        "scheduled jobs: {jobs} (+{TICKERS} every-second jobs), all scheduled {ready:.1?} after start"
    );
    println!(
        "idle host CPU over {}s: {idle_cpu:.2} % of one core (goal < 1 %)",
        window.as_secs()
    );
    println!(
        "every-second runs: {} started, {:.1} ms median / {:.1} ms p95 / {:.1} ms max after their second (goal < 10 ms)",
        late_ms.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
}
