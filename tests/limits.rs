//! Every run limit, enforced by the host on real guests: the run ends
//! `Failed` with a `SYS ERR` line naming the limit and its value.

mod common;
use common::*;

/// Deploys `script` as `name`, runs it with extra host `flags`, and checks
/// that the run failed, was ended by `limit`, and logged `line`. Returns
/// the CLI's stdout.
#[track_caller]
fn assert_limit(
    env: &Env,
    name: &str,
    script: &str,
    settings: Option<&str>,
    flags: &[&str],
    limit: &str,
    line: &str,
) -> String {
    env.deploy_js(name, script, settings);
    let mut args = flags.to_vec();
    args.extend(["run", name]);
    let out = env.run(&args).fails();
    assert_eq!(out.code(), Some(1), "a limit is not an exit status");
    let log = env.latest_log(name);
    assert!(
        log.contains(&format!("SYS ERR ] {line}")),
        "expected {line:?} in:\n{log}"
    );
    assert!(
        log.trim_end().ends_with("Status changed to Failed"),
        "{log}"
    );
    let st = env.latest_status(name);
    assert_eq!(st["Status"], "Failed");
    assert_eq!(st["Limit"], limit);
    out.stdout()
}

#[test]
fn infinite_loop_is_ended_by_the_timeout() {
    let env = Env::new();
    let settings = Some(r#"{"limits": {"timeout_s": 2}}"#);
    let line = "Job was stopped: timeout after 2 s (limits.timeout_s).";
    assert_limit(
        &env,
        "spin",
        "while (true) {}",
        settings,
        &[],
        "timeout",
        line,
    );
    // The host default applies when the job sets nothing.
    let line = "Job was stopped: timeout after 1 s (limits.timeout_s).";
    assert_limit(
        &env,
        "spin2",
        "for (;;) { Math.sqrt(2); }",
        None,
        &["--timeout-s", "1"],
        "timeout",
        line,
    );
}

#[test]
fn timeout_also_ends_a_guest_blocked_in_a_host_call() {
    let env = Env::new();
    let script = "import * as os from 'os'; os.sleep(600000);";
    let settings = Some(r#"{"limits": {"timeout_s": 1}}"#);
    assert_limit(
        &env,
        "sleeper",
        script,
        settings,
        &[],
        "timeout",
        "Job was stopped: timeout after 1 s",
    );
}

#[test]
fn four_gib_allocation_is_stopped_by_the_memory_cap() {
    let env = Env::new();
    let script = "const keep = []; for (let i = 0; i < 64; i++) { keep.push(new Uint8Array(64 * 1024 * 1024).fill(1)); } console.log('allocated 4 GiB');";
    let settings = Some(r#"{"limits": {"memory_mb": 128}}"#);
    let line = "Job was stopped: memory limit 128 MiB reached (limits.memory_mb).";
    let out = assert_limit(&env, "hog", script, settings, &[], "memory", line);
    assert!(!out.contains("allocated 4 GiB"));
    // One big allocation, capped by the host default. (1 GiB: from 2 GiB
    // on, the guest's allocator refuses by itself, never asking the host.)
    let script = "const a = new ArrayBuffer(2 ** 30); console.log('got it');";
    let out = assert_limit(
        &env,
        "hog1",
        script,
        None,
        &["--memory-mb", "64"],
        "memory",
        "Job was stopped: memory limit 64 MiB",
    );
    assert!(!out.contains("got it"));
}

#[test]
fn output_flood_is_capped_keeping_head_and_tail() {
    let env = Env::new();
    // 1,000,000 lines of 100 bytes: 100 MB of output.
    let script = "const pad = 'x'.repeat(92); for (let i = 0; i < 1000000; i++) console.log(String(i).padStart(7, '0') + pad);";
    env.deploy_js("flood", script, Some(r#"{"limits": {"output_kb": 2048}}"#));
    let out = env.run(&["run", "flood"]).ok();
    assert!(out.stdout().len() < 3 << 20);
    let log_path = env.latest_run_dir("flood").join("output_log.txt");
    let size = std::fs::metadata(&log_path).unwrap().len();
    assert!(size < 4 << 20, "log is capped: {size} bytes");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("INFO] 0000000xxx"), "head kept");
    assert!(log.contains("INFO] 0999999xxx"), "tail kept");
    assert!(!log.contains("INFO] 0500000xxx"), "middle dropped");
    assert!(
        log.contains("Output exceeds the limit of 2048 KiB"),
        "cap announced"
    );
    let note = log
        .lines()
        .find(|l| l.contains("were dropped"))
        .expect("drop note");
    let dropped: u64 = note
        .split("Output limit: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dropped > 95_000_000, "{note}");
    assert!(log.trim_end().ends_with("Status changed to Success"));
}

#[test]
fn empty_lines_count_against_the_output_cap() {
    let env = Env::new();
    let script = "for (let i = 0; i < 2000000; i++) console.log('');";
    env.deploy_js("blank", script, Some(r#"{"limits": {"output_kb": 1024}}"#));
    env.run(&["run", "blank"]).ok();
    let size = std::fs::metadata(env.latest_run_dir("blank").join("output_log.txt"))
        .unwrap()
        .len();
    assert!(
        size < 2 << 20,
        "2 million empty lines are capped too: {size} bytes"
    );
}

#[test]
fn host_maximums_bind_what_a_job_asks_for() {
    let env = Env::new();
    let script = "const keep = []; for (let i = 0; i < 16; i++) keep.push(new Uint8Array(16 << 20).fill(1)); console.log('256 MiB');";
    let settings = Some(r#"{"limits": {"memory_mb": 1024, "fuel": 18446744073709551615}}"#);
    let line = "Job was stopped: memory limit 64 MiB reached (limits.memory_mb).";
    assert_limit(
        &env,
        "greedy",
        script,
        settings,
        &["--max-memory-mb", "64"],
        "memory",
        line,
    );
    let log = env.latest_log("greedy");
    assert!(
        log.contains("SYS WARN] limits.memory_mb = 1024 is above the host's maximum 64; using 64"),
        "{log}"
    );
    // A host fuel maximum meters every run, whatever the job asks.
    let line = "Job was stopped: fuel exhausted after 1000000 units (limits.fuel).";
    assert_limit(
        &env,
        "greedy2",
        "while (true) {}",
        settings,
        &["--max-fuel", "1000000"],
        "fuel",
        line,
    );
}

#[test]
fn fuel_exhaustion_ends_the_run() {
    let env = Env::new();
    let settings = Some(r#"{"limits": {"fuel": 50000000}}"#);
    let line = "Job was stopped: fuel exhausted after 50000000 units (limits.fuel).";
    assert_limit(
        &env,
        "burner",
        "let i = 0; while (true) { i++; }",
        settings,
        &[],
        "fuel",
        line,
    );
    assert_eq!(env.latest_status("burner")["FuelConsumed"], 50_000_000);
    // Enough fuel: the same engine path succeeds and reports what it used.
    let script = "let s = 0; for (let i = 0; i < 1000; i++) s += i; console.log(s);";
    env.deploy_js("frugal", script, Some(r#"{"limits": {"fuel": 500000000}}"#));
    env.run(&["run", "frugal"]).ok();
    let used = env.latest_status("frugal")["FuelConsumed"]
        .as_u64()
        .unwrap();
    assert!(used > 0 && used < 500_000_000);
}

#[test]
fn a_run_logs_its_settings_warning_and_its_fuel_once() {
    let env = Env::new();
    let settings = r#"{"limits": {"fuel": 500000000}, "stopping_wait_time": 60.0}"#;
    env.deploy_js("counted", "console.log('hi');", Some(settings));
    let warning = env.listed("counted", "error");
    assert!(warning.contains("stopping_wait_time"), "{warning}");
    env.run(&["run", "counted"]).ok();
    let log = env.latest_log("counted");
    assert_eq!(log.matches("Fuel consumed: ").count(), 1, "{log}");
    assert_eq!(log.matches("stopping_wait_time").count(), 1, "{log}");
}

#[test]
fn silent_idle_job_is_ended_by_the_idle_timeout() {
    let env = Env::new();
    let script = "import * as os from 'os'; console.log('start'); os.sleep(600000);";
    let settings = Some(r#"{"limits": {"idle_timeout_s": 1}}"#);
    assert_limit(
        &env,
        "quiet",
        script,
        settings,
        &[],
        "idle",
        "Command 'run.js' was aborted due to no output nor CPU activity for 1 seconds",
    );
    // A busy job that prints nothing is not idle: CPU progress counts.
    env.deploy_js(
        "busy",
        "const t = Date.now(); while (Date.now() - t < 2500) {} console.log('done');",
        None,
    );
    let out = env
        .cmd()
        .args(["run", "busy"])
        .env("WEBJOBS_IDLE_TIMEOUT", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn deep_recursion_fails_cleanly_and_the_host_survives() {
    let env = Env::new();
    env.deploy_js(
        "recur",
        "function f(n) { return f(n + 1) + 1; } f(0);",
        None,
    );
    env.run(&["run", "recur"]).fails();
    let log = env.latest_log("recur");
    assert!(
        log.contains("SYS ERR ] the guest overflowed its call stack"),
        "{log}"
    );
    assert!(log.contains("Status changed to Failed"), "{log}");
}
