//! WebJobs' JSON shapes (Kudu's `Kudu.Contracts/Jobs`): job objects, run
//! objects and `{"runs": [...]}`, with its field names, its null-including
//! serialization and its .NET date and duration formats.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::job::{Job, JobType};
use crate::store::run::{RunInfo, RunStatus};

/// A run object (`TriggeredJobRun`).
#[derive(Debug, Serialize)]
pub struct RunJson {
    /// Run id.
    pub id: String,
    /// Same as `id`.
    pub name: String,
    /// Status, `Aborted` derived.
    pub status: RunStatus,
    /// ISO-8601 UTC.
    pub start_time: Option<String>,
    /// ISO-8601 UTC; `0001-01-01T00:00:00` while running.
    pub end_time: String,
    /// .NET TimeSpan text (`00:01:00.1234567`).
    pub duration: Option<String>,
    /// `{base}/vfs/data/jobs/triggered/{name}/{id}/output_log.txt`, or null.
    pub output_url: Option<String>,
    /// Always null, as in WebJobs.
    pub error_url: Option<String>,
    /// `{base}/api/triggeredwebjobs/{name}/history/{id}`.
    pub url: String,
    /// The job's name.
    pub job_name: String,
    /// `External - ...` or `Schedule - ...`.
    pub trigger: Option<String>,
    /// wasmjobs' own fields (not in WebJobs).
    pub wasmjobs: RunExtras,
}

/// What wasmjobs adds to a run's JSON, under `"wasmjobs"`.
#[derive(Debug, Serialize)]
pub struct RunExtras {
    /// The job's exit status, if it exited.
    pub exit_code: Option<i32>,
    /// The limit that ended the run (`timeout`, `memory`, `fuel`, ...).
    pub limit: Option<String>,
    /// Fuel consumed, when metered.
    pub fuel_consumed: Option<u64>,
    /// Where to read the output as it is written (`?follow=1`).
    pub output_stream_url: String,
}

/// `{"runs": [...]}`, newest first.
#[derive(Debug, Serialize)]
pub struct HistoryJson {
    /// The runs.
    pub runs: Vec<RunJson>,
}

