//! `settings.job`, parsed with WebJobs' strict typing: a key is used only
//! when its JSON value has exactly the expected type (a long field rejects
//! `60.0`, a bool field rejects `"true"`); otherwise the default applies and
//! a warning says so. Unknown keys are kept and echoed back.

use serde_json::{Map, Value};

use crate::runtime::limits::LimitOverrides;

/// File name of the settings file inside the script directory.
pub const FILE_NAME: &str = "settings.job";

/// The largest `settings.job` accepted (WebJobs' own are a few hundred
/// bytes): one that is larger is refused at deploy and by `PUT
/// .../settings`, and ignored with a warning if found on disk.
pub const MAX_BYTES: usize = 64 << 10;

/// The deepest nesting of arrays and objects a `settings.job` may have.
pub const MAX_DEPTH: usize = 32;

/// Why a `settings.job` of these bytes is refused outright (too large or
/// too deeply nested), if it is; other problems only make warnings.
pub fn refused(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_BYTES {
        return Some(format!(
            "{FILE_NAME} is {} bytes; at most {MAX_BYTES} are accepted",
            bytes.len()
        ));
    }
    if depth_of(bytes) > MAX_DEPTH {
        return Some(format!(
            "{FILE_NAME} nests arrays and objects more than {MAX_DEPTH} deep"
        ));
    }
    None
}

/// The deepest nesting of `[` and `{` outside strings (whether or not the
/// text is valid JSON), without building anything.
fn depth_of(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads `settings.job` at `path` without reading more than
/// [`MAX_BYTES`] of it: `Ok(None)` when there is none, `Err` with the
/// reason when it is refused (too large, too deep, not a regular file,
/// unreadable).
pub fn read_checked(path: &std::path::Path) -> Result<Option<Settings>, String> {
    use std::io::Read;
    let file = match crate::store::fsutil::open_regular(path) {
        Ok(Some((f, _))) => f,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("{FILE_NAME} cannot be read ({e})")),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes) {
        return Err(format!("{FILE_NAME} cannot be read ({e})"));
    }
    if let Some(why) = refused(&bytes) {
        return Err(why.replace(" bytes; at most", " bytes or more; at most"));
    }
    Ok(Some(Settings::parse(&String::from_utf8_lossy(&bytes))))
}

/// As [`read_checked`], but a refused file gives empty settings and a
/// warning naming why (a job already on disk still lists and runs).
pub fn read(path: &std::path::Path) -> Option<Settings> {
    match read_checked(path) {
        Ok(s) => s,
        Err(why) => Some(Settings::ignored(format!("{why}; it is ignored"))),
    }
}

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

    /// Empty settings with one warning.
    fn ignored(why: String) -> Settings {
        Settings {
            raw: Map::new(),
            warnings: vec![why],
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

    /// `stopping_wait_time` in seconds (integer), else `default` (the
    /// job type's: [`crate::job::JobType::stopping_wait_s`]).
    pub fn stopping_wait_time(&self, default: u64) -> u64 {
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

    /// `network`: what the job asks to connect to (absent or `false`:
    /// nothing; `true`: whatever the host allows; a list of patterns). A
    /// value that cannot be read asks for nothing (and is refused at
    /// deploy: [`Settings::network_problem`]).
    pub fn network(&self) -> crate::net::policy::Request {
        crate::net::policy::Request::from_setting(self.raw.get("network")).unwrap_or_default()
    }

    /// Why `network` cannot be used, if it cannot: a value that is not
    /// `true`, `false` or a list, or a pattern that does not parse.
    pub fn network_problem(&self) -> Option<String> {
        crate::net::policy::Request::from_setting(self.raw.get("network"))
            .err()
            .map(|e| format!("{FILE_NAME}: {e}"))
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

    /// Why `schedule` or `time_zone` cannot be used, if they cannot: a
    /// schedule that does not parse, or one that never fires (`0 0 0 30 2
    /// *`: no February has a 30th).
    pub fn schedule_problem(&self) -> Option<String> {
        if let Some(expr) = self.schedule() {
            match expr.parse::<crate::schedule::Cron>() {
                Err(e) => return Some(e.to_string()),
                Ok(cron) if !cron.fires() => {
                    return Some(format!(
                        "{FILE_NAME}: the schedule '{expr}' never fires (no date matches its day, month and day-of-week fields)"
                    ));
                }
                Ok(_) => {}
            }
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
            for key in LimitOverrides::KEYS {
                o.set(key, l.get(key).and_then(Value::as_u64).filter(|v| *v > 0));
            }
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
    fn oversized_and_deep_settings_are_refused() {
        assert!(refused(br#"{"schedule": "0 * * * * *"}"#).is_none());
        let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(MAX_BYTES));
        assert!(refused(big.as_bytes()).unwrap().contains("at most 65536"));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(refused(deep.as_bytes()).unwrap().contains("deep"));
        let ok_deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(refused(ok_deep.as_bytes()).is_none());
        // Brackets inside strings do not count.
        let quoted = format!(r#"{{"a": "{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(refused(quoted.as_bytes()).is_none(), "{quoted}");
    }

    #[test]
    fn a_schedule_that_never_fires_is_a_problem() {
        let s = Settings::parse(r#"{"schedule": "0 0 0 30 2 *"}"#);
        assert!(s.schedule_problem().unwrap().contains("never fires"));
        let leap = Settings::parse(r#"{"schedule": "0 0 0 29 2 1"}"#);
        assert!(
            leap.schedule_problem().is_none(),
            "Feb 29 on a Monday happens"
        );
    }

    #[test]
    fn reading_stops_at_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE_NAME);
        assert!(read(&p).is_none());
        std::fs::write(&p, format!(r#"{{"pad": "{}"}}"#, "x".repeat(1 << 20))).unwrap();
        let s = read(&p).unwrap();
        assert!(s.raw().is_empty());
        assert!(s.warnings()[0].contains("ignored"), "{:?}", s.warnings());
        std::fs::write(&p, r#"{"is_singleton": true}"#).unwrap();
        assert!(read(&p).unwrap().is_singleton());
    }

    #[test]
    fn strict_typing_falls_back_with_warnings() {
        let s = Settings::parse(
            r#"{"is_singleton":"true","stopping_wait_time":60.0,"schedule":5,"custom":{"a":1}}"#,
        );
        assert!(!s.is_singleton());
        assert_eq!(s.stopping_wait_time(30), 30);
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
        assert_eq!(s.stopping_wait_time(5), 7);
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
