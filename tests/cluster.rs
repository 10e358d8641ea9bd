//! Many hosts on one PostgreSQL: three real `wasmjobs serve` processes on
//! 127.0.0.1, each with its own data root, sharing one database (a fresh
//! one per test on the server `WASMJOBS_TEST_DATABASE_URL` names;
//! `scripts/test.sh` starts a throw-away server). Without that variable the
//! tests skip loudly, and fail under `WASMJOBS_TEST_STRICT=1`.
//!
//! The tests run one at a time (each starts three hosts on two cores).

mod common;

use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::http::{self, Server};
use common::pg::{fresh_database, psql};
use common::{Env, zip_bytes};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The server's URL, or `None` (skipping loudly) when there is none.
fn server_url() -> Option<String> {
    match std::env::var("WASMJOBS_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            common::skip(
                "no WASMJOBS_TEST_DATABASE_URL (scripts/test.sh starts a PostgreSQL server for these tests)",
            );
            None
        }
    }
}

/// Three hosts sharing a fresh database, and tenant `acme`'s credentials.
struct Cluster {
    db: String,
    envs: Vec<Env>,
    hosts: Vec<Option<Server>>,
    auth: String,
    /// Each host's clock skew (`WASMJOBS_TEST_CLOCK_SKEW_MS`).
    skew_ms: [i64; 3],
    _one: std::sync::MutexGuard<'static, ()>,
}

const NAMES: [&str; 3] = ["hosta0", "hostb0", "hostc0"];

impl Cluster {
    fn start(quotas: Option<&str>) -> Option<Cluster> {
        Self::start_skewed(quotas, [0; 3])
    }

