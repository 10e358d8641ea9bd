//! The `serve`, `stop`/`start` and `cron next` commands.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::api::{ApiLimits, ApiState};
use crate::cluster::Cluster;
use crate::cluster::book::ClusterBook;
use crate::config::HostConfig;
use crate::job::Job;
use crate::runner::Runner;
use crate::runner::book::RunBook;
use crate::runner::book::local::LocalBook;
use crate::runtime::native::report;
use crate::runtime::stop::StopSignal;
use crate::schedule::{Cron, zone};
use crate::store::layout::DISABLE_FILE;
use crate::store::logline::short_instance_id;
use crate::supervise::continuous::set_disabled;
use crate::tenant::Tenant;
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

/// `wasmjobs serve`: runs the host until SIGTERM or SIGINT (a second one
/// kills the jobs still stopping): every tenant's scheduled and continuous
/// jobs, and the REST API and dashboard on `listen`. With no tenant yet,
/// it makes a `default` one and prints its secret.
pub(super) fn serve(
    mut host: HostConfig,
    quotas: Quotas,
    listen: std::net::SocketAddr,
    limits: ApiLimits,
    database: Option<&str>,
) -> Result<ExitCode> {
    // Two runtimes: the jobs' (triggers, runs and their wasm guests, which
    // yield only at epoch ticks) and the API's, whose threads do nothing
    // but answer requests (their file-system work goes to a bounded pool):
    // no job can hold up a request.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(crate::runtime::wasm::share::JOB_WORKERS)
        .max_blocking_threads(MAX_BLOCKING)
        .thread_name("wasmjobs-jobs")
        .enable_all()
        .build()?;
    let api_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(MAX_BLOCKING)
        .thread_name("wasmjobs-api")
        .enable_all()
        .build()?;
    // A host that runs only wasm guests never probes the native sandbox
    // (nor sweeps cgroups): the probe and the report wait for a native run.
    if host.executors == crate::runtime::ExecutorChoice::Wasm {
        eprintln!("native sandbox: not used (--executor wasm)");
    } else {
        eprint!("{}", report::report(&host.sandbox));
    }
    // In a cluster: the heartbeat (from the moment the host joins, until
    // every run has ended) and the sync of tenants and jobs. The
    // dispatcher of queued runs stops taking runs at the first signal.
    let quit_dispatch = StopSignal::default();
    let quit_cluster = StopSignal::default();
    let cluster = match database {
        Some(url) => Some(rt.block_on(join_cluster(&mut host, url, &quit_cluster))?),
        None => {
            let tenants = Tenants::new(host.layout.root());
            if tenants.list().is_empty() {
                let secret = tenants.add(DEFAULT_TENANT)?;
                made_default(&secret, "");
            }
            None
        }
    };
    // What a stopped host left to delete is deleted in the background.
    crate::store::trash::empty_later(host.layout.root());
    for t in Tenants::new(host.layout.root()).list() {
        crate::store::trash::empty_later(&Tenants::new(host.layout.root()).dir(&t.name));
    }
    let quotas = Arc::new(quotas);
    // The runs in flight in the background, on the jobs' runtime: the
    // API's and the schedules' (each tenant's host stops its own when it
    // stops; the host stops the rest at the end).
    let runs = Arc::new(crate::runner::background::Runs::on(rt.handle().clone()));
    // The run book: the cluster's database, or this host's data root.
    let book: Arc<dyn RunBook> = match &cluster {
        Some(c) => Arc::new(ClusterBook::new(c.clone(), &host)),
        None => Arc::new(LocalBook::new(runs.clone())),
    };
    let runner = Runner::new(host).with_book(book);
    // Which executor each kind of job gets here, fallbacks named; the
    // guests that can run are loaded and instantiated once now, in the
    // background (a guest that cannot be is not used).
    eprint!("{}", super::output::executors(&runner));
    if runner.host().executors != crate::runtime::ExecutorChoice::Native {
        let wasm = runner.wasm().clone();
        rt.spawn(async move {
            for g in [crate::runtime::Guest::Js, crate::runtime::Guest::Python] {
                if wasm.usable(g).is_ok() {
                    let _ = wasm.warm(g).await;
                }
            }
        });
    }
    let state = Arc::new(
        ApiState::new(runner.clone(), quotas.clone(), limits)
            .context("starting the threads that check secrets")?,
    );
    let api = api_rt.handle().clone();
    rt.block_on(async move {
        let listener = {
            let _api = api.enter();
            listen_on(listen).with_context(|| format!("listening on {listen}"))?
        };
        let addr = listener.local_addr()?;
        eprintln!("wasmjobs serve: API on http://{addr}/api/webjobs, dashboard on http://{addr}/dashboard/");
        if !addr.ip().is_loopback() {
            eprintln!(
                "wasmjobs serve: listening beyond this machine on plain HTTP: put TLS in front of it"
            );
        }
        let (stop_api_tx, mut stop_api_rx) = tokio::sync::watch::channel(false);
        let api_task = api.spawn(crate::api::serve(
            listener,
            state,
            async move {
                let _ = stop_api_rx.wait_for(|s| *s).await;
            },
            API_DRAIN,
        ));
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            for tx in [first_tx, second_tx] {
                tokio::select! {
                    _ = sigint.recv() => {}
                    _ = sigterm.recv() => {}
                }
                let _ = tx.send(());
            }
        });
        let (kill_tx, kill_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = second_rx.await;
            let _ = kill_tx.send(true);
        });
        let killed = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|k| *k).await;
        };
        if let Some(c) = &cluster {
            tokio::spawn(keep_synced(c.clone(), runner.host().clone(), quit_cluster.clone()));
        }
        tokio::spawn(crate::supervise::dispatch::run(
            runner.clone(),
            quotas.clone(),
            runs.clone(),
            quit_dispatch.clone(),
        ));
        let served = crate::supervise::serve(
            runner,
            quotas,
            runs.clone(),
            async {
                let _ = first_rx.await;
                quit_dispatch.stop();
                let _ = stop_api_tx.send(true);
            },
            killed(kill_rx.clone()),
        )
        .await;
        let _ = api_task.await;
        // Runs the API started after the jobs were stopped stop too.
        runs.stop_all(killed(kill_rx)).await;
        if let Some(c) = &cluster {
            quit_cluster.stop();
            c.leave().await;
        }
        served
    })?;
    // Requests still under way past the drain are not waited for.
    api_rt.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// Connections the kernel may hold for the host before it accepts them (a
