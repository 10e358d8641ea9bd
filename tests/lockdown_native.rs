//! Native runs on locked-down hosts, through the real binary: hard
//! ulimits lower a run's defaults (named in its log) and refuse explicit
//! flags above them at start; a root inside a user namespace is treated as
//! not root; a host in its own PID namespace keeps its runs when another
//! host starts and sweeps cgroups; uid leases live where
//! `--native-lease-dir` says and leave no file behind; a wasm-only host
//! never touches the native sandbox. Where this host lacks what a test
//! needs, the test says so on stderr and passes, unless
//! `WASMJOBS_TEST_STRICT=1`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Out, http, job_processes, skip};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `cmd args... true` works here (a wrapper the kernel allows).
fn works(wrapper: &[&str]) -> bool {
    Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg("/bin/true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Everything an invocation printed.
fn all(out: &Out) -> String {
    format!("{}{}", out.stdout(), out.stderr())
}

/// A job that prints "started", waits until its data folder holds `go`,
/// and prints "finished": a live run the test ends when it is done.
const WAITS: &str =
    "echo started\nwhile [ ! -e \"$WEBJOBS_DATA_PATH/go\" ]; do sleep 0.1; done\necho finished\n";

/// The host path of `go` for job `name`.
fn go_file(env: &Env, name: &str) -> PathBuf {
    env.data_dir(name).join("job_data/go")
}

/// Waits until a run of `name` has written `started` to its log.
fn wait_started(env: &Env, name: &str, host: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = std::fs::read_dir(env.data_dir(name))
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_to_string(run.path().join("output_log.txt"))
                    .is_ok_and(|l| l.contains("] started"))
            });
        if started {
            return;
        }
        if let Ok(Some(status)) = host.try_wait() {
            panic!("the host ended ({status}) before its run started");
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Hard limits of 64 open files and 128 processes: the run's defaults
/// (1024, 256) are lowered to them, its log says so in a `SYS WARN` each,
/// and the job sees the lowered values.
#[test]
fn hard_ulimits_lower_a_runs_defaults_and_its_log_says_so() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    if !works(&["prlimit", "--nofile=64:64", "--"]) {
        return skip("prlimit is not available");
    }
    env.deploy_files(
        "limited",
        &[(
            "run.sh",
            "echo \"nofile=$(ulimit -n) nproc=$(ulimit -u) hard_nofile=$(ulimit -Hn)\"\n",
        )],
    );
    // A non-root host's processes count toward its own RLIMIT_NPROC: 128
    // would be too few for the test runner's user.
    let mut wrapper = vec!["prlimit", "--nofile=64:64"];
    if is_root() {
        wrapper.push("--nproc=128:128");
    }
    wrapper.push("--");
    let out = Out(env
        .cmd_via(&wrapper)
        .args(["run", "limited"])
        .output()
        .unwrap())
    .ok();
    let log = env.latest_log("limited");
    assert!(
        log.contains(
            "SYS WARN] open files per process lowered from 1024 to 64, this host's hard limit (ulimit -Hn); --native-max-open-files sets it"
        ),
        "{log}\n{}",
        all(&out)
    );
    assert!(log.contains("] nofile=64 "), "{log}");
    if is_root() {
        assert!(
            log.contains(
                "SYS WARN] processes lowered from 256 to 128, this host's hard limit (ulimit -Hu); --native-max-processes sets it"
            ),
            "{log}"
        );
        assert!(log.contains(" nproc=128 "), "{log}");
    }
    assert_eq!(env.latest_status("limited")["Status"], "Success");
}

/// An explicit `--native-max-open-files` (or its environment variable)
/// above the hard limit refuses `run` and `serve` at start, naming the
/// flag, the limit and the hard limit; a wasm-only host does not care.
#[test]
fn an_explicit_limit_above_the_hard_limit_refuses_the_start() {
    let env = Env::new();
    if !works(&["prlimit", "--nofile=64:64", "--"]) {
        return skip("prlimit is not available");
    }
    env.deploy_files("refused", &[("run.sh", "echo should not run\n")]);
    let wrapper = ["prlimit", "--nofile=64:64", "--"];
    let want = "--native-max-open-files 4096 is above this host's hard limit on open files per process, 64 (ulimit -Hn): lower --native-max-open-files (WASMJOBS_NATIVE_MAX_OPEN_FILES) or raise the hard limit";
    let out = Out(env
        .cmd_via(&wrapper)
        .args(["--native-max-open-files", "4096", "run", "refused"])
        .output()
        .unwrap())
    .fails();
    assert!(out.stderr().contains(want), "{}", all(&out));
    assert!(
        !env.data_dir("refused").exists() || env.history("refused").is_empty(),
        "a run was made"
    );
    let out = Out(env
        .cmd_via(&wrapper)
        .env("WASMJOBS_NATIVE_MAX_OPEN_FILES", "4096")
        .args(["run", "refused"])
        .output()
        .unwrap())
    .fails();
    assert!(out.stderr().contains(want), "{}", all(&out));
    let port = http::free_port().to_string();
    let out = Out(env
        .cmd_via(&wrapper)
        .args(["--native-max-open-files", "4096", "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap())
    .fails();
    assert!(out.stderr().contains(want), "{}", all(&out));
    // Within the hard limit it starts.
    let out = Out(env
        .cmd_via(&wrapper)
        .args(["--native-max-open-files", "64", "doctor"])
        .output()
        .unwrap())
    .ok();
    assert!(
        out.stdout()
            .contains("open files per process      : 64 (hard limit 64, ulimit -Hn)"),
        "{}",
        all(&out)
    );
    // A host that runs only wasm guests has no native limits to check.
    let out = Out(env
        .cmd_via(&wrapper)
        .args([
            "--executor",
            "wasm",
            "--native-max-open-files",
            "4096",
            "run",
            "refused",
        ])
        .output()
        .unwrap())
    .fails();
    assert!(!out.stderr().contains(want), "{}", all(&out));
    assert!(
        out.stderr().contains("no WebAssembly guest"),
        "{}",
        all(&out)
    );
}

/// With 16 open files the host cannot start the run: whichever step runs
/// out first (the namespace probe, or handing the run folder to the run's
/// uid when the host is root), the run fails naming open files and the
/// limit, not missing namespaces.
#[test]
fn too_few_open_files_are_named_not_blamed_on_namespaces() {
    let env = Env::new();
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    if !works(&["prlimit", "--nofile=16:16", "--"]) {
        return skip("prlimit is not available");
    }
    env.deploy_files("starved", &[("run.sh", "echo hello\n")]);
    let out = Out(env
        .cmd_via(&["prlimit", "--nofile=16:16", "--"])
        .args(["run", "starved"])
        .output()
        .unwrap())
    .fails();
    let text = all(&out);
    assert!(
        text.contains("Too many open files (ulimit -n 16)"),
        "{text}"
    );
    assert!(!text.contains("lacks: namespaces"), "{text}");
}

/// `unshare -Ur`: uid 0 of a user namespace that maps one uid. `doctor`
/// says it is treated as not root, and a `.sh` job runs with no uid of its
/// own (namespaces inside a nested user namespace).
#[test]
fn a_root_inside_a_user_namespace_is_treated_as_not_root() {
    let env = Env::new();
    if !works(&["unshare", "-Ur"]) {
        return skip("this kernel or user cannot make a user namespace (unshare -Ur)");
    }
    let doctor = Out(env
        .cmd_via(&["unshare", "-Ur"])
        .arg("doctor")
        .output()
        .unwrap())
    .ok()
    .stdout();
    assert!(
        doctor.contains(
            "running as root       : uid 0 inside a user namespace that maps 1 uids: treated as not root (no uid of its own per run)"
        ),
        "{doctor}"
    );
    assert!(doctor.contains("own uid per run       : no"), "{doctor}");
    if doctor.contains("native runs are REFUSED") {
        return skip(&format!(
            "the native sandbox is refused inside a user namespace here:\n{doctor}"
        ));
    }
    env.deploy_files(
        "userns",
        &[(
            "run.sh",
            "echo \"uid=$(id -u)\"\necho hi > \"$WEBJOBS_DATA_PATH/f\"\n",
        )],
    );
    let out = Out(env
        .cmd_via(&["unshare", "-Ur"])
        .args(["run", "userns"])
        .output()
        .unwrap());
    let log = env.latest_log("userns");
    assert!(out.0.status.success(), "{}\n{log}", all(&out));
    assert!(
        log.contains("SYS INFO] Native sandbox: rlimits, landlock"),
        "{log}"
    );
    assert!(!log.contains("own uid"), "{log}");
    assert!(log.contains("] uid=0"), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.data_dir("userns").join("job_data/f")).unwrap(),
        "hi\n"
    );
}

/// The `name=` path of this process's cgroup in the hierarchy that has
/// pids (v1) or the unified one (v2), under /sys/fs/cgroup.
fn own_cgroup() -> Option<PathBuf> {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let rel = path.trim_start_matches('/');
        if v2 && ctrls.is_empty() {
            return Some(Path::new("/sys/fs/cgroup").join(rel));
        }
        if !v2 && ctrls.split(',').any(|c| c == "pids") {
            return Some(Path::new("/sys/fs/cgroup/pids").join(rel));
        }
    }
    None
}

/// The pid of the host that made run cgroup `name` (`wasmjobs-<pid
/// namespace>.<pid>.<start>-...`).
fn cgroup_host_pid(name: &str) -> Option<i32> {
    name.strip_prefix("wasmjobs-")?
        .split('-')
        .next()?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}

/// Host A runs in a PID namespace of its own with a live native run; a
/// second host starting in the initial namespace (its probe sweeps stale
/// cgroups) leaves that run alone: it is still alive afterwards and ends
/// `Success`.
#[test]
fn a_host_in_its_own_pid_namespace_keeps_its_runs_when_another_starts() {
    let env = Env::new();
    let doctor = env.run(&["doctor"]).ok().stdout();
    if doctor.contains("native runs are REFUSED") || !doctor.contains("cgroup                : yes")
    {
        return skip(&format!(
            "no native sandbox with cgroups (which the sweep needs) here:\n{doctor}"
        ));
    }
    let unshare = ["unshare", "-fpm", "--mount-proc"];
    if !works(&unshare) {
        return skip("cannot make a PID namespace here (unshare -fpm --mount-proc)");
    }
    env.deploy_files("inner", &[("run.sh", WAITS)]);
    // Some pids used up first, so host A's pid is not one of the low pids
    // (init, kernel threads) that are alive in the initial namespace too.
    let log = std::fs::File::create(env.dir.path().join("a.out")).unwrap();
    // (The binary comes right after the wrapper: it is bash's $0.)
    let mut a = env
        .cmd_via(&[
            unshare[0],
            unshare[1],
            unshare[2],
            "bash",
            "-c",
            "for i in $(seq 300); do /bin/true; done; \"$0\" run inner; exit $?",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_started(&env, "inner", &mut a);
    let before = job_processes("inner");
    assert!(!before.is_empty(), "no process of the run is visible");
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", before[0])).unwrap();
    let name = cgroup
        .lines()
        .filter_map(|l| l.rsplit('/').find(|p| p.starts_with("wasmjobs-")))
        .find(|n| !n.contains("-tenant-"))
        .map(str::to_string);
    match name.as_deref().and_then(cgroup_host_pid) {
        // SAFETY: signal 0 only checks that the process exists.
        Some(pid) if unsafe { libc::kill(pid, 0) } == 0 => eprintln!(
            "note: host A's pid {pid} is alive in this namespace too: a sweep by pid alone would have spared it as well"
        ),
        Some(_) => {}
        None => panic!("the run's cgroup {name:?} does not name its host: {cgroup}"),
    }
    // The second host: its probe sweeps the cgroups of dead hosts.
    env.run(&["doctor"]).ok();
    let after = job_processes("inner");
    assert!(
        before.iter().all(|p| after.contains(p)),
        "the run's processes {before:?} were killed by another host's start (left: {after:?})"
    );
    std::fs::write(go_file(&env, "inner"), "").unwrap();
    let status = a.wait().unwrap();
    let out = std::fs::read_to_string(env.dir.path().join("a.out")).unwrap();
    assert!(status.success(), "host A: {status}\n{out}");
    assert_eq!(env.latest_status("inner")["Status"], "Success", "{out}");
    assert!(env.latest_log("inner").contains("] finished"));
}

/// A root host keeps its uid leases in `--native-lease-dir`: one file
/// while the run lives, none once it ended. A lease folder that cannot be
/// made fails the run naming the folder and the flag.
#[test]
fn uid_leases_live_in_the_lease_folder_and_leave_no_file() {
    let env = Env::new();
    let doctor = env.run(&["doctor"]).ok().stdout();
    if doctor.contains("native runs are REFUSED") || !doctor.contains("own uid per run       : yes")
    {
        return skip(&format!(
            "native runs get no uid of their own here:\n{doctor}"
        ));
    }
    let leases = env.dir.path().join("leases");
    let out = env
        .run(&["--native-lease-dir", leases.to_str().unwrap(), "doctor"])
        .ok()
        .stdout();
    assert!(
        out.contains(&format!(
            "leases in {} (--native-lease-dir)",
            leases.display()
        )),
        "{out}"
    );
    env.deploy_files("leased", &[("run.sh", WAITS)]);
    let mut host = env
        .cmd()
        .args([
            "--native-lease-dir",
            leases.to_str().unwrap(),
            "run",
            "leased",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_started(&env, "leased", &mut host);
    let held: Vec<String> = std::fs::read_dir(&leases)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    let uid: u32 = held[0].parse().unwrap();
    assert!((2_000_000_000..=2_000_065_535).contains(&uid), "{uid}");
    std::fs::write(go_file(&env, "leased"), "").unwrap();
    assert!(host.wait().unwrap().success());
    assert_eq!(env.latest_status("leased")["Status"], "Success");
    let left: Vec<_> = std::fs::read_dir(&leases).unwrap().flatten().collect();
    assert!(left.is_empty(), "lease files left: {left:?}");

    // A folder that cannot be made (its parent is a file), given by the
    // environment variable.
    let file = env.dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("uids");
    std::fs::remove_file(go_file(&env, "leased")).unwrap();
    let out = Out(env
        .cmd()
        .env("WASMJOBS_NATIVE_LEASE_DIR", &bad)
        .args(["run", "leased"])
        .output()
        .unwrap())
    .fails();
    let log = env.latest_log("leased");
    let want = format!(
        "cannot create the sandbox uid lease folder {}: Not a directory; --native-lease-dir picks another",
        bad.display()
    );
    assert!(log.contains(&want), "{log}\n{}", all(&out));
}

/// A pid of this namespace that no process has.
fn dead_pid() -> i32 {
    let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32_768);
    (300..max)
        .rev()
        // SAFETY: signal 0 only checks that the process exists.
        .find(|p| unsafe { libc::kill(*p, 0) } != 0 && !Path::new(&format!("/proc/{p}")).exists())
        .expect("a free pid")
}

/// Removes the folders it holds (empty cgroups) when dropped.
struct Rmdirs(Vec<PathBuf>);

impl Drop for Rmdirs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A host that runs only wasm guests never probes the native sandbox nor
/// sweeps cgroups; the next host that does sweeps the cgroup of a dead
/// host of its own PID namespace, and leaves one of another namespace and
/// one named the older way (`wasmjobs-<pid>-...`) alone.
#[test]
fn only_a_native_host_sweeps_and_only_cgroups_of_its_dead_hosts() {
    let env = Env::new();
    let doctor = env.run(&["doctor"]).ok().stdout();
    if !doctor.contains("cgroup                : yes") {
        return skip(&format!("no writable cgroups here:\n{doctor}"));
    }
    let Some(parent) = own_cgroup() else {
        return skip("this process's cgroup is not in /proc/self/cgroup");
    };
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let pid = dead_pid();
    let dead = parent.join(format!("wasmjobs-{ns}.{pid}.1-ghost-1"));
    let foreign = parent.join(format!("wasmjobs-{}.{pid}.1-ghost-2", ns + 1));
    let old = parent.join(format!("wasmjobs-{pid}-ghost-3"));
    let _cleanup = Rmdirs(vec![dead.clone(), foreign.clone(), old.clone()]);
    for d in [&dead, &foreign, &old] {
        if let Err(e) = std::fs::create_dir(d) {
            return skip(&format!("cannot make {}: {e}", d.display()));
        }
    }
    let server = http::start_with(&env, &["--executor", "wasm"], &[]);
    let stderr = http::serve_stderr(&env);
    drop(server);
    assert!(
        stderr.contains("native sandbox: not used (--executor wasm)"),
        "{stderr}"
    );
    assert!(!stderr.contains("namespaces"), "{stderr}");
    assert!(dead.exists(), "a wasm-only host swept cgroups");
    env.run(&["doctor"]).ok();
    assert!(!dead.exists(), "a dead host's cgroup was not swept");
    assert!(foreign.exists(), "another PID namespace's cgroup was swept");
    assert!(old.exists(), "an older-named cgroup was swept");
}
