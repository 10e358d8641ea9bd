//! The native executor through the real binary: script hosts, the job's
//! view and environment, limits that end the run and its whole process
//! tree, executor choice, and the errors a job that cannot run here gets.
//! Tests that need the sandbox skip loudly where `doctor` refuses it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, skip};

#[test]
fn bash_job_runs_in_its_own_view_with_webjobs_variables() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files(
        "sh",
        &[
            (
                "run.sh",
                "echo \"args=$*\"\necho \"path=$WEBJOBS_PATH data=$WEBJOBS_DATA_PATH name=$WEBJOBS_NAME\"\n\
                 echo \"pid=$$ host=$(hostname) cwd=$(pwd)\"\ncat data.txt\necho persisted >> \"$WEBJOBS_DATA_PATH/n\"\n\
                 echo \"init=[$(tr -d '\\0' < /proc/1/cmdline)]\"\necho oops >&2\nexit 3\n",
            ),
            ("data.txt", "bundled file\n"),
        ],
    );
    let out = env.run(&["run", "sh", "--", "a", "b"]);
    assert_eq!(out.code(), Some(3));
    let log = env.latest_log("sh");
    assert!(log.contains("with script host - 'BashScriptHost'"), "{log}");
    assert!(log.contains("SYS INFO] Native sandbox: rlimits"), "{log}");
    assert!(log.contains("] args=a b"), "{log}");
    assert!(
        log.contains("] path=/home/job data=/home/data name=sh"),
        "{log}"
    );
    assert!(log.contains("] pid=2 host=wasmjobs cwd=/home/job"), "{log}");
    assert!(log.contains("] bundled file"), "{log}");
    // The init is a fork of the host: its command line is blanked.
    assert!(log.contains("] init=[]"), "{log}");
    assert!(log.contains("ERR ] oops"), "{log}");
    assert!(log.contains("Job failed due to exit code 3"), "{log}");
    assert_eq!(env.latest_status("sh")["ExitCode"], 3);
    env.run(&["run", "sh"]);
    let persisted = env.data_dir("sh").join("job_data/n");
    assert_eq!(
        std::fs::read_to_string(persisted).unwrap(),
        "persisted\npersisted\n"
    );
}

/// The view's tmpfs covers the host's `/home`: a data root under `/home`
/// (a non-root user's default) must still be reachable.
#[test]
fn a_data_root_under_home_works() {
    if !Path::new("/home").is_dir() {
        return skip("there is no /home on this host");
    }
    let env = Env::new_in("/home");
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files("athome", &[("run.sh", "echo \"home ok in $(pwd)\"; ls")]);
    env.run(&["run", "athome"]).ok();
    let log = env.latest_log("athome");
    assert!(log.contains("] home ok in /home/job"), "{log}");
    assert!(log.contains("] run.sh"), "{log}");
}

#[test]
fn timeout_kills_the_whole_tree() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files(
        "hang",
        &[
            (
                "run.sh",
                "(setsid sleep 300 &) ; sleep 300 & echo started; wait",
            ),
            ("settings.job", r#"{"limits": {"timeout_s": 2}}"#),
        ],
    );
    let started = Instant::now();
    env.run(&["run", "hang"]).fails();
    assert!(started.elapsed() < Duration::from_secs(20));
    let status = env.latest_status("hang");
    assert_eq!(status["Status"], "Failed");
    assert_eq!(status["Limit"], "timeout");
    let log = env.latest_log("hang");
    assert!(log.contains("timeout after 2 s"), "{log}");
    let run_id = env.history("hang")[0]["id"].as_str().unwrap().to_string();
    assert!(
        processes_with_env(&format!("WEBJOBS_RUN_ID={run_id}")).is_empty(),
        "processes of the run survived it"
    );
}

#[test]
fn idle_native_job_is_stopped_but_a_busy_one_is_not() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files(
        "quiet",
        &[
            ("run.sh", "sleep 30"),
            (
                "settings.job",
                r#"{"limits": {"idle_timeout_s": 2, "timeout_s": 20}}"#,
            ),
        ],
    );
    env.run(&["run", "quiet"]).fails();
    assert_eq!(env.latest_status("quiet")["Limit"], "idle");
    // Silent but computing: CPU use is a sign of life.
    env.deploy_files(
        "busy",
        &[
            (
                "run.sh",
                "end=$((SECONDS+4)); while [ $SECONDS -lt $end ]; do :; done; echo done",
            ),
            (
                "settings.job",
                r#"{"limits": {"idle_timeout_s": 2, "timeout_s": 20}}"#,
            ),
        ],
    );
    env.run(&["run", "busy"]).ok();
}

