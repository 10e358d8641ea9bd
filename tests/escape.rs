//! The native sandbox's escape battery: 27 attacks, each run as its own job
//! run (`wasmjobs run`), bounded, for a bash, a PHP and a Java job. Each
//! job attempts the attack in its own language where it can and runs the
//! probe it ships (`tests/escape/probe.c`) where it cannot. Containment is
//! checked from the host side: no file appeared outside, listeners got no
//! connection or datagram, the victims (a host process and another job's
//! process) are alive and untraced, nothing of the run survives it, and no
//! secret reached the run's log. Kernel features the machine lacks skip
//! the battery loudly.

mod common;

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, job_processes, skip};

/// The 24 cases of the proof of concept, clone3 (which must be ENOSYS), a
/// daemon holding the run's output open, and the host's pathname sockets
/// (a PostgreSQL trusting local connections among them).
const CASES: [&str; 27] = [
    "read_shadow",
    "list_root",
    "list_outside",
    "read_other_job",
    "write_outside",
    "symlink_read",
    "symlink_write",
    "tcp_connect",
    "tcp_bind",
    "udp_send",
    "abstract_unix",
    "fork_bomb",
    "mem_4g",
    "cpu_loop",
    "fsize_10g",
    "kill_victim",
    "kill_all_sim",
    "ptrace_victim",
    "proc1_environ",
    "victim_environ",
    "setuid_file",
    "daemonize",
    "unshare_userns",
    "dangerous_syscalls",
    "clone3_namespace",
    "daemon_holds_stdout",
    "host_unix",
];

const SETTINGS: &str = r#"{"limits": {"timeout_s": 6, "memory_mb": 256}}"#;

/// Compiles the probe once per test binary.
fn probe() -> PathBuf {
    static PROBE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            let out = std::env::temp_dir().join(format!("wasmjobs-probe-{}", std::process::id()));
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/escape/probe.c");
            let st = Command::new("cc")
                .args(["-O1", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .expect("running cc (install build-essential)");
            assert!(st.success(), "compiling the probe failed");
            out
        })
        .clone()
}

/// Everything the attacks aim at, set up and checked by the host.
struct Targets {
    outside: tempfile::TempDir,
    canary: String,
    other_job_file: PathBuf,
    other_secret: String,
    tcp: TcpListener,
    bind_port: u16,
    udp: UdpSocket,
    abstract_name: String,
    abstract_listener: UnixListener,
    host_sockets: Vec<(PathBuf, UnixListener)>,
    postgres: Option<Postgres>,
    host_victim: Child,
    job_victim: Child,
    job_victim_pid: i32,
    shadow_line: Option<String>,
}

impl Targets {
    fn new(env: &Env, lang: &str) -> Targets {
        let outside = tempfile::Builder::new()
            .prefix("wasmjobs-outside")
            .tempdir_in("/var/tmp")
            .unwrap();
        std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let canary = format!("canary-{}", std::process::id());
        std::fs::write(outside.path().join(&canary), "x").unwrap();

        let other_secret = format!("other-job-secret-{lang}-{}", std::process::id());
        env.deploy_files(
            "otherjob",
            &[("run.sh", "echo other"), ("secret.txt", &other_secret)],
        );
        let other_job_file = env.job_dir("otherjob").join("secret.txt");
        for dir in [env.dir.path().to_path_buf(), env.root()] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let bind_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let abstract_name = format!("wasmjobs-escape-{lang}-{}", std::process::id());
        let abstract_listener =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap())
                .unwrap();
        abstract_listener.set_nonblocking(true).unwrap();
        let host_sockets = host_sockets(lang);
        let postgres = Postgres::start(lang);

