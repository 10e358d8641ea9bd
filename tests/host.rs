//! `wasmjobs serve` as a hosting operator runs it, through the real binary
//! on 127.0.0.1: the default tenant, every tenant's schedules, live output,
//! metrics, quotas (TOML), 429s, request limits, credentials on every route
//! and the dashboard's session cookie.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::*;
use common::{Env, zip_bytes};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Tenants `acme` and `beta`; their Basic credentials.
fn acme_and_beta(env: &Env) -> (String, String) {
    let a = basic("acme", &env.add_tenant("acme"));
    (a, basic("beta", &env.add_tenant("beta")))
}

/// The `Cookie:` header line a login response's `Set-Cookie` asks for.
fn session_cookie(head: &str) -> String {
    let set = header_value(head, "set-cookie").expect("a session cookie");
    format!("Cookie: {}\r\n", set.split(';').next().unwrap())
}

/// A metric's value in Prometheus text, or 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn serve_makes_a_default_tenant_and_runs_its_schedules() {
    let env = Env::new();
    let s = start_with(&env, &["--change-debounce-ms", "200"], &[]);
    let err = serve_stderr(&env);
    assert!(err.contains("made tenant 'default'"), "{err}");
    let secret = err
        .lines()
        .skip_while(|l| !l.contains("shown once"))
        .nth(1)
        .expect("the secret is printed")
        .trim()
        .to_string();
    let auth = basic("default", &secret);
    assert_eq!(get(&s, "/api/webjobs", Some(&auth)).0, 200);

    // A scheduled job uploaded through the API runs on its schedule.
    upload(
        &s,
        &auth,
        "triggered",
        "tick",
        &[
            ("run.js", b"console.log('tick');"),
            ("settings.job", br#"{"schedule": "*/1 * * * * *"}"#),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let (code, body) = get(&s, "/api/triggeredwebjobs/tick/history", Some(&auth));
        if code == 200 {
            let runs = json(&body)["runs"].as_array().unwrap().clone();
            let done = runs.iter().filter(|r| r["status"] == "Success").count();
            if done >= 2 {
                break runs;
            }
        }
        assert!(Instant::now() < deadline, "the schedule never ran twice");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        runs.iter()
            .all(|r| r["trigger"].as_str().unwrap().starts_with("Schedule - ")),
        "{runs:?}"
    );
    let (code, job) = get(&s, "/api/triggeredwebjobs/tick", Some(&auth));
    assert_eq!(code, 200);
    assert!(
        json(&job)["wasmjobs"]["next_run"].is_string(),
        "the next run is shown: {job}"
    );

    // The tenant's metrics count them; the scheduler's lag is measured.
    let (code, text) = get(&s, "/metrics", Some(&auth));
    assert_eq!(code, 200);
    assert!(
        metric(
            &text,
            "wasmjobs_runs_total{tenant=\"default\",status=\"Success\"}"
        ) >= 2.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "wasmjobs_scheduler_lag_seconds_count{tenant=\"default\"}"
        ) >= 2.0
    );
    assert!(
        metric(
            &text,
            "wasmjobs_run_duration_seconds_count{tenant=\"default\"}"
        ) >= 2.0
    );
    assert!(text.contains("# TYPE wasmjobs_queue_depth gauge"), "{text}");

    // A second start does not make another tenant or print a secret.
    drop(s);
    let _s = start_with(&env, &[], &[]);
    assert!(!serve_stderr(&env).contains("shown once"));
}

#[test]
fn a_run_output_is_followed_live_and_read_from_any_offset() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let a = basic("acme", &secret);
    let s = start(&env);
    upload(
        &s,
        &a,
        "triggered",
        "slow",
        &[(
            "run.py",
            b"import time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.4)\n",
        )],
    );
    let (code, id, body, _) = run(&s, &a, "slow");
    assert_eq!(code, 202, "{body}");

    // Follow: the first line arrives while the run is still going, the
    // stream ends after the run has ended, with every line.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "GET /api/triggeredwebjobs/slow/history/{id}/output?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {a}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut running_when_first_line = None;
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if running_when_first_line.is_none() && String::from_utf8_lossy(&got).contains("line 0") {
            let (_, r) = get(
                &s,
                &format!("/api/triggeredwebjobs/slow/history/{id}"),
                Some(&a),
            );
            running_when_first_line = Some(json(&r)["status"] == "Running");
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{text}"
    );
    assert_eq!(
        running_when_first_line,
        Some(true),
        "the first line came only after the run: {text}"
    );
    for i in 0..5 {
        assert!(text.contains(&format!("line {i}")), "{text}");
    }
    assert!(text.contains("Status changed to Success"), "{text}");
    let run = wait_run(&s, &a, "slow", &id);
    assert_eq!(run["status"], "Success");
    assert!(
        run["wasmjobs"]["output_stream_url"]
            .as_str()
            .unwrap()
            .ends_with("/output?follow=1")
    );

    // From an offset: the rest of the log, and where it starts.
    let full = output(&s, &a, &run);
    let at = full.find("line 3").unwrap();
    let (code, head, rest) = request(
        &s,
        "GET",
        &format!("/api/triggeredwebjobs/slow/history/{id}/output?offset={at}"),
        Some(&a),
        "",
    );
    assert_eq!(code, 200);
    assert_eq!(
        header_value(&head, "x-output-offset").as_deref(),
        Some(&*at.to_string())
    );
    assert_eq!(rest, full[at..]);
    // Another tenant's run is not there for anyone else.
    let other = env.add_tenant("beta");
    let (code, _) = get(
        &s,
        &format!("/api/triggeredwebjobs/slow/history/{id}/output?follow=1"),
        Some(&basic("beta", &other)),
    );
    assert_eq!(code, 404);
}

