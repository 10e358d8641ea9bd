//! Run records and history: pruning, one run at a time, and runs left
//! `Running` by a killed host reading back as `Aborted`.

mod common;
use common::*;

use std::time::{Duration, Instant};

#[test]
fn history_is_pruned_to_webjobs_history_size() {
    let env = Env::new();
    env.deploy_js("counted", "console.log('run')", None);
    for _ in 0..5 {
        env.cmd()
            .args(["run", "counted"])
            .env("WEBJOBS_HISTORY_SIZE", "3")
            .output()
            .unwrap();
    }
    let runs = env.history("counted");
    assert_eq!(runs.len(), 3);
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    // An app setting counts as it does in WebJobs.
    env.run(&["--app-setting", "WEBJOBS_HISTORY_SIZE=2", "run", "counted"])
        .ok();
    assert_eq!(env.history("counted").len(), 2);
    // The flag wins over the variable; an invalid variable means 50.
    env.run(&["--history-size", "1", "run", "counted"]).ok();
    assert_eq!(env.history("counted").len(), 1);
    for _ in 0..3 {
        env.cmd()
            .args(["run", "counted"])
            .env("WEBJOBS_HISTORY_SIZE", "zero")
            .output()
            .unwrap();
    }
    assert_eq!(env.history("counted").len(), 4);
}

#[test]
fn history_json_has_webjobs_run_fields() {
    let env = Env::new();
    env.deploy_js("fields", "console.log('x')", None);
    env.run(&["run", "fields"]).ok();
    let run = &env.history("fields")[0];
    let id = run["id"].as_str().unwrap();
    assert_eq!(id.len(), 18);
    assert_eq!(run["name"], id);
    assert_eq!(run["status"], "Success");
    assert_eq!(run["job_name"], "fields");
    assert_eq!(run["trigger"], "External - wasmjobs-cli");
    assert!(run["error_url"].is_null());
    assert!(run["start_time"].as_str().unwrap().ends_with('Z'));
    assert!(run["end_time"].as_str().unwrap().ends_with('Z'));
    assert!(run["duration"].as_str().unwrap().starts_with("00:00:"));
    assert_eq!(
        run["output_url"],
        format!("http://localhost:8080/vfs/data/jobs/triggered/fields/{id}/output_log.txt")
    );
    assert_eq!(
        run["url"],
        format!("http://localhost:8080/api/triggeredwebjobs/fields/history/{id}")
    );
    // The run's status file is WebJobs' PascalCase JSON.
    let st: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data_dir("fields").join(id).join("status")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["Status"], "Success");
    assert_eq!(st["Trigger"], "External - wasmjobs-cli");
    assert!(st["StartTime"].is_string() && st["EndTime"].is_string());
    // `logs` with an explicit id prints the same log.
    let by_id = env.run(&["logs", "fields", id]).ok().stdout();
    assert_eq!(by_id, env.latest_log("fields"));
    env.run(&["logs", "fields", "201901010000000000"]).fails();
}

/// Starts `run` in the background and waits until the run is `Running`.
/// The caller owns the child and waits for it.
#[allow(clippy::zombie_processes)]
fn start_running(env: &Env, name: &str) -> std::process::Child {
    let mut child = env
        .cmd()
        .args(["run", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = env.history(name);
        if runs.first().is_some_and(|r| r["status"] == "Running") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run never reached Running: {runs:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_run_at_a_time_and_killed_host_reads_as_aborted() {
    let env = Env::new();
    env.deploy_js(
        "long",
        "import * as os from 'os'; console.log('working'); os.sleep(60000);",
        None,
    );
    let mut child = start_running(&env, "long");

    let second = env.run(&["run", "long"]).fails();
    assert!(
        second
            .stderr()
            .contains("Cannot start a new run since job is already running."),
        "{}",
        second.stderr()
    );
    assert_eq!(
        env.history("long").len(),
        1,
        "the refused run records nothing"
    );

    // Kill the host process: the run's record still says Running.
    child.kill().unwrap();
    child.wait().unwrap();
    let id = env.history("long")[0]["id"].as_str().unwrap().to_string();
    let raw: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data_dir("long").join(&id).join("status")).unwrap(),
    )
    .unwrap();
    assert_eq!(raw["Status"], "Running", "nothing rewrote the file");
    let runs = env.history("long");
    assert_eq!(runs[0]["status"], "Aborted");
    assert!(
        env.latest_log("long").contains("INFO] working"),
        "output written before the crash is kept"
    );

    // The job can run again, and the old run stays Aborted.
    env.deploy_js("long", "console.log('quick')", None);
    env.run(&["run", "long"]).ok();
    let runs = env.history("long");
    assert_eq!(runs[0]["status"], "Success");
    assert_eq!(runs[1]["status"], "Aborted");
}

#[test]
fn interrupt_stops_the_run_gracefully() {
    let env = Env::new();
    // The job watches WEBJOBS_SHUTDOWN_FILE and exits cleanly when it appears.
    env.deploy_js(
        "stoppable",
        "import * as os from 'os'; import * as std from 'std';\n\
         const f = std.getenv('WEBJOBS_SHUTDOWN_FILE'); print('ready'); std.out.flush();\n\
         for (let i = 0; i < 600; i++) { if (os.stat(f)[1] === 0) { print('saw the shutdown file'); std.exit(0); } os.sleep(100); }",
        Some(r#"{"stopping_wait_time": 20}"#),
    );
    let child = start_running(&env, "stoppable");
    // Stop once the script runs (a stop while the guest loads ends the run
    // at once, before the job could watch anything).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.latest_log("stoppable").contains("] ready") {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let runs = env.history("stoppable");
    assert_eq!(runs[0]["status"], "Stopped");
    let log = env.latest_log("stoppable");
    assert!(log.contains("saw the shutdown file"), "{log}");
}

#[test]
fn a_second_interrupt_kills_a_job_that_ignores_the_shutdown_file() {
    let env = Env::new();
    env.deploy_js(
        "stubborn",
        "import * as os from 'os'; os.sleep(60000);",
        Some(r#"{"stopping_wait_time": 60}"#),
    );
    let child = start_running(&env, "stubborn");
    let started = std::time::Instant::now();
    // SAFETY: signals to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(env.history("stubborn")[0]["status"], "Stopped");
}