        // Job names are host-wide in /proc: one victim name per battery.
        let victim = format!("victim-{lang}");
        let host_victim = Command::new("sleep")
            .arg("300")
            .env("WASMJOBS_VICTIM_SECRET", "host-victim-secret")
            .spawn()
            .unwrap();
        env.deploy_files(&victim, &[("run.sh", "exec sleep 300")]);
        let job_victim = env
            .cmd()
            .args([
                "--app-setting",
                "WASMJOBS_VICTIM_SECRET=job-victim-secret",
                "run",
                &victim,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let job_victim_pid = wait_for_job_process(&env.root(), &victim, "sleep");
        let shadow_line = std::fs::read_to_string("/etc/shadow")
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string));
        Targets {
            outside,
            canary,
            other_job_file,
            other_secret,
            tcp,
            bind_port,
            udp,
            abstract_name,
            abstract_listener,
            host_sockets,
            postgres,
            host_victim,
            job_victim,
            job_victim_pid,
            shadow_line,
        }
    }

    fn victims(&self) -> Vec<String> {
        vec![
            self.host_victim.id().to_string(),
            self.job_victim_pid.to_string(),
        ]
    }

    /// The case's arguments, as the host knows them.
    fn args(&self, case: &str, data: &Path) -> Vec<String> {
        let outside = self.outside.path().to_string_lossy().into_owned();
        let data = data.to_string_lossy().into_owned();
        match case {
            "list_outside" | "write_outside" | "symlink_write" => vec![outside],
            "read_other_job" => vec![self.other_job_file.to_string_lossy().into_owned()],
            "tcp_connect" => vec![self.tcp.local_addr().unwrap().port().to_string()],
            "tcp_bind" => vec![self.bind_port.to_string()],
            "udp_send" => vec![self.udp.local_addr().unwrap().port().to_string()],
            "abstract_unix" => vec![self.abstract_name.clone()],
            "host_unix" => self
                .host_sockets
                .iter()
                .map(|(p, _)| p.clone())
                .chain(self.postgres.as_ref().map(Postgres::socket))
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            "kill_victim" | "ptrace_victim" | "victim_environ" => self.victims(),
            "fsize_10g" | "setuid_file" | "daemonize" => vec![data],
            _ => vec![],
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        for (p, _) in &self.host_sockets {
            let _ = std::fs::remove_file(p);
        }
        let _ = self.host_victim.kill();
        let _ = self.host_victim.wait();
        let _ = self.job_victim.kill();
        let _ = self.job_victim.wait();
    }
}

/// Listening pathname sockets where hosts keep theirs: the host's /tmp,
/// /var/tmp, /dev/shm, /run and home folder (where this user may make one;
/// a root test host must have all five).
fn host_sockets(lang: &str) -> Vec<(PathBuf, UnixListener)> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let name = format!("wasmjobs-escape-{lang}-{}.sock", std::process::id());
    let mut v = Vec::new();
    for dir in ["/tmp", "/var/tmp", "/dev/shm", "/run", &home] {
        let path = Path::new(dir).join(&name);
        let _ = std::fs::remove_file(&path);
        match UnixListener::bind(&path) {
            Ok(l) => {
                l.set_nonblocking(true).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
                v.push((path, l));
            }
            Err(e) => {
                // SAFETY: geteuid has no preconditions.
                let root = unsafe { libc::geteuid() } == 0;
                assert!(
                    !root,
                    "a root host could not listen on {}: {e}",
                    path.display()
                );
                eprintln!("no host socket in {dir} (not writable here: {e})");
            }
        }
    }
    v
}

/// A real PostgreSQL on its default local socket folder
/// (/var/run/postgresql), trusting local connections: the set-up an
/// operator's database very often has.
struct Postgres {
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    const SOCKETS: &str = "/var/run/postgresql";

