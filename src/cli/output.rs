//! How the CLI shows jobs, runs and live output.

use std::fmt::Write as _;
use std::io::Write;

use crate::config::HostConfig;
use crate::job::Job;
use crate::runtime::capture::{Echo, EchoLine, Stream};
use crate::store::history;
use crate::store::run::RunInfo;
use crate::wire;

/// Shows control characters (escape sequences, bells, backspaces) as
/// escapes, so a job cannot drive the user's terminal.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Streams a run's lines to the console: job stdout to stdout, job stderr
/// and engine messages to stderr.
pub fn console_echo() -> Echo {
    Box::new(|line| match line {
        EchoLine::Output(Stream::Stdout, text) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", printable(text));
            let _ = out.flush();
        }
        // Errors (a closed pipe) are ignored: the log on disk is the record.
        EchoLine::Output(Stream::Stderr, text) => {
            let _ = writeln!(std::io::stderr(), "{}", printable(text));
        }
        EchoLine::Sys(level, text) => {
            let _ = writeln!(
                std::io::stderr(),
                "[SYS {}] {text}",
                level.label().trim_end()
            );
        }
    })
}

/// `wasmjobs list`.
pub fn list(host: &HostConfig, jobs: &[Job], json: bool) {
    if json {
        let objs: Vec<_> = jobs
            .iter()
            .map(|j| {
                let dir = host.layout.data_dir(j.job_type, &j.name);
                let facts = crate::runner::book::local::facts(&dir, j.job_type);
                wire::job_json(&host.base_url, j, &facts)
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&objs).expect("json"));
        return;
    }
    if jobs.is_empty() {
        println!("no jobs in {}", host.layout.root().display());
        return;
    }
    println!(
        "{:<24} {:<11} {:<20} {:<13} ERROR",
        "NAME", "TYPE", "RUN_COMMAND", "STATUS"
    );
    for j in jobs {
        let data_dir = host.layout.data_dir(j.job_type, &j.name);
        let latest = match j.job_type {
            crate::job::JobType::Triggered => {
                history::latest(&data_dir).map(|r| r.status.status.to_string())
            }
            crate::job::JobType::Continuous => crate::store::instance::statuses(&data_dir)
                .into_iter()
                .map(|(_, s)| s)
                .next_back(),
        }
        .unwrap_or_else(|| "-".into());
        println!(
            "{:<24} {:<11} {:<20} {:<13} {}",
            j.name,
            j.job_type.as_str(),
            j.run_command.as_deref().unwrap_or("-"),
            latest,
            j.error.as_deref().unwrap_or("")
        );
    }
}

/// `wasmjobs history`.
pub fn history(host: &HostConfig, job: &Job, runs: &[RunInfo], json: bool) {
    if json {
        let h = wire::HistoryJson {
            runs: runs
                .iter()
                .map(|r| wire::run_json(&host.base_url, &job.name, r))
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&h).expect("json"));
        return;
    }
    if runs.is_empty() {
        println!("job '{}' has no runs yet", job.name);
        return;
    }
    println!(
        "{:<20} {:<13} {:<28} {:<18} TRIGGER",
        "RUN_ID", "STATUS", "START_TIME", "DURATION"
    );
    for r in runs {
        let j = wire::run_json(&host.base_url, &job.name, r);
        println!(
            "{:<20} {:<13} {:<28} {:<18} {}",
            j.id,
            j.status.as_str(),
            j.start_time.unwrap_or_default(),
            j.duration.unwrap_or_default(),
            j.trigger.unwrap_or_default()
        );
    }
}

/// Which executor each kind of script gets on this host, with the note a
/// run's log would carry (`doctor`, and `serve` at its start).
pub fn executors(runner: &crate::runner::Runner) -> String {
    use crate::bundle::entry::ScriptKind;
    use crate::runtime::{self, ExecutorChoice, ExecutorKind};
    let mut r = format!("jobs run (--executor {:?}):\n", runner.host().executors).to_lowercase();
    for kind in [
        ScriptKind::Js,
        ScriptKind::Py,
        ScriptKind::Sh,
        ScriptKind::Php,
        ScriptKind::Jar,
        ScriptKind::Exe,
    ] {
        let chosen =
            runtime::executor_for(kind, ExecutorChoice::Auto, runner.host().executors, &|g| {
                runner.wasm().usable(g)
            });
        let v = match chosen {
            Ok(c) => {
                let how = match c.kind {
                    ExecutorKind::Wasm(g) => format!("in WebAssembly ({})", g.host_name()),
                    ExecutorKind::Native(i) => format!("natively ({})", i.host_name()),
                };
                match c.note {
                    Some(n) => format!("{how}; WARN: {n}"),
                    None => how,
                }
            }
            Err(e) => format!("REFUSED: {e}"),
        };
        let _ = writeln!(r, "  {:<5}: {v}", kind.to_string());
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("plain\ttext"), "plain\ttext");
        assert_eq!(super::printable("\u{1b}[2Jgone"), "\\u{1b}[2Jgone");
    }
}
