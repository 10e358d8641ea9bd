//! The supervisor of one continuous job, WebJobs' state machine: stopped
//! while `disable.job` exists (or `WEBJOBS_STOPPED`); for `is_singleton`
//! jobs, inactive while another holder has `singleton.job.lock`; otherwise
//! Starting → Running, and when the process ends, PendingRestart for
//! `WEBJOBS_RESTART_TIME` if it ran less than the warm-up (2 minutes), at
//! once otherwise, or after an exponential back-off when the job asks for
//! one. Its output goes to `job_log.txt`, rolled at 1 MiB to
//! `job_prev_log.txt`; its status to `status_<instance>`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::job::Job;
use crate::runner::Runner;
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::store::layout::{DISABLE_FILE, JOB_LOG, JOB_PREV_LOG};
use crate::store::lock::{JobLock, SINGLETON_LOCK_FILE};
use crate::store::logline::Level;
use crate::store::run::RunStatus;

/// Keeps a continuous job stopped (writes its `disable.job`) or lets it
/// run again (removes it); a serving host acts on either. Returns whether
/// anything changed.
pub fn set_disabled(job: &crate::job::Job, disabled: bool) -> std::io::Result<bool> {
    let flag = job.dir.join(DISABLE_FILE);
    if disabled {
        let was = flag.exists();
        std::fs::write(&flag, b"")?;
        return Ok(!was);
    }
    match std::fs::remove_file(&flag) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
/// Size at which the continuous and scheduler logs roll (WebJobs: 1 MiB).
pub const ROLL_BYTES: u64 = 1 << 20;

/// A continuous job's status, as WebJobs spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// About to start the process.
    Starting,
    /// The process is running.
    Running,
    /// The process ended; waiting before the restart.
    PendingRestart,
    /// A stop is in progress.
    Stopping,
    /// Stopped (`disable.job`, `WEBJOBS_STOPPED`, or the host stopping).
    Stopped,
    /// An `is_singleton` job whose lock another host holds.
    InactiveInstance,
}

impl Status {
    /// The status string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "Starting",
            Status::Running => "Running",
            Status::PendingRestart => "PendingRestart",
            Status::Stopping => "Stopping",
            Status::Stopped => "Stopped",
            Status::InactiveInstance => "InactiveInstance",
        }
    }
}

/// Where a continuous job's records live. The status file is held open and
/// locked while its host runs the job: an unlocked file is a stale record
/// of a host that is gone (WebJobs keeps it open for the same reason).
struct Records {
    status: Option<std::fs::File>,
    log: Arc<OutputLog>,
    /// In a cluster: where the status is recorded too, `(cluster, tenant,
    /// job)`.
    cluster: Option<(Arc<Cluster>, String, String)>,
}

impl Records {
    fn open(
        path: &std::path::Path,
        log: Arc<OutputLog>,
        cluster: Option<(Arc<Cluster>, String, String)>,
    ) -> Records {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path);
        let status = match file {
            Ok(f) => match JobLock::lock_open_file(&f) {
                Ok(true) => Some(f),
                Ok(false) => {
                    log.sys(
                        Level::Warn,
                        &format!("{} is held by another host", path.display()),
                    );
                    None
                }
                Err(e) => {
                    log.sys(Level::Err, &format!("Cannot lock {}: {e}", path.display()));
                    None
                }
            },
            Err(e) => {
                log.sys(Level::Err, &format!("Cannot open {}: {e}", path.display()));
                None
            }
        };
        Records {
            status,
            log,
            cluster,
        }
    }

    async fn set(&self, status: Status) {
        use std::os::unix::fs::FileExt;
        let body = serde_json::json!({ "Status": status.as_str() }).to_string();
        if let Some(f) = &self.status
            && let Err(e) = f
                .set_len(0)
                .and_then(|()| f.write_all_at(body.as_bytes(), 0))
        {
            self.log
                .sys(Level::Err, &format!("Cannot write the status file: {e}"));
        }
        self.log.sys(
            Level::Info,
            &format!("Status changed to {}", status.as_str()),
        );
        if let Some((cluster, tenant, job)) = &self.cluster
            && let Err(e) = cluster.set_continuous(tenant, job, status.as_str()).await
        {
            tracing::warn!("job {job}: recording its status in the cluster: {e:#}");
        }
    }
}

