//! Python jobs in CPython 3.13 compiled to WebAssembly, through the real
//! binary and the real guest (built by guests/python/build.sh; these tests
//! fail, not skip, when it is missing: it is part of the product).

mod common;
use common::*;

#[test]
fn run_py_prints_args_env_reads_its_bundle_and_keeps_data() {
    let env = Env::new();
    let script = r#"
import os, sys
print("argv=" + repr(sys.argv))
for k in ["WEBJOBS_NAME", "WEBJOBS_TYPE", "WEBJOBS_PATH", "WEBJOBS_DATA_PATH", "WEBJOBS_COMMAND_ARGUMENTS", "GREETING", "HOME", "WASMJOBS_GUEST_CWD"]:
    print(k + "=" + str(os.environ.get(k)))
print("run_id_ok=" + str(len(os.environ["WEBJOBS_RUN_ID"]) == 18))
print("file=" + open("data.txt").read().strip())
print("cwd=" + os.getcwd())
counter = os.path.join(os.environ["WEBJOBS_DATA_PATH"], "count.txt")
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(n))
print("count=%d" % n)
print("to stderr", file=sys.stderr)
"#;
    env.deploy_files(
        "pyhello",
        &[("run.py", script), ("data.txt", "from the bundle\n")],
    );
    let out = env
        .run(&[
            "--app-setting",
            "GREETING=hi",
            "run",
            "pyhello",
            "--",
            "alpha",
            "beta",
        ])
        .ok();
    let o = out.stdout();
    for want in [
        "argv=['run.py', 'alpha', 'beta']",
        "WEBJOBS_NAME=pyhello",
        "WEBJOBS_TYPE=triggered",
        "WEBJOBS_PATH=/job",
        "WEBJOBS_DATA_PATH=/data",
        "WEBJOBS_COMMAND_ARGUMENTS=alpha beta",
        "GREETING=hi",
        "HOME=None",
        "WASMJOBS_GUEST_CWD=None",
        "run_id_ok=True",
        "file=from the bundle",
        "cwd=/job",
        "count=1",
    ] {
        assert!(o.contains(want), "missing {want:?} in:\n{o}");
    }
    assert!(env.latest_log("pyhello").contains("ERR ] to stderr"));
    let o = env.run(&["run", "pyhello"]).ok().stdout();
    assert!(o.contains("count=2"), "data persists: {o}");
    assert!(
        o.contains("argv=['run.py']") && o.contains("WEBJOBS_COMMAND_ARGUMENTS=None"),
        "each run has its own args and env: {o}"
    );
}

#[test]
fn the_stdlib_works() {
    let env = Env::new();
    let script = r#"
import json, re, datetime, hashlib, zlib, decimal, collections, itertools, pathlib, csv, sqlite3, bz2, lzma, io, math
assert json.loads(json.dumps({"a": [1, 2]})) == {"a": [1, 2]}
assert re.sub(r"(\d+)", r"<\1>", "a1b22") == "a<1>b<22>"
assert datetime.date(2024, 2, 29).isoformat() == "2024-02-29"
assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
assert hashlib.md5(b"").hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"
assert zlib.decompress(zlib.compress(b"x" * 100)) == b"x" * 100
assert bz2.decompress(bz2.compress(b"y" * 100)) == b"y" * 100
assert lzma.decompress(lzma.compress(b"z" * 100)) == b"z" * 100
assert str(decimal.Decimal("1.1") + decimal.Decimal("2.2")) == "3.3"
assert collections.Counter("abca")["a"] == 2
assert list(itertools.islice(itertools.count(), 3)) == [0, 1, 2]
assert pathlib.Path("data.csv").read_text().startswith("a,b")
assert list(csv.reader(io.StringIO("a,b\n1,2\n")))[1] == ["1", "2"]
db = sqlite3.connect("/tmp/t.db")
db.execute("create table t (x)")
db.executemany("insert into t values (?)", [(1,), (2,)])
assert db.execute("select sum(x) from t").fetchone()[0] == 3
db.close()
print("stdlib ok", sqlite3.sqlite_version, math.pi)
"#;
    env.deploy_files("stdlib", &[("run.py", script), ("data.csv", "a,b\n1,2\n")]);
    let out = env.run(&["run", "stdlib"]).ok();
    assert!(
        out.stdout().contains("stdlib ok 3.46.1"),
        "{}\n{}",
        out.stdout(),
        out.stderr()
    );
}

