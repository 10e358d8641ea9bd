//! Hosts locked down the usual ways, judged from the host side: a small
//! address space (`ulimit -v`) and no executable memory (`PR_SET_MDWE`, as
//! systemd's `MemoryDenyWriteExecute=` and SELinux's `execmem` deny it).
//! `.js`, `.py`, `.sh` and `.php` jobs run, in WebAssembly or by the
//! documented fallback to the native sandbox, and every fallback is said in
//! the run's log; a host that may not fall back (`--executor wasm`) refuses
//! with the cause and the fix.

mod common;
use common::*;

use std::os::unix::process::CommandExt;
use std::process::Command;

/// `PR_SET_MDWE` and its `PR_MDWE_REFUSE_EXEC_GAIN` flag (Linux 6.3).
const PR_SET_MDWE: libc::c_int = 65;
const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;

/// Caps the address space of the command's process at `bytes`.
fn limit_address_space(cmd: &mut Command, bytes: u64) {
    // SAFETY: between fork and exec only setrlimit, which is
    // async-signal-safe, runs on a struct on the stack.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Denies the command's process (and everything it starts) executable
/// memory, as a hardened service manager would.
fn deny_exec_memory(cmd: &mut Command) {
    // SAFETY: between fork and exec only prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether this kernel has `PR_SET_MDWE`; says so loudly when not, and
/// fails under `WASMJOBS_TEST_STRICT=1`.
fn mdwe_available() -> bool {
    let mut probe = Command::new("/bin/true");
    deny_exec_memory(&mut probe);
    let ok = probe.status().is_ok_and(|s| s.success());
    if !ok {
        skip(
            "this kernel has no PR_SET_MDWE (Linux 6.3+): the no-executable-memory host is not tested",
        );
    }
    ok
}

/// One job of each kind the issue names; each prints where it ran.
fn deploy_kinds(env: &Env) {
    env.deploy_js("js", "console.log('js on ' + process.platform);", None);
    env.deploy_py(
        "py",
        "import sys\nprint('py on', sys.platform, sys.version_info[:2])",
        None,
    );
    env.deploy_script("sh", "run.sh", "echo sh on $(uname -s)", None);
    env.deploy_script(
        "php",
        "run.php",
        "<?php echo 'php on ', PHP_OS, \"\\n\";",
        None,
    );
}

fn run_in(env: &Env, wrap: impl Fn(&mut Command), args: &[&str]) -> Out {
    let mut cmd = env.cmd();
    wrap(&mut cmd);
    Out(cmd.args(args).output().expect("running wasmjobs"))
}

const TWO_GIB: u64 = 2 << 30;

#[test]
fn a_small_address_space_runs_the_guests_in_wasm_with_their_memory_mapped_on_demand() {
    let env = Env::new();
    deploy_kinds(&env);
    let limited = |c: &mut Command| limit_address_space(c, TWO_GIB);
    for (job, host, prints) in [
        ("js", "QuickJS-NG (wasm32-wasip1)", "js on wasi"),
        ("py", "CPython 3.13 (wasm32-wasip1)", "py on wasi (3, 13)"),
        ("sh", "BashScriptHost", "sh on Linux"),
        ("php", "PhpScriptHost", "php on Linux"),
    ] {
        let out = run_in(&env, limited, &["run", job]).ok();
        assert!(out.stdout().contains(prints), "{job}: {}", out.stdout());
        let log = env.latest_log(job);
        assert!(log.contains(host), "{job} ran in {host}:\n{log}");
        assert!(!log.contains("runs natively"), "{job}: no fallback:\n{log}");
    }
    // Doctor says what it found and what it does about it, naming the
    // limit and the flags.
    let doctor = run_in(&env, limited, &["doctor"]).ok().stdout();
    for want in [
        "address space         : 2.0 GiB (ulimit -v)",
        "memory plan           : on demand",
        "--wasm-slots",
        "engine                : starts and compiles code here",
    ] {
        assert!(doctor.contains(want), "missing {want:?}:\n{doctor}");
    }
    // 16 slots of a 256 MiB ceiling fit in 8 GiB where 16 full ones do
    // not: smaller pooled slots, and guests run in them.
    let small = |c: &mut Command| limit_address_space(c, 8 << 30);
    let slots = ["--max-memory-mb", "256", "--wasm-slots", "16"];
    let doctor = run_in(&env, small, &[&slots[..], &["doctor"]].concat())
        .ok()
        .stdout();
    assert!(
        doctor.contains("memory plan           : pooled (256 MiB slots"),
        "{doctor}"
    );
    for (job, prints) in [("js", "js on wasi"), ("py", "py on wasi (3, 13)")] {
        let out = run_in(&env, small, &[&slots[..], &["run", job]].concat()).ok();
        assert!(out.stdout().contains(prints), "{job}: {}", out.stdout());
    }
    // One slot fits in 6 GiB whole: the fast pool.
    let doctor = run_in(
        &env,
        |c| limit_address_space(c, 6 << 30),
        &["--wasm-slots", "1", "doctor"],
    )
    .ok()
    .stdout();
    assert!(
        doctor.contains("memory plan           : pooled (4 GiB slots"),
        "{doctor}"
    );
}

#[test]
fn a_host_under_a_small_address_space_serves_runs_of_every_kind() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let auth = http::basic("acme", &secret);
    let mut cmd = env.cmd();
    limit_address_space(&mut cmd, TWO_GIB);
    let s = http::start_command(&env, cmd, &[]);
    for (job, file, script, prints) in [
        (
            "js",
            "run.js",
            "console.log('js on ' + process.platform)",
            "js on wasi",
        ),
        (
            "py",
            "run.py",
            "import sys; print('py on', sys.platform)",
            "py on wasi",
        ),
        ("sh", "run.sh", "echo sh on $(uname -s)", "sh on Linux"),
    ] {
        http::upload(&s, &auth, "triggered", job, &[(file, script.as_bytes())]);
        let (code, id, body, _) = http::run(&s, &auth, job);
        assert_eq!(code, 202, "{job}: {body}");
        let run = http::wait_run(&s, &auth, job, &id);
        assert_eq!(run["status"], "Success", "{job}: {run}");
        let out = http::output(&s, &auth, &run);
        assert!(out.contains(prints), "{job}: {out}");
    }
    let err = http::serve_stderr(&env);
    assert!(err.contains(".py  : in WebAssembly"), "{err}");
}

#[test]
fn no_executable_memory_falls_back_to_the_native_sandbox_and_says_so_in_every_run() {
    if !mdwe_available() {
        return;
    }
    let env = Env::new();
    deploy_kinds(&env);
    // The guests are prepared on a host that allows it: their caches must
    // survive the locked-down host's runs.
    env.run(&["run", "py"]).ok();
    let cached = |ext: &str| -> Vec<String> {
        let dir = std::env::var_os("WASMJOBS_CACHE_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/wasmjobs")
            })
            .join("modules");
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext))
            .collect();
        v.sort();
        v
    };
    let snapshots = cached(".snapshot.wasm");
    assert!(!snapshots.is_empty());

    for (job, runs_with, prints) in [
        ("js", "with /usr/bin/node --jitless", "js on linux"),
        ("py", "with /usr/bin/python3", "py on linux"),
    ] {
        let out = run_in(&env, deny_exec_memory, &["run", job]).ok();
        assert!(out.stdout().contains(prints), "{job}: {}", out.stdout());
        let log = env.latest_log(job);
        for want in [
            "SYS WARN",
            &format!("this .{job} job runs natively in the sandbox {runs_with}"),
            "denies executable memory",
            "MemoryDenyWriteExecute",
            "--executor native",
        ] {
            assert!(log.contains(want), "{job}: missing {want:?}:\n{log}");
        }
    }
    for (job, prints) in [("sh", "sh on Linux"), ("php", "php on Linux")] {
        let out = run_in(&env, deny_exec_memory, &["run", job]).ok();
        assert!(out.stdout().contains(prints), "{job}: {}", out.stdout());
    }
    // Chosen on purpose, node still needs --jitless, and the log says so.
    run_in(
        &env,
        deny_exec_memory,
        &["--executor", "native", "run", "js"],
    )
    .ok();
    let log = env.latest_log("js");
    assert!(log.contains("node runs with --jitless"), "{log}");
    assert!(!log.contains("instead of its WebAssembly guest"), "{log}");

    // A host that runs wasm only refuses, with the same cause and fix.
    let refused = run_in(&env, deny_exec_memory, &["--executor", "wasm", "run", "py"]).fails();
    let err = refused.stderr();
    assert!(
        err.contains(".py cannot run in WebAssembly here")
            && err.contains("denies executable memory")
            && err.contains("--executor native"),
        "{err}"
    );
    // Doctor names it.
    let doctor = run_in(&env, deny_exec_memory, &["doctor"]).ok().stdout();
    assert!(doctor.contains("executable memory     : NO"), "{doctor}");
    assert!(doctor.contains(".jar : REFUSED"), "{doctor}");
    // Nothing the host could not use was thrown away.
    assert_eq!(cached(".snapshot.wasm"), snapshots);
}