    fn start(lang: &str) -> Option<Postgres> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
        if !Path::new(Self::SOCKETS).is_dir() {
            skip(&format!(
                "no PostgreSQL socket folder ({}; install postgresql): the PostgreSQL socket case is left out",
                Self::SOCKETS
            ));
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("wasmjobs-escape-pg-{lang}-{}", std::process::id()));
        let out = Command::new(&script)
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .arg(Self::SOCKETS)
            .output()
            .unwrap();
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            skip(&format!(
                "PostgreSQL did not start ({why}): its socket case is left out"
            ));
            return None;
        }
        Some(Postgres { dir, port })
    }

    fn socket(&self) -> PathBuf {
        Path::new(Self::SOCKETS).join(format!(".s.PGSQL.{}", self.port))
    }

    /// Tables a job managed to create, asked over TCP as the host.
    fn escaped_tables(&self) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "wasmjobs",
                "-d",
                "postgres",
                "-Atc",
            ])
            .arg(
                "SELECT string_agg(tablename, ',') FROM pg_tables WHERE tablename LIKE 'escaped_%'",
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
        let _ = Command::new(script).arg("stop").arg(&self.dir).status();
    }
}

/// Finds the host pid of a job's process named `comm` (by the job's
/// WEBJOBS_NAME in its environment).
fn wait_for_job_process(root: &Path, job: &str, comm: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = job_processes(job).into_iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        }) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "the victim job in {} never started",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive_and_untraced(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    !field("State:").starts_with('Z') && field("TracerPid:") == "0"
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs one case as one job run and checks it was contained.
fn attack(env: &Env, t: &Targets, job: &str, case: &str) -> String {
    let data = env
        .root()
        .join("data/jobs/triggered")
        .join(job)
        .join("job_data");
    // The job sees its data folder at WEBJOBS_DATA_PATH; attacks that write
    // there get the path it sees.
    let seen_data = Path::new("/home/data");
    let args = t.args(case, seen_data);
    let outside_before = files_in(t.outside.path());
    let mut cmd = env.cmd();
    cmd.args(["--native-max-file-mb", "64", "run", job, "--", case])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut bind_reached = false;
    while child.try_wait().unwrap().is_none() {
        if case == "tcp_bind" && TcpStream::connect(("127.0.0.1", t.bind_port)).is_ok() {
            bind_reached = true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{job}/{case}: the run did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let log = env.latest_log(job);
    let status = env.latest_status(job);
    let ctx = format!("{job}/{case}: log:\n{log}\nstatus: {status}");
    assert!(!log.contains(" ESCAPED "), "ESCAPED {ctx}");
    // Every case reports a verdict, except those a limit may end first
    // (then with the limit or the interpreter's own out-of-memory exit).
    let reported = log.contains(&format!("RESULT {case} "));
    let may_die = ["cpu_loop", "mem_4g", "fsize_10g"].contains(&case);
    assert!(
        reported || (may_die && status["Status"] == "Failed"),
        "no verdict: {ctx}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if case == "cpu_loop" {
        assert!(
            ["cpu", "timeout"].contains(&status["Limit"].as_str().unwrap_or("")),
            "the CPU loop was not ended by a limit: {ctx}"
        );
    }
    if case == "daemon_holds_stdout" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a daemon holding the output kept the run open: {ctx}"
        );
    }

    // Host-side checks.
    if let Some(line) = &t.shadow_line {
        assert!(!log.contains(line.as_str()), "shadow content leaked: {ctx}");
    }
    assert!(!log.contains(&t.canary), "listed the outside folder: {ctx}");
    assert!(!log.contains(&t.other_secret), "read another job: {ctx}");
    assert!(
        !log.contains("-victim-secret"),
        "read a victim's environment: {ctx}"
    );
    assert_eq!(
        files_in(t.outside.path()),
        outside_before,
        "wrote outside: {ctx}"
    );
    assert!(
        !bind_reached,
        "the job's port was reachable from the host: {ctx}"
    );
    match t.tcp.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's TCP listener got {other:?}: {ctx}"),
    }
    let mut buf = [0u8; 64];
    match t.udp.recv(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's UDP socket got {other:?}: {ctx}"),
    }
    match t.abstract_listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's abstract socket got {other:?}: {ctx}"),
    }
    for (path, l) in &t.host_sockets {
        match l.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("the host's socket {} got {other:?}: {ctx}", path.display()),
        }
    }
    if let Some(pg) = &t.postgres {
        assert_eq!(
            pg.escaped_tables(),
            "",
            "a job created a table in the host's PostgreSQL: {ctx}"
        );
    }
    assert!(
        alive_and_untraced(t.host_victim.id() as i32),
        "host victim hurt: {ctx}"
    );
    assert!(
        alive_and_untraced(t.job_victim_pid),
        "the other job's process hurt: {ctx}\nthe victim job's log:\n{}",
        env.latest_log(&format!("victim-{}", &job["escape-".len()..]))
    );
    // Nothing of the run outlives it (fork bombs, daemons).
    let left = job_processes(job);
    assert!(
        left.is_empty(),
        "processes {left:?} outlived the run: {ctx}"
    );
    for f in files_in(&data) {
        let meta = std::fs::symlink_metadata(data.join(&f)).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o6000,
            0,
            "{f} is setuid/setgid: {ctx}"
        );
        assert!(meta.len() <= 64 << 20, "{f} is {} bytes: {ctx}", meta.len());
    }
    if case == "daemonize" {
        let beat = data.join("heartbeat");
        let before = std::fs::read_to_string(&beat).ok();
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(
            std::fs::read_to_string(&beat).ok(),
            before,
            "a daemon kept running after the run: {ctx}"
        );
    }
    if case == "cpu_loop" {
        assert_eq!(status["Status"], "Failed", "{ctx}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the CPU loop ran too long: {ctx}"
        );
    }
    for f in [
        "heartbeat",
        "big.bin",
        "suid",
        "suid-chmod",
        "suid-open",
        "sgid-creat",
        "suid-mknod",
        "suid-openat2",
    ] {
        let _ = std::fs::remove_file(data.join(f));
    }
    log.lines()
        .find_map(|l| l.split(&format!("RESULT {case} ")).nth(1))
        .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_else(|| format!("ended {}", status["Status"]))
}