/// burst of connects beyond this would wait for SYN retransmits).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with a deep accept queue.
fn listen_on(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Threads the host's file-system work may block at once.
const MAX_BLOCKING: usize = 64;

/// How long requests under way (a followed output, say) may go on once
/// the host is stopping.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

fn made_default(secret: &str, where_: &str) {
    eprintln!(
        "wasmjobs serve: made tenant '{DEFAULT_TENANT}'{where_} (no tenant existed); its secret, shown once:\n  {secret}\n  (a new one: `wasmjobs tenant rotate {DEFAULT_TENANT}`)"
    );
}

/// Joins the cluster: an instance id of its own unless
/// `WEBSITE_INSTANCE_ID` names one (hosts on one machine differ by data
/// root), the schema migrated, the `default` tenant made if the cluster
/// has none, and this host's data root brought up to the cluster's.
async fn join_cluster(host: &mut HostConfig, url: &str, quit: &StopSignal) -> Result<Arc<Cluster>> {
    if std::env::var_os("WEBSITE_INSTANCE_ID").is_none_or(|v| v.is_empty()) {
        use sha2::Digest;
        let seed = format!(
            "{}:{}",
            short_instance_id(None),
            host.layout.root().display()
        );
        host.instance = short_instance_id(Some(&hex::encode(sha2::Sha256::digest(seed))));
    }
    let cluster = Cluster::join(url, &host.instance)
        .await
        .context("joining the cluster")?;
    tokio::spawn(cluster.clone().keep_alive(quit.clone()));
    eprintln!(
        "wasmjobs serve: instance {} joined the cluster (token {}; lease {} s)",
        host.instance,
        cluster.token(),
        crate::cluster::LEASE.as_secs()
    );
    if cluster.tenants().await?.is_empty() {
        let (record, secret) = Tenant::new(DEFAULT_TENANT)?;
        if cluster.add_tenant(&record).await?.is_some() {
            made_default(&secret, " in the cluster");
        }
    }
    crate::store::fsutil::ensure_private_dir(host.layout.root())?;
    cluster
        .sync_local(host.layout.root(), host.executors, host.extract)
        .await
        .context("bringing the data root up to the cluster's")?;
    Ok(cluster)
}

/// How often a host compares its tenants and jobs with the cluster's.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn keep_synced(cluster: Arc<Cluster>, host: HostConfig, quit: StopSignal) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SYNC_EVERY) => {}
            _ = quit.stopped() => return,
        }
        match cluster
            .sync_local(host.layout.root(), host.executors, host.extract)
            .await
        {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                eprintln!("wasmjobs serve: syncing with the cluster: {e:#}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// The tenant `serve` makes when there is none.
const DEFAULT_TENANT: &str = "default";

/// `wasmjobs stop` / `start`: writes or removes the continuous job's
/// `disable.job`, which a running host acts on.
pub(super) fn set_stopped(job: &Job, stopped: bool) -> Result<ExitCode> {
    let name = &job.name;
    let changed = set_disabled(job, stopped)
        .with_context(|| format!("updating {}", job.dir.join(DISABLE_FILE).display()))?;
    match (stopped, changed) {
        (true, _) => println!(
            "stopped continuous job '{name}' (a running host stops it now and keeps it stopped)"
        ),
        (false, true) => println!("started continuous job '{name}' (a running host starts it now)"),
        (false, false) => println!("continuous job '{name}' was not stopped"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmjobs cron next`: the next `count` occurrences, one RFC 3339 time a
/// line, in `tz` (default UTC), after `from` (default now).
pub(super) fn cron_next(
    expr: &str,
    from: Option<&str>,
    tz: Option<&str>,
    count: usize,
) -> Result<ExitCode> {
    let cron: Cron = expr.parse()?;
    let tz = zone::parse_zone(tz.unwrap_or("UTC")).map_err(anyhow::Error::msg)?;
    let mut t = match from {
        Some(f) => f
            .parse::<jiff::Timestamp>()
            .with_context(|| format!("--from '{f}' is not an RFC 3339 time"))?,
        None => jiff::Timestamp::now(),
    };
    for _ in 0..count {
        let Some(next) = zone::next_instant(&cron, &tz, t) else {
            bail!("the schedule '{cron}' never fires");
        };
        println!("{}", zone::rfc3339(next, &tz));
        t = next;
    }
    Ok(ExitCode::SUCCESS)
}
