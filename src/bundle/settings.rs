//! `settings.job`, parsed with WebJobs' strict typing: a key is used only
//! when its JSON value has exactly the expected type (a long field rejects
//! `60.0`, a bool field rejects `"true"`); otherwise the default applies and
//! a warning says so. Unknown keys are kept and echoed back.

use serde_json::{Map, Value};

use crate::job::JobType;
use crate::runtime::limits::LimitOverrides;

/// File name of the settings file inside the script directory.
pub const FILE_NAME: &str = "settings.job";

/// A parsed `settings.job`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    raw: Map<String, Value>,
    warnings: Vec<String>,
}

impl Settings {
    /// Parses the file's text. Malformed JSON, or JSON that is not an
    /// object, gives empty settings and a warning (WebJobs only traces it).
    pub fn parse(text: &str) -> Settings {
        let text = text.trim_start_matches('\u{feff}');
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(raw)) => Settings::from_map(raw),
            Ok(other) => Settings {
                raw: Map::new(),
                warnings: vec![format!(
                    "{FILE_NAME} is not a JSON object (found {}); it is ignored",
                    kind(&other)
                )],
            },
            Err(e) => Settings {
                raw: Map::new(),
                warnings: vec![format!(
                    "{FILE_NAME} is not valid JSON ({e}); it is ignored"
                )],
            },
        }
    }

    /// Wraps an already parsed object.
    pub fn from_map(raw: Map<String, Value>) -> Settings {
        let mut s = Settings {
            raw,
            warnings: Vec::new(),
        };
        s.validate();
        s
    }

    /// The raw object, unknown keys included.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// Typing problems found in the file, one sentence each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `schedule` (string): a 6-field NCRONTAB expression.
    pub fn schedule(&self) -> Option<&str> {
        self.raw.get("schedule").and_then(Value::as_str)
    }

    /// `is_singleton` (bool, default false).
    pub fn is_singleton(&self) -> bool {
        self.raw
            .get("is_singleton")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `is_in_place` (bool, default true for `.js`, else false).
    pub fn is_in_place(&self, js: bool) -> bool {
        self.raw
            .get("is_in_place")
            .and_then(Value::as_bool)
            .unwrap_or(js)
    }

    /// `stopping_wait_time` in seconds (integer; 5 continuous, 30 triggered).
    pub fn stopping_wait_time(&self, job_type: JobType) -> u64 {
        let default = match job_type {
            JobType::Continuous => 5,
            JobType::Triggered => 30,
        };
        // Kudu reads a long; a negative wait is no wait.
        match self.raw.get("stopping_wait_time").and_then(Value::as_i64) {
            Some(v) => v.max(0) as u64,
            None => default,
        }
    }

    /// `executor` (string: `auto`, `wasm` or `native`; default `auto`).
    pub fn executor(&self) -> crate::runtime::ExecutorChoice {
        self.raw
            .get("executor")
            .and_then(Value::as_str)
            .and_then(crate::runtime::ExecutorChoice::parse)
            .unwrap_or_default()
    }

    /// `network` (bool, default false): a native job may open network
    /// sockets (only where the host gives runs no network namespace).
    pub fn network(&self) -> bool {
        self.raw
            .get("network")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `time_zone` (string, IANA name): the zone the schedule is read in,
    /// instead of the host's `WEBSITE_TIME_ZONE`.
    pub fn time_zone(&self) -> Option<&str> {
        self.raw.get("time_zone").and_then(Value::as_str)
    }

    /// `catch_up_s` (integer, default 600): a scheduled occurrence missed by
    /// at most this long (host down, clock jump) still runs, once.
    pub fn catch_up_s(&self) -> u64 {
        self.raw
            .get("catch_up_s")
            .and_then(Value::as_u64)
            .unwrap_or(600)
    }

    /// `overlap` (string: `skip`, `queue` or `replace`; default `skip`):
    /// what a schedule tick does while the previous run is still running.
    pub fn overlap(&self) -> Overlap {
        self.raw
            .get("overlap")
            .and_then(Value::as_str)
            .and_then(Overlap::parse)
            .unwrap_or_default()
    }

    /// `restart_backoff` (`true`, or an object with `initial_s` and
    /// `max_s`): restart a continuous job that keeps failing after
    /// exponentially growing waits instead of WebJobs' fixed wait.
    pub fn restart_backoff(&self) -> Option<Backoff> {
        match self.raw.get("restart_backoff") {
            Some(Value::Bool(true)) => Some(Backoff::default()),
            Some(Value::Object(o)) => {
                let d = Backoff::default();
                let get = |k: &str| o.get(k).and_then(Value::as_u64).filter(|v| *v > 0);
                let initial_s = get("initial_s").unwrap_or(d.initial_s);
                Some(Backoff {
                    initial_s,
                    max_s: get("max_s").unwrap_or(d.max_s).max(initial_s),
                })
            }
            _ => None,
        }
    }

    /// Why `schedule` or `time_zone` cannot be used, if they cannot.
    pub fn schedule_problem(&self) -> Option<String> {
        if let Some(expr) = self.schedule()
            && let Err(e) = expr.parse::<crate::schedule::Cron>()
        {
            return Some(e.to_string());
        }
        if let Some(tz) = self.time_zone()
            && let Err(e) = crate::schedule::zone::parse_zone(tz)
        {
            return Some(format!("{FILE_NAME}: 'time_zone': {e}"));
        }
        None
    }

    /// The `limits` object: per-job overrides of the host's run limits.
    pub fn limits(&self) -> LimitOverrides {
        let mut o = LimitOverrides::default();
        if let Some(Value::Object(l)) = self.raw.get("limits") {
            let get = |k: &str| l.get(k).and_then(Value::as_u64).filter(|v| *v > 0);
            o.timeout_s = get("timeout_s");
            o.fuel = get("fuel");
            o.memory_mb = get("memory_mb");
            o.output_kb = get("output_kb");
            o.idle_timeout_s = get("idle_timeout_s");
        }
        o
    }

    fn validate(&mut self) {
        let mut w = Vec::new();
        let mut expect = |key: &str, want: Want, default: &str| {
            if let Some(v) = self.raw.get(key)
                && !want.matches(v)
            {
                w.push(format!(
                    "{FILE_NAME}: '{key}' must be {}, found {} {v}; using the default ({default})",
                    want.describe(),
                    kind(v)
                ));
            }
        };
        expect("schedule", Want::String, "no schedule");
        expect("is_singleton", Want::Bool, "false");
        expect("is_in_place", Want::Bool, "true for .js, else false");
        expect("network", Want::Bool, "false");
        expect("time_zone", Want::String, "the host's WEBSITE_TIME_ZONE");
        expect("catch_up_s", Want::Count, "600");
        expect(
            "stopping_wait_time",
            Want::Count,
            "5 s continuous, 30 s triggered",
        );
        if let Some(v) = self.raw.get("overlap")
            && v.as_str().and_then(Overlap::parse).is_none()
        {
            w.push(format!(
                "{FILE_NAME}: 'overlap' must be \"skip\", \"queue\" or \"replace\", found {} {v}; using the default (skip)",
                kind(v)
            ));
        }
        if let Some(v) = self.raw.get("restart_backoff")
            && !matches!(v, Value::Bool(_) | Value::Object(_))
        {
            w.push(format!(
                "{FILE_NAME}: 'restart_backoff' must be true or an object {{\"initial_s\", \"max_s\"}}, found {} {v}; using WebJobs' fixed restart wait",
                kind(v)
            ));
        }
        if let Some(v) = self.raw.get("executor")
            && v.as_str()
                .and_then(crate::runtime::ExecutorChoice::parse)
                .is_none()
        {
            w.push(format!(
                "{FILE_NAME}: 'executor' must be \"auto\", \"wasm\" or \"native\", found {} {v}; using the default (auto)",
                kind(v)
            ));
        }
        match self.raw.get("limits") {
            None => {}
            Some(Value::Object(l)) => {
                for (key, v) in l {
                    if !LimitOverrides::KEYS.contains(&key.as_str()) {
                        w.push(format!(
                            "{FILE_NAME}: unknown key 'limits.{key}' (known: {}); it is ignored",
                            LimitOverrides::KEYS.join(", ")
                        ));
                    } else if !matches!(v.as_u64(), Some(n) if n > 0) {
                        w.push(format!(
                            "{FILE_NAME}: 'limits.{key}' must be a positive integer, found {} {v}; using the host's default",
                            kind(v)
                        ));
                    }
                }
            }
            Some(v) => w.push(format!(
                "{FILE_NAME}: 'limits' must be an object, found {} {v}; using the host's defaults",
                kind(v)
            )),
        }
        self.warnings.extend(w);
    }
}

/// What a schedule tick does while the previous run is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Skip the tick, and log it (WebJobs skips silently).
    #[default]
    Skip,
    /// Run once the current run ends (at most one pending run).
    Queue,
    /// Stop the current run gracefully, then start.
    Replace,
}

