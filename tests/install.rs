//! `wasmjobs install-guests` and how hosts find what it installs, through
//! the real binary: root installs into a prefix; a user who is not root,
//! with a fresh home and no setting at all, runs `.py` on the installed
//! CPython 3.13 in wasm with nothing to prepare; an install others may
//! write is not trusted; a missing guest names every place looked in.
//! Running as another user needs root and `setpriv`: without them those
//! tests skip loudly, and fail under `WASMJOBS_TEST_STRICT=1`.

mod common;
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const NOBODY: &str = "65534";

/// Whether this test process can run commands as another user.
fn can_switch_user() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("running as another user needs root".into());
    }
    match Command::new("setpriv").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("setpriv (util-linux) is not installed".into()),
    }
}

/// A directory everyone may read and enter (a temp dir is 0700).
fn open_dir(parent: &Path, name: &str) -> PathBuf {
    let d = parent.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// A world-readable scratch directory holding a copy of the binary as
/// `<dir>/bin/wasmjobs` (the original sits under root's private target
/// directory). Returns the temp dir and the copy's path.
fn prefix_with_binary() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = open_dir(t.path(), "bin").join("wasmjobs");
    std::fs::copy(env!("CARGO_BIN_EXE_wasmjobs"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (t, bin)
}

/// A job folder everyone may read, with one script.
fn job(parent: &Path, name: &str, file: &str, script: &str) -> PathBuf {
    let d = open_dir(parent, name);
    std::fs::write(d.join(file), script).unwrap();
    std::fs::set_permissions(d.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    d
}

/// A fresh, empty home directory owned by nobody.
fn nobody_home(parent: &Path, name: &str) -> PathBuf {
    let h = open_dir(parent, name);
    std::os::unix::fs::chown(&h, Some(65534), Some(65534)).unwrap();
    h
}

/// `exe args...` as uid/gid 65534 with no supplementary groups and an
/// environment of only `HOME`, `PATH` and `extra`: no variable of ours.
fn as_nobody(home: &Path, exe: &Path, extra: &[(&str, &str)], args: &[&str]) -> Out {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        NOBODY,
        "--regid",
        NOBODY,
        "--clear-groups",
        "env",
        "-i",
    ])
    .arg(format!("HOME={}", home.display()))
    .arg("PATH=/usr/bin:/bin");
    for (k, v) in extra {
        c.arg(format!("{k}={v}"));
    }
    c.arg(exe).args(args).current_dir("/");
    Out(c.output().expect("running setpriv"))
}

/// Every file and directory under `dir`, with a mode that others lack.
fn not_world_readable(dir: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let need = if m.is_dir() { 0o005 } else { 0o004 };
            if !m.file_type().is_symlink() && m.mode() & need != need {
                bad.push(format!("{} {:o}", e.path().display(), m.mode() & 0o7777));
            }
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    bad
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const VERSION_PY: &str =
    "import sys\nprint('version=' + sys.version)\nprint('platform=' + sys.platform)\n";

#[test]
fn an_installed_guest_runs_for_a_user_with_nothing_set_and_nothing_to_prepare() {
    if let Err(why) = can_switch_user() {
        return skip(&why);
    }
    let (t, exe) = prefix_with_binary();
    let prefix = t.path();
    let lib = prefix.join("lib/wasmjobs");

    // Root installs beside the binary (from its own build of the guest).
    let out = Out(Command::new(&exe)
        .args(["install-guests", "--prefix"])
        .arg(prefix)
        .output()
        .unwrap())
    .ok();
    let said = out.stdout();
    let python = lib.join("guests/python");
    assert!(
        said.contains(&format!("in {}", python.display()))
            && said.contains(&format!("in {}", lib.join("modules").display())),
        "install-guests says what went where:\n{said}"
    );
    assert!(python.join("python.wasm").is_file());
    assert!(python.join("lib/python3.13/os.py").is_file());
    assert_eq!(
        std::fs::read_to_string(python.join("build-id"))
            .unwrap()
            .trim()
            .len(),
        64
    );
    let modules = names(&lib.join("modules"));
    for want in [
        "js-.*\\.snapshot\\.wasm",
        "js-.*\\.cwasm",
        "python-.*\\.snapshot\\.wasm",
        "python-.*\\.cwasm",
    ] {
        let (head, tail) = want.split_once(".*").unwrap();
        let tail = tail.replace('\\', "");
        assert!(
            modules
                .iter()
                .any(|n| n.starts_with(head) && n.ends_with(&tail)),
            "no {want} in {modules:?}"
        );
    }
    assert_eq!(
        names(&lib),
        ["guests", "modules"],
        "no staging folder is left"
    );
    assert_eq!(not_world_readable(&lib), Vec::<String>::new());

    // Nobody, with a fresh empty home and no variable at all, runs a .py
    // job: CPython 3.13 on WASI (not the system python3), and nothing is
    // prepared: the installed compiled module is used as it is.
    let home = nobody_home(prefix, "home");
    let py = job(prefix, "pyjob", "run.py", VERSION_PY);
    let out = as_nobody(&home, &exe, &[], &["exec", py.to_str().unwrap()]).ok();
    let (o, e) = (out.stdout(), out.stderr());
    assert!(
        o.contains("version=3.13.") && o.contains("platform=wasi"),
        "CPython 3.13 in wasm:\n{o}\n{e}"
    );
    assert!(
        e.contains("script host - 'CPython 3.13 (wasm32-wasip1)'"),
        "{e}"
    );
    assert!(
        !e.contains("preparing") && !e.contains("compiling") && !e.contains("WARN"),
        "nothing to prepare, nothing to warn about:\n{e}"
    );
    let cache = home.join(".cache/wasmjobs/modules");
    assert!(
        !cache.exists() || names(&cache).iter().all(|n| !n.starts_with("python")),
        "nobody's cache stays empty of Python: {:?}",
        names(&cache)
    );
    let doctor = as_nobody(&home, &exe, &[], &["doctor"]).stdout();
    assert!(
        doctor.contains(&format!("from {}", python.display()))
            && doctor.contains(&format!("{} (used)", lib.join("modules").display())),
        "{doctor}"
    );

    // A second install replaces the first whole (here with the metered
    // variants too), and the runs go on.
    let out = Out(Command::new(&exe)
        .args(["install-guests", "--metered", "--prefix"])
        .arg(prefix)
        .output()
        .unwrap())
    .ok();
    assert!(out.stdout().contains("metered"), "{}", out.stdout());
    assert_eq!(names(&lib), ["guests", "modules"]);
    assert_eq!(
        names(&lib.join("modules")).len(),
        6,
        "2 snapshots, 4 compiled"
    );
    let out = as_nobody(&home, &exe, &[], &["exec", py.to_str().unwrap()]).ok();
    assert!(out.stdout().contains("version=3.13."), "{}", out.stdout());

    // Modules in a directory others may write are never loaded: the host
    // says so and prepares its own, in its own cache, without $TMPDIR.
    std::fs::set_permissions(lib.join("modules"), std::fs::Permissions::from_mode(0o775)).unwrap();
    let home2 = nobody_home(prefix, "home2");
    let js = job(prefix, "jsjob", "run.js", "console.log('js ok');\n");
    let root = home2.join("root");
    let root = root.to_str().unwrap();
    let out = as_nobody(
        &home2,
        &exe,
        &[("TMPDIR", "/nonexistent")],
        &[
            "--root",
            root,
            "deploy",
            js.to_str().unwrap(),
            "--name",
            "jsjob",
        ],
    )
    .ok();
    drop(out);
    let out = as_nobody(
        &home2,
        &exe,
        &[("TMPDIR", "/nonexistent")],
        &["--root", root, "run", "jsjob"],
    )
    .ok();
    let e = out.stderr();
    assert!(out.stdout().contains("js ok"), "{}\n{e}", out.stdout());
    assert!(
        e.contains(&format!(
            "not using the guests' modules installed in {}",
            lib.join("modules").display()
        )) && e.contains("may be written by others"),
        "{e}"
    );
    let cache2 = home2.join(".cache/wasmjobs/modules");
    assert!(
        e.contains(&format!(
            "preparing the JavaScript guest for this host, once (a few seconds); cached in {}",
            cache2.display()
        )) && e.contains("the JavaScript guest is ready in "),
        "one line before, one after:\n{e}"
    );
    assert_eq!(
        e.matches("JavaScript guest").count(),
        2,
        "one line each:\n{e}"
    );
    assert!(
        names(&cache2)
            .iter()
            .all(|n| !n.starts_with("snapshot-scratch")),
        "the snapshot's scratch folders are gone: {:?}",
        names(&cache2)
    );
    // The next run finds its own cache: no line at all.
    let out = as_nobody(&home2, &exe, &[], &["--root", root, "run", "jsjob"]).ok();
    assert!(
        !out.stderr().contains("JavaScript guest"),
        "{}",
        out.stderr()
    );
}

#[test]
fn install_guests_refuses_a_place_it_cannot_write_and_names_it() {
    if let Err(why) = can_switch_user() {
        return skip(&why);
    }
    let (t, exe) = prefix_with_binary();
    // A guest nobody may read (only its shape is looked at before writing).
    let guest = open_dir(t.path(), "guest");
    std::fs::write(guest.join("python.wasm"), b"\0asm\x01\0\0\0").unwrap();
    open_dir(&guest, "lib/python3.13");
    let root_owned = open_dir(t.path(), "system");
    let home = nobody_home(t.path(), "home");
    let out = as_nobody(
        &home,
        &exe,
        &[],
        &[
            "install-guests",
            "--from",
            guest.to_str().unwrap(),
            "--prefix",
            root_owned.to_str().unwrap(),
        ],
    )
    .fails();
    let e = out.stderr();
    assert!(
        e.contains(&format!(
            "cannot write to {}",
            root_owned.join("lib").display()
        )) && e.contains("sudo")
            && e.contains("--prefix"),
        "{e}"
    );
    assert!(names(&root_owned).is_empty(), "nothing was made there");

    // With no guest to install anywhere, it names every place it looked
    // in, the build of the user who ran sudo included.
    let empty = open_dir(t.path(), "empty-home");
    let out = Out(Command::new(&exe)
        .env_clear()
        .env("HOME", &empty)
        .env("PATH", "/usr/bin:/bin")
        .env("SUDO_UID", NOBODY)
        .args(["install-guests", "--prefix"])
        .arg(t.path().join("elsewhere"))
        .output()
        .unwrap())
    .fails();
    let e = out.stderr();
    let passwd = Command::new("getent")
        .args(["passwd", NOBODY])
        .output()
        .unwrap();
    let passwd = String::from_utf8_lossy(&passwd.stdout).into_owned();
    let nobody_home = passwd.trim().split(':').nth(5).expect("65534's home");
    for want in [
        format!(
            "{} (this user's build",
            empty
                .join(".cache/wasmjobs/guests/python/current")
                .display()
        ),
        format!(
            "{nobody_home}/.cache/wasmjobs/guests/python/current (the build of the user who ran sudo)"
        ),
        "--from DIR".into(),
    ] {
        assert!(e.contains(&want), "{want:?} missing in:\n{e}");
    }
}

#[test]
fn a_missing_guest_names_every_place_looked_in_and_the_fixes() {
    for system in [
        "/usr/local/lib/wasmjobs/guests/python",
        "/usr/lib/wasmjobs/guests/python",
    ] {
        if Path::new(system).exists() {
            return skip(&format!(
                "{system} holds an install: no place is empty of a guest here"
            ));
        }
    }
    let (t, exe) = prefix_with_binary();
    let home = open_dir(t.path(), "home");
    let py = job(t.path(), "pyjob", "run.py", VERSION_PY);
    let run = |vars: &[(&str, &str)]| {
        let mut c = Command::new(&exe);
        c.env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .envs(vars.iter().copied())
            .args(["--executor", "wasm", "exec", py.to_str().unwrap()]);
        Out(c.output().unwrap()).fails()
    };
    let e = run(&[]).stderr();
    for want in [
        format!(
            "{} (installed beside this binary)",
            t.path().join("lib/wasmjobs/guests/python").display()
        ),
        "/usr/local/lib/wasmjobs/guests/python (installed for every user)".into(),
        "/usr/lib/wasmjobs/guests/python (installed for every user)".into(),
        format!(
            "{} (this user's build",
            home.join(".cache/wasmjobs/guests/python/current").display()
        ),
        "build it with guests/python/build.sh".into(),
        "`wasmjobs install-guests`".into(),
    ] {
        assert!(e.contains(&want), "{want:?} missing in:\n{e}");
    }
    // The variable, when set, is the only place.
    let e = run(&[("WASMJOBS_PYTHON_GUEST", "/nonexistent/guest")]).stderr();
    assert!(
        e.contains("/nonexistent/guest ($WASMJOBS_PYTHON_GUEST)")
            && e.contains("unset WASMJOBS_PYTHON_GUEST")
            && !e.contains("/usr/local/lib/wasmjobs"),
        "{e}"
    );
}
