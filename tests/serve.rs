//! `wasmjobs serve` with the real binary: schedules fire on the second,
//! overlap policies, continuous restarts, stop/start across host restarts,
//! graceful stop, and a host killed mid-run. Delays are made short with
//! `WEBJOBS_RESTART_TIME`, `--restart-warmup-s` and `--change-debounce-ms`.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Env;

/// A running `wasmjobs serve`.
struct Serve(Child);

impl Serve {
    fn start(env: &Env, extra: &[&str]) -> Serve {
        let mut cmd = env.cmd();
        cmd.args(["--change-debounce-ms", "200"]);
        if !extra.contains(&"--restart-warmup-s") {
            cmd.args(["--restart-warmup-s", "60"]);
        }
        cmd.args(extra)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Serve(cmd.spawn().expect("starting serve"))
    }

    /// SIGTERM, then wait for it to finish stopping its jobs.
    fn stop(mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the host dies mid-run.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_times(env: &Env, name: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut v: Vec<_> = env
        .history(name)
        .iter()
        .map(|r| r["start_time"].as_str().unwrap().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn every_second_schedule_fires_on_the_second_without_drift() {
    let env = Env::new();
    env.deploy_js(
        "tick",
        "console.log('tick')",
        Some(r#"{"schedule": "* * * * * *"}"#),
    );
    let serve = Serve::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(11_500));
    serve.stop();
    let starts = start_times(&env, "tick");
    assert!(starts.len() >= 10, "{} runs in 11.5 s", starts.len());
    // One run per second: never two in a second, and (on a loaded CI
    // machine) at most one second lost...
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1].timestamp() - w[0].timestamp())
        .collect();
    assert!(gaps.iter().all(|g| *g >= 1), "a doubled second: {starts:?}");
    assert!(
        gaps.iter().filter(|g| **g > 1).count() <= 1,
        "seconds lost: {starts:?}"
    );
    // ...and no drift: starts stay just after their second, the last ones
    // as close to it as the first ones.
    let offsets: Vec<u32> = starts.iter().map(|t| t.timestamp_subsec_millis()).collect();
    let late = offsets.iter().filter(|ms| **ms >= 300).count();
    assert!(late <= 1, "start offsets past the second (ms): {offsets:?}");
    assert!(offsets.last().unwrap() < &300, "drift: {offsets:?}");
    let runs = env.history("tick");
    assert_eq!(runs[0]["trigger"], "Schedule - * * * * * *");
}

/// A job that runs ~2.5 s, scheduled every second, with an overlap policy.
fn slow_job(env: &Env, name: &str, overlap: &str) {
    env.deploy_js(
        name,
        "import * as os from 'os'; console.log('start'); os.sleep(2500); console.log('end');",
        Some(&format!(
            r#"{{"schedule": "* * * * * *", "overlap": "{overlap}", "stopping_wait_time": 0}}"#
        )),
    );
}

#[test]
fn overlap_skip_queue_and_replace() {
    let env = Env::new();
    slow_job(&env, "skipper", "skip");
    slow_job(&env, "queuer", "queue");
    slow_job(&env, "replacer", "replace");
    let serve = Serve::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(8_200));
    serve.stop();
    let sched = |n: &str| read(&env.data_dir(n).join("job_scheduler.log"));

    // skip: a run every ~3 s; the ticks in between are logged as skipped.
    let skip_runs = env.history("skipper");
    assert!((2..=4).contains(&skip_runs.len()), "{skip_runs:?}");
    assert!(
        sched("skipper")
            .contains("Skipped this schedule: the previous run is still running (overlap: skip)"),
        "{}",
        sched("skipper")
    );
    let starts = start_times(&env, "skipper");
    for w in starts.windows(2) {
        assert!(w[1].timestamp() - w[0].timestamp() >= 3, "{starts:?}");
    }

    // queue: runs back to back (one pending at most), the extra ticks skipped.
    let q = sched("queuer");
    assert!(
        q.contains("this schedule's run is queued (overlap: queue)"),
        "{q}"
    );
    assert!(q.contains("a run is already queued"), "{q}");
    assert!(q.contains("WebJob invoked (queued run)"), "{q}");
    let runs = env.history("queuer");
    assert!(runs.len() >= 3, "{runs:?}");
    let starts = start_times(&env, "queuer");
    for w in starts.windows(2) {
        let gap = (w[1] - w[0]).num_milliseconds();
        assert!(
            (2400..4500).contains(&gap),
            "queued runs start as the previous ends: {starts:?}"
        );
    }

    // replace: every tick stops the running run and starts a new one.
    let r = sched("replacer");
    assert!(r.contains("Stopping the running run to replace it"), "{r}");
    let runs = env.history("replacer");
    assert!(runs.len() >= 6, "{runs:?}");
    assert!(
        runs.iter().skip(1).all(|run| run["status"] == "Stopped"),
        "{runs:?}"
    );
}

#[test]
fn continuous_job_restarts_per_the_rule_and_stops_for_good() {
    let env = Env::new();
    env.deploy_files("crasher", &[("run.js", "console.log('up'); std.exit(1);")]);
    let job_dir = env.root().join("jobs/continuous/crasher");
    env.run(&[
        "deploy",
        env.dir.path().join("src/crasher").to_str().unwrap(),
        "--type",
        "continuous",
    ])
    .ok();
    std::fs::remove_dir_all(env.job_dir("crasher")).unwrap();
    assert!(job_dir.exists());
    let log = env.root().join("data/jobs/continuous/crasher/job_log.txt");
    let status = env.root().join(format!(
        "data/jobs/continuous/crasher/status_{}",
        instance(&env)
    ));
    let ups = || read(&log).matches("] up").count();

    // Quick failures wait WEBJOBS_RESTART_TIME (1 s here) between starts.
    let serve = Serve::start(&env, &["--app-setting", "WEBJOBS_RESTART_TIME=1"]);
    std::thread::sleep(Duration::from_millis(3_500));
    let n = ups();
    assert!((2..=5).contains(&n), "{n} starts in 3.5 s:\n{}", read(&log));
    assert!(read(&log).contains("Process went down, waiting for 1 seconds"));
    assert!(read(&log).contains("Status changed to PendingRestart"));

    // stop: the running host stops it and it stays stopped, across restarts.
    env.run(&["stop", "crasher"]).ok();
    wait_for("Stopped", Duration::from_secs(10), || {
        read(&status).contains("\"Stopped\"")
    });
    serve.stop();
    let before = ups();
    let serve = Serve::start(&env, &["--app-setting", "WEBJOBS_RESTART_TIME=1"]);
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(ups(), before, "a stopped job was started by a new host");
    assert!(read(&status).contains("\"Stopped\""));
    // start: it runs again.
    env.run(&["start", "crasher"]).ok();
    wait_for("a new start", Duration::from_secs(10), || ups() > before);
    serve.stop();
    assert!(read(&status).contains("\"Stopped\""), "{}", read(&status));
}

#[test]
fn restart_backoff_grows_and_a_warm_job_restarts_at_once() {
    let env = Env::new();
    let src = env.dir_bundle(
        "backoff",
        &[
            ("run.js", "console.log('up'); std.exit(1);"),
            (
                "settings.job",
                r#"{"restart_backoff": {"initial_s": 1, "max_s": 2}}"#,
            ),
        ],
    );
    env.run(&["deploy", src.to_str().unwrap(), "--type", "continuous"])
        .ok();
    let log = env.root().join("data/jobs/continuous/backoff/job_log.txt");
    let serve = Serve::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(5_800));
    serve.stop();
    let text = read(&log);
    let waits: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("Process went down, waiting for ").nth(1))
        .collect();
    assert!(waits.len() >= 3, "{text}");
    assert_eq!(
        &waits[..3],
        ["1 seconds", "2 seconds", "2 seconds"],
        "{text}"
    );

    // A job that ran past the warm-up restarts at once.
    let env = Env::new();
    let src = env.dir_bundle(
        "warm",
        &[(
            "run.js",
            "import * as os from 'os'; import * as std from 'std'; console.log('up'); os.sleep(1200); std.exit(1);",
        )],
    );
    env.run(&["deploy", src.to_str().unwrap(), "--type", "continuous"])
        .ok();
    let serve = Serve::start(&env, &["--restart-warmup-s", "1"]);
    std::thread::sleep(Duration::from_millis(3_000));
    serve.stop();
    let text = read(&env.root().join("data/jobs/continuous/warm/job_log.txt"));
    assert!(
        text.contains("Process went down, waiting for 0 seconds"),
        "{text}"
    );
}

