//! The schedule trigger of one triggered job: a thin loop over the runner.
//! It waits for the next occurrence (WebJobs' rules: the base is the latest
//! run's start, a miss within the catch-up window runs once, older misses
//! are logged and skipped), starts a run with the trigger
//! `Schedule - <expr>`, and applies the job's overlap policy when the
//! previous run is still going. The decisions are the job's
//! [`Timetable`]'s (pure, tested without a clock); this loop waits, asks
//! the run book and the runner, and writes every decision to the job's
//! `job_scheduler.log`: nothing is swallowed silently.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::job::Job;
use crate::runner::background::{RunHandle, Runs};
use crate::runner::book::{Occurrence, TickStart};
use crate::runner::{RunError, RunRequest, Runner};
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::schedule::Cron;
use crate::schedule::due::Due;
use crate::schedule::timetable::{Line, OnOverlap, Timetable};
use crate::store::logline::Level;

/// Runs the schedule of `job` until `quit` fires. The runs it starts are
/// registered in `runs`; quitting leaves them running (the host stops them
/// when it stops).
pub async fn run(
    runner: Runner,
    job: Job,
    cron: Cron,
    tz: TimeZone,
    log: Arc<OutputLog>,
    quit: StopSignal,
    runs: Arc<Runs>,
) {
    let host = runner.host().clone();
    let place = runner.place(&job);
    let trigger = format!("Schedule - {cron}");
    let catch_up = Duration::from_secs(job.settings.catch_up_s());
    let mut table = Timetable::new(cron, tz, catch_up, job.settings.overlap());
    let say = |(level, line): Line| log.sys(level, &line);
    say(table.opening());
    let mut current: Option<RunHandle> = None;
    let mut pending = Pending {
        on: false,
        runner: &runner,
    };
    // The run book's clock and latest start (a shared book's are every
    // host's: their own clocks may disagree).
    let book = runner.book().clone();
    let clock = || book.now();
    let turn = |due: &Due| Occurrence {
        tick: Some(due.tick),
        catch_up,
        late: due.catch_up,
    };
    let queued = Occurrence {
        tick: None,
        catch_up,
        late: false,
    };
    loop {
        let last_start = match book.schedule_base(&place).await {
            Ok(t) => t,
            Err(e) => {
                log.sys(Level::Warn, &format!("{e:#}"));
                None
            }
        }
        .and_then(|t| Timestamp::from_nanosecond(t.timestamp_nanos_opt()? as i128).ok());
        let due = match table.next(last_start, clock()) {
            Ok(next) => {
                next.lines.into_iter().for_each(say);
                next.due
            }
            Err(line) => {
                say(line);
                quit.stopped().await;
                return;
            }
        };
        // Sleep until due, waking for a queued run's turn, and in bounded
        // steps so that a wall-clock jump is noticed.
        loop {
            let left = due.at.duration_since(clock());
            if left <= SignedDuration::ZERO {
                break;
            }
            let step = Duration::try_from(left)
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(60));
            let run_ended = async {
                match &mut current {
                    Some(c) if pending.on => c.ended().await,
                    _ if pending.on => tokio::time::sleep(Duration::from_millis(250)).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = quit.stopped() => return,
                _ = run_ended => {
                    current = None;
                    if pending.on {
                        current = start(&runner, &job, &trigger, &log, &runs, queued).await;
                        pending.set(current.is_none());
                    }
                }
            }
        }
        if quit.is_stopped() {
            return;
        }
        table.handled(due.at);
        if !due.catch_up {
            let late = clock().duration_since(due.at);
            let late = Duration::try_from(late).unwrap_or(Duration::ZERO);
            runner.metrics().tick_lag(runner.tenant(), late);
        }
        if host.jobs_stopped || host.schedule_disabled {
            let why = if host.jobs_stopped {
                "WEBJOBS_STOPPED"
            } else {
                "WEBJOBS_DISABLE_SCHEDULE"
            };
            log.sys(Level::Warn, &format!("Schedule skipped: {why} is set"));
            wait_past(due.at, clock).await;
            continue;
        }
        if current.as_ref().is_some_and(RunHandle::finished) {
            current = None;
        }
        if due.catch_up {
            log.sys(
                Level::Info,
                "Running a missed schedule now (within the catch-up window)",
            );
        }
        if let Some(c) = start(&runner, &job, &trigger, &log, &runs, turn(&due)).await {
            current = Some(c);
            // This tick's run is the queued one's turn too.
            pending.set(false);
            continue;
        }
        match table.on_overlap(pending.on, current.is_some()) {
            OnOverlap::Skip(line) => say(line),
            OnOverlap::Queue(line) => {
                say(line);
                pending.set(true);
            }
            OnOverlap::Replace(line) => {
                say(line);
                if let Some(mut c) = current.take() {
                    c.stop();
                    tokio::select! {
                        _ = c.ended() => {}
                        _ = quit.stopped() => return,
                    }
                }
                current = start(&runner, &job, &trigger, &log, &runs, queued).await;
                if current.is_none() {
                    log.sys(
                        Level::Warn,
                        "Skipped this schedule: the job is still running after the stop",
                    );
                }
                continue;
            }
        }
        wait_past(due.at, clock).await;
    }
}

/// Whether a tick's run is queued behind the running one; counted in the
/// host's queue depth while it is.
struct Pending<'a> {
    on: bool,
    runner: &'a Runner,
}

impl Pending<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            let delta = if on { 1 } else { -1 };
            self.runner.metrics().queued(self.runner.tenant(), delta);
            self.on = on;
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Starts a run (registered in `runs`); `None` when the job is already
/// running. A job that cannot run at all is logged and counts as started
/// (there is nothing to queue or replace). The run book is asked first:
/// when it starts nothing here (another host has the occurrence), that
/// counts as started.
async fn start(
    runner: &Runner,
    job: &Job,
    trigger: &str,
    log: &OutputLog,
    runs: &Arc<Runs>,
    turn: Occurrence,
) -> Option<RunHandle> {
    let mut req = RunRequest::new(job.clone(), trigger);
    match runner.book().claim_tick(runner, job, trigger, turn).await {
        TickStart::Start(claim) => req.claim = claim,
        TickStart::Running => return None,
        TickStart::Skip(line) => {
            if let Some((level, line)) = line {
                log.sys(level, &line);
            }
            return Some(RunHandle::ended_already());
        }
    }
    match runs.start_claimed(runner, req).await {
        Ok(handle) => {
            log.sys(
                Level::Info,
                &format!(
                    "WebJob invoked{} (run {})",
                    if turn.tick.is_none() {
                        " (queued run)"
                    } else {
                        ""
                    },
                    handle.id()
                ),
            );
            Some(handle)
        }
        // (Not claimed: the overlap policy applies.)
        Err((RunError::AlreadyRunning, false)) => None,
        // Claimed, but this host cannot start it now (the job's files are
        // being replaced, or the host filled up): another host takes it.
        Err((e, true)) => {
            log.sys(
                Level::Warn,
                &format!("This host cannot start the run now ({e}): it goes back to the queue"),
            );
            Some(RunHandle::ended_already())
        }
        Err((e, false)) => {
            log.sys(Level::Err, &format!("WebJob could not be invoked: {e}"));
            Some(RunHandle::ended_already())
        }
    }
}

/// Sleeps until the clock (`now`) is past `at` (at least a moment), so one
/// occurrence is never handled twice.
async fn wait_past(at: Timestamp, now: impl Fn() -> Timestamp) {
    let left = at.duration_since(now());
    let d = Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_millis(1);
    tokio::time::sleep(d).await;
}