#[test]
fn cmd_and_windows_exe_get_clear_errors_at_deploy() {
    let env = Env::new();
    let out = env
        .run(&[
            "deploy",
            env.dir_bundle("wincmd", &[("run.cmd", "echo hi")])
                .to_str()
                .unwrap(),
        ])
        .ok();
    assert!(
        out.stderr().contains("cannot run .cmd on a Linux host"),
        "{}",
        out.stderr()
    );
    assert!(
        env.listed("wincmd", "error")
            .contains("cannot run .cmd on a Linux host")
    );
    env.deploy_files("winexe", &[("run.exe", "MZ\u{90}\0not really")]);
    let err = env.listed("winexe", "error");
    assert!(err.contains("cannot run .exe on a Linux host"), "{err}");
    assert!(err.contains("Windows executable"), "{err}");
    env.run(&["run", "winexe"]).fails();
    if !Path::new("/usr/bin/pwsh").exists() {
        env.deploy_files("ps", &[("run.ps1", "Write-Host hi")]);
        let err = env.listed("ps", "error");
        assert!(err.contains("cannot run .ps1 on a Linux host"), "{err}");
        assert!(err.contains("install"), "{err}");
    }
}

#[test]
fn elf_executables_run_as_exe_or_extensionless_run() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    let bin = env.dir.path().join("hello");
    let src = env.dir.path().join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(int c, char **v) { printf(\"elf says %s\\n\", c > 1 ? v[1] : \"-\"); return 0; }\n",
    )
    .unwrap();
    assert!(
        Command::new("cc")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .status()
            .unwrap()
            .success()
    );
    let elf = std::fs::read(&bin).unwrap();
    // A zip made on Windows carries no exec bit: run.exe still runs.
    let zip = env.zip_bundle("elfexe", &[("run.exe", &elf)]);
    env.run(&["deploy", zip.to_str().unwrap()]).ok();
    env.run(&["run", "elfexe", "--", "hi"]).ok();
    let log = env.latest_log("elfexe");
    assert!(log.contains("] elf says hi"), "{log}");
    // An extensionless ELF with its exec bit counts as run.exe.
    let dir = env.dir.path().join("src/elfrun");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&bin, dir.join("run")).unwrap();
    env.run(&["deploy", dir.to_str().unwrap()]).ok();
    env.run(&["run", "elfrun"]).ok();
    assert!(env.latest_log("elfrun").contains("] elf says -"));
}

#[test]
fn python_and_js_run_natively_when_asked() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files(
        "pynative",
        &[
            (
                "run.py",
                "import sys, os\nprint('native', sys.implementation.name, os.getcwd())",
            ),
            ("settings.job", r#"{"executor": "native"}"#),
        ],
    );
    env.run(&["run", "pynative"]).ok();
    let log = env.latest_log("pynative");
    assert!(log.contains("script host - 'PythonScriptHost'"), "{log}");
    assert!(log.contains("] native cpython /home/job"), "{log}");
    if Path::new("/usr/bin/node").exists() {
        env.deploy_js("jsnative", "console.log('node', process.version)", None);
        env.run(&["--executor", "native", "run", "jsnative"]).ok();
        let log = env.latest_log("jsnative");
        assert!(log.contains("script host - 'NodeScriptHost'"), "{log}");
        assert!(log.contains("] node v"), "{log}");
    } else {
        skip("node is not installed: the native .js case is not run");
    }
    // A host that allows wasm only refuses a job that asks for native.
    let out = env.run(&["--executor", "wasm", "run", "pynative"]).fails();
    assert!(out.stderr().contains("executor"), "{}", out.stderr());
}

#[test]
fn sandbox_off_is_named_in_the_log() {
    let env = Env::new();
    env.deploy_files("plain", &[("run.sh", "echo \"path=$WEBJOBS_PATH\"")]);
    env.run(&["--native-sandbox", "off", "run", "plain"]).ok();
    let log = env.latest_log("plain");
    assert!(log.contains("the native sandbox is off"), "{log}");
    // Without namespaces the job sees the host's paths.
    assert!(
        log.contains(&format!("path={}", env.root().display())),
        "{log}"
    );
}