#[test]
fn a_python_guest_that_is_not_installed_is_never_replaced_silently() {
    let env = Env::new();
    deploy_kinds(&env);
    let missing = env.dir.path().join("no-guest-here");
    let out = run_in(
        &env,
        |c| {
            c.env("WASMJOBS_PYTHON_GUEST", &missing);
        },
        &["run", "py"],
    )
    .ok();
    assert!(out.stdout().contains("py on linux"), "{}", out.stdout());
    let log = env.latest_log("py");
    assert!(
        log.contains("this .py job runs natively in the sandbox with /usr/bin/python3")
            && log.contains(&missing.display().to_string())
            && log.contains("install-guests"),
        "{log}"
    );
    let refused = run_in(
        &env,
        |c| {
            c.env("WASMJOBS_PYTHON_GUEST", &missing);
        },
        &["--executor", "wasm", "run", "py"],
    )
    .fails();
    assert!(
        refused.stderr().contains("install-guests"),
        "{}",
        refused.stderr()
    );
}

/// A command that runs `wasmjobs args` with the whole file system
/// read-only but for `writable` folders (in a private mount namespace, as
/// systemd's `ProtectSystem=strict` with `ReadWritePaths=` gives a
/// service), or `None` where this machine cannot make one (said loudly;
/// a failure under `WASMJOBS_TEST_STRICT=1`).
fn read_only_root(env: &Env, writable: &[&std::path::Path], args: &[&str]) -> Option<Command> {
    let probe = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --make-rprivate / && mount -o remount,bind,ro / && ! touch /.wasmjobs-ro-probe",
        ])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        skip("cannot make a read-only root in a private mount namespace here (unshare -m, mount)");
        return None;
    }
    let mut script = String::from("set -e; mount --make-rprivate /; ");
    for (i, _) in writable.iter().enumerate() {
        script.push_str(&format!("mount --bind \"$W{i}\" \"$W{i}\"; "));
    }
    script.push_str("mount -o remount,bind,ro /; exec \"$@\"");
    let base = env.cmd();
    let mut c = Command::new("unshare");
    c.args(["-m", "sh", "-c", &script, "sh"])
        .arg(base.get_program())
        .args(args);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (i, w) in writable.iter().enumerate() {
        c.env(format!("W{i}"), w);
    }
    Some(c)
}

