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
        expect(
            "stopping_wait_time",
            Want::Count,
            "5 s continuous, 30 s triggered",
        );
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