#[test]
fn quotas_bound_runs_bytes_history_and_limits() {
    let env = Env::new();
    let (a, b) = acme_and_beta(&env);
    std::fs::write(
        env.root().join("quotas.toml"),
        "[default]\nconcurrent_runs = 5\n\n[tenants.acme]\nconcurrent_runs = 1\njob_bytes_mb = 1\nhistory_size = 2\nmax_timeout_s = 5\n",
    )
    .unwrap();
    let s = start(&env);
    upload(
        &s,
        &a,
        "triggered",
        "slow",
        &[("run.py", b"import time\ntime.sleep(2)\n")],
    );
    upload(
        &s,
        &a,
        "triggered",
        "quick",
        &[
            ("run.js", b"console.log('quick');"),
            ("settings.job", br#"{"limits": {"timeout_s": 100}}"#),
        ],
    );
    upload(
        &s,
        &b,
        "triggered",
        "quick",
        &[("run.js", b"console.log('b');")],
    );

    // acme may have one run in flight: a second is a 429 with Retry-After.
    let (code, slow_id, body, _) = run(&s, &a, "slow");
    assert_eq!(code, 202, "{body}");
    let (code, _, body, head) = run(&s, &a, "quick");
    assert_eq!(code, 429, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("concurrent_runs"),
        "{body}"
    );
    assert_eq!(header_value(&head, "retry-after").as_deref(), Some("5"));
    // beta's quota is its own.
    let (code, id, body, _) = run(&s, &b, "quick");
    assert_eq!(code, 202, "{body}");
    wait_run(&s, &b, "quick", &id);
    wait_run(&s, &a, "slow", &slow_id);

    // The job's limits are clamped to the quota and the log says so.
    let mut last = String::new();
    for _ in 0..3 {
        let (code, id, body, _) = run(&s, &a, "quick");
        assert_eq!(code, 202, "{body}");
        let run = wait_run(&s, &a, "quick", &id);
        assert_eq!(run["status"], "Success");
        last = output(&s, &a, &run);
    }
    assert!(
        last.contains("limits.timeout_s = 100 is above tenant 'acme' quota's maximum 5; using 5"),
        "{last}"
    );
    // history_size = 2: older runs are pruned.
    let (_, h) = get(&s, "/api/triggeredwebjobs/quick/history", Some(&a));
    assert_eq!(json(&h)["runs"].as_array().unwrap().len(), 2, "{h}");

    // job_bytes_mb = 1: a bigger job is refused whole, with the reason.
    let big = vec![b'x'; 1536 << 10];
    let (code, body) = put_raw(
        &s,
        "/api/triggeredwebjobs/big",
        &a,
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=run.sh\r\n",
        &big,
    );
    assert_eq!(code, 413, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("job_bytes_mb"),
        "{body}"
    );
    let zipped = zip_bytes(&[("run.js", b"1"), ("data.bin", &big)]);
    let (code, body) = put_raw(
        &s,
        "/api/triggeredwebjobs/big",
        &a,
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\n",
        &zipped,
    );
    assert_eq!(code, 413, "{body}");
    assert_eq!(get(&s, "/api/triggeredwebjobs/big", Some(&a)).0, 404);
    // beta (no byte quota) may.
    let (code, body) = put_raw(
        &s,
        "/api/triggeredwebjobs/big",
        &b,
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\n",
        &zipped,
    );
    assert_eq!(code, 200, "{body}");

    // A bad quota file is refused at start, naming the key.
    std::fs::write(
        env.root().join("quotas.toml"),
        "[default]\nconcurent_runs = 5\n",
    )
    .unwrap();
    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]).fails();
    assert!(out.stderr().contains("concurent_runs"), "{}", out.stderr());
}

