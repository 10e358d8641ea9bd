//! Two tenants on one `wasmjobs serve`: one tenant's spinning guests do not
//! slow the other's runs or API down beyond a ratio of their idle speed,
//! and one tenant's continuous jobs cannot take every WebAssembly slot.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::http::{Server, basic, get, start_with, upload, wait_run};

/// The tests measure latency: one at a time, so neither loads the other's.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Samples per measurement (the median is compared).
const SAMPLES: usize = 15;

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One run of `name`, from `POST .../run` until its record says it ended
/// (polled every millisecond: coarser polling would round a run of a few
/// milliseconds up to its own step); asserts it succeeded.
fn timed_run(s: &Server, auth: &str, name: &str) -> Duration {
    let t = Instant::now();
    let (code, id, body, _) = common::http::run(s, auth, name);
    assert_eq!(code, 202, "run of {name}: {body}");
    let path = format!("/api/triggeredwebjobs/{name}/history/{id}");
    loop {
        let (code, body) = get(s, &path, Some(auth));
        assert_eq!(code, 200, "{body}");
        let r = json(&body);
        if !matches!(r["status"].as_str(), Some("Running" | "Initializing")) {
            let took = t.elapsed();
            assert_eq!(r["status"], "Success", "{r}");
            return took;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "{name} never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The median of `SAMPLES` runs of `name`.
fn run_latency(s: &Server, auth: &str, name: &str) -> Duration {
    median((0..SAMPLES).map(|_| timed_run(s, auth, name)).collect())
}

/// The median time `GET /api/triggeredwebjobs` takes.
fn api_latency(s: &Server, auth: &str) -> Duration {
    median(
        (0..SAMPLES * 3)
            .map(|_| {
                let t = Instant::now();
                let (code, body) = get(s, "/api/triggeredwebjobs", Some(auth));
                assert_eq!(code, 200, "{body}");
                t.elapsed()
            })
            .collect(),
    )
}

/// Tenants `a` and `b` with their credentials, `a` allowed many runs.
fn two_tenants(env: &Env, quotas: &str) -> (String, String) {
    let a = env.add_tenant("a");
    let b = env.add_tenant("b");
    std::fs::write(env.root().join("quotas.toml"), quotas).unwrap();
    (basic("a", &a), basic("b", &b))
}

#[test]
fn spinning_guests_of_one_tenant_do_not_slow_another_tenant_down() {
    let _one = serial();
    let env = Env::new();
    let (a, b) = two_tenants(&env, "[tenants.a]\nconcurrent_runs = 32\n");
    let s = start_with(&env, &[], &[]);
    upload(
        &s,
        &b,
        "triggered",
        "hellopy",
        &[("run.py", b"print('hello')")],
    );
    upload(
        &s,
        &b,
        "triggered",
        "hellojs",
        &[("run.js", b"console.log('hello');")],
    );
    // Warm both guests (first loads), then measure idle.
    timed_run(&s, &b, "hellopy");
    timed_run(&s, &b, "hellojs");
    let idle_py = run_latency(&s, &b, "hellopy");
    let idle_js = run_latency(&s, &b, "hellojs");
    let idle_api = api_latency(&s, &b);

    // Ten guests of tenant a that never stop on their own.
    let settings: &[u8] = br#"{"limits": {"timeout_s": 300, "idle_timeout_s": 300}}"#;
    for i in 0..10 {
        let name = format!("spin{i}");
        let files: [(&str, &[u8]); 2] = if i % 2 == 0 {
            [
                ("run.py", b"while True:\n    pass\n"),
                ("settings.job", settings),
            ]
        } else {
            [("run.js", b"for (;;) {}"), ("settings.job", settings)]
        };
        upload(&s, &a, "triggered", &name, &files);
        let (code, _, body, _) = common::http::run(&s, &a, &name);
        assert_eq!(code, 202, "{body}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let busy_py = run_latency(&s, &b, "hellopy");
    let busy_js = run_latency(&s, &b, "hellojs");
    let busy_api = api_latency(&s, &b);
    // The spinners are still running: the load lasted the whole measurement.
    for i in 0..10 {
        let (_, body) = get(
            &s,
            &format!("/api/triggeredwebjobs/spin{i}/history"),
            Some(&a),
        );
        assert_eq!(json(&body)["runs"][0]["status"], "Running", "spin{i}");
    }
    let ratio = |busy: Duration, idle: Duration| busy.as_secs_f64() / idle.as_secs_f64();
    let (py, js, api) = (
        ratio(busy_py, idle_py),
        ratio(busy_js, idle_js),
        ratio(busy_api, idle_api),
    );
    eprintln!(
        "tenant b beside ten spinning guests of tenant a: hello.py {idle_py:?} -> {busy_py:?} \
         ({py:.2}x), hello.js {idle_js:?} -> {busy_js:?} ({js:.2}x), API {idle_api:?} -> \
         {busy_api:?} ({api:.2}x)"
    );
    // The aim is 2x: on this project's 2-core machines the medians are
    // 1.5-1.9x (17-18x before the scheduler), but these runs last a few
    // milliseconds, and a tick or two of waiting for a place moves a
    // single measurement past 2x. The bound leaves room for that.
    assert!(py <= 3.0, "hello.py {py:.2}x slower beside the spinners");
    assert!(js <= 3.0, "hello.js {js:.2}x slower beside the spinners");
    assert!(api <= 5.0, "the API {api:.2}x slower beside the spinners");
}

/// A continuous job's status on this host and its log.
fn continuous(env: &Env, tenant: &str, name: &str) -> (String, String) {
    let dir = env
        .root()
        .join(format!("tenants/{tenant}/data/jobs/continuous/{name}"));
    let status = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("status_"))
        .and_then(|e| std::fs::read_to_string(e.path()).ok())
        // A status file being rewritten reads empty for a moment: the
        // caller looks again.
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| v["Status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let log = std::fs::read_to_string(dir.join("job_log.txt")).unwrap_or_default();
    (status, log)
}

#[test]
fn continuous_jobs_cannot_take_every_wasm_slot() {
    let _one = serial();
    let env = Env::new();
    // 8 slots, 2 kept for triggered runs. Tenant c has the defaults (a
    // quarter: 2 guests, 2 continuous jobs), tenant a may run 8 of each,
    // tenant b one guest at a time.
    let (a, b) = two_tenants(
        &env,
        "[tenants.a]\ncontinuous_jobs = 8\nwasm_slots = 8\n[tenants.b]\nwasm_slots = 1\n",
    );
    let c = basic("c", &env.add_tenant("c"));
    let s = start_with(
        &env,
        &["--wasm-slots", "8", "--triggered-reserve", "2"],
        &[],
    );
    let idle: &[u8] = b"import time\nprint('up', flush=True)\nwhile True:\n    time.sleep(1)\n";
    let settle = |tenant: &str, n: usize, up: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let states: Vec<(String, String)> = (0..n)
                .map(|i| continuous(&env, tenant, &format!("idle{i}")))
                .collect();
            let running = states.iter().filter(|(_, l)| l.contains("up")).count();
            let refused: Vec<&str> = states
                .iter()
                .filter(|(s, _)| s == "PendingRestart")
                .map(|(_, l)| l.as_str())
                .collect();
            if running == up && refused.len() == n - up {
                return refused.concat();
            }
            assert!(Instant::now() < deadline, "{states:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    for i in 0..3 {
        upload(
            &s,
            &c,
            "continuous",
            &format!("idle{i}"),
            &[("run.py", idle)],
        );
    }
    let refusals = settle("c", 3, 2);
    assert!(
        refusals
            .contains("tenant 'c' already has 2 continuous jobs running (quota continuous_jobs)"),
        "{refusals}"
    );
    assert!(
        refusals.contains("Process went down, waiting for"),
        "{refusals}"
    );
    // Tenant a has room in its quota, but continuous jobs may hold 6 slots.
    for i in 0..5 {
        upload(
            &s,
            &a,
            "continuous",
            &format!("idle{i}"),
            &[("run.py", idle)],
        );
    }
    let refusals = settle("a", 5, 4);
    assert!(refusals.contains("--triggered-reserve"), "{refusals}");
    assert!(
        !serve_log_has_pool_error(&env),
        "a guest reached the pooling allocator's limit"
    );

    // Tenant b's triggered runs still start and succeed, up to its quota.
    upload(
        &s,
        &b,
        "triggered",
        "hello",
        &[("run.py", b"print('hello')")],
    );
    for _ in 0..3 {
        let (code, id, body, _) = common::http::run(&s, &b, "hello");
        assert_eq!(code, 202, "{body}");
        let r = wait_run(&s, &b, "hello", &id);
        assert_eq!(r["status"], "Success", "{r}");
    }
    let nap: &[u8] = b"import time\ntime.sleep(10)\n";
    for i in 0..2 {
        upload(&s, &b, "triggered", &format!("nap{i}"), &[("run.py", nap)]);
    }
    let (code, id, body, _) = common::http::run(&s, &b, "nap0");
    assert_eq!(code, 202, "{body}");
    let (code, _, body, _) = common::http::run(&s, &b, "nap1");
    assert_eq!(code, 429, "{body}");
    assert!(
        body.contains("tenant 'b' already has 1 wasm runs in progress (quota wasm_slots)"),
        "{body}"
    );
    let r = wait_run(&s, &b, "nap0", &id);
    assert_eq!(r["status"], "Success", "{r}");
    assert!(!serve_log_has_pool_error(&env));
}

/// Whether any run log or serve's own output mentions the pooling
/// allocator's limit.
fn serve_log_has_pool_error(env: &Env) -> bool {
    common::http::serve_stderr(env).contains("maximum concurrent limit")
        || common::tree(&env.root()).iter().any(|p| {
            p.ends_with(".txt")
                && std::fs::read_to_string(env.root().join(p))
                    .is_ok_and(|t| t.contains("maximum concurrent limit"))
        })
}
