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

use crate::job::Job;
use crate::runner::Runner;
use crate::runner::book::{JobPlace, Lease, RunBook};
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::store::layout::{DISABLE_FILE, JOB_LOG, JOB_PREV_LOG};
use crate::store::lock::JobLock;
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
    /// Where the status is recorded too (a shared run book's record), and
    /// the job's place in it.
    book: Arc<dyn RunBook>,
    place: JobPlace,
}

impl Records {
    fn open(
        path: &std::path::Path,
        log: Arc<OutputLog>,
        book: Arc<dyn RunBook>,
        place: JobPlace,
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
            book,
            place,
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
        if let Err(e) = self
            .book
            .record_continuous(&self.place, status.as_str())
            .await
        {
            tracing::warn!("job {}: {e:#}", self.place.name);
        }
    }
}

/// Resolves when a held singleton lease is lost (never without one).
async fn lease_lost(singleton: &Option<Box<dyn Lease>>) {
    match singleton {
        Some(l) => l.lost().await,
        None => std::future::pending().await,
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

/// Keeps `job` running until `quit` fires, then stops it gracefully.
pub async fn run(runner: Runner, job: Job, quit: StopSignal) {
    let host = runner.host().clone();
    let book = runner.book().clone();
    let place = runner.place(&job);
    let mut log = match open_job_log(&runner, &job) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("job '{}': cannot open its log: {e}", job.name);
            return;
        }
    };
    let mut rec = Records::open(
        &crate::store::instance::status_file(&place.data_dir, &host.instance),
        log.clone(),
        book.clone(),
        place.clone(),
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
    let mut singleton: Option<Box<dyn Lease>> = None;
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
                match book.singleton(&place, &host.instance).await {
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
                    _ = tokio::time::sleep(book.singleton_retry()) => {}
                    // Taken back after being cut off: the book had this
                    // instance for dead, it says InactiveInstance again.
                    _ = book.rejoined() => announced = false,
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
                _ = lease_lost(&singleton) => {
                    lost = true;
                    break None;
                }
                // Taken back after being cut off: the book had this
                // instance for dead; it says Running again.
                _ = book.rejoined() => rec.set(Status::Running).await,
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
