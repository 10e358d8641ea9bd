//! The dashboard in a real browser: Debian's Chromium, driven through
//! chromedriver (W3C WebDriver), against a real `wasmjobs serve`. Signs in,
//! uploads a zip, runs it with arguments and sees its output appear, edits
//! settings, sees a readable error, stops a continuous job; a screenshot is
//! kept at `target/dashboard.png`.
//!
//! Without chromium and chromedriver the test says SKIPPED loudly; with
//! `WASMJOBS_TEST_STRICT=1` (as `scripts/test.sh` sets it) it fails
//! instead.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::http::*;
use common::{Env, zip_bytes};

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP request to chromedriver; returns the JSON `value`.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read by length.
    c.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let complete = |raw: &[u8]| -> bool {
        let text = String::from_utf8_lossy(raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let head = head.to_ascii_lowercase();
        if head.contains("transfer-encoding: chunked") {
            return body.ends_with("0\r\n\r\n");
        }
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        body.len() >= len
    };
    while !complete(&raw) {
        let n = c.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, mut text) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let dechunked;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunked = dechunk(text);
        text = &dechunked;
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {raw}"))?;
    if let Some(err) = v["value"]["error"].as_str() {
        return Err(format!("{err}: {}", v["value"]["message"]));
    }
    Ok(v["value"].clone())
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while webdriver(port, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never came up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // --no-sandbox: Chromium's own sandbox needs a non-root user.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }
        }}});
        let v = webdriver(port, "POST", "/session", Some(&caps)).expect("a browser session");
        Browser {
            driver,
            port,
            session: v["sessionId"].as_str().unwrap().to_string(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        webdriver(self.port, method, path, body)
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(&json!({ "url": url })))
            .unwrap();
    }

    fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                &self.s("/element"),
                Some(&json!({"using": "css selector", "value": css})),
            )
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/click")),
            Some(&json!({})),
        )
        .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/clear")),
            Some(&json!({})),
        )
        .unwrap();
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(&json!({ "text": text })),
        )
        .unwrap();
    }

    /// Fills the upload form with a job name and a file, and submits it.
    fn upload(&self, name: &str, file: &Path) {
        self.type_into("#upload-name", name);
        let input = self.find("#upload-file");
        self.call(
            "POST",
            &self.s(&format!("/element/{input}/value")),
            Some(&json!({ "text": file.to_str().unwrap() })),
        )
        .unwrap();
        self.click("#upload-submit");
    }

    /// Runs a script in the page; returns its value.
    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(&json!({"script": script, "args": []})),
        )
        .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// The visible text of the first element matching `css` ("" if none).
    fn text(&self, css: &str) -> String {
        let q = serde_json::to_string(css).unwrap();
        self.js(&format!(
            "const e = document.querySelector({q}); return e ? e.textContent : '';"
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Waits until `what` holds, or fails saying what was seen.
    fn wait(&self, what: &str, mut ok: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok(self) {
            if Instant::now() > deadline {
                let shot = self.screenshot("dashboard-failure.png");
                panic!(
                    "the dashboard never showed {what}; page text:\n{}\n(screenshot {})",
                    self.text("body"),
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let v = self.call("GET", &self.s("/screenshot"), None).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        // The clone's target/ (cargo's own may be elsewhere).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(|n| Path::new("/usr/bin").join(n))
        .find(|p| p.exists())
}

#[test]
fn the_dashboard_works_end_to_end_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        return common::skip(
            "the dashboard test needs chromium and chromedriver (apt install chromium chromium-driver)",
        );
    };
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let auth = basic("acme", &secret);
    let server = start_with(&env, &["--change-debounce-ms", "200"], &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    // A continuous job deployed beforehand (through the API).
    let (code, body) = put_raw(
        &server,
        "/api/continuouswebjobs/ticker",
        &auth,
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=t.zip\r\n",
        &zip_bytes(&[(
            "run.py",
            b"import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.5)\n",
        )]),
    );
    assert_eq!(code, 200, "{body}");
    // The zip the user uploads, and a broken one.
    let zip = env.dir.path().join("greet.zip");
    std::fs::write(
        &zip,
        zip_bytes(&[(
            "run.js",
            b"console.log('greetings, ' + scriptArgs.slice(1).join(' & '));",
        )]),
    )
    .unwrap();
    let broken = env.dir.path().join("broken.zip");
    std::fs::write(&broken, b"PK\x03\x04 this is not a zip").unwrap();

    let b = Browser::start(&chromium, &chromedriver);
    // Sign in: a wrong secret is refused with a readable message.
    b.go(&format!("{base}/dashboard/"));
    b.wait("the login form", |b| !b.text("#login").is_empty());
    b.type_into("#login-tenant", "acme");
    b.type_into("#login-secret", "not-the-secret");
    b.click("#login-submit");
    b.wait("a sign-in error", |b| {
        b.text("#login-error").contains("wrong tenant or secret")
    });
    b.type_into("#login-secret", &secret);
    b.click("#login-submit");
    b.wait("the job list with the continuous job", |b| {
        b.text("#jobs tr[data-job=ticker]").contains("continuous")
    });
    assert!(b.text("#tenant").contains("acme"));

    // Upload a zip; it appears in the list.
    b.upload("greet", &zip);
    b.wait("the uploaded job", |b| {
        b.text("#jobs tr[data-job=greet]").contains("Never run")
    });

    // Run it with arguments; its output appears, live, then the run is in
    // the history as a success.
    b.type_into("#jobs tr[data-job=greet] input.args", "alpha beta");
    b.click("#jobs tr[data-job=greet] button[data-action=run]");
    b.wait("the run's output", |b| {
        b.text("#output").contains("greetings, alpha & beta")
    });
    b.wait("the end of the output", |b| {
        b.text("#output-live") == "(ended)"
    });
    b.wait("the run in the history", |b| {
        b.text("#history tbody tr").contains("Success")
    });
    b.wait("the job's status", |b| {
        b.text("#jobs tr[data-job=greet] .status") == "Success"
    });

    // Edit its settings: invalid ones are refused with the reason.
    b.js("document.querySelector('#settings').value = '{\"schedule\": \"* * * * *\"}'; return 0;");
    b.click("#settings-save");
    b.wait("the schedule error", |b| {
        b.text("#error").contains("seconds field")
    });
    b.js(
        "document.querySelector('#settings').value = '{\"schedule\": \"0 0 3 * * *\"}'; return 0;",
    );
    b.click("#settings-save");
    b.wait("the new schedule", |b| {
        b.text("#jobs tr[data-job=greet]").contains("0 0 3 * * *")
    });
    b.wait("the next run", |b| {
        b.text("#jobs tr[data-job=greet] td:nth-child(5)")
            .contains("T03:00:00")
    });

    // A broken zip: a readable error, nothing installed.
    b.upload("broken", &broken);
    b.wait("the zip error", |b| b.text("#error").contains("zip"));
    assert_eq!(
        get(&server, "/api/triggeredwebjobs/broken", Some(&auth)).0,
        404
    );

    // The continuous job runs; Stop stops it.
    b.wait("the continuous job running", |b| {
        b.text("#jobs tr[data-job=ticker] .status") == "Running"
    });
    b.click("#jobs tr[data-job=ticker] button[data-action=open]");
    b.wait("the continuous job's log", |b| {
        b.text("#output").contains("tick")
    });
    let shot = b.screenshot("dashboard.png");
    b.click("#jobs tr[data-job=ticker] button[data-action=stop]");
    b.wait("the continuous job stopped", |b| {
        b.text("#jobs tr[data-job=ticker] .status") == "Stopped"
    });
    eprintln!("dashboard screenshot: {}", shot.display());
}