    /// Three hosts whose clocks are off by `skew_ms` each.
    fn start_skewed(quotas: Option<&str>, skew_ms: [i64; 3]) -> Option<Cluster> {
        let server = server_url()?;
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!(
            "wasmjobs_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let db = fresh_database(&server, &name);
        let envs: Vec<Env> = (0..3).map(|_| Env::new()).collect();
        let secret = envs[0]
            .run(&["--database", &db, "tenant", "add", "acme"])
            .ok()
            .stdout()
            .trim()
            .to_string();
        let mut c = Cluster {
            db,
            envs,
            hosts: Vec::new(),
            auth: http::basic("acme", &secret),
            skew_ms,
            _one: one,
        };
        for i in 0..3 {
            if let Some(q) = quotas {
                std::fs::create_dir_all(c.envs[i].root()).unwrap();
                std::fs::write(c.envs[i].root().join("quotas.toml"), q).unwrap();
            }
            let s = c.spawn(i);
            c.hosts.push(Some(s));
        }
        Some(c)
    }

    /// Starts host `i` (again); up once it answers.
    fn spawn(&self, i: usize) -> Server {
        let env = &self.envs[i];
        let port = http::free_port();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.dir.path().join("serve.err"))
            .unwrap();
        let child = env
            .cmd()
            .env("WEBSITE_INSTANCE_ID", NAMES[i])
            .env("WASMJOBS_TEST_CLOCK_SKEW_MS", self.skew_ms[i].to_string())
            .args(["--database", &self.db])
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let s = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http::get(&s, "/healthz", None).0 != 200 {
            assert!(Instant::now() < deadline, "host {i} never came up");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn host(&self, i: usize) -> &Server {
        self.hosts[i].as_ref().expect("host is up")
    }

    /// A request through host `i`; (status, head, body).
    fn req(&self, i: usize, method: &str, path: &str) -> (u16, String, String) {
        http::request(self.host(i), method, path, Some(&self.auth), "")
    }

    fn json(&self, i: usize, path: &str) -> serde_json::Value {
        let (code, _, body) = self.req(i, "GET", path);
        assert_eq!(code, 200, "GET {path} through host {i}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Uploads a zip as a job through host `i`.
    fn upload(&self, i: usize, kind: &str, name: &str, files: &[(&str, &[u8])]) {
        let (code, body) = http::put_raw(
            self.host(i),
            &format!("/api/{kind}webjobs/{name}"),
            &self.auth,
            "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=job.zip\r\n",
            &zip_bytes(files),
        );
        assert_eq!(code, 200, "upload through host {i}: {body}");
    }

    /// Starts a run of `name` through host `i`; its id.
    fn trigger(&self, i: usize, name: &str, args: &str) -> String {
        let (code, head, body) = self.req(
            i,
            "POST",
            &format!("/api/triggeredwebjobs/{name}/run?arguments={args}"),
        );
        assert_eq!(code, 202, "run through host {i}: {body}");
        let loc = http::header_value(&head, "location").expect("Location");
        loc.rsplit('/').next().unwrap().to_string()
    }

    fn run_json(&self, i: usize, name: &str, id: &str) -> serde_json::Value {
        self.json(i, &format!("/api/triggeredwebjobs/{name}/history/{id}"))
    }

    /// Waits until `f` holds (checked every 100 ms), at most `limit`.
    fn wait_for(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A continuous job's `detailed_status` through host `via`, as
    /// `(instance, status)` pairs.
    fn statuses(&self, via: usize, job: &str) -> Vec<(String, String)> {
        let j = self.json(via, &format!("/api/continuouswebjobs/{job}"));
        j["detailed_status"]
            .as_str()
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_once(" - "))
            .map(|(a, b)| (a.to_string(), b.trim().to_string()))
            .collect()
    }

    /// Which host a run ran on (its row in the database).
    fn run_host(&self, id: &str) -> usize {
        let inst = psql(
            &self.db,
            &format!("SELECT instance FROM runs WHERE run_id = '{id}'"),
        );
        NAMES
            .iter()
            .position(|n| *n == inst)
            .unwrap_or_else(|| panic!("run {id} has no host yet ('{inst}')"))
    }

    fn signal(&self, i: usize, sig: i32) {
        let pid = self.host(i).child.id() as i32;
        // SAFETY: a signal to a host process this test started.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// SIGKILLs host `i`.
    fn kill(&mut self, i: usize) {
        let mut s = self.hosts[i].take().expect("host is up");
        let _ = s.child.kill();
        let _ = s.child.wait();
    }

    /// SIGTERMs host `i` and waits for its graceful exit.
    fn stop(&mut self, i: usize) {
        self.signal(i, libc::SIGTERM);
        let mut s = self.hosts[i].take().expect("host is up");
        let status = wait_exit(&mut s.child, Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "host {i} did not stop cleanly"
        );
    }

    fn stderr(&self) -> String {
        (0..3)
            .map(|i| {
                format!(
                    "--- host {i} ---\n{}",
                    std::fs::read_to_string(self.envs[i].dir.path().join("serve.err"))
                        .unwrap_or_default()
                )
            })
            .collect()
    }
}

fn wait_exit(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LONG_JS: &[u8] = b"let n = 0;\nsetInterval(() => console.log('tick ' + (n++)), 200);\n";

#[test]
fn every_second_tick_runs_once_across_three_hosts_through_a_rolling_restart() {
    let Some(mut c) = Cluster::start(None) else {
        return;
    };
    c.upload(
        0,
        "triggered",
        "every",
        &[
            (
                "run.js",
                b"console.log('ran on ' + process.env.WEBSITE_INSTANCE_ID);\n",
            ),
            ("settings.job", br#"{"schedule": "*/1 * * * * *"}"#),
        ],
    );
    c.wait_for("the first scheduled run", Duration::from_secs(15), || {
        psql(&c.db, "SELECT count(*) FROM runs WHERE name = 'every'") != "0"
    });
    let from = psql(&c.db, "SELECT max(tick) + interval '1 second' FROM runs");
    // 20 seconds, with hosts b and then c restarted gracefully meanwhile.
    std::thread::sleep(Duration::from_secs(6));
    c.stop(1);
    c.hosts[1] = Some(c.spawn(1));
    std::thread::sleep(Duration::from_secs(6));
    c.stop(2);
    c.hosts[2] = Some(c.spawn(2));
    std::thread::sleep(Duration::from_secs(8));
    let window =
        format!("tick >= '{from}' AND tick < '{from}'::timestamptz + interval '20 seconds'");
    let q = |sql: &str| psql(&c.db, &sql.replace("WINDOW", &window));
    // Every occurrence in the window claimed once (the primary key), by
    // one host, each with its outcome.
    let ticks: Vec<(i64, String, bool)> = q(
        "SELECT extract(epoch FROM tick)::bigint, outcome, catch_up FROM ticks
         WHERE name = 'every' AND WINDOW ORDER BY tick",
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('|').collect();
        (f[0].parse().unwrap(), f[1].to_string(), f[2] == "t")
    })
    .collect();
    // Each claimed occurrence ran (or found the previous run still going:
    // overlap, which a loaded machine may see), and the job ran exactly
    // once per run: its own line, counted in the outputs.
    let ran = ticks.iter().filter(|t| t.1 == "run").count();
    assert!(
        ticks.iter().all(|t| t.1 == "run" || t.1 == "overlap"),
        "{ticks:?}"
    );
    let runs: usize = q("SELECT count(*) FROM runs WHERE name = 'every' AND WINDOW")
        .parse()
        .unwrap();
    assert_eq!(runs, ran, "runs and claimed occurrences differ");
    let executions = q(
        "SELECT convert_from(string_agg(o.body, ''::bytea ORDER BY o.run_pk, o.seq), 'UTF8')
         FROM run_output o JOIN runs r ON r.pk = o.run_pk WHERE r.name = 'every' AND WINDOW",
    )
    .matches("INFO] ran on ")
    .count();
    assert_eq!(executions, runs, "a run executed twice (or never)");
    // No gaps: every second of the window, except where the documented
    // catch-up stood in for missed occurrences (the claim says so).
    let start: i64 = psql(
        &c.db,
        &format!("SELECT extract(epoch FROM '{from}'::timestamptz)::bigint"),
    )
    .parse()
    .unwrap();
    let secs: Vec<i64> = ticks.iter().map(|t| t.0).collect();
    let mut expected = start;
    for (t, _, late) in &ticks {
        assert!(
            *t == expected || (*t > expected && *late),
            "occurrences {expected}..{t} were skipped without a catch-up: {secs:?}\n{}",
            c.stderr()
        );
        expected = t + 1;
    }
    assert_eq!(
        expected,
        start + 20,
        "the window's end is missing: {secs:?}"
    );
    // Every run succeeded (or, on a host stopping, was stopped).
    assert_eq!(
        q(
            "SELECT count(*) FROM runs WHERE name = 'every' AND WINDOW AND status NOT IN ('Success', 'Stopped')"
        ),
        "0"
    );
    let hosts: i64 = q("SELECT count(DISTINCT instance) FROM runs WHERE name = 'every' AND WINDOW")
        .parse()
        .unwrap();
    assert!(hosts >= 2, "one host ran every tick");
    // The history through any host is the cluster's.
    let h = c.json(2, "/api/triggeredwebjobs/every/history");
    assert!(h["runs"].as_array().unwrap().len() >= 20);
}

#[test]
fn singleton_moves_to_another_host_when_its_host_is_killed() {
    let Some(mut c) = Cluster::start(None) else {
        return;
    };
    c.upload(
        1,
        "continuous",
        "solo",
        &[
            ("run.js", LONG_JS),
            ("settings.job", br#"{"is_singleton": true}"#),
        ],
    );
    let statuses = |c: &Cluster, via: usize| c.statuses(via, "solo");
    let running = |s: &[(String, String)]| -> Vec<String> {
        s.iter()
            .filter(|(_, st)| st == "Running")
            .map(|(i, _)| i.clone())
            .collect()
    };
    c.wait_for(
        "one instance running the singleton",
        Duration::from_secs(20),
        || {
            let s = statuses(&c, 0);
            running(&s).len() == 1 && s.len() == 3
        },
    );
    // Exactly one runs it, the others are inactive.
    let s = statuses(&c, 0);
    assert_eq!(
        s.iter().filter(|(_, st)| st == "InactiveInstance").count(),
        2,
        "{s:?}"
    );
    let holder = running(&s)[0].clone();
    let h = NAMES.iter().position(|n| *n == holder).unwrap();
    c.kill(h);
    let other = (h + 1) % 3;
    let killed = Instant::now();
    c.wait_for(
        "another host running the singleton",
        Duration::from_secs(10),
        || {
            let s = statuses(&c, other);
            running(&s).iter().any(|i| *i != holder)
        },
    );
    eprintln!("singleton moved in {:?}", killed.elapsed());
    let s = statuses(&c, other);
    assert_eq!(running(&s).len(), 1, "{s:?}");
    let dead = s.iter().find(|(i, _)| *i == holder).unwrap();
    assert_eq!(dead.1, "Aborted", "the dead host's instance: {s:?}");
}

#[test]
fn host_killed_mid_run_leaves_it_aborted_and_the_next_run_allowed() {
    let Some(mut c) = Cluster::start(None) else {
        return;
    };
    c.upload(0, "triggered", "long", &[("run.js", LONG_JS)]);
    let id = c.trigger(0, "long", "");
    c.wait_for("the run running", Duration::from_secs(15), || {
        c.run_json(1, "long", &id)["status"] == "Running"
    });
    // One run of a job at a time, cluster-wide.
    let (code, _, body) = c.req(2, "POST", "/api/triggeredwebjobs/long/run");
    assert_eq!(code, 409, "{body}");
    let output = |c: &Cluster, via: usize, id: &str| {
        c.req(
            via,
            "GET",
            &format!("/api/triggeredwebjobs/long/history/{id}/output"),
        )
        .2
    };
    c.wait_for(
        "its first output in the cluster",
        Duration::from_secs(15),
        || output(&c, 1, &id).contains("tick 0"),
    );
    let h = c.run_host(&id);
    c.kill(h);
    let survivor = (h + 1) % 3;
    c.wait_for(
        "the dead host's run aborted",
        Duration::from_secs(15),
        || c.run_json(survivor, "long", &id)["status"] == "Aborted",
    );
    let out = output(&c, survivor, &id);
    assert!(out.contains("tick 0"), "{out}");
    assert!(out.contains("Status changed to Aborted"), "{out}");
    // The next run is allowed, and runs on a live host.
    let next = c.trigger(survivor, "long", "");
    c.wait_for("the next run running", Duration::from_secs(15), || {
        c.run_json(survivor, "long", &next)["status"] == "Running"
    });
}

#[test]
fn zip_uploaded_through_a_runs_through_b_and_its_output_reads_through_c() {
    let Some(c) = Cluster::start(None) else {
        return;
    };
    c.upload(
        0,
        "triggered",
        "greet",
        &[(
            "run.js",
            b"console.log('hello ' + process.argv.slice(2).join(' '));\n",
        )],
    );
    // A run queued through b right after the upload to a gets a's zip.
    let id = c.trigger(1, "greet", "from%20b");
    c.wait_for("the run done", Duration::from_secs(20), || {
        c.run_json(2, "greet", &id)["status"] == "Success"
    });
    let run = c.run_json(2, "greet", &id);
    let (code, _, out) = c.req(
        2,
        "GET",
        &format!("/api/triggeredwebjobs/greet/history/{id}/output"),
    );
    assert_eq!(code, 200);
    assert!(out.contains("INFO] hello from b"), "{out}");
    // The host that ran it kept the same log, and ended its mirror cleanly.
    let h = c.run_host(&id);
    let local = std::fs::read_to_string(c.envs[h].root().join(format!(
        "tenants/acme/data/jobs/triggered/greet/{id}/output_log.txt"
    )))
    .unwrap();
    assert_eq!(local, out);
    // WebJobs' output_url, served by c whichever host ran it.
    let url = run["output_url"].as_str().unwrap();
    let path = &url[url.find("/vfs/").unwrap()..];
    let (code, _, vfs) = c.req(2, "GET", path);
    assert_eq!((code, vfs.as_str()), (200, out.as_str()));
    // Every host lists the job.
    for i in 0..3 {
        c.wait_for("the job on every host", Duration::from_secs(10), || {
            c.req(i, "GET", "/api/triggeredwebjobs/greet").0 == 200
        });
    }
    // A job removed through one host is gone from all.
    assert_eq!(c.req(2, "DELETE", "/api/triggeredwebjobs/greet").0, 200);
    for i in 0..3 {
        c.wait_for(
            "the job gone from every host",
            Duration::from_secs(10),
            || c.req(i, "GET", "/api/triggeredwebjobs/greet").0 == 404,
        );
    }
}

#[test]
fn a_paused_host_does_not_write_over_the_run_that_replaced_its_own() {
    let Some(c) = Cluster::start(None) else {
        return;
    };
    c.upload(0, "triggered", "long", &[("run.js", LONG_JS)]);
    let first = c.trigger(0, "long", "");
    c.wait_for("the run running", Duration::from_secs(15), || {
        c.run_json(1, "long", &first)["status"] == "Running"
    });
    let h = c.run_host(&first);
    let (o1, o2) = ((h + 1) % 3, (h + 2) % 3);
    c.signal(h, libc::SIGSTOP);
    c.wait_for(
        "the paused host's run aborted",
        Duration::from_secs(15),
        || c.run_json(o1, "long", &first)["status"] == "Aborted",
    );
    let second = c.trigger(o1, "long", "");
    c.wait_for("the replacement running", Duration::from_secs(15), || {
        c.run_json(o2, "long", &second)["status"] == "Running"
    });
    assert_ne!(c.run_host(&second), h);
    let bytes = |id: &str| {
        psql(
            &c.db,
            &format!("SELECT output_bytes FROM runs WHERE run_id = '{id}'"),
        )
    };
    let first_bytes = bytes(&first);
    // Resumed past its lease, the host finds itself fenced.
    let fenced = || {
        std::fs::read_to_string(c.envs[h].dir.path().join("serve.err"))
            .unwrap_or_default()
            .matches("lease expired")
            .count()
    };
    let before = fenced();
    c.signal(h, libc::SIGCONT);
    c.wait_for(
        "the resumed host noticing its lease expired",
        Duration::from_secs(15),
        || fenced() > before,
    );
    std::thread::sleep(Duration::from_secs(2));
    // Its old run stays Aborted, with not a byte more; the replacement is
    // still the other host's, running, with only that host's lines.
    assert_eq!(c.run_json(o1, "long", &first)["status"], "Aborted");
    assert_eq!(
        bytes(&first),
        first_bytes,
        "the paused host wrote to its old run"
    );
    assert_eq!(c.run_json(o1, "long", &second)["status"], "Running");
    assert_ne!(c.run_host(&second), h);
    let (_, _, out) = c.req(
        o1,
        "GET",
        &format!("/api/triggeredwebjobs/long/history/{second}/output"),
    );
    assert!(!out.contains(&format!("> {}:", NAMES[h])), "{out}");
    // And a run of the same job is still refused (one at a time).
    assert_eq!(c.req(h, "POST", "/api/triggeredwebjobs/long/run").0, 409);
}

#[test]
fn tenant_quota_holds_across_hosts() {
    let Some(c) = Cluster::start(Some("[tenants.acme]\nconcurrent_runs = 1\n")) else {
        return;
    };
    let quick_stop: &[u8] = br#"{"stopping_wait_time": 1}"#;
    c.upload(
        0,
        "triggered",
        "one",
        &[("run.js", LONG_JS), ("settings.job", quick_stop)],
    );
    c.upload(0, "triggered", "two", &[("run.js", LONG_JS)]);
    let id = c.trigger(0, "one", "");
    c.wait_for("the run running", Duration::from_secs(15), || {
        c.run_json(1, "one", &id)["status"] == "Running"
    });
    // The other job, through another host: the tenant's one run is taken.
    c.wait_for("the job on host 2", Duration::from_secs(10), || {
        c.req(2, "GET", "/api/triggeredwebjobs/two").0 == 200
    });
    let (code, head, body) = c.req(2, "POST", "/api/triggeredwebjobs/two/run");
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("across the cluster"), "{body}");
    assert!(http::header_value(&head, "retry-after").is_some());
    // Stopped through yet another host, the run ends and room is back.
    assert_eq!(
        c.req(
            1,
            "POST",
            &format!("/api/triggeredwebjobs/one/history/{id}/stop")
        )
        .0,
        202
    );
    c.wait_for("the run stopped", Duration::from_secs(15), || {
        c.run_json(2, "one", &id)["status"] == "Stopped"
    });
    c.trigger(2, "two", "");
}

#[test]
fn a_tick_claimed_by_a_host_that_died_before_starting_it_runs_elsewhere() {
    let Some(c) = Cluster::start(None) else {
        return;
    };
    // A job whose schedule does not fire during the test by itself.
    c.upload(
        0,
        "triggered",
        "yearly",
        &[
            (
                "run.js",
                b"console.log('ran on ' + process.env.WEBSITE_INSTANCE_ID);\n",
            ),
            (
                "settings.job",
                br#"{"schedule": "0 0 0 1 1 *", "catch_up_s": 60}"#,
            ),
        ],
    );
    // A host that registered, claimed two occurrences with their runs (one
    // a second ago, one beyond the catch-up window) and died at once, as a
    // SIGKILL right after the claim's commit leaves them.
    psql(
        &c.db,
        "INSERT INTO hosts (token, instance, lease_ms, heartbeat_at)
           VALUES (1000000, 'ghost0', 5000, now() - interval '1 minute');
         INSERT INTO ticks (tenant, name, tick, token, instance, outcome) VALUES
           ('acme', 'yearly', date_trunc('second', now()) - interval '1 second', 1000000, 'ghost0', 'run'),
           ('acme', 'yearly', date_trunc('second', now()) - interval '10 minutes', 1000000, 'ghost0', 'run');
         INSERT INTO runs (tenant, name, run_id, status, trigger, tick, catch_up_s, instance, token, start_time)
           VALUES ('acme', 'yearly', '202001010000000001', 'Initializing', 'Schedule - 0 0 0 1 1 *',
                   date_trunc('second', now()) - interval '10 minutes', 60, 'ghost0', 1000000, now());",
    );
    // The old occurrence, beyond its catch-up window, is not run late: it
    // reads Aborted. (Only one run of a job is active at a time, so the
    // recent one is inserted after.)
    c.wait_for("the stale claim aborted", Duration::from_secs(15), || {
        c.run_json(1, "yearly", "202001010000000001")["status"] == "Aborted"
    });
    psql(
        &c.db,
        "INSERT INTO runs (tenant, name, run_id, status, trigger, tick, catch_up_s, instance, token, start_time)
           VALUES ('acme', 'yearly', '202001010000000002', 'Initializing', 'Schedule - 0 0 0 1 1 *',
                   date_trunc('second', now()) - interval '1 second', 60, 'ghost0', 1000000, now())",
    );
    // The recent one goes back to the queue and a live host runs it.
    c.wait_for(
        "the orphaned occurrence run",
        Duration::from_secs(20),
        || c.run_json(2, "yearly", "202001010000000002")["status"] == "Success",
    );
    let h = c.run_host("202001010000000002");
    let (_, _, out) = c.req(
        0,
        "GET",
        "/api/triggeredwebjobs/yearly/history/202001010000000002/output",
    );
    assert!(out.contains(&format!("ran on {}", NAMES[h])), "{out}");
}

#[test]
fn hosts_whose_clocks_disagree_by_seconds_still_run_each_tick_once_and_not_early() {
    // Host a's clock is 3 s fast, host b's 3 s slow.
    let Some(c) = Cluster::start_skewed(None, [3000, -3000, 0]) else {
        return;
    };
    c.upload(
        0,
        "triggered",
        "skewed",
        &[
            (
                "run.js",
                b"console.log('ran on ' + process.env.WEBSITE_INSTANCE_ID);\n",
            ),
            ("settings.job", br#"{"schedule": "*/1 * * * * *"}"#),
        ],
    );
    c.wait_for("the first scheduled run", Duration::from_secs(15), || {
        psql(&c.db, "SELECT count(*) FROM runs WHERE name = 'skewed'") != "0"
    });
    let from = psql(&c.db, "SELECT max(tick) + interval '1 second' FROM runs");
    std::thread::sleep(Duration::from_secs(10));
    let window =
        format!("tick >= '{from}' AND tick < '{from}'::timestamptz + interval '8 seconds'");
    let q = |sql: &str| psql(&c.db, &sql.replace("WINDOW", &window));
    let ticks: Vec<(i64, bool)> = q(
        "SELECT extract(epoch FROM tick)::bigint, catch_up FROM ticks
         WHERE name = 'skewed' AND WINDOW ORDER BY tick",
    )
    .lines()
    .map(|l| {
        let (t, late) = l.split_once('|').unwrap();
        (t.parse().unwrap(), late == "t")
    })
    .collect();
    let start: i64 = psql(
        &c.db,
        &format!("SELECT extract(epoch FROM '{from}'::timestamptz)::bigint"),
    )
    .parse()
    .unwrap();
    // Not doubled: one claim per occurrence (the key) and one execution per run.
    let runs: usize = q("SELECT count(*) FROM runs WHERE name = 'skewed' AND WINDOW")
        .parse()
        .unwrap();
    let executions = q(
        "SELECT convert_from(string_agg(o.body, ''::bytea ORDER BY o.run_pk, o.seq), 'UTF8')
         FROM run_output o JOIN runs r ON r.pk = o.run_pk WHERE r.name = 'skewed' AND WINDOW",
    )
    .matches("INFO] ran on ")
    .count();
    assert_eq!(executions, runs, "a run executed twice (or never)");
    // Not skipped: every second, or a recorded catch-up.
    let mut expected = start;
    for (t, late) in &ticks {
        assert!(
            *t == expected || (*t > expected && *late),
            "occurrences {expected}..{t} skipped: {ticks:?}"
        );
        expected = t + 1;
    }
    assert_eq!(expected, start + 8, "{ticks:?}");
    // Not early: the fast host, which would claim each occurrence 3 s
    // ahead by its own clock, claims none before it happened by the
    // database's (a margin of 50 ms for the clock offset's estimate).
    assert_eq!(
        q("SELECT count(*) FROM ticks WHERE name = 'skewed' AND WINDOW
           AND claimed_at < tick - interval '50 milliseconds'"),
        "0",
        "{}",
        q(
            "SELECT string_agg(instance || ' ' || (claimed_at - tick)::text, ', ') FROM ticks WHERE name = 'skewed' AND WINDOW"
        )
    );
}

#[test]
fn a_continuous_job_that_is_not_a_singleton_runs_on_every_host() {
    let Some(c) = Cluster::start(None) else {
        return;
    };
    c.upload(2, "continuous", "everywhere", &[("run.js", LONG_JS)]);
    c.wait_for("every instance running it", Duration::from_secs(20), || {
        let s = c.statuses(0, "everywhere");
        s.len() == 3 && s.iter().all(|(_, st)| st == "Running")
    });
    let mut instances: Vec<String> = c
        .statuses(1, "everywhere")
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    instances.sort();
    assert_eq!(instances, NAMES);
    // Each host's own log shows its own instance running the job.
    for (i, name) in NAMES.iter().enumerate() {
        let log = c.envs[i]
            .root()
            .join("tenants/acme/data/jobs/continuous/everywhere/job_log.txt");
        c.wait_for(
            "the job's output on each host",
            Duration::from_secs(10),
            || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(&format!("> {name}: INFO] tick 0"))
            },
        );
    }
}
