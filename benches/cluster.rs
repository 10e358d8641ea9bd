//! Many hosts on one PostgreSQL, through real `wasmjobs serve` processes
//! on this machine:
//!
//! - `throughput`: triggered runs per second with 1, 2 and 3 hosts sharing
//!   a database, against one host without a database in the same run (the
//!   baseline of the ratio). Clients POST `.../run` round-robin over 32
//!   hello.js jobs and over the hosts for 10 s (a job still queued or
//!   running answers 409, and the client waits 5 ms and moves on); a run
//!   counts once its record says `Success`.
//! - `ticks`: a `*/1 * * * * *` job on 3 hosts for 15 s: how long after its
//!   occurrence each tick's run started (database clock), and that each
//!   tick ran once.
//!
//! The database: `WASMJOBS_BENCH_DATABASE_URL` (a server URL; a database
//! per measurement is made on it), else a throw-away server started with
//! `scripts/pg.sh` (Debian's `postgresql`).
//! `cargo bench --bench cluster [-- throughput|ticks]` (default: both).
//! Numbers only: nothing here asserts a timing.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::{Throwaway, fresh_database, psql};
use common::{Client, add_bench_tenant, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_wasmjobs");
const JOBS: usize = 32;
const CLIENTS: usize = 8;
const SECONDS: u64 = 10;
/// What a client waits after a 409 (the job still running) before it
/// tries the next job: the same for the baseline and the cluster, so that
/// what is measured is runs, not refusals.
const BACKOFF: Duration = Duration::from_millis(5);

/// A PostgreSQL server for the run: the given one, or a throw-away one.
struct Pg {
    url: String,
    _own: Option<Throwaway>,
}

impl Pg {
    fn get() -> Pg {
        if let Ok(url) = std::env::var("WASMJOBS_BENCH_DATABASE_URL") {
            return Pg { url, _own: None };
        }
        let own = Throwaway::start(free_port());
        Pg {
            url: own.url.clone(),
            _own: Some(own),
        }
    }

    /// A fresh database on the server; its URL.
    fn database(&self, name: &str) -> String {
        fresh_database(&self.url, name)
    }
}

struct Host {
    child: Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn wasmjobs(root: &Path, db: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.env("WASMJOBS_ROOT", root)
        // Every run's record kept: what ended is counted from them.
        .env("WEBJOBS_HISTORY_SIZE", "1000000")
        .env_remove("WASMJOBS_DATABASE_URL");
    if let Some(db) = db {
        c.args(["--database", db]);
    }
    c
}

/// The tenant `bench` (in the cluster, or in `root`); Basic credentials.
fn tenant(root: &Path, db: Option<&str>) -> String {
    add_bench_tenant(wasmjobs(root, db))
}

fn host(i: usize, db: Option<&str>, root: Option<tempfile::TempDir>) -> Host {
    let root = root.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let port = free_port();
    let child = wasmjobs(root.path(), db)
        .env("WEBSITE_INSTANCE_ID", format!("bench{i}"))
        .args(["--max-runs", "256"])
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let h = Host {
        child,
        port,
        _root: root,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Client::new(port, "").request("GET", "/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "serve never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    h
}

/// A zip of one file.
fn zip_of(name: &str, body: &str, settings: Option<&str>) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(name), body).unwrap();
    if let Some(s) = settings {
        std::fs::write(d.path().join("settings.job"), s).unwrap();
    }
    wasmjobs::cluster::sync::zip_dir(d.path()).unwrap()
}

fn upload(port: u16, auth: &str, name: &str, zip: &[u8]) {
    let (code, body) = Client::new(port, auth).send(
        "PUT",
        &format!("/api/triggeredwebjobs/{name}"),
        "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=job.zip\r\n",
        zip,
    );
    assert_eq!(code, 200, "{body}");
}

/// Runs/s through `POST .../run` on these hosts; `count_done` says how
/// many runs have ended `Success` so far.
fn drive(hosts: &[Host], auth: &str, count_done: &dyn Fn() -> u64) -> (f64, f64, u64) {
    // One run of each first: every host loads its guest.
    for (i, h) in hosts.iter().enumerate() {
        let mut c = Client::new(h.port, auth);
        for j in (i..JOBS).step_by(hosts.len()) {
            c.request("POST", &format!("/api/triggeredwebjobs/hello-{j}/run"));
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let before = count_done();
    let started = Instant::now();
    let until = started + Duration::from_secs(SECONDS);
    let accepted: u64 = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let ports: Vec<u16> = hosts.iter().map(|h| h.port).collect();
                sc.spawn(move || {
                    let mut clients: Vec<Client> =
                        ports.iter().map(|p| Client::new(*p, auth)).collect();
                    let (mut accepted, mut j) = (0u64, c);
                    while Instant::now() < until {
                        let cl = &mut clients[j % ports.len()];
                        let path = format!("/api/triggeredwebjobs/hello-{}/run", j % JOBS);
                        match cl.request("POST", &path).0 {
                            202 => accepted += 1,
                            // A polite client: the job is still running.
                            _ => std::thread::sleep(BACKOFF),
                        }
                        j += CLIENTS;
                    }
                    accepted
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let done_in_window = count_done() - before;
    (
        accepted as f64 / elapsed,
        done_in_window as f64 / elapsed,
        accepted,
    )
}

fn throughput(pg: &Pg) {
    let hello = zip_of("run.js", "console.log('hello, world');\n", None);
    // The baseline: one host, no database.
    let base_rate = {
        let root = tempfile::tempdir().unwrap();
        let auth = tenant(root.path(), None);
        let h = host(0, None, Some(root));
        for j in 0..JOBS {
            upload(h.port, &auth, &format!("hello-{j}"), &hello);
        }
        let data = h._root.path().join("tenants/bench/data/jobs/triggered");
        let done = || {
            (0..JOBS)
                .flat_map(|j| std::fs::read_dir(data.join(format!("hello-{j}"))).into_iter())
                .flatten()
                .flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("status"))
                        .is_ok_and(|s| s.contains("\"Success\""))
                })
                .count() as u64
        };
        let (rate, done_rate, _) = drive(std::slice::from_ref(&h), &auth, &done);
        println!(
            "throughput: 1 host, no database: {rate:.0} runs/s accepted, {done_rate:.0} runs/s ended Success"
        );
        rate
    };
    for n in 1..=3 {
        let db = pg.database(&format!("wasmjobs_bench_{n}"));
        let scratch = tempfile::tempdir().unwrap();
        let auth = tenant(scratch.path(), Some(&db));
        let hosts: Vec<Host> = (0..n).map(|i| host(i, Some(&db), None)).collect();
        for j in 0..JOBS {
            upload(hosts[0].port, &auth, &format!("hello-{j}"), &hello);
        }
        let done = || {
            psql(&db, "SELECT count(*) FROM runs WHERE status = 'Success'")
                .parse()
                .unwrap()
        };
        let (rate, done_rate, accepted) = drive(&hosts, &auth, &done);
        // Every accepted run ends: wait for the queue to drain.
        let deadline = Instant::now() + Duration::from_secs(60);
        while psql(
            &db,
            "SELECT count(*) FROM runs WHERE status IN ('Queued', 'Initializing', 'Running')",
        ) != "0"
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let by_host = psql(
            &db,
            "SELECT string_agg(instance || '=' || n, ' ') FROM (SELECT instance, count(*) n FROM runs GROUP BY 1 ORDER BY 1) x",
        );
        let not_ok = psql(
            &db,
            "SELECT count(*) FROM runs WHERE status NOT IN ('Success')",
        );
        println!(
            "throughput: {n} host(s), one database: {rate:.0} runs/s accepted ({:.2}x the host without a database), {done_rate:.0} runs/s ended Success; {accepted} accepted, runs by host: {by_host}; not Success: {not_ok}",
            rate / base_rate
        );
    }
}

fn ticks(pg: &Pg) {
    const WINDOW: u64 = 15;
    let db = pg.database("wasmjobs_bench_ticks");
    let scratch = tempfile::tempdir().unwrap();
    let auth = tenant(scratch.path(), Some(&db));
    let hosts: Vec<Host> = (0..3).map(|i| host(i, Some(&db), None)).collect();
    let job = zip_of(
        "run.js",
        "console.log('tick');\n",
        Some(r#"{"schedule": "*/1 * * * * *"}"#),
    );
    upload(hosts[0].port, &auth, "every", &job);
    std::thread::sleep(Duration::from_secs(3));
    let from = psql(&db, "SELECT now()");
    std::thread::sleep(Duration::from_secs(WINDOW));
    let window = format!(
        "tick >= '{from}'::timestamptz AND tick < '{from}'::timestamptz + interval '{WINDOW} seconds'"
    );
    let stats = psql(
        &db,
        &format!(
            "SELECT count(*), count(DISTINCT tick),
                    round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM start_time - tick)))::int,
                    round(1000 * percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM start_time - tick)))::int,
                    round(1000 * max(extract(epoch FROM start_time - tick)))::int,
                    count(DISTINCT instance),
                    round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - tick)))::int,
                    round(1000 * percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - tick)))::int
             FROM runs WHERE name = 'every' AND {window}"
        ),
    );
    let f: Vec<&str> = stats.split('|').collect();
    println!(
        "ticks: 3 hosts, */1 * * * * * for {WINDOW} s: {} runs for {} distinct ticks on {} hosts; occurrence to its claim (the run's record) p50 {} ms, p90 {} ms, max {} ms; to the run's end (hello.js ran) p50 {} ms, p90 {} ms",
        f[0], f[1], f[5], f[2], f[3], f[4], f[6], f[7]
    );
    drop(hosts);
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    let pg = Pg::get();
    if want("throughput") {
        throughput(&pg);
    }
    if want("ticks") {
        ticks(&pg);
    }
}
