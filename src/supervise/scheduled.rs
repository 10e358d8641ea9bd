//! The schedule trigger of one triggered job: a thin loop over the runner.
//! It waits for the next occurrence (WebJobs' rules: the base is the latest
//! run's start, a miss within the catch-up window runs once, older misses
//! are logged and skipped), starts a run with the trigger
//! `Schedule - <expr>`, and applies the job's overlap policy when the
//! previous run is still going. Every decision is written to the job's
//! `job_scheduler.log`; nothing is swallowed silently.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinHandle;

use crate::bundle::settings::Overlap;
use crate::job::Job;
use crate::runner::{RunError, RunReport, RunRequest, Runner};
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::schedule::{Cron, zone};
use crate::store::history;
use crate::store::logline::Level;

/// The scheduler log's name in the job's data folder, and its rolled name.
pub const SCHEDULER_LOG: &str = "job_scheduler.log";
/// Where `job_scheduler.log` rolls to at 1 MiB (WebJobs' name).
pub const SCHEDULER_PREV_LOG: &str = "job_prev_log.txt";

/// When the next run is due, by WebJobs' rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The instant to start the run.
    pub at: Timestamp,
    /// It is a catch-up of an occurrence missed by less than the window.
    pub catch_up: bool,
    /// Occurrences missed beyond the window: how many (capped) and the
    /// most recent.
    pub missed: Option<(u32, Timestamp)>,
}

/// Most missed occurrences counted (the count is "at least" beyond).
const MISSED_COUNT_CAP: u32 = 10_000;

/// The next due run: from `last_start` (the latest run's start, or `now`
/// when the job never ran), the first occurrence strictly after it; if that
/// is past, run now when it is within `catch_up`, else count what was
/// missed and take the first occurrence after `now`.
pub fn next_due(
    cron: &Cron,
    tz: &TimeZone,
    last_start: Option<Timestamp>,
    now: Timestamp,
    catch_up: Duration,
) -> Option<Due> {
    let base = last_start.unwrap_or(now).min(now);
    let first = zone::next_instant(cron, tz, base)?;
    if first >= now {
        return Some(Due {
            at: first,
            catch_up: false,
            missed: None,
        });
    }
    let window = SignedDuration::try_from(catch_up).unwrap_or(SignedDuration::MAX);
    // The most recent missed occurrence is what a catch-up runs for.
    let mut count = 0u32;
    let (mut latest, mut before_latest) = (first, first);
    let mut t = first;
    while t < now && count < MISSED_COUNT_CAP {
        before_latest = latest;
        latest = t;
        count += 1;
        match zone::next_instant(cron, tz, t) {
            Some(n) => t = n,
            None => break,
        }
    }
    if now.duration_since(latest) <= window {
        return Some(Due {
            at: now,
            catch_up: true,
            missed: (count > 1).then_some((count - 1, before_latest)),
        });
    }
    Some(Due {
        at: zone::next_instant(cron, tz, now)?,
        catch_up: false,
        missed: Some((count, latest)),
    })
}

/// A run this trigger started.
struct Current {
    stop: StopSignal,
    done: JoinHandle<Option<RunReport>>,
}

impl Current {
    fn finished(&self) -> bool {
        self.done.is_finished()
    }
}

