//! Tenants fenced from each other on one host, judged from the host side:
//! a tenant's native runs share one process budget, whatever its runs and
//! continuous jobs do, and another tenant's runs still start.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Env, http, job_processes, skip};

/// Every `job_log.txt` under `dir` whose path names job `name`.
fn job_logs(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(job_logs(&p, name));
        } else if p.file_name().is_some_and(|f| f == "job_log.txt")
            && p.to_string_lossy().contains(&format!("/{name}/"))
        {
            v.push(p);
        }
    }
    v
}

/// Tenant "hog" (quota max_processes = 40) deploys three continuous native
/// jobs that each try to keep 30 sleepers alive: together they never hold
/// more than 40 processes, counted from the host, their logs show the
/// forks refused, and tenant "calm"'s run still starts and succeeds.
#[test]
fn a_tenants_native_runs_share_one_process_budget() {
    let env = Env::new();
    let doctor = env.run(&["doctor"]).ok().stdout();
    if doctor.contains("native runs are REFUSED")
        || doctor.contains("tenant process budget       : NO")
    {
        return skip(&format!("no tenant process budget here:\n{doctor}"));
    }
    let hog = http::basic("hog", &env.add_tenant("hog"));
    let calm = http::basic("calm", &env.add_tenant("calm"));
    std::fs::write(
        env.root().join("quotas.toml"),
        "[tenants.hog]\nmax_processes = 40\n",
    )
    .unwrap();
    let server = http::start(&env);
    let hogs = ["hog-a", "hog-b", "hog-c"];
    let script = "for i in $(seq 1 30); do sleep 300 & done\necho spawned\nwait\n";
    for name in hogs {
        http::upload(
            &server,
            &hog,
            "continuous",
            name,
            &[("run.sh", script.as_bytes())],
        );
    }
    let count = || hogs.iter().map(|n| job_processes(n).len()).sum::<usize>();
    // The jobs fork until the budget refuses them (bash retries, then
    // gives up); the count never passes the budget meanwhile.
    let refused = || {
        hogs.iter().any(|n| {
            job_logs(&env.root(), n).iter().any(|l| {
                std::fs::read_to_string(l)
                    .unwrap_or_default()
                    .contains("Resource temporarily unavailable")
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    loop {
        let held = count();
        let groups: std::collections::BTreeSet<String> = hogs
            .iter()
            .flat_map(|n| job_processes(n))
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
            .filter_map(|c| c.lines().find(|l| l.contains(":pids:")).map(str::to_string))
            .collect();
        assert!(
            held <= 40,
            "tenant hog holds {held} processes, in {groups:?}"
        );
        most = most.max(held);
        if most >= 30 && refused() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no fork was refused (at most {most} processes)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    http::upload(
        &server,
        &calm,
        "triggered",
        "hello",
        &[("run.sh", b"echo hello from calm")],
    );
    let (code, id, body, _) = http::run(&server, &calm, "hello");
    assert_eq!(code, 202, "{body}");
    let run = http::wait_run(&server, &calm, "hello", &id);
    assert_eq!(run["status"], "Success", "{run}");
    assert!(http::output(&server, &calm, &run).contains("hello from calm"));
}
