//! WebJobs' log line format:
//! `[MM/dd/yyyy HH:mm:ss > inst: LEVEL] message` for process output and
//! `[MM/dd/yyyy HH:mm:ss > inst: SYS LEVEL] message` for engine messages,
//! UTC time, level padded to four characters, CRLF line ends.

use chrono::{DateTime, Utc};

/// A line's level: stdout is `INFO`, stderr `ERR `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Informational (stdout).
    Info,
    /// Warning.
    Warn,
    /// Error (stderr).
    Err,
}

impl Level {
    /// The padded label.
    pub fn label(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Err => "ERR ",
        }
    }
}

/// Formats one log line, terminator included.
pub fn format(at: DateTime<Utc>, instance: &str, sys: bool, level: Level, message: &str) -> String {
    format!(
        "[{} > {}: {}{}] {}\r\n",
        at.format("%m/%d/%Y %H:%M:%S"),
        instance,
        if sys { "SYS " } else { "" },
        level.label(),
        message
    )
}

/// The short instance id: the first six characters of `WEBSITE_INSTANCE_ID`,
/// or of the host name when that is unset.
pub fn short_instance_id(website_instance_id: Option<&str>) -> String {
    let full = match website_instance_id {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => hostname(),
    };
    full.chars().take(6).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn matches_webjobs() {
        let t = Utc.with_ymd_and_hms(2014, 1, 13, 17, 35, 59).unwrap();
        assert_eq!(
            format(
                t,
                "a905a3",
                true,
                Level::Err,
                "Job failed due to exit code 2"
            ),
            "[01/13/2014 17:35:59 > a905a3: SYS ERR ] Job failed due to exit code 2\r\n"
        );
        assert_eq!(
            format(t, "a905a3", false, Level::Info, "hi"),
            "[01/13/2014 17:35:59 > a905a3: INFO] hi\r\n"
        );
        assert_eq!(short_instance_id(Some("168694abcdef")), "168694");
    }
}
