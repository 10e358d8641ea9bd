//! A real `wasmjobs serve` on 127.0.0.1 and a tiny HTTP/1.1 client (one
//! request per connection), so tests see exactly what goes on the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::Env;

/// How long a request of the tests waits for its answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(env: &Env) -> Server {
    start_with(env, &[], &[])
}

/// `wasmjobs [host_args] serve --listen 127.0.0.1:<free port> [serve_args]`,
/// up once `/healthz` answers; its stderr goes to `<env>/serve.err`.
pub fn start_with(env: &Env, host_args: &[&str], serve_args: &[&str]) -> Server {
    let mut cmd = env.cmd();
    cmd.args(host_args);
    start_command(env, cmd, serve_args)
}

/// `cmd serve --listen 127.0.0.1:<free port> [serve_args]` for a command
/// the caller prepared (host arguments, limits set before exec), up once
/// `/healthz` answers; its stderr goes to `<env>/serve.err`.
pub fn start_command(env: &Env, mut cmd: std::process::Command, serve_args: &[&str]) -> Server {
    let port = free_port();
    let err = std::fs::File::create(env.dir.path().join("serve.err")).unwrap();
    let child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(serve_args)
        .stdout(Stdio::null())
        .stderr(err)
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

/// What `serve` has written to stderr so far.
pub fn serve_stderr(env: &Env) -> String {
    std::fs::read_to_string(env.dir.path().join("serve.err")).unwrap_or_default()
}

/// A GET; returns (status, body).
pub fn get(s: &Server, path: &str, auth: Option<&str>) -> (u16, String) {
    let (code, _, body) = request(s, "GET", path, auth, "");
    (code, body)
}

/// One request; returns (status, head, body).
pub fn request(
    s: &Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    raw_request(s, method, path, &auth, body.as_bytes())
}

/// One request with raw extra header lines and a raw body.
pub fn raw_request(
    s: &Server,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, String) {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", s.port)) else {
        return (0, String::new(), String::new());
    };
    // A host that stalls fails the test instead of hanging it.
    let _ = c.set_read_timeout(Some(ANSWER_WITHIN));
    let _ = c.set_write_timeout(Some(ANSWER_WITHIN));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: curl/8.0\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        s.port,
        body.len()
    );
    // The server may answer (a 413, say) before the whole body is sent.
    let _ = c
        .write_all(head.as_bytes())
        .and_then(|()| c.write_all(body));
    let mut bytes = Vec::new();
    if let Err(e) = c.read_to_end(&mut bytes) {
        eprintln!("no whole answer to {method} {path}: {e}");
    }
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_default();
    (status, head, body)
}

/// A header's value in a response head (names are case-insensitive).
pub fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

pub fn basic(tenant: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{tenant}:{secret}"))
    )
}

/// A PUT with raw bytes and extra headers; returns (status, body).
pub fn put_raw(s: &Server, path: &str, auth: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let headers = format!("Authorization: {auth}\r\n{headers}");
    let (code, _, body) = raw_request(s, "PUT", path, &headers, body);
    (code, body)
}

/// Uploads a zip of `files` as a job of the tenant; asserts 200.
pub fn upload(s: &Server, auth: &str, kind: &str, name: &str, files: &[(&str, &[u8])]) {
    let (code, body) = put_raw(
        s,
        &format!("/api/{kind}webjobs/{name}"),
        auth,
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=job.zip\r\n",
        &super::zip_bytes(files),
    );
    assert_eq!(code, 200, "upload of {name}: {body}");
}

/// `POST .../run`; returns (status, run id from Location, body, head).
pub fn run(s: &Server, auth: &str, name: &str) -> (u16, String, String, String) {
    let (code, head, body) = request(
        s,
        "POST",
        &format!("/api/triggeredwebjobs/{name}/run"),
        Some(auth),
        "",
    );
    let id = header_value(&head, "location")
        .map(|l| l.rsplit('/').next().unwrap().to_string())
        .unwrap_or_default();
    (code, id, body, head)
}

/// Polls a run until it has ended (for at most a minute); returns its JSON.
pub fn wait_run(s: &Server, auth: &str, name: &str, id: &str) -> serde_json::Value {
    wait_run_within(s, auth, name, id, Duration::from_secs(60))
}

/// Polls a run until it has ended, for at most `within`; returns its JSON.
pub fn wait_run_within(
    s: &Server,
    auth: &str,
    name: &str,
    id: &str,
    within: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = get(
            s,
            &format!("/api/triggeredwebjobs/{name}/history/{id}"),
            Some(auth),
        );
        assert_eq!(code, 200, "{body}");
        let run: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        if !matches!(run["status"].as_str(), Some("Running" | "Initializing")) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} of {name} never ended: {run}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A run's output log through its `output_url`.
pub fn output(s: &Server, auth: &str, run: &serde_json::Value) -> String {
    let url = run["output_url"].as_str().expect("an output_url");
    let path = &url[url.find("/vfs/").unwrap()..];
    let (code, body) = get(s, path, Some(auth));
    assert_eq!(code, 200, "{body}");
    body
}