/// What makes this host the one that runs a singleton job: the
/// `singleton.job.lock` file on one host, a lease in a cluster.
enum Singleton {
    File(#[allow(dead_code)] JobLock),
    Lease(Arc<Cluster>, String),
}

impl Singleton {
    /// Takes it if free; `Ok(None)` when another holder has it.
    async fn acquire(
        runner: &Runner,
        job: &Job,
        data_dir: &std::path::Path,
    ) -> std::io::Result<Option<Singleton>> {
        match runner.cluster() {
            Some(c) => {
                let name = crate::cluster::singleton_lease(runner.tenant(), &job.name);
                match c.lease(&name).await {
                    Ok(true) => Ok(Some(Singleton::Lease(c.clone(), name))),
                    Ok(false) => Ok(None),
                    Err(e) => Err(std::io::Error::other(format!("{e:#}"))),
                }
            }
            None => Ok(JobLock::try_acquire_file(
                data_dir,
                SINGLETON_LOCK_FILE,
                &runner.host().instance,
            )?
            .map(Singleton::File)),
        }
    }

    /// How often a host without it tries again.
    fn retry(runner: &Runner) -> Duration {
        if runner.cluster().is_some() {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        }
    }

    /// Resolves when a cluster lease is lost: another host holds it, or it
    /// could not be confirmed for a whole lease (this host may have been
    /// cut off, and another may hold it by now). A file lock is never lost.
    async fn lost(singleton: &Option<Singleton>) {
        let Some(Singleton::Lease(cluster, name)) = singleton else {
            return std::future::pending().await;
        };
        let mut confirmed = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match cluster.lease(name).await {
                Ok(true) => confirmed = Instant::now(),
                Ok(false) => return,
                Err(_) if confirmed.elapsed() >= crate::cluster::LEASE => return,
                Err(_) => {}
            }
        }
    }
}

impl Singleton {
    /// Whether a cluster lease is still this host's (a file lock always is).
    async fn still_held(&self) -> bool {
        match self {
            Singleton::File(_) => true,
            Singleton::Lease(cluster, name) => cluster.lease(name).await.unwrap_or(false),
        }
    }

    /// Drops a lease this host no longer holds without giving it back (a
    /// release now could delete the row another host, or this one again,
    /// has just taken).
    fn disown(mut self) {
        if let Singleton::Lease(_, name) = &mut self {
            name.clear();
        }
    }
}

impl Drop for Singleton {
    fn drop(&mut self) {
        if let Singleton::Lease(cluster, name) = self
            && !name.is_empty()
        {
            let (cluster, name) = (cluster.clone(), std::mem::take(name));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { cluster.release(&name).await });
            }
        }
    }
}

/// The wait before restarting a process that ran `ran`, after `quick_fails`
/// quick failures in a row.
pub fn restart_wait(
    ran: Duration,
    warmup: Duration,
    restart_time: Duration,
    backoff: Option<crate::bundle::settings::Backoff>,
    quick_fails: u32,
) -> Duration {
    if ran >= warmup {
        return Duration::ZERO;
    }
    match backoff {
        None => restart_time,
        Some(b) => {
            let factor = 1u64 << quick_fails.saturating_sub(1).min(30);
            Duration::from_secs(b.initial_s.saturating_mul(factor).min(b.max_s))
        }
    }
}

/// Opens a continuous job's rolling log, for one start: WebJobs caps each
/// start at 200 lines; here only a job's own `limits.output_kb` caps it.
pub fn open_job_log(runner: &Runner, job: &Job) -> std::io::Result<Arc<OutputLog>> {
    let host = runner.host();
    let dir = host.layout.data_dir(job.job_type, &job.name);
    std::fs::create_dir_all(&dir)?;
    let cap = job
        .settings
        .limits()
        .output_kb
        .map(|kb| kb.min(host.ceiling.output_kb).saturating_mul(1024))
        .unwrap_or(u64::MAX);
    OutputLog::open_rolling(
        &dir.join(JOB_LOG),
        &dir.join(JOB_PREV_LOG),
        ROLL_BYTES,
        &host.instance,
        cap,
    )
}

/// Resolves when this host rejoins its cluster after being fenced (never
/// on a single host).
async fn rejoined(runner: &Runner) {
    match runner.cluster() {
        Some(c) => c.rejoined().await,
        None => std::future::pending().await,
    }
}