fn battery(lang: &str, files: &[(&str, &[u8])]) {
    let env = Env::new_in("/var/tmp");
    if let Err(why) = common::native_sandbox(&env) {
        return skip(&why);
    }
    let job = format!("escape-{lang}");
    let src = env.dir.path().join("src").join(&job);
    std::fs::create_dir_all(&src).unwrap();
    for (name, bytes) in files {
        std::fs::write(src.join(name), bytes).unwrap();
    }
    std::fs::copy(probe(), src.join("probe")).unwrap();
    std::fs::write(src.join("settings.job"), SETTINGS).unwrap();
    env.run(&["deploy", src.to_str().unwrap(), "--name", &job])
        .ok();
    let t = Targets::new(&env, lang);
    let mut report = Vec::new();
    for case in CASES {
        report.push(format!("{case}: {}", attack(&env, &t, &job, case)));
    }
    eprintln!("{job} battery, all contained:\n  {}", report.join("\n  "));
}

#[test]
fn bash_jobs_are_contained() {
    battery("bash", &[("run.sh", include_bytes!("escape/run.sh"))]);
}

#[test]
fn php_jobs_are_contained() {
    if !Path::new("/usr/bin/php").exists() {
        return skip("php-cli is not installed (scripts/setup.sh installs it)");
    }
    battery("php", &[("run.php", include_bytes!("escape/run.php"))]);
}

#[test]
fn java_jobs_are_contained() {
    let have = |b: &str| Command::new(b).arg("-version").output().is_ok();
    if !have("javac") || !have("java") {
        return skip("a JDK (javac, jar) is not installed (scripts/setup.sh installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/escape/Escape.java");
    let ok = Command::new("javac")
        .arg("-d")
        .arg(dir.path())
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success(), "javac failed");
    std::fs::write(dir.path().join("manifest.txt"), "Main-Class: Escape\n").unwrap();
    let ok = Command::new("jar")
        .current_dir(dir.path())
        .args(["cfm", "run.jar", "manifest.txt", "Escape.class"])
        .status()
        .unwrap();
    assert!(ok.success(), "jar failed");
    let jar = std::fs::read(dir.path().join("run.jar")).unwrap();
    battery("java", &[("run.jar", &jar)]);
}