#[test]
fn vendored_pure_python_packages_import() {
    let env = Env::new();
    env.deploy_files(
        "vendored",
        &[
            (
                "run.py",
                "import greeter, helpers.fmt\nprint(greeter.hello('pkg'), helpers.fmt.stars(3))",
            ),
            (
                "lib/greeter/__init__.py",
                "def hello(x):\n    return 'hello ' + x\n",
            ),
            ("site-packages/helpers/__init__.py", ""),
            (
                "site-packages/helpers/fmt.py",
                "def stars(n):\n    return '*' * n\n",
            ),
        ],
    );
    let out = env.run(&["run", "vendored"]).ok();
    assert!(
        out.stdout().contains("hello pkg ***"),
        "{}\n{}",
        out.stdout(),
        out.stderr()
    );
}

#[test]
fn exceptions_and_exit_codes() {
    let env = Env::new();
    env.deploy_py(
        "boom",
        "def f():\n    raise ValueError('bad value')\nf()\n",
        None,
    );
    let out = env.run(&["run", "boom"]).fails();
    assert_eq!(out.code(), Some(1));
    let log = env.latest_log("boom");
    assert!(
        log.contains("ERR ] Traceback (most recent call last):"),
        "{log}"
    );
    assert!(log.contains("ERR ] ValueError: bad value"), "{log}");
    assert!(
        log.contains("SYS ERR ] Job failed due to exit code 1"),
        "{log}"
    );

    env.deploy_py("three", "import sys\nprint('leaving')\nsys.exit(3)\n", None);
    let out = env.run(&["run", "three"]).fails();
    assert_eq!(out.code(), Some(3));
    assert!(
        env.latest_log("three")
            .contains("SYS ERR ] Job failed due to exit code 3")
    );
    assert_eq!(env.latest_status("three")["ExitCode"], 3);

    env.deploy_py("big", "import sys\nsys.exit(200)\n", None);
    assert_eq!(env.run(&["run", "big"]).fails().code(), Some(200));

    env.deploy_py("clean", "import sys\nsys.exit(0)\n", None);
    env.run(&["run", "clean"]).ok();
}