/// Keeps `job` running until `quit` fires, then stops it gracefully.
pub async fn run(runner: Runner, job: Job, quit: StopSignal) {
    let host = runner.host().clone();
    let data_dir = host.layout.data_dir(job.job_type, &job.name);
    let mut log = match open_job_log(&runner, &job) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("job '{}': cannot open its log: {e}", job.name);
            return;
        }
    };
    let in_cluster = runner
        .cluster()
        .map(|c| (c.clone(), runner.tenant().to_string(), job.name.clone()));
    let mut rec = Records::open(
        &crate::store::instance::status_file(&data_dir, &host.instance),
        log.clone(),
        in_cluster,
    );
    if job.dir.join(DISABLE_FILE).exists() || host.jobs_stopped {
        let why = if host.jobs_stopped {
            "WEBJOBS_STOPPED is set"
        } else {
            "disable.job exists (wasmjobs start clears it)"
        };
        log.sys(Level::Info, &format!("WebJob is stopped: {why}"));
        rec.set(Status::Stopped).await;
        return;
    }
    let mut quick_fails = 0u32;
    let mut starts = 0u64;
    // Held across restarts (released when the job stops), so that giving
    // it back never races taking it again.
    let mut singleton: Option<Singleton> = None;
    loop {
        // Held from an earlier start: confirmed before this one (the host
        // may have been fenced while the job waited to restart).
        if let Some(held) = &singleton
            && !held.still_held().await
            && let Some(held) = singleton.take()
        {
            held.disown();
        }
        if job.settings.is_singleton() && singleton.is_none() {
            let mut announced = false;
            singleton = loop {
                match Singleton::acquire(&runner, &job, &data_dir).await {
                    Ok(Some(l)) => break Some(l),
                    Ok(None) => {
                        if !announced {
                            rec.set(Status::InactiveInstance).await;
                            announced = true;
                        }
                    }
                    Err(e) => log.sys(Level::Err, &format!("Cannot take the singleton lock: {e}")),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Singleton::retry(&runner)) => {}
                    // Registered again: the cluster had this instance for
                    // dead, it says InactiveInstance again.
                    _ = rejoined(&runner) => announced = false,
                    _ = quit.stopped() => {
                        rec.set(Status::Stopped).await;
                        return;
                    }
                }
            };
        }
        if starts > 0
            && let Ok(fresh) = open_job_log(&runner, &job)
        {
            // A fresh per-start output cap; the same rolling file.
            log = fresh;
            rec.log = log.clone();
        }
        rec.set(Status::Starting).await;
        starts += 1;
        let start_id = format!("{}-{starts}", std::process::id());
        let run_stop = StopSignal::default();
        rec.set(Status::Running).await;
        let started = Instant::now();
        let run = runner.run_continuous(&job, &start_id, &log, &run_stop);
        tokio::pin!(run);
        let mut lost = false;
        let end = loop {
            tokio::select! {
                end = &mut run => break Some(end),
                _ = Singleton::lost(&singleton) => {
                    lost = true;
                    break None;
                }
                // Fenced and registered again: the cluster had this
                // instance for dead; it says Running again.
                _ = rejoined(&runner) => rec.set(Status::Running).await,
                _ = quit.stopped() => break None,
            }
        };
        if lost {
            log.sys(
                Level::Err,
                "This host lost the singleton lease (its lease expired and another host may run the job): killing this instance",
            );
            run_stop.kill();
            let _ = (&mut run).await;
            // (The next round finds the lease taken and says so.)
            if let Some(held) = singleton.take() {
                held.disown();
            }
            continue;
        }
        let Some(end) = end else {
            rec.set(Status::Stopping).await;
            run_stop.stop();
            tokio::select! {
                _ = &mut run => {}
                _ = quit.killed() => {
                    run_stop.kill();
                    let _ = (&mut run).await;
                }
            }
            rec.set(Status::Stopped).await;
            return;
        };
        let ran = started.elapsed();
        if end.status == RunStatus::Success {
            log.sys(Level::Info, "Process exited with code 0");
        }
        quick_fails = if ran >= host.restart_warmup {
            0
        } else {
            quick_fails + 1
        };
        let wait = restart_wait(
            ran,
            host.restart_warmup,
            host.restart_time,
            job.settings.restart_backoff(),
            quick_fails,
        );
        log.sys(
            Level::Info,
            &format!(
                "Process went down, waiting for {} seconds",
                wait.as_secs_f64()
            ),
        );
        rec.set(Status::PendingRestart).await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = quit.stopped() => {
                rec.set(Status::Stopped).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::settings::Backoff;

    #[test]
    fn webjobs_restart_rule_and_backoff() {
        let (warm, rt) = (Duration::from_secs(120), Duration::from_secs(60));
        assert_eq!(restart_wait(Duration::from_secs(5), warm, rt, None, 1), rt);
        assert_eq!(restart_wait(Duration::from_secs(5), warm, rt, None, 9), rt);
        assert_eq!(
            restart_wait(Duration::from_secs(121), warm, rt, None, 0),
            Duration::ZERO
        );
        let b = Some(Backoff {
            initial_s: 2,
            max_s: 30,
        });
        let waits: Vec<u64> = (1..=6)
            .map(|n| restart_wait(Duration::from_secs(1), warm, rt, b, n).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        assert_eq!(
            restart_wait(Duration::from_secs(500), warm, rt, b, 0),
            Duration::ZERO
        );
    }
}
