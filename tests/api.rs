//! The HTTP API's first slice, through the real `wasmjobs serve --listen`:
//! credentials on every route but `/healthz`, WebJobs' JSON for jobs and
//! history, output at the `vfs` URL the JSON names, and one tenant never
//! seeing another's jobs or files.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::http::*;

#[test]
fn tenants_see_their_own_jobs_through_webjobs_routes() {
    let env = Env::new();
    let acme = env.add_tenant("acme");
    let beta = env.add_tenant("beta");
    // A tenant's folder is a data root of its own.
    let acme_root = env.root().join("tenants/acme");
    let src = env.dir_bundle("hello", &[("run.js", "console.log('hello from acme')")]);
    let as_acme = |args: &[&str]| {
        common::Out(
            env.cmd()
                .env("WASMJOBS_ROOT", &acme_root)
                .args(args)
                .output()
                .unwrap(),
        )
    };
    as_acme(&["deploy", src.to_str().unwrap()]).ok();
    as_acme(&["run", "hello"]).ok();
    let server = start(&env);

    // Credentials on everything but /healthz.
    assert_eq!(get(&server, "/healthz", None).0, 200);
    assert_eq!(get(&server, "/api/webjobs", None).0, 401);
    assert_eq!(
        get(&server, "/api/webjobs", Some(&basic("acme", &beta))).0,
        401
    );
    assert_eq!(
        get(&server, "/api/webjobs", Some(&basic("nobody", "x"))).0,
        401
    );
    assert_eq!(
        get(&server, "/vfs/data/jobs/triggered/hello/x", None).0,
        401
    );

    // acme sees its job, in WebJobs' shape, with URLs from the request.
    let a = basic("acme", &acme);
    let (code, body) = get(&server, "/api/triggeredwebjobs", Some(&a));
    assert_eq!(code, 200, "{body}");
    let jobs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(jobs[0]["name"], "hello");
    assert_eq!(jobs[0]["run_command"], "run.js");
    let base = format!("http://127.0.0.1:{}", server.port);
    assert_eq!(
        jobs[0]["history_url"],
        format!("{base}/api/triggeredwebjobs/hello/history")
    );
    let (code, body) = get(&server, "/api/triggeredwebjobs/hello/history", Some(&a));
    assert_eq!(code, 200, "{body}");
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs["runs"][0]["status"], "Success");
    let output_url = runs["runs"][0]["output_url"].as_str().unwrap().to_string();
    let output_path = output_url.strip_prefix(&base).unwrap();
    let (code, log) = get(&server, output_path, Some(&a));
    assert_eq!(code, 200);
    assert!(log.contains("hello from acme"), "{log}");
    // Lists carry an ETag; the same one back is a 304.
    let (_, head, _) = request(&server, "GET", "/api/webjobs", Some(&a), "");
    let etag = header_value(&head, "etag").expect("an ETag");
    let conditional = format!("Authorization: {a}\r\nIf-None-Match: {etag}\r\n");
    let (code, _, _) = raw_request(&server, "GET", "/api/webjobs", &conditional, b"");
    assert_eq!(code, 304);
    // WebJobs' deprecated route aliases still work.
    for old in [
        "/api/triggeredjobs/hello",
        "/jobs/triggered/hello",
        "/api/jobs/triggered/hello",
    ] {
        let (code, body) = get(&server, old, Some(&a));
        assert!(
            code == 200 && body.contains("\"name\":\"hello\""),
            "{old}: {code} {body}"
        );
    }
    assert_eq!(get(&server, "/api/jobs", Some(&a)).0, 200);
    let bearer = format!("Bearer acme.{acme}");
    assert_eq!(get(&server, "/api/webjobs", Some(&bearer)).0, 200);

    // beta sees none of it, through any route.
    let b = basic("beta", &beta);
    let (code, body) = get(&server, "/api/webjobs", Some(&b));
    assert_eq!((code, body.trim()), (200, "[]"));
    assert_eq!(get(&server, "/api/triggeredwebjobs/hello", Some(&b)).0, 404);
    assert_eq!(
        get(&server, "/api/triggeredwebjobs/hello/history", Some(&b)).0,
        404
    );
    assert_eq!(get(&server, output_path, Some(&b)).0, 404);
    // And nobody walks out of the data folder.
    for path in [
        "/vfs/data/jobs/../../tenant.json",
        "/vfs/data/jobs/triggered/hello/%2e%2e/%2e%2e/%2e%2e/tenant.json",
        "/vfs/data/jobs/triggered/hello/job_data/../../../../tenant.json",
    ] {
        let (code, body) = get(&server, path, Some(&a));
        assert_ne!(code, 200, "{path}: {body}");
        assert!(!body.contains("argon2"), "{path}: {body}");
    }
    assert_eq!(get(&server, "/api/triggeredwebjobs/nope", Some(&a)).0, 404);
    let (code, body) = get(&server, "/api/triggeredwebjobs/nope", Some(&a));
    assert!(code == 404 && body.contains("\"error\""), "{body}");
}

