//! NCRONTAB schedules as WebJobs reads them (NCrontab with seconds):
//! exactly six fields `second minute hour day month day-of-week`; `*`, `n`,
//! `a-b`, `*/s`, `a-b/s`, `a/s` and comma lists; Sunday = 0 and `7`
//! rejected; month and day names by case-insensitive prefix of the English
//! name (first match wins: `Ju` is June, `T` Tuesday); reversed ranges
//! swapped (`22-2` is 2-22), step 0 taken as 1; day-of-month AND
//! day-of-week must both match; occurrences strictly after the base, with
//! the lower fields reset when a higher one advances (the NCrontab 3.x fix
//! of 2.0's seconds bug). Evaluated on local wall-clock time; see
//! [`super::zone`] for turning it into instants.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use thiserror::Error;

/// Why an expression is not a WebJobs schedule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid schedule '{expr}': {why}")]
pub struct CronError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong.
    pub why: String,
}

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const FIELDS: [Field; 6] = [
    Field {
        name: "second",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 6,
        names: &WEEKDAYS,
    },
];

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        if let Ok(n) = s.parse::<u32>() {
            if n < self.min {
                return Err(format!(
                    "{n} is lower than the minimum allowable value for the {} field ({})",
                    self.name, self.min
                ));
            }
            if n > self.max {
                return Err(format!(
                    "{n} is higher than the maximum allowable value for the {} field ({}){}",
                    self.name,
                    self.max,
                    if self.name == "day-of-week" && n == 7 {
                        " (Sunday is 0)"
                    } else {
                        ""
                    }
                ));
            }
            return Ok(n);
        }
        let lower = s.to_ascii_lowercase();
        if !self.names.is_empty()
            && !lower.is_empty()
            && let Some(i) = self.names.iter().position(|n| n.starts_with(&lower))
        {
            return Ok(self.min + i as u32);
        }
        Err(format!("'{s}' is not a valid {} value", self.name))
    }

    /// The bit set of one comma-separated field.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step = s.parse::<u32>().map_err(|_| {
                        format!("'{s}' is not a valid step in the {} field", self.name)
                    })?;
                    (r, Some(step.max(1)))
                }
                None => (part, None),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                (a.min(b), a.max(b))
            } else {
                let a = self.value(range)?;
                // `a/s` means a..max by s.
                (a, if step.is_some() { self.max } else { a })
            };
            let step = step.unwrap_or(1);
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                match v.checked_add(step) {
                    Some(n) => v = n,
                    None => break,
                }
            }
        }
        Ok(bits)
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(expr: &str) -> Result<Cron, CronError> {
        let err = |why: String| CronError {
            expr: expr.to_string(),
            why,
        };
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 6 {
            let hint = if parts.len() == 5 {
                "; a seconds field is needed first, e.g. '0 */5 * * * *' runs every five minutes"
            } else {
                ""
            };
            return Err(err(format!(
                "it has {} fields, a WebJobs schedule has 6: second minute hour day month day-of-week{hint}",
                parts.len()
            )));
        }
        let mut bits = [0u64; 6];
        for (i, (field, text)) in FIELDS.iter().zip(&parts).enumerate() {
            bits[i] = field.parse(text).map_err(err)?;
        }
        Ok(Cron {
            text: parts.join(" "),
            seconds: bits[0],
            minutes: bits[1],
            hours: bits[2] as u32,
            days: bits[3] as u32,
            months: bits[4] as u16,
            weekdays: bits[5] as u8,
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({})", self.text)
    }
}

fn first_at_or_after(bits: u64, from: u32, max: u32) -> Option<u32> {
    (from..=max).find(|v| bits & (1 << v) != 0)
}

impl Cron {
    /// The first wall-clock time strictly after `after` that matches, within
    /// the next 400 years (the Gregorian calendar repeats every 400 years);
    /// `None` for a schedule that never fires (`0 0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime) -> Option<DateTime> {
        let whole = after
            .round(
                jiff::civil::DateTimeRound::new()
                    .smallest(jiff::Unit::Second)
                    .mode(jiff::RoundMode::Trunc),
            )
            .unwrap_or(after);
        let start = whole.checked_add(jiff::SignedDuration::from_secs(1)).ok()?;
        let mut date = start.date();
        let mut from = Some(start.time());
        let last = date.saturating_add(jiff::Span::new().years(400));
        while date <= last {
            if self.months & (1 << date.month()) == 0 {
                // Skip to the first day of the next month.
                date = first_of_next_month(date)?;
                from = None;
                continue;
            }
            if self.days & (1 << date.day()) != 0
                && self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0
                && let Some(t) = self.time_at_or_after(from.unwrap_or(Time::midnight()))
            {
                return Some(date.to_datetime(t));
            }
            date = date.tomorrow().ok()?;
            from = None;
        }
        None
    }

    /// Whether the schedule ever fires: some date in the Gregorian
    /// calendar's 400-year cycle matches its day, month and day-of-week
    /// fields (`0 0 0 30 2 *` never does).
    pub fn fires(&self) -> bool {
        let start = jiff::civil::date(2000, 1, 1).at(0, 0, 0, 0);
        self.next_after(start).is_some()
    }

    /// The first matching time of day at or after `from`.
    fn time_at_or_after(&self, from: Time) -> Option<Time> {
        let (h0, m0, s0) = (
            from.hour() as u32,
            from.minute() as u32,
            from.second() as u32,
        );
        let mut h = first_at_or_after(u64::from(self.hours), h0, 23)?;
        loop {
            let m_from = if h == h0 { m0 } else { 0 };
            if let Some(m) = first_at_or_after(self.minutes, m_from, 59).and_then(|m| {
                let mut m = m;
                loop {
                    let s_from = if h == h0 && m == m0 { s0 } else { 0 };
                    if let Some(s) = first_at_or_after(self.seconds, s_from, 59) {
                        return Some((m, s));
                    }
                    m = first_at_or_after(self.minutes, m + 1, 59)?;
                }
            }) {
                return Time::new(h as i8, m.0 as i8, m.1 as i8, 0).ok();
            }
            h = first_at_or_after(u64::from(self.hours), h + 1, 23)?;
        }
    }
}