#[test]
fn every_route_needs_credentials_and_sessions_need_the_dashboard_header() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let a = basic("acme", &secret);
    let other = env.add_tenant("beta");
    let s = start_with(&env, &[], &["--max-upload-mb", "1"]);
    upload(
        &s,
        &a,
        "triggered",
        "hello",
        &[("run.js", b"console.log('hi');")],
    );

    // Every documented route, without credentials: 401 (pages: the login
    // form), except /healthz and the login itself.
    let (code, doc) = get(&s, "/api/openapi.json", Some(&a));
    assert_eq!(code, 200);
    let doc = json(&doc);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut tried = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{kind}", "triggeredwebjobs")
            .replace("{name}", "hello")
            .replace("{id}", "1")
            .replace("{path}", "triggered/hello/x");
        for method in ops.as_object().unwrap().keys() {
            let (code, head, body) = request(&s, &method.to_uppercase(), &concrete, None, "");
            match path.as_str() {
                "/healthz" => assert_eq!(code, 200),
                "/dashboard/login" => assert_eq!(code, 400, "{body}"),
                p if p == "/" || p.starts_with("/dashboard") => {
                    assert_eq!(code, 401, "{method} {p}");
                    assert!(body.contains("id=\"login\""), "{body}");
                    assert!(header_value(&head, "www-authenticate").is_none());
                }
                p => {
                    assert_eq!(code, 401, "{method} {p}: {body}");
                    assert!(json(&body)["error"].is_string());
                    assert!(header_value(&head, "www-authenticate").is_some());
                }
            }
            tried += 1;
        }
    }
    assert!(tried >= 20, "{tried}");
    // Bearer tokens work like Basic.
    assert_eq!(
        get(&s, "/api/webjobs", Some(&format!("Bearer acme.{secret}"))).0,
        200
    );

    // The dashboard's login: a wrong secret is a 401, the right one a
    // session cookie (HttpOnly, SameSite=Strict).
    let login = |tenant: &str, secret: &str| {
        raw_request(
            &s,
            "POST",
            "/dashboard/login",
            "Content-Type: application/json\r\nX-Requested-With: wasmjobs\r\n",
            format!("{{\"tenant\":\"{tenant}\",\"secret\":\"{secret}\"}}").as_bytes(),
        )
    };
    assert_eq!(login("acme", &other).0, 401);
    // A cross-site form cannot sign a visitor in (no header it could set).
    let forged = raw_request(
        &s,
        "POST",
        "/dashboard/login",
        "Content-Type: text/plain\r\n",
        format!("{{\"tenant\":\"acme\",\"secret\":\"{secret}\"}}").as_bytes(),
    );
    assert_eq!(forged.0, 400, "{}", forged.2);
    assert!(header_value(&forged.1, "set-cookie").is_none());
    let (code, head, _) = login("acme", &secret);
    assert_eq!(code, 200);
    let set = header_value(&head, "set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = session_cookie(&head);
    let (code, _, page) = raw_request(&s, "GET", "/dashboard/", &cookie, b"");
    assert_eq!(code, 200);
    assert!(page.contains("<b>acme</b>"), "{page}");
    let (code, _, jobs) = raw_request(&s, "GET", "/api/webjobs", &cookie, b"");
    assert_eq!(code, 200);
    assert_eq!(json(&jobs)[0]["name"], "hello");
    // Acting with the cookie needs the dashboard's header (no cross-site
    // form can act for a signed-in user).
    let (code, _, body) = raw_request(&s, "POST", "/api/triggeredwebjobs/hello/run", &cookie, b"");
    assert_eq!(code, 403, "{body}");
    let with = format!("{cookie}X-Requested-With: wasmjobs\r\n");
    let (code, _, body) = raw_request(&s, "POST", "/api/triggeredwebjobs/hello/run", &with, b"");
    assert_eq!(code, 202, "{body}");
    // beta's session sees beta's jobs only.
    let (_, head, _) = login("beta", &other);
    let beta_cookie = session_cookie(&head);
    let (_, _, jobs) = raw_request(&s, "GET", "/api/webjobs", &beta_cookie, b"");
    assert_eq!(json(&jobs), serde_json::json!([]));
    // Signing out ends the session.
    let (code, _, _) = raw_request(&s, "POST", "/dashboard/logout", &with, b"");
    assert_eq!(code, 200);
    assert_eq!(raw_request(&s, "GET", "/api/webjobs", &cookie, b"").0, 401);

    // The upload cap (--max-upload-mb 1): 413, nothing installed.
    let (code, _) = put_raw(
        &s,
        "/api/triggeredwebjobs/huge",
        &a,
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=huge.zip\r\n",
        &vec![0u8; 2 << 20],
    );
    assert_eq!(code, 413);
    assert_eq!(get(&s, "/api/triggeredwebjobs/huge", Some(&a)).0, 404);
    // A name that is a path (encoded slashes) is refused before anything
    // is read or written.
    let (code, body) = put_raw(
        &s,
        "/api/triggeredwebjobs/..%2F..%2F..%2Fbeta%2Fjobs",
        &a,
        "Content-Disposition: attachment; filename=run.sh\r\n",
        b"echo hi",
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("invalid job name"),
        "{body}"
    );
    // Rejections made before a handler runs are JSON too.
    let (code, body) = get(
        &s,
        "/api/triggeredwebjobs/hello/history/1/output?offset=many",
        Some(&a),
    );
    assert_eq!(code, 400);
    assert!(json(&body)["error"].is_string(), "{body}");
    let (code, body) = get(&s, "/api/triggeredwebjobs/hello/run", Some(&a));
    assert_eq!(code, 405);
    assert!(json(&body)["error"].is_string(), "{body}");
    // Bad input is a JSON error, never a 500.
    let (code, body) = put_raw(
        &s,
        "/api/triggeredwebjobs/hello/settings",
        &a,
        "Content-Type: application/json\r\n",
        b"[1,2]",
    );
    assert_eq!(code, 400);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
    let (code, _, body) = request(&s, "POST", "/api/triggeredwebjobs/nope/run", Some(&a), "");
    assert_eq!(code, 404);
    assert!(json(&body)["error"].as_str().unwrap().contains("nope"));
    assert_eq!(get(&s, "/api/nosuchwebjobs", Some(&a)).0, 404);

    // A new secret ends the old one and its sessions at once (no grace
    // from remembered checks).
    let (_, head, _) = login("acme", &secret);
    let cookie = session_cookie(&head);
    assert_eq!(raw_request(&s, "GET", "/api/webjobs", &cookie, b"").0, 200);
    std::thread::sleep(Duration::from_millis(20));
    let new = env
        .run(&["tenant", "rotate", "acme"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    assert_eq!(get(&s, "/api/webjobs", Some(&a)).0, 401);
    assert_eq!(raw_request(&s, "GET", "/api/webjobs", &cookie, b"").0, 401);
    assert_eq!(get(&s, "/api/webjobs", Some(&basic("acme", &new))).0, 200);
}

#[test]
fn a_request_that_takes_too_long_is_answered_503() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let s = start_with(&env, &[], &["--request-timeout-s", "1"]);
    // An upload whose body never finishes arriving.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "PUT /api/triggeredwebjobs/slow HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Disposition: attachment; filename=run.js\r\nContent-Length: 1000\r\n\r\nconsole.log(1)",
        basic("acme", &secret)
    )
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("}") {
        let n = c
            .read(&mut buf)
            .expect("an answer before the client gives up");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("longer than 1 s"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 5"),
        "{text}"
    );
    drop(c);
    assert_eq!(
        get(
            &s,
            "/api/triggeredwebjobs/slow",
            Some(&basic("acme", &secret))
        )
        .0,
        404,
        "nothing was installed"
    );
}

#[test]
fn a_scheduled_run_is_stopped_through_the_api_and_not_by_another_tenant() {
    let env = Env::new();
    let (a, b) = acme_and_beta(&env);
    let s = start_with(&env, &["--change-debounce-ms", "200"], &[]);
    upload(
        &s,
        &a,
        "triggered",
        "long",
        &[
            (
                "run.py",
                b"import time\nprint('started', flush=True)\ntime.sleep(60)\n",
            ),
            (
                "settings.job",
                br#"{"schedule": "*/2 * * * * *", "stopping_wait_time": 1}"#,
            ),
        ],
    );
    // beta has a job of the same name: its history is its own.
    upload(
        &s,
        &b,
        "triggered",
        "long",
        &[("run.js", b"console.log(1);")],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (code, body) = get(&s, "/api/triggeredwebjobs/long/history", Some(&a));
        if code == 200 {
            let runs = json(&body)["runs"].clone();
            if runs[0]["status"] == "Running" {
                break runs[0]["id"].as_str().unwrap().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the schedule never started the run"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stop = format!("/api/triggeredwebjobs/long/history/{id}/stop");
    // Another tenant cannot stop it, even naming the same job and run.
    let (code, _, _) = request(&s, "POST", &stop, Some(&b), "");
    assert_eq!(code, 404);
    let (code, _, body) = request(&s, "POST", &stop, Some(&a), "");
    assert_eq!(code, 202, "{body}");
    let run = wait_run(&s, &a, "long", &id);
    assert_eq!(run["status"], "Stopped", "{run}");
    assert!(run["trigger"].as_str().unwrap().starts_with("Schedule - "));
}