#[test]
fn a_native_job_sees_its_shutdown_file_on_stop() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    env.deploy_files(
        "graceful",
        &[
            (
                "run.sh",
                "echo started; while [ ! -e \"$WEBJOBS_SHUTDOWN_FILE\" ]; do sleep 0.1; done; echo \"saw $WEBJOBS_SHUTDOWN_FILE\"",
            ),
            ("settings.job", r#"{"stopping_wait_time": 20}"#),
        ],
    );
    let child = env
        .cmd()
        .args(["run", "graceful"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.data_dir("graceful").exists()
        || env
            .history("graceful")
            .first()
            .is_none_or(|r| r["status"] != "Running")
    {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = env.latest_log("graceful");
    assert!(log.contains("] saw /tmp/webjobs-shutdown"), "{log}");
    assert_eq!(env.history("graceful")[0]["status"], "Stopped");
}

/// A host whose kernel refuses namespaces (here: a seccomp filter on the
/// host process denying `unshare`, as container runtimes often do): strict
/// mode refuses native runs, best-effort runs them and says what is
/// missing.
#[test]
fn strict_refuses_a_host_without_namespaces() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    env.deploy_files("nons", &[("run.sh", "echo ran")]);
    let no_unshare = || {
        let mut cmd = env.cmd();
        let filter: seccompiler::BpfProgram = seccompiler::SeccompFilter::new(
            [(libc::SYS_unshare, vec![])].into_iter().collect(),
            seccompiler::SeccompAction::Allow,
            seccompiler::SeccompAction::Errno(libc::EPERM as u32),
            seccompiler::TargetArch::x86_64,
        )
        .unwrap()
        .try_into()
        .unwrap();
        // SAFETY: installs a prepared filter, no allocation after fork.
        unsafe {
            cmd.pre_exec(move || seccompiler::apply_filter(&filter).map_err(std::io::Error::other));
        }
        cmd
    };
    let doctor = common::Out(no_unshare().arg("doctor").output().unwrap()).ok();
    assert!(
        doctor.stdout().contains("namespaces            : NO"),
        "{}",
        doctor.stdout()
    );
    assert!(doctor.stdout().contains("REFUSED"), "{}", doctor.stdout());
    let out = common::Out(no_unshare().args(["run", "nons"]).output().unwrap()).fails();
    let log = env.latest_log("nons");
    assert!(
        log.contains("the native sandbox is strict and this host lacks"),
        "{log}"
    );
    assert!(!log.contains("] ran"), "{log}\n{}", out.stderr());
    common::Out(
        no_unshare()
            .args(["--native-sandbox", "best-effort", "run", "nons"])
            .output()
            .unwrap(),
    )
    .ok();
    let log = env.latest_log("nons");
    assert!(
        log.contains("SYS WARN] sandbox layer missing: namespaces"),
        "{log}"
    );
    assert!(log.contains("] ran"), "{log}");
}

/// Host pids whose environment holds `needle` (`KEY=VALUE`).
fn processes_with_env(needle: &str) -> Vec<i32> {
    let needle = format!("{needle}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// `cmd` started the way a supervisor or a careless shell might start it:
/// fd 7 open on a secret file, fd 8 appending to the host's log.
fn with_open_descriptors(cmd: &Command, secret: &Path, host_log: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg("exec 7<\"$0\" 8>>\"$1\"; shift; exec \"$@\"")
        .arg(secret)
        .arg(host_log)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Descriptors the host inherited (fd 7 on a secret, fd 8 on the host's
/// log) reach no native job, through `run` and through `serve`: judged
/// from the host (the secret is not in the run's log, the host's log is
/// untouched) and from the job (the descriptors are closed).
#[test]
fn descriptors_the_host_inherited_never_reach_a_job() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    let secret = env.dir.path().join("secret.txt");
    std::fs::write(&secret, "inherited-secret-line\n").unwrap();
    let host_log = env.dir.path().join("host.log");
    std::fs::write(&host_log, "").unwrap();
    let script = "for n in 7 8; do [ -e /proc/$$/fd/$n ] && echo \"fd $n is open\"; done\n\
                  cat <&7 2>&1 | head -c 200; echo\n\
                  { echo pwned >&8; } 2>&1 || true\n\
                  echo checked\n";
    env.deploy_files("fds", &[("run.sh", script)]);
    let out = with_open_descriptors(env.cmd().args(["run", "fds"]), &secret, &host_log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = |log: &str, how: &str| {
        assert!(log.contains("] checked"), "{how}: {log}");
        assert!(
            !log.contains("is open"),
            "{how}: an inherited descriptor is open: {log}"
        );
        assert!(
            !log.contains("inherited-secret-line"),
            "{how}: read the secret: {log}"
        );
        assert!(log.contains("Bad file descriptor"), "{how}: {log}");
        assert_eq!(
            std::fs::read_to_string(&host_log).unwrap(),
            "",
            "{how}: wrote the host's log"
        );
    };
    check(&env.latest_log("fds"), "run");

    // The same job on a schedule, under `serve`.
    env.deploy_files(
        "fds-on-schedule",
        &[
            ("run.sh", script),
            ("settings.job", r#"{"schedule": "* * * * * *"}"#),
        ],
    );
    let child = with_open_descriptors(
        env.cmd().args(["serve", "--listen", "127.0.0.1:0"]),
        &secret,
        &host_log,
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Stopped when dropped, a failed check included.
    let serve = common::http::Server { child, port: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let done = env
            .history("fds-on-schedule")
            .iter()
            .any(|r| r["status"] == "Success" || r["status"] == "Failed");
        if done {
            break env.latest_log("fds-on-schedule");
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run ended under serve"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(serve);
    check(&log, "serve");
}

/// Waits (a few seconds at most) until nothing of job `name` is alive and
/// the host `host` has no child left, zombie or not; panics naming what
/// is left.
fn nothing_left(name: &str, host: u32, how: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = common::job_processes(name);
        let children = common::children_of(host);
        if alive.is_empty() && children.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{how}: the run left processes {alive:?} alive and the host has children {children:?} (pid, state)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nothing of a native run outlives it, checked from the host for every
/// way a run can end (success, failure, timeout, idle timeout, stop
/// request, host shutdown): no process of the job is alive, and the host
/// has no child left, zombie or not. Each job leaves a background child, a
/// `setsid` daemon and an orphaned grandchild behind it first.
#[test]
fn nothing_outlives_a_native_run_however_it_ends() {
    use common::http;
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    let secret = env.add_tenant("acme");
    let auth = http::basic("acme", &secret);
    let server = http::start(&env);
    let host = server.child.id();
    let leave =
        "sleep 300 &\nsetsid sleep 301 </dev/null >/dev/null 2>&1 &\n( sleep 302 & )\necho left\n";
    let endings: [(&str, &str, &str, &str); 5] = [
        ("ends-ok", "exit 0", "{}", "Success"),
        ("ends-failed", "exit 3", "{}", "Failed"),
        (
            "ends-timeout",
            "sleep 300",
            r#"{"limits": {"timeout_s": 2}}"#,
            "Failed",
        ),
        (
            "ends-idle",
            "sleep 300",
            r#"{"limits": {"idle_timeout_s": 2}}"#,
            "Failed",
        ),
        (
            "ends-stopped",
            "sleep 300",
            r#"{"stopping_wait_time": 1}"#,
            "Stopped",
        ),
    ];
    for (name, end, settings, want) in endings {
        let script = format!("{leave}{end}\n");
        http::upload(
            &server,
            &auth,
            "triggered",
            name,
            &[
                ("run.sh", script.as_bytes()),
                ("settings.job", settings.as_bytes()),
            ],
        );
        let (code, id, body, _) = http::run(&server, &auth, name);
        assert_eq!(code, 202, "{name}: {body}");
        if name == "ends-stopped" {
            let deadline = Instant::now() + Duration::from_secs(20);
            while common::job_processes(name).len() < 4 {
                assert!(
                    Instant::now() < deadline,
                    "{name} never started its children"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let path = format!("/api/triggeredwebjobs/{name}/history/{id}/stop");
            let (code, _, body) = http::request(&server, "POST", &path, Some(&auth), "");
            assert!(code < 300, "stopping {name}: {code} {body}");
        }
        let run = http::wait_run(&server, &auth, name, &id);
        assert_eq!(run["status"], want, "{name}: {run}");
        nothing_left(name, host, name);
    }

    // Host shutdown with a run in progress.
    let name = "ends-with-host";
    let script = format!("{leave}sleep 300\n");
    http::upload(
        &server,
        &auth,
        "triggered",
        name,
        &[
            ("run.sh", script.as_bytes()),
            ("settings.job", br#"{"stopping_wait_time": 1}"#),
        ],
    );
    let (code, _, body, _) = http::run(&server, &auth, name);
    assert_eq!(code, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::job_processes(name).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "{name} never started its children"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut server = server;
    // SAFETY: kill sends a signal to the host process this test started.
    assert_eq!(unsafe { libc::kill(host as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the host did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    nothing_left(name, host, "host shutdown");
}
