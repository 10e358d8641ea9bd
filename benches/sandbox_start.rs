//! What the native sandbox adds to starting a process, layer by layer:
//! each configuration spawns `/bin/true` through the sandbox (prepare the
//! layers, fork from the spawner thread, wait, sweep) and is compared with
//! a bare `Command::new("/bin/true").status()` measured in the same run.
//! The goal is at most 2x a bare spawn with every layer but the network
//! namespace. Layers this host cannot apply are skipped, loudly.
//!
//! `cargo bench --bench sandbox_start [-- ROUNDS]` (default 200).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmjobs::runtime::TenantShare;
use wasmjobs::runtime::native::root::ScratchSize;
use wasmjobs::runtime::native::sandbox::{self, Dirs, Rlimits, Spawner, Spec};
use wasmjobs::runtime::native::{Layers, SandboxConfig, Support};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn spec(dirs: &Dirs, layers: Layers, host_root: bool, i: usize) -> Spec {
    Spec {
        program: "/bin/true".into(),
        args: Vec::new(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: Dirs::seen_with(&layers, dirs).work,
        dirs: dirs.clone(),
        layers,
        rlimits: Rlimits {
            cpu_s: 10,
            address_space: 256 << 20,
            file_size: 64 << 20,
            open_files: 256,
            processes: 64,
        },
        memory_mb: 256,
        network: wasmjobs::runtime::NetAccess::None,
        extra_read: Vec::new(),
        uid_range: (2_000_000_000, 2_000_065_535),
        host_root,
        lease_dir: SandboxConfig::default().lease_dir,
        run_name: format!("bench-{i}"),
        tenant: TenantShare::unnamed(),
        scratch: ScratchSize {
            bytes: 64 << 20,
            files: 1024,
        },
        strict: false,
        stdout: Stdio::null(),
        stderr: Stdio::null(),
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dirs = Dirs {
        work: tmp.path().join("work"),
        data: tmp.path().join("data"),
        tmp: tmp.path().join("tmp"),
    };
    for d in [&dirs.work, &dirs.data, &dirs.tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let support = Support::get(&SandboxConfig::default());
    let all = Layers::all(&support);
    let host_root = support.root.is_real();
    let none = Layers::default();
    let rows: Vec<(&str, Option<Layers>)> = vec![
        ("supervisor only (spawner thread, pidfd, sweep)", Some(none)),
        (
            "rlimits",
            Some(Layers {
                rlimits: true,
                ..none
            }),
        ),
        (
            "own uid",
            all.own_uid.then_some(Layers {
                own_uid: true,
                ..none
            }),
        ),
        (
            "landlock",
            all.landlock.then_some(Layers {
                landlock: true,
                ..none
            }),
        ),
        (
            "seccomp",
            all.seccomp.then_some(Layers {
                seccomp: true,
                ..none
            }),
        ),
        (
            "namespaces, no net (pid + init, mnt, ipc, uts)",
            all.namespaces.then_some(Layers {
                namespaces: true,
                ..none
            }),
        ),
        (
            "namespaces + net",
            (all.namespaces && all.net_namespace).then_some(Layers {
                namespaces: true,
                net_namespace: true,
                ..none
            }),
        ),
        (
            "cgroup",
            all.cgroup.map(|v| Layers {
                cgroup: Some(v),
                ..none
            }),
        ),
        (
            "all but the net namespace",
            Some(Layers {
                net_namespace: false,
                ..all
            }),
        ),
        ("all layers", Some(all)),
    ];
    let spawner = Spawner::new();
    let rows: Vec<(&str, Layers)> = rows
        .into_iter()
        .filter_map(|(name, l)| {
            if l.is_none() {
                println!("SKIPPED: {name} (this host cannot apply it)");
            }
            Some((name, l?))
        })
        .collect();
    // Rounds visit every configuration in turn, so the machine's noise
    // falls on all of them alike.
    const BATCH: usize = 4;
    let mut bare = Vec::with_capacity(runs);
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs * BATCH); rows.len()];
    let mut i = 0;
    for round in 0..runs + 10 {
        let t = Instant::now();
        let st = Command::new("/bin/true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        if round >= 10 {
            bare.push(t.elapsed());
        }
        for (k, (name, layers)) in rows.iter().enumerate() {
            // A short batch per configuration; its first spawn is not
            // counted, since it pays for the previous configuration's
            // asynchronous teardown (network namespaces, RCU).
            for b in 0..BATCH {
                i += 1;
                let t = Instant::now();
                let status = rt.block_on(async {
                    let mut job = sandbox::spawn(spec(&dirs, *layers, host_root, i), &spawner)
                        .await
                        .unwrap();
                    job.wait().await.unwrap();
                    job.finish().unwrap().status
                });
                assert!(status.success(), "{name}: /bin/true failed: {status:?}");
                if round >= 10 && b > 0 {
                    samples[k].push(t.elapsed());
                }
            }
        }
    }
    let base = median(bare);
    println!(
        "rounds: {runs} (after 10 warm-up rounds), {} spawns per row and round, /bin/true, median",
        BATCH - 1
    );
    println!("| configuration | median ms | x bare spawn |");
    println!("|---|---|---|");
    println!(
        "| bare Command::status() | {:.3} | 1.00 |",
        base.as_secs_f64() * 1e3
    );
    for ((name, _), v) in rows.iter().zip(samples) {
        let m = median(v);
        println!(
            "| {name} | {:.3} | {:.2} |",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}