/// The module cache the tests' hosts use.
fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("WASMJOBS_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/wasmjobs")
        })
}

#[test]
fn a_read_only_root_runs_every_kind_with_its_writable_paths_named_and_configurable() {
    let env = Env::new();
    deploy_kinds(&env);
    // The guests are prepared once where the cache is writable anyway.
    env.run(&["run", "py"]).ok();
    let cache = cache_dir();
    let writable = [env.dir.path(), cache.as_path()];
    let leases = env.dir.path().join("leases");
    let leases_arg = leases.to_str().unwrap();
    for (job, prints) in [
        ("js", "js on wasi"),
        ("py", "py on wasi (3, 13)"),
        ("sh", "sh on Linux"),
        ("php", "php on Linux"),
    ] {
        let Some(mut c) = read_only_root(
            &env,
            &writable,
            &["--native-lease-dir", leases_arg, "run", job],
        ) else {
            return;
        };
        let out = Out(c.output().unwrap()).ok();
        assert!(out.stdout().contains(prints), "{job}: {}", out.stdout());
    }
    // No lease is left behind once the runs have ended.
    let left: Vec<_> = std::fs::read_dir(&leases)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "lease files left: {left:?}");

    // A root host's default lease folder is on the read-only root: the
    // native run fails with the folder and the flag named.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = read_only_root(&env, &writable, &["run", "sh"]).unwrap();
        let out = Out(c.output().unwrap());
        let log = env.latest_log("sh");
        assert!(
            log.contains("/run/wasmjobs/uids") && log.contains("--native-lease-dir"),
            "{}\n{log}",
            out.stderr()
        );
    }
}
