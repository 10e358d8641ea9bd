//! Helpers for the integration tests: a scratch data root, the real
//! `wasmjobs` binary, and bundles built on the fly.
#![allow(dead_code)]

pub mod http;
pub mod pg;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch data root and a place for bundles.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A scratch root under `parent` (for tests whose host paths must be
    /// visible inside a sandbox's own `/tmp`).
    pub fn new_in(parent: &str) -> Env {
        Env {
            dir: tempfile::tempdir_in(parent).expect("tempdir"),
        }
    }

    /// `wasmjobs tenant add NAME`; returns the secret it prints.
    pub fn add_tenant(&self, name: &str) -> String {
        self.run(&["tenant", "add", name])
            .ok()
            .stdout()
            .trim()
            .to_string()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A `wasmjobs` command on this root, with nothing from the caller's
    /// WebJobs settings leaking in.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wasmjobs"));
        c.env("WASMJOBS_ROOT", self.root())
            .env_remove("WEBJOBS_HISTORY_SIZE")
            .env_remove("WEBJOBS_IDLE_TIMEOUT")
            .env_remove("WASMJOBS_TIMEOUT_S")
            .env_remove("WASMJOBS_MEMORY_MB")
            .env_remove("WASMJOBS_FUEL")
            .env_remove("WASMJOBS_OUTPUT_KB");
        c
    }

    /// A `wasmjobs` command on this root started through `wrapper` (e.g.
    /// `["prlimit", "--nofile=64:64", "--"]`, `["unshare", "-Ur"]`), with
    /// the environment of [`Env::cmd`].
    pub fn cmd_via(&self, wrapper: &[&str]) -> Command {
        let plain = self.cmd();
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(plain.get_program());
        for (k, v) in plain.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out(self.cmd().args(args).output().expect("running wasmjobs"))
    }

    /// Writes a directory bundle from (path, content) pairs.
    pub fn dir_bundle(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.dir.path().join("src").join(name);
        for (p, content) in files {
            let f = d.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, content).unwrap();
        }
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Writes a zip bundle from (entry name, content) pairs.
    pub fn zip_bundle(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.zip"));
        std::fs::write(&path, zip_bytes(files)).unwrap();
        path
    }

    /// Writes raw bytes as a zip file.
    pub fn raw_zip(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.zip"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Deploys a single-file JS job (plus optional settings.job) and checks it worked.
    pub fn deploy_js(&self, name: &str, script: &str, settings: Option<&str>) {
        self.deploy_script(name, "run.js", script, settings)
    }

    /// Deploys a single-file Python job (plus optional settings.job).
    pub fn deploy_py(&self, name: &str, script: &str, settings: Option<&str>) {
        self.deploy_script(name, "run.py", script, settings)
    }

    /// Deploys one script file (plus optional settings.job) and checks it worked.
    pub fn deploy_script(&self, name: &str, file: &str, script: &str, settings: Option<&str>) {
        let mut files = vec![(file, script)];
        if let Some(s) = settings {
            files.push(("settings.job", s));
        }
        self.deploy_files(name, &files);
    }

    pub fn job_dir(&self, name: &str) -> PathBuf {
        self.root().join("jobs/triggered").join(name)
    }

    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root().join("data/jobs/triggered").join(name)
    }

    /// Writes a directory bundle and deploys it as `name` (must succeed).
    pub fn deploy_files(&self, name: &str, files: &[(&str, &str)]) {
        let src = self.dir_bundle(name, files);
        self.run(&["deploy", src.to_str().unwrap(), "--name", name])
            .ok();
    }

    /// The latest run's folder (`data/jobs/triggered/<name>/<run id>`).
    pub fn latest_run_dir(&self, name: &str) -> PathBuf {
        let id = self.history(name)[0]["id"].as_str().unwrap().to_string();
        self.data_dir(name).join(id)
    }

    /// The latest run's `status` file, parsed.
    pub fn latest_status(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.latest_run_dir(name).join("status")).unwrap())
            .unwrap()
    }

    /// `history --json` of a job, parsed.
    pub fn history(&self, name: &str) -> Vec<serde_json::Value> {
        let out = self.run(&["history", name, "--json"]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout()).expect("history json");
        v["runs"].as_array().expect("runs array").clone()
    }

    /// A string field of job `name`'s object in `list --json` ("" if null).
    pub fn listed(&self, name: &str, field: &str) -> String {
        let out = self.run(&["list", "--json"]).ok().stdout();
        let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .map(|j| j[field].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no job '{name}' in list --json"))
    }

    /// The latest run's output_log.txt.
    pub fn latest_log(&self, name: &str) -> String {
        self.run(&["logs", name]).ok().stdout()
    }
}

/// Builds zip bytes (deflated entries; names ending in `/` are directories).
pub fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A finished `wasmjobs` invocation.
pub struct Out(pub Output);

impl Out {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(
            self.0.status.success(),
            "wasmjobs failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// Asserts failure and returns self.
    #[track_caller]
    pub fn fails(self) -> Out {
        assert!(
            !self.0.status.success(),
            "wasmjobs unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Lists a directory tree (relative paths), for "nothing was installed" checks.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Host pids whose environment says they belong to job `job` (its
/// `WEBJOBS_NAME`): what a run left alive, seen from the host.
pub fn job_processes(job: &str) -> Vec<i32> {
    let needle = format!("WEBJOBS_NAME={job}\0");
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && env.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            v.push(pid);
        }
    }
    v
}

/// The children of process `pid` (every thread's), with their state letter.
pub fn children_of(pid: u32) -> Vec<(i32, char)> {
    let mut v = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return v;
    };
    for t in tasks.flatten() {
        let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for child in list
            .split_whitespace()
            .filter_map(|c| c.parse::<i32>().ok())
        {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next())
                .unwrap_or('?');
            v.push((child, state));
        }
    }
    v
}

/// Whether the native sandbox runs on this host, else `doctor`'s report
/// of why not (it says REFUSED).
pub fn native_sandbox(env: &Env) -> Result<(), String> {
    let out = env.run(&["doctor"]).ok().stdout();
    if out.contains("native runs are REFUSED") {
        return Err(format!("the native sandbox is refused here:\n{out}"));
    }
    Ok(())
}

/// Whether a test must fail, not skip, where this machine lacks what it
/// needs (`WASMJOBS_TEST_STRICT=1`, as `scripts/test.sh` and CI run them).
pub fn strict() -> bool {
    std::env::var("WASMJOBS_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Skips the rest of a test loudly (on stderr, "not passed"), or fails it
/// under [`strict`]: a test that cannot run here never passes silently.
#[track_caller]
pub fn skip(why: &str) {
    assert!(
        !strict(),
        "cannot test here: {why} (required under WASMJOBS_TEST_STRICT=1)"
    );
    eprintln!("SKIPPED (not passed): {why}");
}
