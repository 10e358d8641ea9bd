//! Schedules in a time zone: occurrences are computed on the zone's wall
//! clock and turned into instants with these rules (RFC 5545's, which
//! WebJobs' .NET evaluation also gives for the gap):
//! - a wall time in a spring-forward gap runs once, shifted forward by the
//!   gap (`02:30` in a one-hour gap runs at `03:30`);
//! - an ambiguous fall-back wall time runs once, at its first (daylight)
//!   instant; the repeated hour does not run again;
//! - occurrences are strictly after the base instant, so a wall time that
//!   maps onto an instant already passed is skipped, never run twice.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::cron::Cron;

/// An IANA zone by name (`Europe/Paris`), or an error naming it: an invalid
/// zone is never silently UTC.
pub fn parse_zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("UTC") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| {
        format!("unknown time zone '{name}' (an IANA name such as 'Europe/Paris' is expected): {e}")
    })
}

/// `t` as an RFC 3339 wall-clock time in `tz`, with its offset
/// (`2026-03-29T03:30:00+02:00`), as schedules are shown everywhere.
pub fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The first occurrence of `cron` in `tz` strictly after the instant `after`.
pub fn next_instant(cron: &Cron, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    // Wall times are searched in order, and each is mapped to its instant.
    // Mapping is monotone except that a gap time is shifted forward: just
    // after a gap, a gap time earlier in wall order than `after` can still
    // be due. So the search starts as far back as the gap that just ended.
    let mut wall = tz.to_datetime(after);
    if let Some(tr) = tz.preceding(after).next() {
        let before = tz.to_offset(tr.timestamp() - jiff::SignedDuration::from_nanos(1));
        let jump = tr.offset().duration_since(before);
        let since = after.duration_since(tr.timestamp());
        if jump > jiff::SignedDuration::ZERO && since <= jump {
            wall = wall.checked_sub(jump).ok()?;
        }
    }
    let mut best: Option<(Timestamp, jiff::civil::DateTime)> = None;
    // Bounded: a gap or a fold only adds a few candidates.
    for _ in 0..100_000 {
        let candidate = cron.next_after(wall)?;
        if let Some((_, best_wall)) = best
            && candidate > best_wall
        {
            break;
        }
        let at = tz.to_ambiguous_timestamp(candidate).compatible().ok()?;
        if at > after && best.is_none_or(|(b, _)| at < b) {
            // Later wall times map to later instants, except gap times,
            // which map forward: keep looking up to this one's wall time.
            best = Some((at, tz.to_datetime(at)));
        }
        wall = candidate;
    }
    best.map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: &TimeZone, s: &str) -> Timestamp {
        tz.to_ambiguous_timestamp(s.parse().unwrap())
            .compatible()
            .unwrap()
    }

    fn series(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let tz = parse_zone(zone).unwrap();
        let cron: Cron = expr.parse().unwrap();
        let mut t = at(&tz, from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = next_instant(&cron, &tz, t).unwrap();
            out.push(rfc3339(t, &tz));
        }
        out
    }

    #[test]
    fn spring_forward_gap_runs_once_after_the_gap() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            series("0 30 2 * * *", "America/New_York", "2026-03-07T12:00:00", 3),
            [
                "2026-03-08T03:30:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"
            ]
        );
        // Hourly at :30 across the gap: 01:30, then 03:30 once (02:30 is
        // shifted onto it), then 04:30.
        assert_eq!(
            series("0 30 * * * *", "America/New_York", "2026-03-08T01:00:00", 3),
            [
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:30:00-04:00",
                "2026-03-08T04:30:00-04:00"
            ]
        );
        // Paris, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        assert_eq!(
            series("0 15 2 * * *", "Europe/Paris", "2026-03-28T12:00:00", 2),
            ["2026-03-29T03:15:00+02:00", "2026-03-30T02:15:00+02:00"]
        );
    }

    #[test]
    fn fall_back_fold_runs_once() {
        // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST.
        assert_eq!(
            series("0 30 1 * * *", "America/New_York", "2026-10-31T12:00:00", 2),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        );
        assert_eq!(
            series("0 0 * * * *", "America/New_York", "2026-11-01T00:30:00", 3),
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T03:00:00-05:00"
            ]
        );
        // Paris, 2026-10-25: 03:00 CEST falls back to 02:00 CET.
        assert_eq!(
            series("0 30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00", 2),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
    }

    #[test]
    fn weekly_across_dst_keeps_the_wall_time() {
        assert_eq!(
            series("0 0 9 * * 1", "Europe/Paris", "2026-03-23T12:00:00", 2),
            ["2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"]
        );
    }

    #[test]
    fn a_half_hour_gap_skips_no_real_time() {
        // Lord Howe, 2026-10-04: 02:00 (+10:30) jumps to 02:30 (+11:00).
        // 02:10 is in the gap (runs at 02:40); 02:35 is real and earlier.
        assert_eq!(
            series(
                "0 10,35 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T12:00:00",
                3
            ),
            [
                "2026-10-04T02:35:00+11:00",
                "2026-10-04T02:40:00+11:00",
                "2026-10-05T02:10:00+11:00"
            ]
        );
    }

    #[test]
    fn invalid_zone_is_an_error() {
        let e = parse_zone("Mars/Olympus_Mons").unwrap_err();
        assert!(e.contains("unknown time zone 'Mars/Olympus_Mons'"), "{e}");
        assert!(parse_zone("UTC").is_ok());
    }
}