#[test]
fn limits_apply_to_python() {
    let env = Env::new();
    env.deploy_py(
        "spin",
        "while True:\n    pass\n",
        Some(r#"{"limits": {"timeout_s": 2}}"#),
    );
    env.run(&["run", "spin"]).fails();
    assert!(
        env.latest_log("spin")
            .contains("SYS ERR ] Job was stopped: timeout after 2 s (limits.timeout_s).")
    );
    assert_eq!(env.latest_status("spin")["Limit"], "timeout");

    // 10**10 bytes does not even fit a wasm32 size: a clean Python error.
    env.deploy_py("hog", "b = bytearray(10**10)\nprint('got it')\n", None);
    let out = env.run(&["--memory-mb", "128", "run", "hog"]).fails();
    assert!(!out.stdout().contains("got it"));
    let log = env.latest_log("hog");
    assert!(
        log.contains("ERR ] OverflowError") || log.contains("ERR ] MemoryError"),
        "{log}"
    );
    assert_eq!(env.latest_status("hog")["Status"], "Failed");
    // Allocations that do fit are stopped by the memory cap.
    env.deploy_py(
        "hog2",
        "keep = [bytearray(32 * 2**20) for _ in range(64)]\nprint('got it')\n",
        None,
    );
    let out = env.run(&["--memory-mb", "128", "run", "hog2"]).fails();
    assert!(!out.stdout().contains("got it"));
    let log = env.latest_log("hog2");
    assert!(log.contains("ERR ] MemoryError"), "{log}");
    assert!(
        log.contains("SYS ERR ] Job was stopped: memory limit 128 MiB reached (limits.memory_mb)."),
        "{log}"
    );
    assert_eq!(env.latest_status("hog2")["Limit"], "memory");

    let deep = "import sys\ndef f(n):\n    return f(n + 1)\ntry:\n    f(0)\nexcept RecursionError:\n    print('RecursionError raised')\n";
    env.deploy_py("deep", deep, None);
    let out = env.run(&["run", "deep"]).ok();
    assert!(
        out.stdout().contains("RecursionError raised"),
        "{}",
        out.stderr()
    );
}

#[test]
fn python_cannot_escape_or_change_the_stdlib() {
    let env = Env::new();
    let script = r#"
import hashlib, os, socket
for p in ["/etc/passwd", "/proc/self/environ", "../planted.txt", "/job/../planted.txt", "/data/../../planted.txt",
          "/tmp/../planted.txt"]:
    try:
        print("OPENED " + p + " " + open(p).read())
    except OSError as e:
        print("denied " + p)
try:
    socket.socket()
    print("SOCKET OPENED")
except OSError as e:
    print("socket denied")
import json
target = json.__file__
stdlib = os.path.dirname(os.path.dirname(target))
attempts = {
    "append": lambda: open(target, "a").write("\nBROKEN = True\n"),
    "remove": lambda: os.remove(target),
    "create": lambda: open(os.path.join(stdlib, "evil.py"), "w").write("x = 1"),
    "mkdir": lambda: os.mkdir(os.path.join(stdlib, "evil")),
    "pth": lambda: open(os.path.join(stdlib, "site-packages", "evil.pth"), "w").write("import os"),
    "rename": lambda: os.rename("run.py", os.path.join(stdlib, "evil2.py")),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print("STDLIB CHANGED by " + name)
    except OSError:
        print("stdlib kept against " + name)
print("digest " + hashlib.sha256(open(target, "rb").read()).hexdigest())
"#;
    env.deploy_py("escape", script, None);
    // Plant readable files where `..` would lead on the host if the
    // sandbox let it: next to the working copy and above the data folder.
    for dir in [
        env.root().join("temp/jobs/triggered/escape"),
        env.root().join("data/jobs/triggered"),
        env.root().join("temp/jobs/triggered/escape/x"),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("planted.txt"), "PLANTED").unwrap();
    }
    let out = env.run(&["run", "escape"]).ok().stdout();
    assert_eq!(out.matches("denied ").count(), 6, "{out}");
    assert!(!out.contains("PLANTED") && !out.contains("OPENED"), "{out}");
    assert!(out.contains("socket denied"), "{out}");
    assert_eq!(out.matches("stdlib kept against").count(), 6, "{out}");
    assert!(!out.contains("STDLIB CHANGED"), "{out}");
    // The next run reads the stdlib file byte for byte as shipped.
    let files = wasmjobs::runtime::Guest::Python.files().unwrap().unwrap();
    let shipped = std::fs::read(files.stdlib.join("python3.13/json/__init__.py")).unwrap();
    let want = format!(
        "digest {}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&shipped))
    );
    let again = env.run(&["run", "escape"]).ok().stdout();
    assert!(again.contains(&want), "{again}");
    assert!(!files.stdlib.join("python3.13/evil.py").exists());
}

#[test]
fn a_script_in_a_subfolder_runs_in_that_folder() {
    let env = Env::new();
    let z = env.zip_bundle(
        "nestedpy",
        &[
            ("app/run.py", b"import os, helper\nprint('cwd=' + os.getcwd(), helper.X, open('sibling.txt').read())"),
            ("app/helper.py", b"X = 'helper-imported'"),
            ("app/sibling.txt", b"sibling-read"),
        ],
    );
    env.run(&["deploy", z.to_str().unwrap(), "--name", "nestedpy"])
        .ok();
    let out = env.run(&["run", "nestedpy"]).ok().stdout();
    assert!(
        out.contains("cwd=/job/app helper-imported sibling-read"),
        "{out}"
    );
}

#[test]
fn unclosed_files_and_atexit_handlers_are_flushed() {
    let env = Env::new();
    let script = r#"
import atexit, os
f = open(os.path.join(os.environ["WEBJOBS_DATA_PATH"], "out.txt"), "w")
f.write("written but never closed")
def helper():
    return f
atexit.register(lambda: print("atexit ran"))
"#;
    env.deploy_py("unclosed", script, None);
    let out = env.run(&["run", "unclosed"]).ok().stdout();
    assert!(out.contains("atexit ran"), "{out}");
    let data = std::fs::read_to_string(env.data_dir("unclosed").join("job_data/out.txt")).unwrap();
    assert_eq!(data, "written but never closed");
}

#[test]
fn a_job_module_shadows_a_preloaded_stdlib_module() {
    let env = Env::new();
    env.deploy_files(
        "shadow",
        &[
            ("run.py", "import statistics\nprint(statistics.WHO)"),
            ("statistics.py", "WHO = 'the job s own statistics'"),
        ],
    );
    let out = env.run(&["run", "shadow"]).ok();
    assert!(
        out.stdout().contains("the job s own statistics"),
        "{}\n{}",
        out.stdout(),
        out.stderr()
    );
}

/// Two runs in one host with a single pooled instance slot: the second run
/// reuses the slot the first one dirtied, and must see none of it.
#[test]
fn runs_share_nothing_through_a_reused_instance_slot() {
    use wasmjobs::runner::{RunRequest, Runner};
    let env = Env::new();
    let script = "import json, os, sys\nprint('seen', getattr(json, 'MARK', None), os.environ.get('LEAK'), len(sys.path), flush=True)\njson.MARK = 1\nos.environ['LEAK'] = 'yes'\nsys.path.append('/tmp/x')\nbuf = bytearray(8 << 20)\nbuf[:5] = b'SECRET'\n";
    env.deploy_py("slot", script, None);
    let mut host = wasmjobs::config::HostConfig::new(env.root()).unwrap();
    host.max_concurrent_runs = 1;
    let job = wasmjobs::bundle::read_job(
        &host.layout,
        host.executors,
        wasmjobs::job::JobType::Triggered,
        "slot",
    )
    .unwrap();
    let runner = Runner::new(host);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..2 {
        let req = RunRequest::new(job.clone(), "External - test");
        let report = rt.block_on(runner.run(req)).unwrap();
        assert_eq!(report.status, wasmjobs::store::run::RunStatus::Success);
    }
    let runs = env.history("slot");
    let logs: Vec<String> = runs
        .iter()
        .map(|r| {
            std::fs::read_to_string(
                env.data_dir("slot")
                    .join(r["id"].as_str().unwrap())
                    .join("output_log.txt"),
            )
            .unwrap()
        })
        .collect();
    let seen = |log: &str| {
        log.lines()
            .find(|l| l.contains("] seen"))
            .unwrap()
            .split("] ")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert!(seen(&logs[1]).starts_with("seen None None"), "{}", logs[1]);
    assert_eq!(
        seen(&logs[0]),
        seen(&logs[1]),
        "the second run starts from the same clean image"
    );
}

#[test]
fn runs_share_nothing_through_the_snapshot() {
    let env = Env::new();
    let script = r#"
import json, os, random, sys
print("seen", getattr(json, "MARK", None), os.environ.get("LEAK"), len(sys.path))
json.MARK = "set by an earlier run"
os.environ["LEAK"] = "yes"
sys.path.append("/tmp/x")
print("random", random.random())
"#;
    env.deploy_py("fresh", script, None);
    let a = env.run(&["run", "fresh"]).ok().stdout();
    let b = env.run(&["run", "fresh"]).ok().stdout();
    let seen = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("seen"))
            .unwrap()
            .to_string()
    };
    assert!(seen(&a).starts_with("seen None None"), "{a}");
    assert_eq!(
        seen(&a),
        seen(&b),
        "the second run starts from the same clean image"
    );
    let rnd = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("random"))
            .unwrap()
            .to_string()
    };
    assert_ne!(rnd(&a), rnd(&b), "random is reseeded per run");
}
