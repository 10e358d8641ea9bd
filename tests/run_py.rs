//! Python jobs in CPython 3.13 compiled to WebAssembly, through the real
//! binary and the real guest (built by guests/python/build.sh; these tests
//! fail, not skip, when it is missing: it is part of the product).

mod common;
use common::*;

fn status_of(env: &Env, name: &str) -> serde_json::Value {
    let id = env.history(name)[0]["id"].as_str().unwrap().to_string();
    serde_json::from_slice(&std::fs::read(env.data_dir(name).join(id).join("status")).unwrap())
        .unwrap()
}

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
    let src = env.dir_bundle(
        "pyhello",
        &[("run.py", script), ("data.txt", "from the bundle\n")],
    );
    env.run(&["deploy", src.to_str().unwrap(), "--name", "pyhello"])
        .ok();
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
    let src = env.dir_bundle("stdlib", &[("run.py", script), ("data.csv", "a,b\n1,2\n")]);
    env.run(&["deploy", src.to_str().unwrap(), "--name", "stdlib"])
        .ok();
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
    let src = env.dir_bundle(
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
    env.run(&["deploy", src.to_str().unwrap(), "--name", "vendored"])
        .ok();
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
    assert_eq!(status_of(&env, "three")["ExitCode"], 3);

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
    assert_eq!(status_of(&env, "spin")["Limit"], "timeout");

    // 10**10 bytes does not even fit a wasm32 size: a clean Python error.
    env.deploy_py("hog", "b = bytearray(10**10)\nprint('got it')\n", None);
    let out = env.run(&["--memory-mb", "128", "run", "hog"]).fails();
    assert!(!out.stdout().contains("got it"));
    let log = env.latest_log("hog");
    assert!(
        log.contains("ERR ] OverflowError") || log.contains("ERR ] MemoryError"),
        "{log}"
    );
    assert_eq!(status_of(&env, "hog")["Status"], "Failed");
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
    assert_eq!(status_of(&env, "hog2")["Limit"], "memory");

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
import os, socket
for p in ["/etc/passwd", "/proc/self/environ", "../secret.txt", "/job/../secret.txt", "/data/../../x"]:
    try:
        open(p).read()
        print("OPENED " + p)
    except OSError as e:
        print("denied " + p)
try:
    socket.socket()
    print("SOCKET OPENED")
except OSError as e:
    print("socket denied")
import json
target = json.__file__
try:
    with open(target, "a") as f:
        f.write("\nBROKEN = True\n")
    print("STDLIB WRITTEN")
except OSError:
    print("stdlib read-only")
try:
    os.remove(target)
    print("STDLIB REMOVED")
except OSError:
    print("stdlib kept")
"#;
    env.deploy_py("escape", script, None);
    let out = env.run(&["run", "escape"]).ok().stdout();
    assert_eq!(out.matches("denied ").count(), 5, "{out}");
    assert!(out.contains("socket denied"), "{out}");
    assert!(
        out.contains("stdlib read-only") && out.contains("stdlib kept"),
        "{out}"
    );
    assert!(!out.contains("OPENED") && !out.contains("STDLIB"), "{out}");
    env.deploy_py(
        "check",
        "import json\nprint('intact', not hasattr(json, 'BROKEN'))\n",
        None,
    );
    assert!(
        env.run(&["run", "check"])
            .ok()
            .stdout()
            .contains("intact True")
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
