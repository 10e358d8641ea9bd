//! Disk quotas: a write past a limit fails inside a wasm job with ENOSPC
//! (or EFBIG past `limits.file_mb`), the job can catch it, the run's log
//! names the limit, and nothing beyond the quota reaches the host's disk.
//! A native run's scratch fails the same way (its tmpfs is full); its
//! data folder is measured by the host and the run stopped past it. (wasi-libc numbers errors as WASI does: Python reports
//! ENOSPC as errno 51 and EFBIG as 22, with their usual messages.)

mod common;
use common::*;

use std::path::Path;

/// Apparent bytes and entries under `dir`.
fn usage(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut files) = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        files += 1;
        let m = e.metadata().unwrap();
        if m.is_dir() {
            let (b, f) = usage(&e.path());
            bytes += b;
            files += f;
        } else if m.is_file() {
            bytes += m.len();
        }
    }
    (bytes, files)
}

/// Free bytes of the file system holding `dir`.
fn free_bytes(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is a valid value for statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid statvfs to write.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

/// Runs `name` (which must end `Success`: the job catches its errors) and
/// returns its log.
#[track_caller]
fn run_ok(env: &Env, name: &str, flags: &[&str]) -> String {
    let mut args = flags.to_vec();
    args.extend(["run", name]);
    env.run(&args).ok();
    env.latest_log(name)
}

const PY_FILL: &str = r#"
import os, sys
path = sys.argv[1] if len(sys.argv) > 1 else os.environ['TARGET']
chunk = b'x' * (1 << 20)
written = 0
try:
    with open(path, 'wb') as f:
        for _ in range(64):
            f.write(chunk)
            f.flush()
            written += 1
    print('no error', written)
except OSError as e:
    print('caught', e.errno, e.strerror, 'after', written)
"#;

#[test]
fn python_writes_past_scratch_fail_with_enospc_in_tmp_and_the_working_copy() {
    let env = Env::new();
    let settings = r#"{"limits": {"scratch_mb": 4}}"#;
    for (name, target) in [("pytmp", "/tmp/big"), ("pywork", "big.bin")] {
        env.deploy_py(
            name,
            &PY_FILL.replace("os.environ['TARGET']", &format!("{target:?}")),
            Some(settings),
        );
        let log = run_ok(&env, name, &[]);
        assert!(
            log.contains("caught 51 No space left on device after 3"),
            "{log}"
        );
        assert!(log.contains("(limits.scratch_mb)"), "{log}");
        assert!(log.contains("SYS WARN] Write refused"), "{log}");
        assert_eq!(
            log.matches("limits.scratch_mb").count(),
            1,
            "named once: {log}"
        );
    }
}

#[test]
fn js_writes_past_scratch_and_data_fail_with_enospc() {
    let env = Env::new();
    let script = r#"
const fs = require('fs');
for (const p of ['/tmp/a.bin', process.env.WEBJOBS_DATA_PATH + '/a.bin']) {
  try {
    fs.writeFileSync(p, Buffer.alloc(3 << 20));
    console.log('wrote', p);
  } catch (e) { console.log('caught', e.code, p); }
}
let made = 0;
try { for (let i = 0; i < 100; i++) { fs.mkdirSync('/tmp/d' + i); made++; } }
catch (e) { console.log('mkdir', e.code, 'after', made); }
"#;
    env.deploy_js(
        "jsfill",
        script,
        Some(r#"{"limits": {"scratch_mb": 2, "data_mb": 2, "scratch_files": 20}}"#),
    );
    let log = run_ok(&env, "jsfill", &[]);
    assert!(log.contains("caught ENOSPC /tmp/a.bin"), "{log}");
    assert!(log.contains("caught ENOSPC /data/a.bin"), "{log}");
    assert!(log.contains("(limits.data_mb)"), "{log}");
    assert!(log.contains("mkdir ENOSPC after"), "{log}");
    assert!(log.contains("(limits.scratch_files)"), "{log}");
}

#[test]
fn data_mb_bounds_the_data_folder_and_the_host_disk() {
    let env = Env::new();
    env.deploy_py(
        "pydata",
        &PY_FILL.replace(
            "os.environ['TARGET']",
            "os.environ['WEBJOBS_DATA_PATH'] + '/big'",
        ),
        Some(r#"{"limits": {"data_mb": 5}}"#),
    );
    let data = env.data_dir("pydata").join("job_data");
    let free = free_bytes(&env.root());
    let log = run_ok(&env, "pydata", &[]);
    assert!(log.contains("caught 51"), "{log}");
    assert!(
        log.contains(
            "Write refused: the job's /data holds 5 MiB, its limit 5 MiB (limits.data_mb)"
        ),
        "{log}"
    );
    assert!(usage(&data).0 <= 5 << 20, "{:?}", usage(&data));
    let used = free.saturating_sub(free_bytes(&env.root()));
    assert!(used < 32 << 20, "the host's disk lost {used} bytes");
    // The next run finds the folder full.
    let log = run_ok(&env, "pydata", &[]);
    assert!(log.contains("caught 51"), "{log}");
}

#[test]
fn files_past_data_files_and_scratch_files_are_refused() {
    let env = Env::new();
    let script = r#"
import os
for root in (os.environ['WEBJOBS_DATA_PATH'], '/tmp'):
    n = 0
    try:
        for i in range(200):
            open(os.path.join(root, 'f%d' % i), 'w').close()
            n += 1
    except OSError as e:
        print(root == '/tmp' and 'tmp' or 'data', 'caught', e.errno, 'after', n)
"#;
    env.deploy_py(
        "pyfiles",
        script,
        Some(r#"{"limits": {"data_files": 10, "scratch_files": 50}}"#),
    );
    let log = run_ok(&env, "pyfiles", &[]);
    assert!(log.contains("data caught 51 after 10"), "{log}");
    assert!(log.contains("tmp caught 51 after"), "{log}");
    assert!(log.contains("(limits.data_files)"), "{log}");
    assert!(log.contains("(limits.scratch_files)"), "{log}");
    assert_eq!(usage(&env.data_dir("pyfiles").join("job_data")).1, 10);
}

#[test]
fn a_write_at_64_gib_is_refused_before_it_is_made() {
    let env = Env::new();
    let script = r#"
import os
d = os.environ['WEBJOBS_DATA_PATH']
with open(d + '/sparse', 'wb', buffering=0) as f:
    f.seek(64 << 30)
    try:
        f.write(b'x'); f.flush()
        print('seek write done')
    except OSError as e:
        print('seek write caught', e.errno, e.strerror)
fd = os.open('/tmp/sparse2', os.O_WRONLY | os.O_CREAT)
try:
    os.pwrite(fd, b'x', 64 << 30)
    print('pwrite done')
except OSError as e:
    print('pwrite caught', e.errno, e.strerror)
try:
    os.ftruncate(fd, 64 << 30)
    print('truncate done')
except OSError as e:
    print('truncate caught', e.errno, e.strerror)
print('sizes', os.path.getsize(d + '/sparse'), os.fstat(fd).st_size)
"#;
    env.deploy_py("sparse", script, None);
    let log = run_ok(&env, "sparse", &[]);
    assert!(log.contains("seek write caught 22 File too large"), "{log}");
    assert!(log.contains("pwrite caught 22 File too large"), "{log}");
    assert!(log.contains("truncate caught 22 File too large"), "{log}");
    assert!(log.contains("sizes 0 0"), "{log}");
    assert!(log.contains("(limits.file_mb)"), "{log}");
    let (bytes, _) = usage(&env.data_dir("sparse").join("job_data"));
    assert_eq!(bytes, 0);
}

#[test]
fn deleting_files_frees_quota_within_the_run() {
    let env = Env::new();
    let script = r#"
import os
for i in range(5):
    with open('/tmp/f', 'wb') as f:
        f.write(b'x' * (3 << 20))
    os.remove('/tmp/f')
with open('/tmp/g', 'wb') as f:
    f.write(b'x' * (3 << 20))
with open('/tmp/g', 'wb') as f:  # truncated: frees its 3 MiB
    f.write(b'y' * (3 << 20))
os.rename('/tmp/g', '/tmp/h')
print('all written')
"#;
    env.deploy_py("pyfree", script, Some(r#"{"limits": {"scratch_mb": 4}}"#));
    let log = run_ok(&env, "pyfree", &[]);
    assert!(log.contains("all written"), "{log}");
    assert!(!log.contains("refused"), "{log}");
}

#[test]
fn settings_above_the_host_maximum_are_clamped_with_a_note() {
    let env = Env::new();
    env.deploy_py(
        "clamped",
        &PY_FILL.replace("os.environ['TARGET']", "'/tmp/big'"),
        Some(r#"{"limits": {"scratch_mb": 100, "file_mb": "big"}}"#),
    );
    let log = run_ok(&env, "clamped", &["--max-scratch-mb", "2"]);
    assert!(
        log.contains("limits.scratch_mb = 100 is above the host's maximum 2; using 2"),
        "{log}"
    );
    assert!(
        log.contains("caught 51 No space left on device after 1"),
        "{log}"
    );
    assert!(
        log.contains("'limits.file_mb' must be a positive integer"),
        "{log}"
    );
    let out = env.run(&["--scratch-mb", "0", "list"]).fails();
    assert!(
        out.stderr().contains("--scratch-mb must be at least 1"),
        "{}",
        out.stderr()
    );
}

#[test]
fn a_tenants_disk_mb_bounds_its_jobs_together() {
    let env = Env::new();
    env.add_tenant("acme");
    std::fs::write(
        env.root().join("quotas.toml"),
        "[tenants.acme]\ndisk_mb = 6\n",
    )
    .unwrap();
    let script = PY_FILL
        .replace(
            "os.environ['TARGET']",
            "os.environ['WEBJOBS_DATA_PATH'] + '/big'",
        )
        .replace("range(64)", "range(4)");
    for name in ["one", "two"] {
        let src = env.dir_bundle(name, &[("run.py", &script)]);
        env.run(&[
            "--tenant",
            "acme",
            "deploy",
            src.to_str().unwrap(),
            "--name",
            name,
        ])
        .ok();
    }
    let one = env.run(&["--tenant", "acme", "run", "one"]).ok().stdout();
    assert!(one.contains("no error 4"), "{one}");
    let two = env.run(&["--tenant", "acme", "run", "two"]).ok().stdout();
    assert!(two.contains("caught 51"), "{two}");
    let log = env.run(&["--tenant", "acme", "logs", "two"]).ok().stdout();
    assert!(
        log.contains("Write refused: the tenant holds 6 MiB on disk, its quota 6 MiB (disk_mb)"),
        "{log}"
    );
    let bad = std::fs::write(
        env.root().join("quotas.toml"),
        "[tenants.acme]\ndisk_files = 0\n",
    );
    bad.unwrap();
    let out = env.run(&["--tenant", "acme", "run", "one"]).fails();
    assert!(
        out.stderr()
            .contains("quota 'acme': disk_files must be at least 1"),
        "{}",
        out.stderr()
    );
}

/// A native run's scratch is a tmpfs of `scratch_mb` and `scratch_files`:
/// writes past it in /tmp and in the working copy fail with ENOSPC in the
/// job, the log names the limit, and the host's disk does not move.
#[test]
fn native_writes_past_scratch_fail_with_enospc() {
    let env = Env::new();
    if let Err(why) = native_sandbox(&env) {
        return eprintln!("SKIPPED (not passed): {why}");
    }
    let settings = r#"{"limits": {"scratch_mb": 8, "scratch_files": 100}}"#;
    let script = "dd if=/dev/zero of=/tmp/big bs=1M count=64 2>&1 | head -1\n\
                  rm /tmp/big\n\
                  dd if=/dev/zero of=big.bin bs=1M count=64 2>&1 | head -1\n\
                  rm big.bin\n\
                  for i in $(seq 1 200); do : > /tmp/f$i 2>/dev/null || { echo \"file $i refused\"; break; }; done\n";
    env.deploy_files(
        "nscratch",
        &[("run.sh", script), ("settings.job", settings)],
    );
    let before = free_bytes(&env.root());
    env.run(&["run", "nscratch"]).ok();
    let log = env.latest_log("nscratch");
    for write in ["'/tmp/big': No space left", "'big.bin': No space left"] {
        assert!(log.contains(write), "{write}: {log}");
    }
    assert!(log.contains("refused"), "{log}");
    assert!(log.contains("(limits.scratch_files = 100"), "{log}");
    let moved = before.saturating_sub(free_bytes(&env.root()));
    assert!(moved < 8 << 20, "the host's disk lost {moved} bytes");
}

/// A native job writes its data folder directly; the host measures it
/// while it runs and stops the run once it holds more than `data_mb`,
/// naming the limit.
#[test]
fn a_native_run_past_its_data_quota_is_stopped_with_the_limit_named() {
    let env = Env::new();
    if let Err(why) = native_sandbox(&env) {
        return eprintln!("SKIPPED (not passed): {why}");
    }
    let settings = r#"{"limits": {"data_mb": 16, "timeout_s": 60}}"#;
    let script = "for i in $(seq 1 40); do dd if=/dev/zero of=\"$WEBJOBS_DATA_PATH/f$i\" bs=1M count=2 2>/dev/null; sleep 0.2; done\necho wrote all\n";
    env.deploy_files("ndata", &[("run.sh", script), ("settings.job", settings)]);
    env.run(&["run", "ndata"]);
    let log = env.latest_log("ndata");
    let status = env.latest_status("ndata");
    assert_eq!(status["Status"], "Failed", "{log}");
    assert_eq!(status["Limit"], "disk", "{status}");
    assert!(!log.contains("wrote all"), "{log}");
    assert!(log.contains("past the 16 MiB"), "{log}");
    let (bytes, _) = usage(&env.data_dir("ndata"));
    assert!(bytes <= 20 << 20, "the data folder holds {bytes} bytes");
}

/// A deleted job's data folder stops counting toward its tenant's
/// `disk_mb` at once: another job may then use the room.
#[test]
fn deleting_a_job_gives_its_data_room_back_to_the_tenant() {
    let env = Env::new();
    let auth = http::basic("acme", &env.add_tenant("acme"));
    std::fs::write(
        env.root().join("quotas.toml"),
        "[tenants.acme]\ndisk_mb = 8\n",
    )
    .unwrap();
    let s = http::start(&env);
    let fill = "import os\ntry:\n    with open('/data/blob', 'wb') as f:\n        f.write(b'x' * (6 << 20))\n    print('stored')\nexcept OSError as e:\n    print('refused', e.strerror)\n";
    for name in ["first", "second"] {
        http::upload(&s, &auth, "triggered", name, &[("run.py", fill.as_bytes())]);
    }
    let run = |name: &str| {
        let (code, id, body, _) = http::run(&s, &auth, name);
        assert_eq!(code, 202, "{body}");
        let r = http::wait_run(&s, &auth, name, &id);
        http::output(&s, &auth, &r)
    };
    assert!(run("first").contains("stored"));
    assert!(run("second").contains("refused No space left on device"));
    let (code, _, body) =
        http::request(&s, "DELETE", "/api/triggeredwebjobs/first", Some(&auth), "");
    assert_eq!(code, 200, "{body}");
    let out = run("second");
    assert!(out.contains("stored"), "{out}");
}
