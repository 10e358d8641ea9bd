//! The network policy as a job, a tenant and an operator meet it: bad
//! patterns are refused at deploy and by `PUT .../settings`, a bad quota
//! or `--network` refuses the host's start, every run that asks for the
//! network says what it asked for and what bounds it, and the host's bound
//! takes a native job's sockets away, judged by a real listener on
//! loopback.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Env, skip};

#[test]
fn bad_patterns_are_refused_at_deploy_naming_the_pattern_and_why() {
    let env = Env::new();
    let src = env.dir_bundle(
        "bad",
        &[
            ("run.js", "console.log('hi')"),
            (
                "settings.job",
                r#"{"network": ["https://api.example.com", "ftp://files.example.com", "tcp://db.internal"]}"#,
            ),
        ],
    );
    let out = env.run(&["deploy", src.to_str().unwrap()]).fails();
    let err = out.stderr();
    assert!(
        err.contains("network pattern \"ftp://files.example.com\": unknown scheme 'ftp'"),
        "{err}"
    );
    assert!(
        err.contains("network pattern \"tcp://db.internal\": tcp:// needs a port"),
        "{err}"
    );
    // Nothing was installed.
    assert!(!env.job_dir("bad").exists());
    let not_a_list = env.dir_bundle(
        "odd",
        &[("run.js", "1"), ("settings.job", r#"{"network": "yes"}"#)],
    );
    let out = env.run(&["deploy", not_a_list.to_str().unwrap()]).fails();
    assert!(
        out.stderr()
            .contains("'network' must be true, false or a list of patterns"),
        "{}",
        out.stderr()
    );
}

#[test]
fn put_settings_refuses_a_bad_pattern() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let auth = common::http::basic("acme", &secret);
    let s = common::http::start(&env);
    common::http::upload(&s, &auth, "triggered", "job", &[("run.js", b"1")]);
    let (status, body) = common::http::put_raw(
        &s,
        "/api/triggeredwebjobs/job/settings",
        &auth,
        "Content-Type: application/json\r\n",
        br#"{"network": ["https://*.com"]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("would allow a whole top-level domain"),
        "{body}"
    );
    let (status, body) = common::http::put_raw(
        &s,
        "/api/triggeredwebjobs/job/settings",
        &auth,
        "Content-Type: application/json\r\n",
        br#"{"network": ["https://api.example.com"]}"#,
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_bad_bound_refuses_the_start_naming_it() {
    let env = Env::new();
    let out = env.run(&["--network", "public,ftp://x", "list"]).fails();
    assert!(
        out.stderr().contains("unknown scheme 'ftp'"),
        "{}",
        out.stderr()
    );
    std::fs::create_dir_all(env.root()).unwrap();
    std::fs::write(
        env.root().join("quotas.toml"),
        "[tenants.acme]\nnetwork = \"off,public\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("network") && err.contains("'off' cannot be combined"),
        "{err}"
    );
}

#[test]
fn a_run_says_what_it_asked_for_and_what_it_got() {
    let env = Env::new();
    env.deploy_js(
        "caller",
        "console.log('hi')",
        Some(r#"{"network": ["https://api.example.com", "tcp://db.internal:5432"]}"#),
    );
    env.run(&["--executor", "wasm", "run", "caller"]).ok();
    let log = env.latest_log("caller");
    assert!(
        log.contains(
            "Network: the job asks for https://api.example.com, tcp://db.internal:5432; this host allows public"
        ),
        "{log}"
    );
    assert!(
        log.contains("Network: this run gets none: connections held to allow patterns are not available yet to WebAssembly jobs"),
        "{log}"
    );
    // A job that asks for nothing says nothing.
    env.deploy_js("quiet", "console.log('hi')", None);
    env.run(&["run", "quiet"]).ok();
    assert!(!env.latest_log("quiet").contains("Network:"));
    // The operator's bound is in the line.
    env.run(&[
        "--network",
        "public,tcp://10.0.0.0/8:*",
        "--executor",
        "wasm",
        "run",
        "caller",
    ])
    .ok();
    let log = env.latest_log("caller");
    assert!(
        log.contains("this host allows public,tcp://10.0.0.0/8:*"),
        "{log}"
    );
}

/// Whether a native job with `"network": true` reaches a listener on
/// loopback, on a host that gives runs no network namespace, with
/// `--network` set to `bound`; and the run's log.
fn reaches_loopback(env: &Env, bound: &str) -> (bool, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    env.deploy_files(
        "dialer",
        &[
            (
                "run.sh",
                &format!(
                    "if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo connected; echo hello >&3; else echo refused; fi\n"
                ),
            ),
            ("settings.job", r#"{"network": true}"#),
        ],
    );
    let _ = env
        .cmd()
        .args([
            "--executor",
            "native",
            "--no-net-namespace",
            "--network",
            bound,
            "run",
            "dialer",
        ])
        .output()
        .unwrap();
    // Judged by the listener: did anything connect?
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut reached = false;
    while Instant::now() < deadline {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = String::new();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.read_to_string(&mut buf);
            reached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (reached, env.latest_log("dialer"))
}

#[test]
fn the_hosts_bound_takes_a_native_jobs_sockets_away() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    // `true` is whatever the host allows: with no network namespace, the
    // default bound leaves the job its sockets (as before).
    let (reached, log) = reaches_loopback(&env, "public");
    assert!(reached, "{log}");
    assert!(log.contains("connected"), "{log}");
    // `--network off`: the sandbox's socket filter is back on.
    let (reached, log) = reaches_loopback(&env, "off");
    assert!(!reached, "the listener got a connection:\n{log}");
    assert!(
        log.contains("Network: the job asks for whatever the host allows; this host allows off"),
        "{log}"
    );
    assert!(
        log.contains(
            "Network: this run gets none: the host's or the tenant's bound allows no network"
        ),
        "{log}"
    );
}
