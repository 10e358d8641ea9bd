//! The `serve`, `stop`/`start` and `cron next` commands.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::config::HostConfig;
use crate::job::Job;
use crate::runner::Runner;
use crate::runtime::native::layers;
use crate::schedule::{Cron, zone};
use crate::supervise::continuous::DISABLE_FILE;

/// `wasmjobs serve`: runs the host until SIGTERM or SIGINT (a second one
/// kills the jobs still stopping); with `listen`, the HTTP API as well.
pub(super) fn serve(host: HostConfig, listen: Option<std::net::SocketAddr>) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprint!("{}", layers::report(&host.sandbox));
    let tenants = crate::tenant::Tenants::new(host.layout.root());
    let runner = Runner::new(host);
    let api = listen.map(|addr| {
        let state = std::sync::Arc::new(crate::api::ApiState::new(tenants, runner.clone()));
        (addr, state)
    });
    rt.block_on(async move {
        let (stop_api_tx, mut stop_api_rx) = tokio::sync::watch::channel(false);
        let api_task = match api {
            Some((addr, state)) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                eprintln!("wasmjobs serve: API on http://{}", listener.local_addr()?);
                let runs = state.runs();
                let task = tokio::spawn(crate::api::serve(listener, state, async move {
                    let _ = stop_api_rx.wait_for(|s| *s).await;
                }));
                Some((task, runs))
            }
            None => None,
        };
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
        let served = crate::supervise::serve(
            runner,
            async {
                let _ = first_rx.await;
                let _ = stop_api_tx.send(true);
            },
            async {
                let _ = second_rx.await;
            },
        )
        .await;
        if let Some((task, runs)) = api_task {
            let _ = task.await;
            // Runs started through the API stop gracefully too.
            runs.stop_all(std::future::pending()).await;
        }
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `wasmjobs stop` / `start`: writes or removes the continuous job's
/// `disable.job`, which a running host acts on.
pub(super) fn set_stopped(job: &Job, stopped: bool) -> Result<ExitCode> {
    let name = &job.name;
    let flag = job.dir.join(DISABLE_FILE);
    if stopped {
        std::fs::write(&flag, b"").with_context(|| format!("writing {}", flag.display()))?;
        println!(
            "stopped continuous job '{name}' (a running host stops it now and keeps it stopped)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    match std::fs::remove_file(&flag) {
        Ok(()) => println!("started continuous job '{name}' (a running host starts it now)"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("continuous job '{name}' was not stopped")
        }
        Err(e) => return Err(e).with_context(|| format!("removing {}", flag.display())),
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
        println!(
            "{}",
            next.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z")
        );
        t = next;
    }
    Ok(ExitCode::SUCCESS)
}
