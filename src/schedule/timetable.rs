//! One job's schedule as its trigger follows it: which occurrence comes
//! next from the latest start and the ones already dealt with, what was
//! missed, and what an occurrence that finds the job still running does
//! (the job's overlap policy). No clock and no I/O: the trigger
//! (`supervise::scheduled`) passes the time and the latest start in, and
//! writes the lines it gets back to `job_scheduler.log`.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::due::{Due, MISSED_COUNT_CAP, next_due};
use super::{Cron, zone};
use crate::bundle::settings::Overlap;
use crate::store::logline::Level;

/// A line for the scheduler's log.
pub type Line = (Level, String);

/// One job's schedule: its expression, zone, catch-up window and overlap
/// policy, and the latest occurrence it dealt with.
#[derive(Debug, Clone)]
pub struct Timetable {
    cron: Cron,
    tz: TimeZone,
    catch_up: Duration,
    overlap: Overlap,
    /// The latest occurrence dealt with (run, skipped or queued): later
    /// ones count from it, so a skipped occurrence is not "missed" and
    /// caught up a moment later.
    handled: Option<Timestamp>,
}

/// The next occurrence to wait for, and what to log about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// When it is due and what it stands for.
    pub due: Due,
    /// Missed occurrences, and when the next one is expected (unless it
    /// is a catch-up, due now).
    pub lines: Vec<Line>,
}

/// What an occurrence that finds its job still running does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnOverlap {
    /// Nothing starts; the line says why.
    Skip(Line),
    /// Its run waits for the running one to end.
    Queue(Line),
    /// The running run is stopped gracefully, then this one starts.
    Replace(Line),
}

impl Timetable {
    /// The schedule `cron` in `tz`, with the job's catch-up window and
    /// overlap policy.
    pub fn new(cron: Cron, tz: TimeZone, catch_up: Duration, overlap: Overlap) -> Timetable {
        Timetable {
            cron,
            tz,
            catch_up,
            overlap,
            handled: None,
        }
    }

    /// The trigger's first line.
    pub fn opening(&self) -> Line {
        (
            Level::Info,
            format!(
                "Scheduling WebJob with {} (time zone {}, overlap {:?}, catch-up {} s)",
                self.cron,
                self.tz.iana_name().unwrap_or("UTC"),
                self.overlap,
                self.catch_up.as_secs()
            ),
        )
    }

    /// An instant as the scheduler's log writes it (RFC 3339 in the zone).
    fn zoned(&self, t: Timestamp) -> String {
        zone::rfc3339(t, &self.tz)
    }

    /// The next occurrence at `now`, counting from the later of
    /// `last_start` (the job's latest run's start) and the latest
    /// occurrence dealt with; the error is the line to log when the
    /// schedule never fires again.
    pub fn next(&self, last_start: Option<Timestamp>, now: Timestamp) -> Result<Next, Line> {
        // (None sorts first.)
        let base = last_start.max(self.handled);
        let Some(due) = next_due(&self.cron, &self.tz, base, now, self.catch_up) else {
            return Err((
                Level::Err,
                format!("The schedule '{}' never fires again", self.cron),
            ));
        };
        let mut lines = Vec::new();
        if let Some((n, latest)) = due.missed {
            lines.push((
                Level::Warn,
                format!(
                    "Missed {n}{} schedules, most recent at {}",
                    if n >= MISSED_COUNT_CAP { "+" } else { "" },
                    self.zoned(latest)
                ),
            ));
        }
        if !due.catch_up {
            lines.push((
                Level::Info,
                format!(
                    "Next schedule expected in {} at {}",
                    crate::wire::dotnet_duration(chrono::Duration::milliseconds(
                        due.at.duration_since(now).as_millis() as i64
                    )),
                    self.zoned(due.at)
                ),
            ));
        }
        Ok(Next { due, lines })
    }

    /// Notes that the occurrence due at `at` was dealt with.
    pub fn handled(&mut self, at: Timestamp) {
        self.handled = Some(at);
    }

