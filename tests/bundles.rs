//! Deploying bundles: WebJobs' layout and entry discovery, and every zip
//! attack the extractor must refuse without installing anything.

mod common;
use common::*;

const HELLO: &[u8] = b"console.log('v1')";

/// Deploys `zip`, expects a refusal mentioning `why`, and checks that
/// nothing was installed and the existing job `victim` still runs v1.
#[track_caller]
fn assert_rejected(env: &Env, zip: &std::path::Path, why: &str) {
    let out = env
        .run(&["deploy", zip.to_str().unwrap(), "--name", "victim"])
        .fails();
    assert!(
        out.stderr().contains(why),
        "expected {why:?} in: {}",
        out.stderr()
    );
    assert_eq!(
        tree(&env.job_dir("victim")),
        ["run.js"],
        "existing job untouched"
    );
    assert!(
        tree(&env.root().join("temp/staging")).is_empty(),
        "staging cleaned: {:?}",
        tree(&env.root().join("temp/staging"))
    );
    assert!(env.run(&["run", "victim"]).ok().stdout().contains("v1"));
    assert!(
        !env.dir.path().join("evil.js").exists()
            && !std::path::Path::new("/tmp/wasmjobs-evil.js").exists()
    );
}

/// Deploys `zip` as `victim` with extra host flags; expects a refusal
/// whose message contains one of `any_of`.
#[track_caller]
fn deploy_refused(env: &Env, flags: &[&str], zip: &std::path::Path, any_of: &[&str]) {
    let mut args = flags.to_vec();
    args.extend(["deploy", zip.to_str().unwrap(), "--name", "victim"]);
    let err = env.run(&args).fails().stderr();
    assert!(
        any_of.iter().any(|w| err.contains(w)),
        "expected one of {any_of:?} in: {err}"
    );
}

fn env_with_victim() -> Env {
    let env = Env::new();
    let z = env.zip_bundle("v1", &[("run.js", HELLO)]);
    env.run(&["deploy", z.to_str().unwrap(), "--name", "victim"])
        .ok();
    env
}

#[test]
fn dot_dot_and_absolute_names_are_rejected() {
    let env = env_with_victim();
    let z = env.zip_bundle("dotdot", &[("run.js", HELLO), ("../evil.js", b"x")]);
    assert_rejected(&env, &z, "'..' component");
    let z = env.zip_bundle("dotdot2", &[("run.js", HELLO), ("a/../../evil.js", b"x")]);
    assert_rejected(&env, &z, "'..' component");
    let z = env.zip_bundle("backslash", &[("run.js", HELLO), ("..\\evil.js", b"x")]);
    assert_rejected(&env, &z, "'..' component");
    let z = env.zip_bundle("abs", &[("run.js", HELLO), ("/tmp/wasmjobs-evil.js", b"x")]);
    assert_rejected(&env, &z, "absolute path");
    let z = env.zip_bundle("drive", &[("run.js", HELLO), ("C:/evil.js", b"x")]);
    assert_rejected(&env, &z, "drive letter");
}

#[test]
fn symlink_entries_are_rejected() {
    let env = env_with_victim();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    use std::io::Write;
    w.start_file("run.js", opts).unwrap();
    w.write_all(HELLO).unwrap();
    w.add_symlink("escape", "/", opts).unwrap();
    w.start_file("escape/tmp/wasmjobs-evil.js", opts).unwrap();
    w.write_all(b"x").unwrap();
    let z = env.raw_zip("symlink", &w.finish().unwrap().into_inner());
    assert_rejected(&env, &z, "symbolic link");

    // A directory bundle holding a symlink is refused the same way.
    let d = env.dir_bundle("linkdir", &[("run.js", "console.log(1)")]);
    std::os::unix::fs::symlink("/etc/passwd", d.join("passwd")).unwrap();
    let out = env
        .run(&["deploy", d.to_str().unwrap(), "--name", "victim"])
        .fails();
    assert!(out.stderr().contains("symbolic link"), "{}", out.stderr());
    assert_eq!(
        tree(&env.job_dir("victim")),
        ["run.js"],
        "existing job untouched"
    );
}

#[test]
fn duplicate_and_case_colliding_names_are_rejected() {
    let env = env_with_victim();
    // The writer refuses exact duplicates, so rename a second entry in place.
    let bytes = zip_bytes(&[("run.js", HELLO), ("rux.js", b"console.log('v2')")]);
    let patched = replace_all(&bytes, b"rux.js", b"run.js");
    let z = env.raw_zip("dup", &patched);
    assert_rejected(&env, &z, "duplicate entry 'run.js'");
    let z = env.zip_bundle("case", &[("run.js", HELLO), ("RUN.js", b"x")]);
    assert_rejected(&env, &z, "differs only in letter case");
    let z = env.zip_bundle(
        "casedir",
        &[("lib/a.js", HELLO), ("LIB/b.js", b"x"), ("run.js", HELLO)],
    );
    assert_rejected(&env, &z, "differs only in letter case");
    let z = env.zip_bundle("filedir", &[("run.js", HELLO), ("run.js/x", b"x")]);
    assert_rejected(&env, &z, "duplicate entry");
}