/// Runs the schedule of `job` until `quit` fires; on quit, a run it started
/// is stopped gracefully (recorded `Stopped`) before it returns.
pub async fn run(
    runner: Runner,
    job: Job,
    cron: Cron,
    tz: TimeZone,
    log: Arc<OutputLog>,
    quit: StopSignal,
) {
    let host = runner.host().clone();
    let data_dir = host.layout.data_dir(job.job_type, &job.name);
    let overlap = job.settings.overlap();
    let catch_up = Duration::from_secs(job.settings.catch_up_s());
    let trigger = format!("Schedule - {cron}");
    log.sys(
        Level::Info,
        &format!(
            "Scheduling WebJob with {cron} (time zone {}, overlap {overlap:?}, catch-up {} s)",
            tz.iana_name().unwrap_or("UTC"),
            catch_up.as_secs()
        ),
    );
    let mut current: Option<Current> = None;
    let mut pending = false;
    // The latest occurrence this trigger dealt with (ran, skipped or
    // queued): later occurrences are counted from it, so a skipped tick is
    // not "missed" and caught up a moment later.
    let mut handled: Option<Timestamp> = None;
    loop {
        let last_start = history::list(&data_dir)
            .first()
            .and_then(|r| r.status.start_time)
            .and_then(|t| Timestamp::from_nanosecond(t.timestamp_nanos_opt()? as i128).ok());
        let last_start = match (last_start, handled) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let now = Timestamp::now();
        let Some(due) = next_due(&cron, &tz, last_start, now, catch_up) else {
            log.sys(
                Level::Err,
                &format!("The schedule '{cron}' never fires again"),
            );
            quit.stopped().await;
            break;
        };
        if let Some((n, latest)) = due.missed {
            log.sys(
                Level::Warn,
                &format!(
                    "Missed {n}{} schedules, most recent at {}",
                    if n >= MISSED_COUNT_CAP { "+" } else { "" },
                    latest.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z")
                ),
            );
        }
        if due.catch_up {
            log.sys(
                Level::Info,
                "Running a missed schedule now (within the catch-up window)",
            );
        } else {
            let wait = due.at.duration_since(now);
            log.sys(
                Level::Info,
                &format!(
                    "Next schedule expected in {} at {}",
                    human(wait),
                    due.at.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z")
                ),
            );
        }
        // Sleep until due, waking for our run's end (a queued run) and in
        // bounded steps so a wall-clock jump is noticed.
        loop {
            let left = due.at.duration_since(Timestamp::now());
            if left <= SignedDuration::ZERO {
                break;
            }
            let step = Duration::try_from(left)
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(60));
            let run_ended = async {
                match &mut current {
                    Some(c) if pending => {
                        let _ = (&mut c.done).await;
                    }
                    _ if pending => tokio::time::sleep(Duration::from_millis(250)).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = quit.stopped() => return finish(current, &log, &quit).await,
                _ = run_ended => {
                    current = None;
                    if pending {
                        pending = false;
                        current = start(&runner, &job, &trigger, &log, true).await;
                        if current.is_none() {
                            pending = true;
                        }
                    }
                }
            }
        }
        if quit.is_stopped() {
            return finish(current, &log, &quit).await;
        }
        if host.jobs_stopped || host.schedule_disabled {
            let why = if host.jobs_stopped {
                "WEBJOBS_STOPPED"
            } else {
                "WEBJOBS_DISABLE_SCHEDULE"
            };
            log.sys(Level::Warn, &format!("Schedule skipped: {why} is set"));
            // Do not spin on the same occurrence.
            wait_past(due.at).await;
            continue;
        }
        handled = Some(due.at);
        if current.as_ref().is_some_and(Current::finished) {
            current = None;
        }
        match start(&runner, &job, &trigger, &log, false).await {
            Some(c) => current = Some(c),
            None => match overlap {
                Overlap::Skip => {
                    log.sys(
                        Level::Warn,
                        "Skipped this schedule: the previous run is still running (overlap: skip)",
                    );
                    wait_past(due.at).await;
                }
                Overlap::Queue if pending => {
                    log.sys(
                        Level::Warn,
                        "Skipped this schedule: a run is already queued behind the running one (overlap: queue)",
                    );
                    wait_past(due.at).await;
                }
                Overlap::Queue => {
                    log.sys(
                        Level::Info,
                        "The previous run is still running: this schedule's run is queued (overlap: queue)",
                    );
                    pending = true;
                    wait_past(due.at).await;
                }
                Overlap::Replace => match current.take() {
                    Some(c) => {
                        log.sys(
                            Level::Info,
                            "Stopping the running run to replace it (overlap: replace)",
                        );
                        c.stop.stop();
                        let _ = c.done.await;
                        current = start(&runner, &job, &trigger, &log, false).await;
                        if current.is_none() {
                            log.sys(
                                Level::Warn,
                                "Skipped this schedule: the job is still running after the stop",
                            );
                        }
                    }
                    None => {
                        log.sys(
                            Level::Warn,
                            "Skipped this schedule: the running run was not started by this host, so it cannot be replaced (overlap: replace)",
                        );
                        wait_past(due.at).await;
                    }
                },
            },
        }
    }
    finish(current, &log, &quit).await
}