    /// What an occurrence that found the job running does, by the
    /// overlap policy: `queued` when a run already waits behind the
    /// running one, `own_run` when the running run is one this trigger
    /// started (only that one can be replaced).
    pub fn on_overlap(&self, queued: bool, own_run: bool) -> OnOverlap {
        match self.overlap {
            Overlap::Skip => OnOverlap::Skip((
                Level::Warn,
                "Skipped this schedule: the previous run is still running (overlap: skip)".into(),
            )),
            Overlap::Queue if queued => OnOverlap::Skip((
                Level::Warn,
                "Skipped this schedule: a run is already queued behind the running one (overlap: queue)".into(),
            )),
            Overlap::Queue => OnOverlap::Queue((
                Level::Info,
                "The previous run is still running: this schedule's run is queued (overlap: queue)"
                    .into(),
            )),
            Overlap::Replace if own_run => OnOverlap::Replace((
                Level::Info,
                "Stopping the running run to replace it (overlap: replace)".into(),
            )),
            Overlap::Replace => OnOverlap::Skip((
                Level::Warn,
                "Skipped this schedule: the running run was not started by this host, so it cannot be replaced (overlap: replace)".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn every_minute(overlap: Overlap) -> Timetable {
        Timetable::new(
            "0 * * * * *".parse().unwrap(),
            TimeZone::UTC,
            Duration::from_secs(30),
            overlap,
        )
    }

    #[test]
    fn the_overlap_policy_decides_what_a_busy_occurrence_does() {
        use OnOverlap::*;
        let kind = |o: OnOverlap| match o {
            Skip(_) => "skip",
            Queue(_) => "queue",
            Replace(_) => "replace",
        };
        let cases = [
            // (policy, queued already, own run) → what happens
            (Overlap::Skip, false, true, "skip"),
            (Overlap::Skip, true, true, "skip"),
            (Overlap::Queue, false, true, "queue"),
            (Overlap::Queue, false, false, "queue"),
            (Overlap::Queue, true, true, "skip"),
            (Overlap::Replace, false, true, "replace"),
            (Overlap::Replace, false, false, "skip"),
        ];
        for (policy, queued, own, want) in cases {
            let got = every_minute(policy).on_overlap(queued, own);
            assert_eq!(
                kind(got.clone()),
                want,
                "{policy:?} {queued} {own}: {got:?}"
            );
        }
        // Every skip says why, naming the policy.
        let OnOverlap::Skip((level, line)) =
            every_minute(Overlap::Replace).on_overlap(false, false)
        else {
            panic!()
        };
        assert_eq!(level, Level::Warn);
        assert!(line.contains("not started by this host"), "{line}");
        assert!(line.ends_with("(overlap: replace)"), "{line}");
    }

    #[test]
    fn an_occurrence_dealt_with_is_not_missed_again() {
        let mut t = every_minute(Overlap::Skip);
        // The job's latest run started long ago; the 10:01 occurrence was
        // skipped (it found the job running) and it is 10:01:05 now.
        let last = Some(at("2026-01-01T09:00:00Z"));
        let now = at("2026-01-01T10:01:05Z");
        let before = t.next(last, now).unwrap();
        assert!(before.due.missed.is_some(), "{before:?}");
        t.handled(at("2026-01-01T10:01:00Z"));
        let next = t.next(last, now).unwrap();
        assert_eq!(next.due.at, at("2026-01-01T10:02:00Z"));
        assert!(!next.due.catch_up);
        assert_eq!(next.due.missed, None);
        assert_eq!(
            next.lines,
            vec![(
                Level::Info,
                "Next schedule expected in 00:00:55 at 2026-01-01T10:02:00+00:00".into()
            )]
        );
    }

    #[test]
    fn a_miss_within_the_window_runs_once_now_and_older_ones_are_reported() {
        let t = every_minute(Overlap::Skip);
        let now = at("2026-01-01T10:00:20Z");
        let late = t.next(Some(at("2026-01-01T09:59:30Z")), now).unwrap();
        assert!(late.due.catch_up);
        assert_eq!(late.due.at, now);
        assert_eq!(late.due.tick, at("2026-01-01T10:00:00Z"));
        assert_eq!(late.lines, vec![]);
        let old = t.next(Some(at("2026-01-01T09:00:30Z")), now).unwrap();
        assert!(!old.due.catch_up);
        assert_eq!(old.due.at, at("2026-01-01T10:01:00Z"));
        assert_eq!(old.lines[0].0, Level::Warn);
        assert!(
            old.lines[0]
                .1
                .starts_with("Missed 60 schedules, most recent at 2026-01-01T10:00:00"),
            "{:?}",
            old.lines
        );
    }

    #[test]
    fn a_schedule_that_never_fires_again_says_so() {
        let t = Timetable::new(
            "0 0 0 30 2 *".parse().unwrap(),
            TimeZone::UTC,
            Duration::from_secs(30),
            Overlap::Skip,
        );
        let (level, line) = t.next(None, at("2026-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(level, Level::Err);
        assert_eq!(line, "The schedule '0 0 0 30 2 *' never fires again");
    }
}