#[test]
fn a_webjobs_client_flow_runs_polls_and_manages_jobs() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let other = env.add_tenant("beta");
    let root = env.root().join("tenants/acme");
    let deploy = |name: &str, files: &[(&str, &str)], t: &str| {
        let src = env.dir_bundle(name, files);
        common::Out(
            env.cmd()
                .env("WASMJOBS_ROOT", &root)
                .args(["deploy", src.to_str().unwrap(), "--type", t])
                .output()
                .unwrap(),
        )
        .ok();
    };
    deploy(
        "greet",
        &[(
            "run.js",
            "console.log('args: ' + scriptArgs.slice(1).join(','))",
        )],
        "triggered",
    );
    deploy(
        "slow",
        &[
            ("run.js", "import * as os from 'os'; os.sleep(3000);"),
            ("settings.job", r#"{"stopping_wait_time": 1}"#),
        ],
        "triggered",
    );
    deploy("daemon", &[("run.sh", "exec sleep 300")], "continuous");
    let server = start(&env);
    let a = basic("acme", &secret);

    // POST run → 202 + Location; poll it; read the output it names.
    let (code, head, _) = request(
        &server,
        "POST",
        "/api/triggeredwebjobs/greet/run?arguments=one%20two",
        Some(&a),
        "",
    );
    assert_eq!(code, 202, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .expect("a Location header");
    let base = format!("http://127.0.0.1:{}", server.port);
    let run_path = location.strip_prefix(&base).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let (code, body) = get(&server, &run_path, Some(&a));
        assert_eq!(code, 200, "{body}");
        let run: serde_json::Value = serde_json::from_str(&body).unwrap();
        if run["status"] == "Success" {
            break run;
        }
        assert!(Instant::now() < deadline, "{run}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(run["trigger"], "External - curl/8.0");
    let out = run["output_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_string();
    assert!(get(&server, &out, Some(&a)).1.contains("args: one,two"));

    // 409 while running; beta can neither run nor see it.
    let post = |path: &str, auth: &str| request(&server, "POST", path, Some(auth), "");
    assert_eq!(post("/api/triggeredwebjobs/slow/run", &a).0, 202);
    let (code, _, body) = post("/api/triggeredwebjobs/slow/run", &a);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("already running"), "{body}");
    // ...and can be stopped through the API (gracefully: Stopped).
    let slow_id = get(&server, "/api/triggeredwebjobs/slow/history", Some(&a)).1;
    let slow_id = serde_json::from_str::<serde_json::Value>(&slow_id).unwrap()["runs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = basic("beta", &other);
    let stop_path = format!("/api/triggeredwebjobs/slow/history/{slow_id}/stop");
    assert_eq!(post(&stop_path, &b).0, 404, "another tenant stopped it");
    assert_eq!(post(&stop_path, &a).0, 202);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, body) = get(
            &server,
            &format!("/api/triggeredwebjobs/slow/history/{slow_id}"),
            Some(&a),
        );
        let run: serde_json::Value = serde_json::from_str(&body).unwrap();
        if run["status"] == "Stopped" {
            break;
        }
        assert!(Instant::now() < deadline, "{run}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        post(&stop_path, &a).0,
        404,
        "a finished run cannot be stopped"
    );
    assert_eq!(post("/api/triggeredwebjobs/greet/run", &b).0, 404);
    assert_eq!(post("/api/triggeredwebjobs/nope/run", &a).0, 404);

    // Settings: replaced whole; an unusable schedule is a 400.
    let put = |path: &str, body: &str| request(&server, "PUT", path, Some(&a), body);
    let (code, _, body) = put(
        "/api/triggeredwebjobs/greet/settings",
        r#"{"schedule": "*/5 * * * *"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("5 fields"), "{body}");
    let (code, _, _) = put(
        "/api/triggeredwebjobs/greet/settings",
        r#"{"schedule": "0 0 * * * *", "custom": 1}"#,
    );
    assert_eq!(code, 200);
    let (_, body) = get(&server, "/api/triggeredwebjobs/greet/settings", Some(&a));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"schedule": "0 0 * * * *", "custom": 1})
    );
    assert_eq!(put("/api/triggeredwebjobs/greet/settings", "[1]").0, 400);

    // The same routes serve both job types; anything else is a 404.
    let (code, body) = get(&server, "/api/continuouswebjobs/daemon", Some(&a));
    assert!(
        code == 200 && body.contains("\"type\":\"continuous\""),
        "{body}"
    );
    assert_eq!(get(&server, "/api/continuouswebjobs", Some(&a)).0, 200);
    assert_eq!(get(&server, "/api/otherwebjobs/daemon", Some(&a)).0, 404);
    // Continuous stop/start: disable.job.
    let flag = root.join("jobs/continuous/daemon/disable.job");
    assert_eq!(post("/api/continuouswebjobs/daemon/stop", &a).0, 200);
    assert!(flag.exists());
    assert_eq!(post("/api/continuouswebjobs/daemon/start", &a).0, 200);
    assert!(!flag.exists());

    // DELETE: 200, gone (and 200 again, as WebJobs).
    let delete = || {
        request(
            &server,
            "DELETE",
            "/api/triggeredwebjobs/greet",
            Some(&a),
            "",
        )
        .0
    };
    assert_eq!(delete(), 200);
    assert_eq!(get(&server, "/api/triggeredwebjobs/greet", Some(&a)).0, 404);
    assert_eq!(delete(), 200);
}