#[test]
fn control_characters_in_names_are_rejected() {
    let env = env_with_victim();
    let z = env.zip_bundle("nul", &[("run.js", HELLO), ("a\0b.js", b"x")]);
    assert_rejected(&env, &z, "NUL or control character");
    let z = env.zip_bundle("newline", &[("run.js", HELLO), ("a\nb.js", b"x")]);
    assert_rejected(&env, &z, "NUL or control character");
}

#[test]
fn zip_bombs_are_capped_by_actual_bytes() {
    let env = env_with_victim();
    // 80 MiB of zeros deflates to ~80 KiB: over the 64 MiB per-entry default.
    let zeros = vec![0u8; 80 << 20];
    let z = env.zip_bundle("bomb", &[("run.js", HELLO), ("zeros.bin", &zeros)]);
    assert!(std::fs::metadata(&z).unwrap().len() < 1 << 20);
    assert_rejected(&env, &z, "unpacks to more than 67108864 bytes");

    // Total cap (host settable): five 1 MiB entries against a 4 MiB bundle cap.
    let one = vec![7u8; 1 << 20];
    let files: Vec<(String, &[u8])> = (0..5)
        .map(|i| (format!("f{i}.bin"), one.as_slice()))
        .collect();
    let mut refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    refs.push(("run.js", HELLO));
    let z = env.zip_bundle("total", &refs);
    deploy_refused(
        &env,
        &["--max-bundle-mb", "4"],
        &z,
        &["more than 4194304 bytes in total"],
    );

    // A header that lies about the size: declared 10 bytes, 2 MiB inside.
    let big = vec![b'a'; 2 << 20];
    let bytes = zip_bytes(&[("run.js", HELLO), ("liar.txt", &big)]);
    let patched = patch_sizes(&bytes, "liar.txt", 10);
    let z = env.raw_zip("liar", &patched);
    deploy_refused(
        &env,
        &["--max-entry-mb", "1"],
        &z,
        &["entry 'liar.txt' unpacks to more than 1048576 bytes"],
    );
    assert_eq!(tree(&env.job_dir("victim")), ["run.js"]);
}

#[test]
fn too_many_entries_are_rejected() {
    let env = env_with_victim();
    let names: Vec<String> = (0..10_001).map(|i| format!("f{i}.txt")).collect();
    let mut files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    files.push(("run.js", HELLO));
    let z = env.zip_bundle("many", &files);
    assert_rejected(&env, &z, "more than 10000 entries");
}

#[test]
fn encrypted_entries_are_rejected() {
    let env = env_with_victim();
    let bytes = zip_bytes(&[("run.js", HELLO), ("secret.js", b"console.log(2)")]);
    let patched = set_encrypted_flag(&bytes, "secret.js");
    let z = env.raw_zip("enc", &patched);
    assert_rejected(&env, &z, "encrypted");
}

#[test]
fn truncated_and_corrupt_archives_are_rejected() {
    let env = env_with_victim();
    let bytes = zip_bytes(&[("run.js", HELLO), ("other.js", &[b'x'; 5000])]);
    let z = env.raw_zip("trunc", &bytes[..bytes.len() / 2]);
    assert_rejected(&env, &z, "corrupt or truncated zip archive");
    let mut garbled = bytes.clone();
    let n = garbled.len();
    for b in &mut garbled[40..n - 200] {
        *b ^= 0x5a;
    }
    let z = env.raw_zip("garbled", &garbled);
    let out = env
        .run(&["deploy", z.to_str().unwrap(), "--name", "victim"])
        .fails();
    assert!(out.stderr().contains("cannot deploy"), "{}", out.stderr());
    assert_eq!(tree(&env.job_dir("victim")), ["run.js"]);
    let z = env.raw_zip("notzip", b"this is not a zip file");
    let out = env
        .run(&["deploy", z.to_str().unwrap(), "--name", "victim"])
        .fails();
    assert!(
        out.stderr().contains("not a zip file or a directory"),
        "{}",
        out.stderr()
    );
}

#[test]
fn invalid_names_are_rejected() {
    let env = Env::new();
    let z = env.zip_bundle("ok", &[("run.js", HELLO)]);
    for bad in ["-x", "a b", "../x", "a.b", &"x".repeat(65)] {
        let out = env
            .run(&["deploy", z.to_str().unwrap(), &format!("--name={bad}")])
            .fails();
        assert!(
            out.stderr().contains("invalid job name"),
            "{bad}: {}",
            out.stderr()
        );
    }
    assert!(tree(&env.root().join("jobs")).is_empty());
}

