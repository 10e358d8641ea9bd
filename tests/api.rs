//! The HTTP API's first slice, through the real `wasmjobs serve --listen`:
//! credentials on every route but `/healthz`, WebJobs' JSON for jobs and
//! history, output at the `vfs` URL the JSON names, and one tenant never
//! seeing another's jobs or files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Env;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(env: &Env) -> Server {
    let port = free_port();
    let child = env
        .cmd()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&s, "/healthz", None).0 != 200 {
        assert!(Instant::now() < deadline, "the API never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// A GET; returns (status, body).
fn get(s: &Server, path: &str, auth: Option<&str>) -> (u16, String) {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", s.port)) else {
        return (0, String::new());
    };
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}Connection: close\r\n\r\n",
        s.port
    )
    .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn basic(tenant: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{tenant}:{secret}"))
    )
}

#[test]
fn tenants_see_their_own_jobs_through_webjobs_routes() {
    let env = Env::new();
    let acme = env
        .run(&["tenant", "add", "acme"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    let beta = env
        .run(&["tenant", "add", "beta"])
        .ok()
        .stdout()
        .trim()
        .to_string();
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
