//! When a scheduled job's next run is due, by WebJobs' rules: the base is
//! the latest run's start (or now, for a job that never ran), a missed
//! occurrence within the catch-up window runs once, now, standing for
//! every occurrence missed since, and older misses are counted, reported
//! and skipped. Pure: instants in, a [`Due`] out.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Cron, zone};

/// When the next run is due, by WebJobs' rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The instant to start the run.
    pub at: Timestamp,
    /// The occurrence the run stands for: `at`, or for a catch-up the
    /// latest occurrence missed (in a cluster, what hosts claim).
    pub tick: Timestamp,
    /// It is a catch-up of an occurrence missed by less than the window.
    pub catch_up: bool,
    /// Occurrences missed beyond the window: how many (capped) and the
    /// most recent.
    pub missed: Option<(u32, Timestamp)>,
}

/// Most missed occurrences counted (the count is "at least" beyond).
pub const MISSED_COUNT_CAP: u32 = 1_000;

/// The next due run, by WebJobs' rules: from `last_start` (the latest run's
/// start, or `now` when the job never ran), the first occurrence strictly
/// after it; if that is already past but by at most `catch_up`, run once
/// now; if older, report what was missed and take the first occurrence
/// after `now`.
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
            tick: first,
            catch_up: false,
            missed: None,
        });
    }
    let window = SignedDuration::try_from(catch_up).unwrap_or(SignedDuration::MAX);
    let count = count_until(cron, tz, first, now);
    let latest = latest_before(cron, tz, first, now);
    if now.duration_since(first) <= window {
        // One catch-up run stands for every occurrence missed since.
        return Some(Due {
            at: now,
            tick: latest,
            catch_up: true,
            missed: (count > 1).then_some((count - 1, latest)),
        });
    }
    let at = zone::next_instant(cron, tz, now)?;
    Some(Due {
        at,
        tick: at,
        catch_up: false,
        missed: Some((count, latest)),
    })
}

/// Occurrences from `first` (included) until `now`, at most the cap.
fn count_until(cron: &Cron, tz: &TimeZone, first: Timestamp, now: Timestamp) -> u32 {
    let mut count = 0;
    let mut t = first;
    while t < now && count < MISSED_COUNT_CAP {
        count += 1;
        match zone::next_instant(cron, tz, t) {
            Some(n) => t = n,
            None => break,
        }
    }
    count
}

/// The last occurrence before `now`, `first` being one: searched backwards
/// in doubling steps, so a long outage costs little.
fn latest_before(cron: &Cron, tz: &TimeZone, first: Timestamp, now: Timestamp) -> Timestamp {
    let mut back = SignedDuration::from_secs(60);
    loop {
        let from = now.checked_sub(back).unwrap_or(first).max(first);
        let mut t = if from == first {
            first
        } else {
            match zone::next_instant(cron, tz, from) {
                Some(t) => t,
                None => return first,
            }
        };
        if t < now {
            while let Some(n) = zone::next_instant(cron, tz, t) {
                if n >= now {
                    break;
                }
                t = n;
            }
            return t;
        }
        if from == first {
            return first;
        }
        back = back.checked_mul(2).unwrap_or(SignedDuration::MAX);
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
                tick: ts("2026-01-01T00:05:00Z"),
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
        // WebJobs' rule: the window applies to the *first* missed
        // occurrence. Down 3 hours, the latest miss 2 minutes ago: no
        // catch-up, 36 misses reported, the next occurrence runs.
        let d = next_due(
            &cron,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T03:02:00Z"),
            w,
        )
        .unwrap();
        assert!(!d.catch_up);
        assert_eq!(d.at, ts("2026-01-01T03:05:00Z"));
        assert_eq!(d.missed, Some((36, ts("2026-01-01T03:00:00Z"))));
        // Down 8 minutes on a per-minute schedule: one catch-up run stands
        // for the 8 occurrences.
        let every_minute: Cron = "0 * * * * *".parse().unwrap();
        let d = next_due(
            &every_minute,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-01T00:08:30Z"),
            w,
        )
        .unwrap();
        assert!(d.catch_up);
        assert_eq!(d.missed, Some((7, ts("2026-01-01T00:08:00Z"))));
        // Down a year on a per-second schedule: the count is capped, the
        // most recent miss still exact, and it is cheap.
        let every_second: Cron = "* * * * * *".parse().unwrap();
        let d = next_due(
            &every_second,
            &tz,
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2027-01-01T00:00:00.5Z"),
            w,
        )
        .unwrap();
        assert_eq!(
            d.missed,
            Some((MISSED_COUNT_CAP, ts("2027-01-01T00:00:00Z")))
        );
        assert_eq!(d.at, ts("2027-01-01T00:00:01Z"));
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
