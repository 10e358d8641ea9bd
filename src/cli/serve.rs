//! The `serve`, `stop`/`start` and `cron next` commands.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::api::{ApiLimits, ApiState};
use crate::config::HostConfig;
use crate::job::Job;
use crate::runner::Runner;
use crate::runtime::native::layers;
use crate::schedule::{Cron, zone};
use crate::supervise::continuous::{DISABLE_FILE, set_disabled};
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

/// `wasmjobs serve`: runs the host until SIGTERM or SIGINT (a second one
/// kills the jobs still stopping): every tenant's scheduled and continuous
/// jobs, and the REST API and dashboard on `listen`. With no tenant yet,
/// it makes a `default` one and prints its secret.
pub(super) fn serve(
    host: HostConfig,
    quotas: Quotas,
    listen: std::net::SocketAddr,
    limits: ApiLimits,
) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprint!("{}", layers::report(&host.sandbox));
    let tenants = Tenants::new(host.layout.root());
    if tenants.list().is_empty() {
        let secret = tenants.add(DEFAULT_TENANT)?;
        eprintln!(
            "wasmjobs serve: made tenant '{DEFAULT_TENANT}' (no tenant existed); its secret, shown once:\n  {secret}\n  (a new one: `wasmjobs tenant rotate {DEFAULT_TENANT}`)"
        );
    }
    let quotas = Arc::new(quotas);
    let runner = Runner::new(host);
    let state = Arc::new(ApiState::new(runner.clone(), quotas.clone(), limits));
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("wasmjobs serve: API on http://{addr}/api/webjobs, dashboard on http://{addr}/dashboard/");
        if !addr.ip().is_loopback() {
            eprintln!(
                "wasmjobs serve: listening beyond this machine on plain HTTP: put TLS in front of it"
            );
        }
        let (stop_api_tx, mut stop_api_rx) = tokio::sync::watch::channel(false);
        let runs = state.runs();
        let api_task = tokio::spawn(crate::api::serve(listener, state, async move {
            let _ = stop_api_rx.wait_for(|s| *s).await;
        }));
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
        let served = crate::supervise::serve(
            runner,
            quotas,
            runs.clone(),
            async {
                let _ = first_rx.await;
                let _ = stop_api_tx.send(true);
            },
            killed(kill_rx.clone()),
        )
        .await;
        let _ = api_task.await;
        // Runs the API started after the jobs were stopped stop too.
        runs.stop_all(killed(kill_rx)).await;
        served
    })?;
    Ok(ExitCode::SUCCESS)
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
