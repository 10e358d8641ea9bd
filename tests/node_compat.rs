//! Node-style jobs run unchanged in the JS guest: every case in
//! `tests/node/cases/` runs inside the wasm guest (`wasmjobs exec`, the
//! case folder as the bundle, arguments `alpha beta`, `CASE_VAR` set as an
//! app setting) and must give, byte for byte, the stdout, stderr and exit
//! status Node 20 gave for it (`tests/node/expected/`, recorded by
//! `tests/node/generate.sh`), but for the differences documented in
//! `tests/node/README.md`: stack frame lines, and the source excerpt Node
//! prints above an uncaught error (`<file or file:// URL>:<line>` to its
//! blank line).

mod common;

use std::path::{Path, PathBuf};

use common::Env;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// stderr without what is documented to differ: `    at ...` stack
/// frames, and Node's `<file>:<line>` / source line / caret excerpt (up to
/// its blank line) above an uncaught error.
fn normalize_stderr(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_excerpt = false;
    for line in text.split('\n') {
        if in_excerpt {
            in_excerpt = !line.is_empty();
            continue;
        }
        let excerpt_head =
            (line.starts_with('/') || line.starts_with("node:") || line.starts_with("file:"))
                && line
                    .rsplit_once(':')
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if excerpt_head {
            in_excerpt = true;
            continue;
        }
        if line.trim_start().starts_with("at ") && line.starts_with(' ') {
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// The job's own stderr from `wasmjobs exec` (the engine's `[SYS ...]`
/// lines and the closing `run <id>: <status>` line dropped).
fn job_stderr(text: &str) -> String {
    text.split('\n')
        .filter(|l| !l.starts_with("[SYS ") && !is_run_line(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_run_line(l: &str) -> bool {
    l.strip_prefix("run ")
        .and_then(|r| r.split_once(": "))
        .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn node_corpus_matches_node_byte_for_byte() {
    let env = Env::new();
    let cases_dir = node_dir().join("cases");
    let mut cases: Vec<String> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "the corpus has {} cases", cases.len());
    let mut diverging = Vec::new();
    for case in &cases {
        let expected = |ext: &str| {
            std::fs::read_to_string(node_dir().join(format!("expected/{case}.{ext}")))
                .unwrap_or_else(|e| {
                    panic!("{case}.{ext} not recorded ({e}): run tests/node/generate.sh")
                })
        };
        let out = env
            .cmd()
            .args(["--app-setting", "CASE_VAR=corpus-value", "exec"])
            .arg(cases_dir.join(case))
            .args(["--", "alpha", "beta"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = job_stderr(&String::from_utf8_lossy(&out.stderr));
        let status = out.status.code().unwrap_or(-1);
        let want_status: i32 = expected("status").trim().parse().unwrap();
        let mut why = Vec::new();
        if stdout != expected("stdout") {
            why.push(format!(
                "stdout:\n--- node\n{}--- guest\n{stdout}",
                expected("stdout")
            ));
        }
        if normalize_stderr(&stderr) != normalize_stderr(&expected("stderr")) {
            why.push(format!(
                "stderr:\n--- node\n{}\n--- guest\n{}",
                normalize_stderr(&expected("stderr")),
                normalize_stderr(&stderr)
            ));
        }
        if status != want_status {
            why.push(format!("exit status {status}, node {want_status}"));
        }
        if !why.is_empty() {
            diverging.push(format!("== {case}\n{}", why.join("\n")));
        }
    }
    assert!(
        diverging.is_empty(),
        "{} of {} cases diverge from Node:\n{}",
        diverging.len(),
        cases.len(),
        diverging.join("\n")
    );
}

#[test]
fn the_normalization_drops_only_what_is_documented() {
    let node = "/tmp/x/run.js:5\n  throw new Error('a');\n  ^\n\nError: a\n    at fail (/tmp/x/run.js:5:9)\n    at Object.<anonymous> (/tmp/x/run.js:8:1)\n\nNode.js v20.20.2\n";
    let guest = "Error: a\n    at fail (/job/run.js:5:9)\n\nNode.js v20.20.2\n";
    assert_eq!(normalize_stderr(node), normalize_stderr(guest));
    assert_ne!(
        normalize_stderr("Error: a\n"),
        normalize_stderr("Error: b\n")
    );
    assert_eq!(
        job_stderr("[SYS INFO] x\nreal\nrun 2026112615: Failed\n"),
        "real\n"
    );
}

#[test]
fn modules_the_sandbox_cannot_offer_say_so() {
    let env = Env::new();
    env.deploy_js(
        "nonet",
        "for (const m of ['dgram', 'node:http2', 'child_process', 'worker_threads']) {\n\
           try { require(m); console.log(m, 'loaded'); }\n\
           catch (e) { console.log(e.code, e.message); }\n\
         }\n\
         try { require('no-such-package'); } catch (e) { console.log(e.code); }",
        None,
    );
    let out = env.run(&["run", "nonet"]).ok().stdout();
    for m in ["'dgram'", "'http2'", "'child_process'", "'worker_threads'"] {
        assert!(
            out.contains(&format!(
                "ERR_UNAVAILABLE_IN_SANDBOX Cannot load '{}': the {m} module is not available in the wasmjobs sandbox",
                if m == "'http2'" { "node:http2" } else { m.trim_matches('\'') }
            )),
            "{m}: {out}"
        );
    }
    assert!(out.contains("MODULE_NOT_FOUND"), "{out}");

    // The same through an ES import: the run fails, naming the module.
    env.deploy_js(
        "esmnet",
        "import dgram from 'dgram';\nconsole.log('loaded', typeof dgram);\n",
        None,
    );
    let out = env.run(&["run", "esmnet"]).fails();
    assert!(!out.stdout().contains("loaded"), "{}", out.stdout());
    assert!(
        out.stderr()
            .contains("the 'dgram' module is not available in the wasmjobs sandbox"),
        "{}",
        out.stderr()
    );
}

/// The guest's own bounds: random bytes come in at most 16 MiB at once,
/// and a top-level await that can never settle ends the run with Node's
/// status 13 instead of spinning.
#[test]
fn guest_bounds_hold() {
    let env = Env::new();
    env.deploy_js(
        "rand",
        "const c = require('crypto');\n\
         console.log(c.randomBytes(16).length);\n\
         try { c.randomBytes(2 ** 24 + 1); console.log('no limit'); }\n\
         catch (e) { console.log(e.name, e.message); }\n",
        None,
    );
    let out = env.run(&["run", "rand"]).ok().stdout();
    assert!(out.starts_with("16\n"), "{out}");
    assert!(
        out.contains("RangeError at most 16 MiB of random bytes at once"),
        "{out}"
    );
    env.deploy_js(
        "tla",
        "import fs from 'fs';\nawait new Promise(() => {});\n",
        None,
    );
    let out = env.run(&["run", "tla"]).fails();
    assert_eq!(out.code(), Some(13), "{}", out.stderr());
    assert!(
        out.stderr()
            .contains("Warning: Detected unsettled top-level await"),
        "{}",
        out.stderr()
    );
}

#[test]
fn limits_hold_over_the_event_loop() {
    let env = Env::new();
    // A busy interval never yields to the host: the deadline ends it.
    env.deploy_js(
        "busy",
        "setInterval(() => { const t = Date.now(); while (Date.now() - t < 50) {} }, 1);",
        Some(r#"{"limits": {"timeout_s": 2}}"#),
    );
    let out = env.run(&["run", "busy"]).fails();
    assert!(
        out.stderr().contains("timeout after 2 s"),
        "{}",
        out.stderr()
    );
    // A timer due after the deadline does not keep the run alive past it.
    env.deploy_js(
        "late",
        "console.log('waiting'); setTimeout(() => console.log('too late'), 60000);",
        Some(r#"{"limits": {"timeout_s": 2}}"#),
    );
    let out = env.run(&["run", "late"]).fails();
    assert!(!out.stdout().contains("too late"));
    assert!(
        out.stderr().contains("timeout after 2 s"),
        "{}",
        out.stderr()
    );
}