impl Overlap {
    /// Parses a `settings.job` value.
    pub fn parse(s: &str) -> Option<Overlap> {
        match s {
            "skip" => Some(Overlap::Skip),
            "queue" => Some(Overlap::Queue),
            "replace" => Some(Overlap::Replace),
            _ => None,
        }
    }
}

/// Exponential restart back-off for continuous jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait, in seconds (doubles after each quick failure).
    pub initial_s: u64,
    /// The longest wait, in seconds.
    pub max_s: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_s: 5,
            max_s: 300,
        }
    }
}

#[derive(Clone, Copy)]
enum Want {
    String,
    Bool,
    Count,
}

impl Want {
    fn matches(self, v: &Value) -> bool {
        match self {
            Want::String => v.is_string(),
            Want::Bool => v.is_boolean(),
            Want::Count => v.is_i64(),
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Want::String => "a string",
            Want::Bool => "a boolean (true or false, not a string)",
            Want::Count => "an integer",
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "real number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_typing_falls_back_with_warnings() {
        let s = Settings::parse(
            r#"{"is_singleton":"true","stopping_wait_time":60.0,"schedule":5,"custom":{"a":1}}"#,
        );
        assert!(!s.is_singleton());
        assert_eq!(s.stopping_wait_time(JobType::Triggered), 30);
        assert_eq!(s.schedule(), None);
        assert_eq!(s.warnings().len(), 3, "{:?}", s.warnings());
        assert!(s.warnings()[0].contains("'schedule' must be a string"));
        assert_eq!(s.raw()["custom"]["a"], 1, "unknown keys are kept");
    }

    #[test]
    fn typed_values_are_used() {
        let s = Settings::parse(
            r#"{"is_singleton":true,"stopping_wait_time":7,"schedule":"0 * * * * *"}"#,
        );
        assert!(s.is_singleton());
        assert_eq!(s.stopping_wait_time(JobType::Continuous), 7);
        assert_eq!(s.schedule(), Some("0 * * * * *"));
        assert!(s.warnings().is_empty());
    }

    #[test]
    fn limits_object() {
        let s =
            Settings::parse(r#"{"limits":{"timeout_s":5,"memory_mb":"64","fuel":0,"bogus":1}}"#);
        let l = s.limits();
        assert_eq!(l.timeout_s, Some(5));
        assert_eq!(l.memory_mb, None);
        assert_eq!(l.fuel, None);
        assert_eq!(s.warnings().len(), 3, "{:?}", s.warnings());
    }

    #[test]
    fn malformed_file_is_empty_with_warning() {
        let s = Settings::parse("{not json");
        assert!(s.raw().is_empty());
        assert_eq!(s.warnings().len(), 1);
        let s = Settings::parse("[1]");
        assert!(s.warnings()[0].contains("not a JSON object"));
    }
}