#[test]
fn jobs_are_uploaded_as_webjobs_clients_do() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let server = start(&env);
    let a = basic("acme", &secret);
    let zip = common::zip_bytes(&[("run.js", b"console.log('zipped')")]);
    let disp = "Content-Disposition: attachment; filename=\"job.zip\"\r\n";

    // No Content-Disposition: 400, as WebJobs.
    let (code, body) = put_raw(
        &server,
        "/api/triggeredwebjobs/zipped",
        &a,
        "Content-Type: application/zip\r\n",
        &zip,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("Missing Content-Disposition header."),
        "{body}"
    );
    // A zip is unpacked; the job object comes back.
    let (code, body) = put_raw(
        &server,
        "/api/triggeredwebjobs/zipped",
        &a,
        &format!("Content-Type: application/zip\r\n{disp}"),
        &zip,
    );
    assert_eq!(code, 200, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["run_command"], "run.js");
    // Anything else is saved as the one named file.
    let (code, body) = put_raw(
        &server,
        "/api/triggeredwebjobs/single",
        &a,
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"../../run.sh\"\r\n",
        b"echo single",
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        env.root()
            .join("tenants/acme/jobs/triggered/single/run.sh")
            .exists()
    );
    // A broken zip: 400 with the reason, nothing installed.
    let (code, body) = put_raw(
        &server,
        "/api/triggeredwebjobs/broken",
        &a,
        &format!("Content-Type: application/zip\r\n{disp}"),
        b"PK\x03\x04 not really a zip",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("error"), "{body}");
    assert!(
        !env.root()
            .join("tenants/acme/jobs/triggered/broken")
            .exists()
    );
    // The uploaded job runs.
    let (code, _, _) = request(
        &server,
        "POST",
        "/api/triggeredwebjobs/zipped/run",
        Some(&a),
        "",
    );
    assert_eq!(code, 202);
}

/// The flow WebJobs users script with curl, with the real curl: PUT a zip,
/// POST run, poll the `Location`, GET the `output_url`.
#[test]
fn curl_deploys_runs_polls_and_reads_output_unchanged() {
    let curl = std::path::Path::new("/usr/bin/curl");
    if !curl.exists() {
        return common::skip("curl is not installed (scripts/setup.sh --test installs it)");
    }
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let s = start(&env);
    let base = format!("http://127.0.0.1:{}", s.port);
    let user = format!("acme:{secret}");
    let zip = env.dir.path().join("job.zip");
    std::fs::write(
        &zip,
        common::zip_bytes(&[(
            "run.js",
            b"console.log('args: ' + scriptArgs.slice(1).join(','));",
        )]),
    )
    .unwrap();
    let curl = |args: &[&str]| {
        let out = std::process::Command::new(curl)
            .args(["-sS", "-u", &user])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let job = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/zip",
        "-H",
        "Content-Disposition: attachment; filename=job.zip",
        "--data-binary",
        &format!("@{}", zip.display()),
        &format!("{base}/api/triggeredwebjobs/greet"),
    ]);
    assert!(job.contains("\"run_command\":\"run.js\""), "{job}");
    let head = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("{base}/api/triggeredwebjobs/greet/run?arguments=a%20b"),
    ]);
    assert!(head.starts_with("HTTP/1.1 202"), "{head}");
    let location = header_value(&head, "location").expect("Location");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let run: serde_json::Value = serde_json::from_str(&curl(&[&location])).unwrap();
        if run["status"] == "Success" {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "{run}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let output = curl(&[run["output_url"].as_str().unwrap()]);
    assert!(output.contains("args: a,b"), "{output}");
}
