//! PostgreSQL for the cluster tests and the cluster benchmark: `psql`, a
//! fresh database on a server, and a throw-away server made with
//! `scripts/pg.sh` (Debian's `postgresql`), stopped and deleted when
//! dropped. Shared by `tests/` and `benches/` (the benches include this
//! file by path).

use std::path::Path;
use std::process::Command;

/// `psql -Atc SQL` on `url`; its output, trimmed. Panics, with psql's
/// error, when the statement fails.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A new, empty database `name` on the server `server` (a database URL on
/// it); its URL. One of that name made earlier is dropped first.
pub fn fresh_database(server: &str, name: &str) -> String {
    psql(server, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(server, &format!("CREATE DATABASE {name}"));
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

/// A PostgreSQL server of its own on a loopback `port`, in a scratch
/// folder under /tmp; stopped and deleted when dropped.
pub struct Throwaway {
    /// A database URL on it.
    pub url: String,
    dir: tempfile::TempDir,
}

impl Throwaway {
    /// Starts one (`scripts/pg.sh start`).
    pub fn start(port: u16) -> Throwaway {
        Throwaway::start_with(port, None)
    }

    /// Starts one that asks for `password` (SCRAM-SHA-256), if given.
    pub fn start_with(port: u16, password: Option<&str>) -> Throwaway {
        let dir = tempfile::Builder::new()
            .prefix("wasmjobs-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let mut cmd = Command::new(script());
        cmd.arg("start").arg(dir.path()).arg(port.to_string());
        if let Some(p) = password {
            cmd.env("PG_PASSWORD", p);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "starting PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Throwaway { url, dir }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh")
}
