//! Running `.js` jobs in the QuickJS guest through the real binary.

mod common;
use common::*;

#[test]
fn run_js_prints_args_env_and_a_bundle_file() {
    let env = Env::new();
    let script = r#"
import * as std from 'std';
import * as os2 from 'qjs:os';
import { greet } from './lib/greet.js';
console.log("args=" + JSON.stringify(scriptArgs));
for (const k of ["WEBJOBS_NAME","WEBJOBS_TYPE","WEBJOBS_PATH","WEBJOBS_DATA_PATH","WEBJOBS_COMMAND_ARGUMENTS","GREETING","HOME","PATH","WASMJOBS_GUEST_CWD"])
  console.log(k + "=" + std.getenv(k));
console.log("run_id_ok=" + /^[0-9]{18}$/.test(std.getenv("WEBJOBS_RUN_ID")));
console.log("file=" + std.loadFile("data.txt").trim());
console.log(greet("bundle"));
console.log("cwd=" + os2.getcwd()[0]);
std.err.puts("this goes to stderr\n");
"#;
    let src = env.dir_bundle(
        "hello",
        &[
            ("run.js", script),
            ("data.txt", "hello from the bundle\n"),
            (
                "lib/greet.js",
                "export const greet = (w) => `greetings, ${w}`;",
            ),
        ],
    );
    let zip = env.zip_bundle(
        "hello",
        &[
            ("run.js", script.as_bytes()),
            ("data.txt", b"hello from the bundle\n"),
            (
                "lib/greet.js",
                b"export const greet = (w) => `greetings, ${w}`;",
            ),
        ],
    );
    for (i, source) in [src, zip].iter().enumerate() {
        let name = format!("hello{i}");
        env.run(&[
            "deploy",
            source.to_str().unwrap(),
            "--name",
            &name,
            "--type",
            "triggered",
        ])
        .ok();
        let out = env
            .run(&[
                "--app-setting",
                "GREETING=hi there",
                "run",
                &name,
                "--",
                "alpha",
                "beta",
            ])
            .ok();
        let o = out.stdout();
        assert!(o.contains(r#"args=["run.js","alpha","beta"]"#), "{o}");
        for want in [
            &format!("WEBJOBS_NAME={name}")[..],
            "WEBJOBS_TYPE=triggered",
            "WEBJOBS_PATH=/job",
            "WEBJOBS_DATA_PATH=/data",
            "WEBJOBS_COMMAND_ARGUMENTS=alpha beta",
            "GREETING=hi there",
            "HOME=undefined",
            "PATH=undefined",
            "WASMJOBS_GUEST_CWD=undefined",
            "run_id_ok=true",
            "file=hello from the bundle",
            "greetings, bundle",
            "cwd=/job",
        ] {
            assert!(o.contains(want), "missing {want:?} in:\n{o}");
        }
        assert!(out.stderr().contains("this goes to stderr"));
        let runs = env.history(&name);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["status"], "Success");
        let log = env.latest_log(&name);
        assert!(
            log.contains("INFO] file=hello from the bundle\r\n"),
            "{log}"
        );
        assert!(log.contains("ERR ] this goes to stderr\r\n"), "{log}");
        assert!(log.contains("SYS INFO] Status changed to Success"), "{log}");
    }
}

#[test]
fn exit_status_reaches_the_record_unchanged() {
    let env = Env::new();
    for (name, code) in [("seven", 7), ("twohundred", 200), ("max", 255)] {
        env.deploy_js(
            name,
            &format!("import * as std from 'std'; console.log('bye'); std.exit({code});"),
            None,
        );
        let out = env.run(&["run", name]).fails();
        assert_eq!(
            out.code(),
            Some(code),
            "the CLI exits with the job's status"
        );
        assert!(out.stderr().contains(": Failed"), "{}", out.stderr());
        let log = env.latest_log(name);
        assert!(
            log.contains(&format!("SYS ERR ] Job failed due to exit code {code}")),
            "{log}"
        );
        let status = env.latest_status(name);
        assert_eq!(status["ExitCode"], code);
        assert_eq!(status["Status"], "Failed");
    }
}

#[test]
fn uncaught_exception_fails_the_run_with_its_message() {
    let env = Env::new();
    env.deploy_js(
        "throws",
        "function f() { throw new TypeError('bad thing'); }\nf();",
        None,
    );
    let out = env.run(&["run", "throws"]).fails();
    assert_eq!(out.code(), Some(1));
    let log = env.latest_log("throws");
    assert!(log.contains("ERR ] TypeError: bad thing"), "{log}");
}

#[test]
fn writes_to_the_working_copy_do_not_change_the_bundle_but_data_persists() {
    let env = Env::new();
    let script = r#"
import * as std from 'std';
const prev = std.loadFile("/data/counter.txt");
const n = prev === null ? 1 : Number(prev) + 1;
let f = std.open("/data/counter.txt", "w"); f.puts(String(n)); f.close();
f = std.open("run.js", "w"); f.puts("overwritten"); f.close();
f = std.open("new-file.txt", "w"); f.puts("x"); f.close();
f = std.open("/tmp/scratch.txt", "w"); f.puts("x"); f.close();
console.log("count=" + n);
"#;
    env.deploy_js("writer", script, None);
    let before = std::fs::read_to_string(env.job_dir("writer").join("run.js")).unwrap();
    env.run(&["run", "writer"]).ok();
    let out = env.run(&["run", "writer"]).ok();
    assert!(
        out.stdout().contains("count=2"),
        "data persists across runs: {}",
        out.stdout()
    );
    assert_eq!(
        std::fs::read_to_string(env.job_dir("writer").join("run.js")).unwrap(),
        before
    );
    assert!(!env.job_dir("writer").join("new-file.txt").exists());
    assert!(env.data_dir("writer").join("job_data/counter.txt").exists());
    assert!(
        !env.root().join("temp/jobs/triggered/writer").exists()
            || tree(&env.root().join("temp/jobs/triggered/writer")).is_empty(),
        "working copy and tmp are removed after the run"
    );
}

#[test]
fn the_guest_cannot_reach_host_files() {
    let env = Env::new();
    let secret = env.dir.path().join("root/secret.txt");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "TOPSECRET").unwrap();
    let script = r#"
import * as std from 'std';
import * as os from 'os';
for (const p of ["/etc/passwd", "../secret.txt", "../../secret.txt", "/job/../secret.txt", "/data/../../../secret.txt",
                 "/proc/self/environ", "../../../../../../etc/passwd", "/"+"etc/hostname"]) {
  const f = std.open(p, "r");
  console.log((f ? "OPENED " : "denied ") + p + (f ? " " + f.readAsString() : ""));
}
const [entries, err] = os.readdir("/");
console.log("root=" + JSON.stringify(entries) + " err=" + err);
const w = std.open("/etc/evil", "w");
console.log("write-outside=" + (w ? "OPENED" : "denied"));
"#;
    env.deploy_js("escape", script, None);
    let out = env.run(&["run", "escape"]).ok().stdout();
    assert!(!out.contains("OPENED"), "{out}");
    assert!(!out.contains("TOPSECRET"), "{out}");
    assert!(!out.contains("root:"), "{out}");
    assert_eq!(out.matches("denied ").count(), 8, "{out}");
}