#[test]
fn graceful_stop_lets_a_watching_job_exit_and_kills_one_that_ignores_it() {
    let env = Env::new();
    let watcher = env.dir_bundle(
        "watcher",
        &[
            (
                "run.js",
                "import * as os from 'os'; const f = std.getenv('WEBJOBS_SHUTDOWN_FILE');\n\
                 console.log('up');\n\
                 for (;;) { if (os.stat(f)[1] === 0) { console.log('saw the shutdown file'); std.exit(0); } os.sleep(50); }",
            ),
            ("settings.job", r#"{"stopping_wait_time": 20}"#),
        ],
    );
    let deaf = env.dir_bundle(
        "deaf",
        &[
            ("run.sh", "echo up; exec sleep 300"),
            ("settings.job", r#"{"stopping_wait_time": 1}"#),
        ],
    );
    for src in [&watcher, &deaf] {
        env.run(&["deploy", src.to_str().unwrap(), "--type", "continuous"])
            .ok();
    }
    let log = |n: &str| {
        read(
            &env.root()
                .join(format!("data/jobs/continuous/{n}/job_log.txt")),
        )
    };
    let serve = Serve::start(&env, &[]);
    wait_for("both jobs up", Duration::from_secs(20), || {
        log("watcher").contains("] up") && log("deaf").contains("] up")
    });
    let stopping = Instant::now();
    serve.stop();
    // The watcher exits on its own well within its 20 s; the deaf one is
    // killed after its 1 s.
    assert!(stopping.elapsed() < Duration::from_secs(10));
    assert!(
        log("watcher").contains("saw the shutdown file"),
        "{}",
        log("watcher")
    );
    assert!(log("watcher").contains("Status changed to Stopped"));
    assert!(
        log("deaf").contains("WebJob was stopped on request"),
        "{}",
        log("deaf")
    );
    assert!(log("deaf").contains("Status changed to Stopped"));
}

#[test]
fn host_killed_mid_run_then_restarted() {
    let env = Env::new();
    env.deploy_js(
        "slow",
        "import * as os from 'os'; console.log('start'); os.sleep(4000);",
        Some(r#"{"schedule": "*/2 * * * * *"}"#),
    );
    let src = env.dir_bundle("keeper", &[("run.sh", "echo up; exec sleep 300")]);
    env.run(&["deploy", src.to_str().unwrap(), "--type", "continuous"])
        .ok();
    let status = env.root().join(format!(
        "data/jobs/continuous/keeper/status_{}",
        instance(&env)
    ));
    let serve = Serve::start(&env, &[]);
    wait_for("a scheduled run", Duration::from_secs(10), || {
        env.history("slow")
            .first()
            .is_some_and(|r| r["status"] == "Running")
    });
    wait_for("the continuous job", Duration::from_secs(10), || {
        read(&status).contains("\"Running\"")
    });
    assert_eq!(env.listed("keeper", "status"), "Running");
    serve.kill();
    // A dead host's continuous status is stale: it reads Stopped.
    assert_eq!(env.listed("keeper", "status"), "Stopped");
    // The killed run reads Aborted (nobody holds its lock any more).
    wait_for("Aborted", Duration::from_secs(5), || {
        env.history("slow")[0]["status"] == "Aborted"
    });
    let before = env.history("slow").len();
    let serve = Serve::start(&env, &[]);
    // Scheduled runs resume; the continuous job comes back.
    wait_for("a new scheduled run", Duration::from_secs(10), || {
        env.history("slow").len() > before
    });
    wait_for("the continuous job back", Duration::from_secs(10), || {
        read(&status).contains("\"Running\"")
    });
    serve.stop();
    assert_eq!(env.history("slow")[0]["status"], "Stopped");
}

#[test]
fn a_singleton_runs_in_one_host_and_webjobs_stopped_holds_everything() {
    let env = Env::new();
    let src = env.dir_bundle(
        "single",
        &[
            ("run.sh", "echo up; exec sleep 300"),
            ("settings.job", r#"{"is_singleton": true}"#),
        ],
    );
    env.run(&["deploy", src.to_str().unwrap(), "--type", "continuous"])
        .ok();
    let data = env.root().join("data/jobs/continuous/single");
    let a = Serve::start(&env, &[]);
    wait_for("the first host running it", Duration::from_secs(10), || {
        read(&data.join(format!("status_{}", instance(&env)))).contains("\"Running\"")
    });
    // A second host on the same data (another instance id) waits.
    let mut cmd = env.cmd();
    cmd.env("WEBSITE_INSTANCE_ID", "otherhost")
        .args(["--change-debounce-ms", "200", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let b = Serve(cmd.spawn().unwrap());
    wait_for("the second host inactive", Duration::from_secs(10), || {
        read(&data.join("status_otherh")).contains("\"InactiveInstance\"")
    });
    assert_eq!(read(&data.join("job_log.txt")).matches("] up").count(), 1);
    a.stop();
    // The lock is free: the second host takes over within its 5 s retry.
    wait_for(
        "the second host running it",
        Duration::from_secs(15),
        || read(&data.join("status_otherh")).contains("\"Running\""),
    );
    b.stop();

    // WEBJOBS_STOPPED: no run starts, not even by hand.
    env.deploy_js("manual", "console.log(1)", None);
    let out = env
        .run(&["--app-setting", "WEBJOBS_STOPPED=1", "run", "manual"])
        .fails();
    assert!(out.stderr().contains("WEBJOBS_STOPPED"), "{}", out.stderr());
}

#[test]
fn a_redeploy_restarts_a_continuous_job() {
    let env = Env::new();
    let v1 = env.dir_bundle(
        "v1/changing",
        &[(
            "run.sh",
            "echo \"up v1\"; while true; do date > \"$WEBJOBS_DATA_PATH/now\"; sleep 0.1; done",
        )],
    );
    env.run(&["deploy", v1.to_str().unwrap(), "--type", "continuous"])
        .ok();
    let log = || read(&env.root().join("data/jobs/continuous/changing/job_log.txt"));
    let serve = Serve::start(&env, &[]);
    wait_for("v1 up", Duration::from_secs(10), || {
        log().contains("] up v1")
    });
    // The job writes into its data folder ten times a second (outside the
    // watched jobs folder, by design): no restart.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(log().matches("] up v1").count(), 1, "{}", log());
    let v2 = env.dir_bundle(
        "v2/changing",
        &[("run.sh", "echo \"up v2\"; exec sleep 300")],
    );
    env.run(&["deploy", v2.to_str().unwrap(), "--type", "continuous"])
        .ok();
    wait_for("v2 up", Duration::from_secs(10), || {
        log().contains("] up v2")
    });
    serve.stop();
    let text = log();
    assert!(
        text.find("] up v1").unwrap() < text.find("Status changed to Stopping").unwrap(),
        "{text}"
    );
}

#[test]
fn a_settings_change_reschedules_but_leaves_the_running_run_alone() {
    let env = Env::new();
    env.deploy_js(
        "longrun",
        "import * as os from 'os'; console.log('start'); os.sleep(3000); console.log('end');",
        Some(r#"{"schedule": "*/2 * * * * *"}"#),
    );
    let serve = Serve::start(&env, &[]);
    wait_for("a run", Duration::from_secs(10), || {
        env.history("longrun")
            .first()
            .is_some_and(|r| r["status"] == "Running")
    });
    let running = env.history("longrun")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Change the job's settings under the host (no redeploy).
    std::fs::write(
        env.job_dir("longrun").join("settings.job"),
        r#"{"schedule": "*/3 * * * * *"}"#,
    )
    .unwrap();
    wait_for("the run to end", Duration::from_secs(15), || {
        env.history("longrun")
            .iter()
            .any(|r| r["id"] == running.as_str() && r["status"] != "Running")
    });
    std::thread::sleep(Duration::from_millis(1500));
    serve.stop();
    let runs = env.history("longrun");
    let run = runs.iter().find(|r| r["id"] == running.as_str()).unwrap();
    assert_eq!(
        run["status"], "Success",
        "the running run was disturbed: {runs:?}"
    );
    let sched = read(&env.data_dir("longrun").join("job_scheduler.log"));
    assert!(
        sched.contains("Scheduling WebJob with */3 * * * * *"),
        "{sched}"
    );
}

#[test]
fn disabled_schedules_skip_each_tick_once() {
    let env = Env::new();
    env.deploy_js(
        "paused",
        "console.log(1)",
        Some(r#"{"schedule": "* * * * * *"}"#),
    );
    // A manual run first: the scheduler must not chase it as a miss.
    env.run(&["run", "paused"]).ok();
    let serve = Serve::start(&env, &["--app-setting", "WEBJOBS_DISABLE_SCHEDULE=1"]);
    std::thread::sleep(Duration::from_millis(3_300));
    serve.stop();
    assert_eq!(env.history("paused").len(), 1, "a scheduled run started");
    let sched = read(&env.data_dir("paused").join("job_scheduler.log"));
    let skips = sched
        .matches("Schedule skipped: WEBJOBS_DISABLE_SCHEDULE is set")
        .count();
    assert!((2..=5).contains(&skips), "{skips} skips in 3.3 s:\n{sched}");
}

#[test]
fn bad_schedules_are_rejected_at_deploy() {
    let env = Env::new();
    let src = env.dir_bundle(
        "five",
        &[
            ("run.js", "1"),
            ("settings.job", r#"{"schedule": "*/5 * * * *"}"#),
        ],
    );
    let out = env.run(&["deploy", src.to_str().unwrap()]).fails();
    assert!(out.stderr().contains("it has 5 fields"), "{}", out.stderr());
    assert!(out.stderr().contains("seconds field"), "{}", out.stderr());
    assert!(
        !env.job_dir("five").exists(),
        "a rejected bundle installs nothing"
    );
    let src = env.dir_bundle(
        "zone",
        &[
            ("run.js", "1"),
            (
                "settings.job",
                r#"{"schedule": "0 0 * * * *", "time_zone": "Mars/Base"}"#,
            ),
        ],
    );
    let out = env.run(&["deploy", src.to_str().unwrap()]).fails();
    assert!(
        out.stderr().contains("unknown time zone 'Mars/Base'"),
        "{}",
        out.stderr()
    );
    // cron next: the same parser, for checking before deploying.
    let out = env
        .run(&[
            "cron",
            "next",
            "0 30 2 * * *",
            "--tz",
            "America/New_York",
            "--from",
            "2026-03-07T12:00:00Z",
            "-n",
            "2",
        ])
        .ok();
    assert_eq!(
        out.stdout(),
        "2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n"
    );
    let out = env.run(&["cron", "next", "0 0 0 * * 7"]).fails();
    assert!(out.stderr().contains("Sunday is 0"), "{}", out.stderr());
}

/// The short instance id status files are named with.
fn instance(_env: &Env) -> String {
    let host = std::env::var("WEBSITE_INSTANCE_ID").ok();
    wasmjobs::store::logline::short_instance_id(host.as_deref())
}
