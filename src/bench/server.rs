//! The loopback HTTP server the network jobs of the suite fetch from:
//! `GET /1k` answers 1 KiB, `GET /10m` 10 MiB. It answers each connection
//! on a thread of its own and stops when dropped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

/// A running server; stopped when dropped.
pub struct Server {
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts one on a free port.
    pub fn start() -> Result<Server> {
        let l = TcpListener::bind("127.0.0.1:0").context("starting the bench's HTTP server")?;
        let port = l.local_addr()?.port();
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("bench-http".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((c, _)) => {
                            let _ = c.set_nonblocking(false);
                            // Head and body go out at once: no client waits
                            // on Nagle and its own delayed ACK between them.
                            let _ = c.set_nodelay(true);
                            std::thread::spawn(move || answer(c));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })?;
        Ok(Server { port, stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers the requests of one connection (keep-alive), until it closes.
fn answer(mut c: std::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let size = if head.starts_with("GET /10m ") {
            10 << 20
        } else {
            1 << 10
        };
        let close = head.to_ascii_lowercase().contains("connection: close");
        let r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\n{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        let mut answer = r.into_bytes();
        answer.resize(answer.len() + size, b'x');
        if c.write_all(&answer).is_err() || close {
            return;
        }
    }
}