/// Starts a run; `None` when the job is already running (or cannot run,
/// which is logged).
async fn start(
    runner: &Runner,
    job: &Job,
    trigger: &str,
    log: &OutputLog,
    queued: bool,
) -> Option<Current> {
    let req = RunRequest::new(job.clone(), trigger);
    let stop = req.stop.clone();
    match runner.prepare(req) {
        Ok(prepared) => {
            log.sys(
                Level::Info,
                &format!(
                    "WebJob invoked{} (run {})",
                    if queued { " (queued run)" } else { "" },
                    prepared.run_id()
                ),
            );
            let done = tokio::spawn(async move { Some(prepared.execute().await) });
            Some(Current { stop, done })
        }
        Err(RunError::AlreadyRunning) => None,
        Err(e) => {
            log.sys(Level::Err, &format!("WebJob could not be invoked: {e}"));
            // Not a busy job: do not queue or replace.
            Some(Current {
                stop,
                done: tokio::spawn(async { None }),
            })
        }
    }
}

/// On quit: a run this trigger started is stopped gracefully and awaited
/// (killed at once if the quit becomes a kill).
async fn finish(current: Option<Current>, log: &OutputLog, quit: &StopSignal) {
    if let Some(mut c) = current
        && !c.finished()
    {
        log.sys(
            Level::Info,
            "Stopping the running run: the host is stopping",
        );
        c.stop.stop();
        tokio::select! {
            _ = &mut c.done => return,
            _ = quit.killed() => c.stop.kill(),
        }
        let _ = c.done.await;
    }
}

/// Sleeps until the wall clock is past `at` (at least a moment), so one
/// occurrence is never handled twice.
async fn wait_past(at: Timestamp) {
    let left = at.duration_since(Timestamp::now());
    let d = Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_millis(1);
    tokio::time::sleep(d).await;
}

fn human(d: SignedDuration) -> String {
    let ms = d.as_millis().max(0);
    let s = ms / 1000;
    if s >= 86_400 {
        format!(
            "{}d {:02}:{:02}:{:02}",
            s / 86_400,
            s / 3600 % 24,
            s / 60 % 60,
            s % 60
        )
    } else {
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            ms % 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn webjobs_catch_up_rules() {
        let cron: Cron = "0 */5 * * * *".parse().unwrap();
        let tz = TimeZone::UTC;
        let w = Duration::from_secs(600);
        // On time: the next occurrence after the last run.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T00:01:00Z"),
            w,
        )
        .unwrap();
        assert_eq!(
            d,
            Due {
                at: ts("2026-01-01T00:05:00Z"),
                catch_up: false,
                missed: None
            }
        );
        // Missed by 3 minutes: runs now, once.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T00:08:00Z"),
            w,
        )
        .unwrap();
        assert!(
            d.catch_up && d.at == ts("2026-01-01T00:08:00Z") && d.missed.is_none(),
            "{d:?}"
        );
        // Host down for an hour, a 1-minute window: the latest miss is
        // older than it, so the misses are logged and the next occurrence
        // after now runs.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T01:12:00Z"),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(d.at, ts("2026-01-01T01:15:00Z"));
        assert!(!d.catch_up);
        assert_eq!(d.missed, Some((14, ts("2026-01-01T01:10:00Z"))));
        // Down 3 hours but the latest miss is within the window: one
        // catch-up run, the rest reported.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T03:02:00Z"),
            w,
        )
        .unwrap();
        assert!(d.catch_up);
        assert_eq!(d.missed, Some((35, ts("2026-01-01T02:55:00Z"))));
        // Never ran: from now.
        let d = next_due(&cron, &tz, None, ts("2026-01-01T00:01:00Z"), w).unwrap();
        assert_eq!(d.at, ts("2026-01-01T00:05:00Z"));
        // A zero window never catches up.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T00:05:01Z"),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(d.at, ts("2026-01-01T00:10:00Z"));
        assert_eq!(d.missed, Some((1, ts("2026-01-01T00:05:00Z"))));
    }
}
