//! Every run limit, enforced by the host on real guests: the run ends
//! `Failed` with a `SYS ERR` line naming the limit and its value.

mod common;
use common::*;

fn status_of(env: &Env, name: &str) -> serde_json::Value {
    let id = env.history(name)[0]["id"].as_str().unwrap().to_string();
    serde_json::from_slice(&std::fs::read(env.data_dir(name).join(id).join("status")).unwrap())
        .unwrap()
}

#[test]
fn infinite_loop_is_ended_by_the_timeout() {
    let env = Env::new();
    env.deploy_js(
        "spin",
        "while (true) {}",
        Some(r#"{"limits": {"timeout_s": 2}}"#),
    );
    let out = env.run(&["run", "spin"]).fails();
    assert_eq!(out.code(), Some(1));
    let log = env.latest_log("spin");
    assert!(
        log.contains("SYS ERR ] Job was stopped: timeout after 2 s (limits.timeout_s)."),
        "{log}"
    );
    let st = status_of(&env, "spin");
    assert_eq!(st["Status"], "Failed");
    assert_eq!(st["Limit"], "timeout");
}

#[test]
fn host_default_timeout_applies_without_settings() {
    let env = Env::new();
    env.deploy_js("spin2", "for (;;) { Math.sqrt(2); }", None);
    env.run(&["--timeout-s", "1", "run", "spin2"]).fails();
    assert!(env.latest_log("spin2").contains("timeout after 1 s"));
}

#[test]
fn timeout_also_ends_a_guest_blocked_in_a_host_call() {
    let env = Env::new();
    env.deploy_js(
        "sleeper",
        "import * as os from 'os'; os.sleep(600000);",
        Some(r#"{"limits": {"timeout_s": 1}}"#),
    );
    env.run(&["run", "sleeper"]).fails();
    assert!(env.latest_log("sleeper").contains("timeout after 1 s"));
}

#[test]
fn four_gib_allocation_is_stopped_by_the_memory_cap() {
    let env = Env::new();
    let script = "const keep = []; for (let i = 0; i < 64; i++) { keep.push(new Uint8Array(64 * 1024 * 1024).fill(1)); } console.log('allocated 4 GiB');";
    env.deploy_js("hog", script, Some(r#"{"limits": {"memory_mb": 128}}"#));
    let out = env.run(&["run", "hog"]).fails();
    assert!(!out.stdout().contains("allocated 4 GiB"));
    let log = env.latest_log("hog");
    assert!(
        log.contains("SYS ERR ] Job was stopped: memory limit 128 MiB reached (limits.memory_mb)."),
        "{log}"
    );
    assert_eq!(status_of(&env, "hog")["Limit"], "memory");
    // One big allocation too.
    env.deploy_js(
        "hog1",
        "const a = new ArrayBuffer(2 ** 31 - 1); console.log('got it');",
        None,
    );
    let out = env.run(&["--memory-mb", "64", "run", "hog1"]).fails();
    assert!(!out.stdout().contains("got it"));
    assert!(env.latest_log("hog1").contains("memory limit 64 MiB"));
}

#[test]
fn output_flood_is_capped_keeping_head_and_tail() {
    let env = Env::new();
    // 1,000,000 lines of 100 bytes: 100 MB of output.
    let script = "const pad = 'x'.repeat(92); for (let i = 0; i < 1000000; i++) console.log(String(i).padStart(7, '0') + pad);";
    env.deploy_js("flood", script, Some(r#"{"limits": {"output_kb": 2048}}"#));
    let out = env.run(&["run", "flood"]).ok();
    assert!(out.stdout().len() < 3 << 20);
    let log_path = {
        let id = env.history("flood")[0]["id"].as_str().unwrap().to_string();
        env.data_dir("flood").join(id).join("output_log.txt")
    };
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
fn fuel_exhaustion_ends_the_run() {
    let env = Env::new();
    env.deploy_js(
        "burner",
        "let i = 0; while (true) { i++; }",
        Some(r#"{"limits": {"fuel": 50000000}}"#),
    );
    env.run(&["run", "burner"]).fails();
    let log = env.latest_log("burner");
    assert!(
        log.contains(
            "SYS ERR ] Job was stopped: fuel exhausted after 50000000 units (limits.fuel)."
        ),
        "{log}"
    );
    let st = status_of(&env, "burner");
    assert_eq!(st["Limit"], "fuel");
    assert_eq!(st["FuelConsumed"], 50_000_000);
    // Enough fuel: the same engine path succeeds and reports what it used.
    env.deploy_js(
        "frugal",
        "let s = 0; for (let i = 0; i < 1000; i++) s += i; console.log(s);",
        Some(r#"{"limits": {"fuel": 500000000}}"#),
    );
    env.run(&["run", "frugal"]).ok();
    let used = status_of(&env, "frugal")["FuelConsumed"].as_u64().unwrap();
    assert!(used > 0 && used < 500_000_000);
}

#[test]
fn silent_idle_job_is_ended_by_the_idle_timeout() {
    let env = Env::new();
    env.deploy_js(
        "quiet",
        "import * as os from 'os'; console.log('start'); os.sleep(600000);",
        Some(r#"{"limits": {"idle_timeout_s": 1}}"#),
    );
    env.run(&["run", "quiet"]).fails();
    let log = env.latest_log("quiet");
    assert!(
        log.contains("no output nor CPU activity for 1 seconds"),
        "{log}"
    );
    assert_eq!(status_of(&env, "quiet")["Limit"], "idle");
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
    assert!(log.contains("SYS ERR ]"), "{log}");
    assert!(log.contains("Status changed to Failed"), "{log}");
}