#[test]
fn entry_priority_follows_webjobs() {
    let env = Env::new();
    let cases: &[(&str, &[&str], &str)] = &[
        ("pyjs", &["run.js", "run.py"], "run.py"),
        ("shjs", &["b.sh", "a.js"], "b.sh"),
        ("runwins", &["a.sh", "run.js"], "run.js"),
        ("phppy", &["run.php", "run.py", "run.sh"], "run.sh"),
        ("cmdfirst", &["run.js", "run.cmd"], "run.cmd"),
        ("firstjs", &["zeta.js", "alpha.js", "notes.txt"], "alpha.js"),
        ("upper", &["RUN.JS"], "RUN.JS"),
        ("jarjs", &["run.jar", "run.js"], "run.js"),
        ("jaronly", &["run.jar", "a.js"], "run.jar"),
    ];
    for (name, files, _) in cases {
        let entries: Vec<(&str, &[u8])> =
            // `print(1)` is valid JavaScript (QuickJS) and Python alike.
            files.iter().map(|f| (*f, &b"print(1)"[..])).collect();
        let z = env.zip_bundle(name, &entries);
        env.run(&["deploy", z.to_str().unwrap(), "--name", name])
            .ok();
    }
    let jobs: serde_json::Value =
        serde_json::from_str(&env.run(&["list", "--json"]).ok().stdout()).unwrap();
    for (name, _, want) in cases {
        let j = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == *name)
            .unwrap();
        assert_eq!(j["run_command"], *want, "{name}");
    }
    // Entries in subfolders are not considered: top level only.
    let z = env.zip_bundle("deep", &[("readme.txt", b"x"), ("lib/run.js", b"x")]);
    let out = env
        .run(&["deploy", z.to_str().unwrap(), "--name", "deep"])
        .fails();
    assert!(
        out.stderr().contains("No runnable script file was found."),
        "{}",
        out.stderr()
    );
    assert!(
        !env.job_dir("deep").exists(),
        "a rejected bundle installs nothing"
    );

    // The bundle with run.py and run.js runs its run.py, in CPython.
    env.run(&["run", "pyjs"]).ok();
    assert!(
        env.latest_log("pyjs")
            .contains("Run script 'run.py' with script host - 'CPython 3.13")
    );
    // A kind no executor can run here: deploy warns, run refuses clearly.
    let out = env.run(&["run", "cmdfirst"]).fails();
    assert!(
        out.stderr().contains("cannot run .cmd on a Linux host"),
        "{}",
        out.stderr()
    );
    assert!(
        env.history("cmdfirst").is_empty(),
        "nothing recorded for a run that cannot start"
    );
    // JS picked over nothing else runs.
    assert!(env.run(&["run", "runwins"]).ok().stdout().contains('1'));
}

#[test]
fn lone_top_level_folder_is_descended() {
    let env = Env::new();
    let z = env.zip_bundle(
        "nested",
        &[
            ("myjob/", b""),
            (
                "myjob/run.js",
                b"import * as std from 'std'; console.log(std.loadFile('sibling.txt'))",
            ),
            ("myjob/sibling.txt", b"found-the-sibling"),
            ("myjob/settings.job", br#"{"limits": {"timeout_s": 30}}"#),
        ],
    );
    env.run(&["deploy", z.to_str().unwrap(), "--name", "nested"])
        .ok();
    let jobs: serde_json::Value =
        serde_json::from_str(&env.run(&["list", "--json"]).ok().stdout()).unwrap();
    assert_eq!(jobs[0]["run_command"], "myjob/run.js");
    assert_eq!(jobs[0]["settings"]["limits"]["timeout_s"], 30);
    assert!(
        env.job_dir("nested").join("myjob/run.js").exists(),
        "stored as WebJobs stores it"
    );
    let out = env.run(&["run", "nested"]).ok();
    assert!(
        out.stdout().contains("found-the-sibling"),
        "{}",
        out.stdout()
    );
}

#[test]
fn redeploy_replaces_the_job() {
    let env = env_with_victim();
    let z = env.zip_bundle(
        "v2",
        &[("run.js", b"console.log('v2')"), ("extra.txt", b"x")],
    );
    env.run(&["deploy", z.to_str().unwrap(), "--name", "victim"])
        .ok();
    assert_eq!(tree(&env.job_dir("victim")), ["extra.txt", "run.js"]);
    assert!(env.run(&["run", "victim"]).ok().stdout().contains("v2"));
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    out
}

/// Finds the local header and central directory record of `name`.
fn headers(bytes: &[u8], name: &str) -> (usize, usize) {
    let find = |sig: &[u8; 4], name_off: usize| {
        (0..bytes.len() - 4)
            .find(|&i| {
                &bytes[i..i + 4] == sig
                    && bytes.len() > i + name_off + name.len()
                    && &bytes[i + name_off..i + name_off + name.len()] == name.as_bytes()
            })
            .expect("header")
    };
    (find(b"PK\x03\x04", 30), find(b"PK\x01\x02", 46))
}

fn set_encrypted_flag(bytes: &[u8], name: &str) -> Vec<u8> {
    let (local, central) = headers(bytes, name);
    let mut out = bytes.to_vec();
    out[local + 6] |= 1;
    out[central + 8] |= 1;
    out
}

fn patch_sizes(bytes: &[u8], name: &str, size: u32) -> Vec<u8> {
    let (local, central) = headers(bytes, name);
    let mut out = bytes.to_vec();
    out[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    out[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
    out
}