/// .NET's round-trip UTC format: up to seven fraction digits, trailing
/// zeros dropped, `Z`.
pub fn dotnet_time(t: DateTime<Utc>) -> String {
    let ticks = t.timestamp_subsec_nanos() / 100;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if ticks == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{ticks:07}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// .NET TimeSpan text: `[d.]hh:mm:ss[.fffffff]`.
pub fn dotnet_duration(d: chrono::Duration) -> String {
    let d = d.max(chrono::Duration::zero());
    let secs = d.num_seconds();
    let ticks = (d - chrono::Duration::seconds(secs))
        .num_nanoseconds()
        .unwrap_or(0)
        / 100;
    let (days, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = if days > 0 {
        format!("{days}.")
    } else {
        String::new()
    };
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if ticks > 0 {
        out.push_str(&format!(".{ticks:07}"));
    }
    out
}

/// Builds a run object.
pub fn run_json(base: &str, job_name: &str, run: &RunInfo) -> RunJson {
    let s = &run.status;
    let end = s.end_time;
    let duration = s
        .start_time
        .map(|st| dotnet_duration(end.unwrap_or_else(Utc::now) - st));
    RunJson {
        id: run.id.clone(),
        name: run.id.clone(),
        status: s.status,
        start_time: s.start_time.map(dotnet_time),
        end_time: end
            .map(dotnet_time)
            .unwrap_or_else(|| "0001-01-01T00:00:00".to_string()),
        duration,
        output_url: run.has_output.then(|| {
            format!(
                "{base}/vfs/data/jobs/triggered/{job_name}/{}/output_log.txt",
                run.id
            )
        }),
        error_url: None,
        url: format!("{base}/api/triggeredwebjobs/{job_name}/history/{}", run.id),
        job_name: job_name.to_string(),
        trigger: s.trigger.clone(),
        wasmjobs: RunExtras {
            exit_code: s.exit_code,
            limit: s.limit.clone(),
            fuel_consumed: s.fuel_consumed,
            output_stream_url: format!(
                "{base}/api/triggeredwebjobs/{job_name}/history/{}/output?follow=1",
                run.id
            ),
        },
    }
}

/// What a job's WebJobs JSON says beyond its bundle: facts in, JSON out
/// ([`job_json`]); the run book gathers them.
#[derive(Debug, Clone, Default)]
pub struct JobFacts {
    /// A triggered job's latest run.
    pub latest_run: Option<RunInfo>,
    /// Whether the job has a `job_scheduler.log`.
    pub scheduler_log: bool,
    /// A continuous job's `(instance, status)` records.
    pub statuses: Vec<(String, String)>,
}

/// Builds a job object from its bundle and what the run book says of it
/// (a triggered job's latest run and whether it has a `job_scheduler.log`;
/// a continuous job's `(instance, status)` records).
pub fn job_json(base: &str, job: &Job, facts: &JobFacts) -> Value {
    let latest_run = facts.latest_run.as_ref();
    let scheduler_log_exists = facts.scheduler_log;
    let statuses = &facts.statuses;
    let t = job.job_type.as_str();
    let n = &job.name;
    let mut v = serde_json::json!({
        "name": n,
        "run_command": job.run_command,
        "url": format!("{base}/api/{t}webjobs/{n}"),
        "extra_info_url": format!("{base}/azurejobs/#/jobs/{t}/{n}"),
        "type": t,
        "error": job.error,
        "using_sdk": false,
        "settings": Value::Object(job.settings.raw().clone()),
    });
    let obj = v.as_object_mut().expect("object");
    match job.job_type {
        JobType::Triggered => {
            obj.insert(
                "latest_run".into(),
                latest_run
                    .map(|r| serde_json::to_value(run_json(base, n, r)).expect("run json"))
                    .unwrap_or(Value::Null),
            );
            obj.insert(
                "history_url".into(),
                format!("{base}/api/triggeredwebjobs/{n}/history").into(),
            );
            obj.insert(
                "scheduler_logs_url".into(),
                if scheduler_log_exists {
                    format!("{base}/vfs/data/jobs/triggered/{n}/job_scheduler.log").into()
                } else {
                    Value::Null
                },
            );
        }
        JobType::Continuous => {
            // WebJobs: one instance's status (the last one not
            // InactiveInstance), Initializing without any; and a line per
            // instance.
            let status = statuses
                .iter()
                .rev()
                .find(|(_, s)| s != "InactiveInstance")
                .or(statuses.last())
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| "Initializing".to_string());
            obj.insert("status".into(), status.into());
            obj.insert(
                "detailed_status".into(),
                if statuses.is_empty() {
                    Value::Null
                } else {
                    statuses
                        .iter()
                        .map(|(i, s)| format!("{i} - {s}\r\n"))
                        .collect::<String>()
                        .into()
                },
            );
            obj.insert(
                "log_url".into(),
                format!("{base}/vfs/data/jobs/continuous/{n}/job_log.txt").into(),
            );
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dotnet_formats() {
        let t = Utc.with_ymd_and_hms(2019, 6, 7, 14, 0, 4).unwrap()
            + chrono::Duration::nanoseconds(181_107_000);
        assert_eq!(dotnet_time(t), "2019-06-07T14:00:04.181107Z");
        assert_eq!(
            dotnet_time(Utc.with_ymd_and_hms(2019, 6, 7, 14, 0, 4).unwrap()),
            "2019-06-07T14:00:04Z"
        );
        assert_eq!(
            dotnet_duration(chrono::Duration::milliseconds(60_123)),
            "00:01:00.1230000"
        );
        assert_eq!(
            dotnet_duration(chrono::Duration::seconds(90_061)),
            "1.01:01:01"
        );
    }
}