fn first_of_next_month(d: Date) -> Option<Date> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    Date::new(y, m, 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn next(expr: &str, from: DateTime) -> DateTime {
        expr.parse::<Cron>()
            .unwrap()
            .next_after(from)
            .unwrap_or_else(|| panic!("{expr} never fires"))
    }

    fn dt(s: &str) -> DateTime {
        s.parse().unwrap()
    }

    #[test]
    fn table_of_next_occurrences() {
        let cases: &[(&str, &str, &str)] = &[
            ("* * * * * *", "2026-01-01T00:00:00", "2026-01-01T00:00:01"),
            (
                "* * * * * *",
                "2026-01-01T00:00:00.5",
                "2026-01-01T00:00:01",
            ),
            (
                "0 */5 * * * *",
                "2026-01-01T00:01:20",
                "2026-01-01T00:05:00",
            ),
            // The NCrontab 2.0 bug fixed: the seconds reset when the minute advances.
            (
                "10,30 */5 * * * *",
                "2026-01-01T00:01:20",
                "2026-01-01T00:05:10",
            ),
            (
                "10,30 */5 * * * *",
                "2026-01-01T00:05:10",
                "2026-01-01T00:05:30",
            ),
            (
                "0 30 9 * * 1-5",
                "2026-11-27T10:00:00",
                "2026-11-30T09:30:00",
            ), // Fri → Mon
            ("0 0 0 * * 0", "2026-11-26T12:00:00", "2026-11-29T00:00:00"), // Sunday = 0
            (
                "0 0 0 * * sun",
                "2026-11-26T12:00:00",
                "2026-11-29T00:00:00",
            ),
            ("0 0 0 * * T", "2026-11-26T12:00:00", "2026-12-01T00:00:00"), // T = Tuesday
            ("0 0 0 1 Ju *", "2026-01-01T00:00:00", "2026-06-01T00:00:00"), // Ju = June
            ("0 0 0 1 ma *", "2026-01-01T00:00:00", "2026-03-01T00:00:00"), // Ma = March
            (
                "0 0 0 1 JANUARY *",
                "2026-01-01T00:00:00",
                "2027-01-01T00:00:00",
            ),
            (
                "0 0 22-2 * * *",
                "2026-01-01T03:00:00",
                "2026-01-01T04:00:00",
            ), // swapped: 2..22, not 22..2
            (
                "0 0 22-2 * * *",
                "2026-01-01T23:00:00",
                "2026-01-02T02:00:00",
            ),
            (
                "*/0 * * * * *",
                "2026-01-01T00:00:00",
                "2026-01-01T00:00:01",
            ), // step 0 = 1
            (
                "5/20 * * * * *",
                "2026-01-01T00:00:26",
                "2026-01-01T00:00:45",
            ), // a/s
            ("0 0 0 13 * 5", "2026-01-01T00:00:00", "2026-02-13T00:00:00"), // Friday the 13th (AND)
            ("0 0 0 31 * *", "2026-04-01T00:00:00", "2026-05-31T00:00:00"), // no April 31st
            ("0 0 0 29 2 *", "2026-01-01T00:00:00", "2028-02-29T00:00:00"),
            ("0 0 12 * * *", "2026-01-01T12:00:00", "2026-01-02T12:00:00"), // strictly after
            (
                "59 59 23 31 12 *",
                "2026-12-31T23:59:59",
                "2027-12-31T23:59:59",
            ),
            (
                "0   0  * * * *",
                "2026-01-01T00:30:00",
                "2026-01-01T01:00:00",
            ), // runs of spaces
            // A huge step (no overflow), and a Monday Feb 29 after 2100.
            (
                "59/4294967295 * * * * *",
                "2026-01-01T00:00:00",
                "2026-01-01T00:00:59",
            ),
            ("0 0 0 29 2 1", "2073-01-01T00:00:00", "2112-02-29T00:00:00"),
        ];
        for (expr, from, want) in cases {
            assert_eq!(next(expr, dt(from)), dt(want), "{expr} after {from}");
        }
    }

    #[test]
    fn impossible_dates_never_fire() {
        let c: Cron = "0 0 0 30 2 *".parse().unwrap();
        assert_eq!(c.next_after(date(2026, 1, 1).at(0, 0, 0, 0)), None);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = "*/5 * * * *".parse::<Cron>().unwrap_err();
        assert!(
            e.why.contains("it has 5 fields") && e.why.contains("seconds field"),
            "{e}"
        );
        let e = "0 0 0 * * 7".parse::<Cron>().unwrap_err();
        assert!(
            e.why.contains("higher than the maximum") && e.why.contains("Sunday is 0"),
            "{e}"
        );
        for bad in [
            "0 0 0 ? * *",
            "0 0 0 L * *",
            "@daily",
            "0 0 0 * * 1#2",
            "0 60 * * * *",
            "0 0 0 0 * *",
            "x * * * * *",
            "0 0 0 1 Smarch *",
        ] {
            assert!(bad.parse::<Cron>().is_err(), "{bad} should be rejected");
        }
        assert!(
            "0 0 0 * * * *"
                .parse::<Cron>()
                .unwrap_err()
                .why
                .contains("7 fields")
        );
    }
}
