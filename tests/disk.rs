//! Disk quotas of wasm runs: a write past a limit fails inside the job
//! with ENOSPC (or EFBIG past `limits.file_mb`), the job can catch it, the
//! run's log names the limit, and nothing beyond the quota reaches the
//! host's disk. (wasi-libc numbers errors as WASI does: Python reports
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
