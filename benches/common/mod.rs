//! What the benches share: a free port, a keep-alive HTTP client, and
//! PostgreSQL (the tests' own helper).
#![allow(dead_code)]

#[path = "../../tests/common/pg.rs"]
pub mod pg;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Runs `wasmjobs ... tenant add bench` (the given command, its root and
/// options set); returns the Basic credentials of the new tenant.
pub fn add_bench_tenant(mut wasmjobs: std::process::Command) -> String {
    let out = wasmjobs.args(["tenant", "add", "bench"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("bench:{secret}"))
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A keep-alive HTTP/1.1 client.
pub struct Client {
    port: u16,
    auth: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(port: u16, auth: &str) -> Client {
        Client {
            port,
            auth: auth.to_string(),
            conn: None,
        }
    }

    /// A request without a body; (status, body). Status 0: no answer.
    pub fn request(&mut self, method: &str, path: &str) -> (u16, String) {
        self.send(method, path, "", &[])
    }

    /// A request with extra header lines (each ending in CRLF) and a body.
    pub fn send(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
        for _ in 0..3 {
            if self.conn.is_none() {
                match TcpStream::connect(("127.0.0.1", self.port)) {
                    Ok(s) => self.conn = Some(BufReader::new(s)),
                    Err(_) => return (0, String::new()),
                }
            }
            match self.try_request(method, path, headers, body) {
                Some(r) => return r,
                None => self.conn = None,
            }
        }
        (0, String::new())
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> Option<(u16, String)> {
        let conn = self.conn.as_mut()?;
        let auth = if self.auth.is_empty() {
            String::new()
        } else {
            format!("Authorization: Basic {}\r\n", self.auth)
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\n{auth}{headers}Content-Length: {}\r\n\r\n",
            body.len()
        );
        conn.get_mut().write_all(req.as_bytes()).ok()?;
        conn.get_mut().write_all(body).ok()?;
        let mut line = String::new();
        conn.read_line(&mut line).ok()?;
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut len = 0;
        loop {
            line.clear();
            conn.read_line(&mut line).ok()?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
        }
        let mut body = vec![0; len];
        conn.read_exact(&mut body).ok()?;
        Some((code, String::from_utf8_lossy(&body).into_owned()))
    }
}