#[test]
fn exec_runs_once_without_deploying() {
    let env = Env::new();
    let zip = env.zip_bundle(
        "oneshot",
        &[(
            "run.js",
            b"console.log('oneshot ' + scriptArgs.slice(1).join(','))",
        )],
    );
    let out = env
        .run(&["exec", zip.to_str().unwrap(), "--", "x", "y"])
        .ok();
    assert!(out.stdout().contains("oneshot x,y"), "{}", out.stdout());
    assert!(
        tree(&env.root().join("jobs")).is_empty(),
        "nothing deployed"
    );
    let out = env.run(&["list"]).ok();
    assert!(out.stdout().contains("no jobs"), "{}", out.stdout());
}

#[test]
fn list_json_has_webjobs_job_objects() {
    let env = Env::new();
    env.deploy_js(
        "listed",
        "console.log(1)",
        Some(r#"{"is_singleton": "true", "custom": 5}"#),
    );
    env.run(&["run", "listed"]).ok();
    let out = env.run(&["list", "--json"]).ok().stdout();
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let j = &jobs[0];
    assert_eq!(j["name"], "listed");
    assert_eq!(j["type"], "triggered");
    assert_eq!(j["run_command"], "run.js");
    assert_eq!(j["settings"]["custom"], 5);
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("'is_singleton' must be a boolean"),
        "{j}"
    );
    assert_eq!(j["latest_run"]["status"], "Success");
    assert_eq!(
        j["history_url"],
        "http://localhost:8080/api/triggeredwebjobs/listed/history"
    );
    assert!(j["scheduler_logs_url"].is_null());
    for k in ["url", "extra_info_url", "using_sdk"] {
        assert!(j.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn remove_deletes_job_and_history() {
    let env = Env::new();
    env.deploy_js("gone", "console.log(1)", None);
    env.run(&["run", "gone"]).ok();
    env.run(&["remove", "gone"]).ok();
    assert!(!env.job_dir("gone").exists());
    assert!(!env.data_dir("gone").exists());
    let out = env.run(&["run", "gone"]).fails();
    assert!(
        out.stderr().contains("no triggered job named 'gone'"),
        "{}",
        out.stderr()
    );
}

/// Runs start from one pre-initialised image: nothing of the image's own
/// start (its clock, its random state, its environment) or of an earlier
/// run may show in a run.
#[test]
fn runs_from_the_image_do_not_share_state() {
    let env = Env::new();
    let script = r#"
console.log(JSON.stringify({
  random: Math.random(),
  uuid: require('crypto').randomUUID(),
  perf: performance.now() >= 0 && performance.now() < 2000,
  uptime: process.uptime() < 2,
  argv: process.argv.slice(2),
  mine: process.env.MINE || null,
  leftover: globalThis.leftover || null,
}));
globalThis.leftover = 'from an earlier run';
"#;
    env.deploy_js("image", script, None);
    let a = env.run(&["run", "image", "--", "first"]).ok().stdout();
    let b = env
        .cmd()
        .args(["--app-setting", "MINE=yes", "run", "image", "--", "second"])
        .output()
        .unwrap();
    let b = String::from_utf8_lossy(&b.stdout).into_owned();
    let parse = |s: &str| -> serde_json::Value {
        serde_json::from_str(s.lines().next().unwrap_or_default()).unwrap()
    };
    let (a, b) = (parse(&a), parse(&b));
    assert_ne!(a["random"], b["random"], "Math.random repeats across runs");
    assert_ne!(a["uuid"], b["uuid"]);
    for r in [&a, &b] {
        assert_eq!(
            r["perf"], true,
            "performance.now() counts from the image: {r}"
        );
        assert_eq!(
            r["uptime"], true,
            "process.uptime() counts from the image: {r}"
        );
        assert!(r["leftover"].is_null(), "state of an earlier run: {r}");
    }
    assert_eq!(a["argv"], serde_json::json!(["first"]));
    assert_eq!(b["argv"], serde_json::json!(["second"]));
    assert!(a["mine"].is_null());
    assert_eq!(b["mine"], "yes");
}
