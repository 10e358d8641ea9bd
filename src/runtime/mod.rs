//! Executors and what they share. An executor is handed an [`Invocation`]
//! (what to run, its directories, environment, limits and capture pipes) and
//! returns an [`Outcome`]; the runner does everything around it (working
//! copy, run record, log, history), so every executor goes through one
//! capture, limits and history path.

pub mod capture;
pub mod limits;
pub mod stop;
pub mod wasm;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::bundle::entry::ScriptKind;
use capture::Activity;
use limits::{LimitKind, Limits};
use stop::StopSignal;
pub use wasm::Guest;

/// No executor can run this kind of script on this host.
#[derive(Debug, Error)]
#[error("no executor for {kind} on this host: {why}")]
pub struct NoExecutor {
    /// The script kind.
    pub kind: ScriptKind,
    /// Why, and what would help.
    pub why: &'static str,
}

/// How a kind of script is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    /// In a WebAssembly guest interpreter.
    Wasm(Guest),
}

impl ExecutorKind {
    /// The script host name shown in `Run script '...' with script host - '...'`.
    pub fn host_name(self) -> &'static str {
        match self {
            ExecutorKind::Wasm(g) => g.host_name(),
        }
    }
}

/// Picks the executor for a script kind.
pub fn executor_for(kind: ScriptKind) -> Result<ExecutorKind, NoExecutor> {
    match kind {
        ScriptKind::Js => Ok(ExecutorKind::Wasm(Guest::Js)),
        ScriptKind::Cmd | ScriptKind::Bat | ScriptKind::Ps1 => Err(NoExecutor {
            kind,
            why: "Windows scripts cannot run on a Linux host",
        }),
        ScriptKind::Py => match Guest::Python.files() {
            Ok(_) => Ok(ExecutorKind::Wasm(Guest::Python)),
            Err(_) => Err(NoExecutor {
                kind,
                why: "the Python guest is not built (build it with guests/python/build.sh)",
            }),
        },
        ScriptKind::Sh | ScriptKind::Php | ScriptKind::Exe => Err(NoExecutor {
            kind,
            why: "the native sandbox executor is not built into this wasmjobs yet",
        }),
    }
}

/// Everything an executor needs for one run.
pub struct Invocation {
    /// Entry script file name (WebJobs passes the name only).
    pub script: String,
    /// The script's folder inside the working copy (`""` at its root).
    pub script_subdir: String,
    /// The run's arguments.
    pub args: Vec<String>,
    /// The complete environment of the job.
    pub env: Vec<(String, String)>,
    /// Host path of the run's private working copy.
    pub work_dir: PathBuf,
    /// Host path of the job's persistent data folder.
    pub data_dir: PathBuf,
    /// Host path of the run's private temporary folder.
    pub tmp_dir: PathBuf,
    /// The limits to enforce.
    pub limits: Limits,
    /// Touched on every sign of life (output, CPU progress).
    pub activity: Arc<Activity>,
    /// The job's stdout (write end of the capture pipe).
    pub stdout: File,
    /// The job's stderr (write end of the capture pipe).
    pub stderr: File,
    /// Fires when the run is asked to stop.
    pub stop: StopSignal,
}

/// How a run ended, as far as the executor can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The job exited with this status.
    Exited(i32),
    /// A limit ended it; the exit status, if the job exited on hitting it
    /// (its own out-of-memory path, say).
    Limit(LimitKind, Option<i32>),
    /// It was stopped on request.
    Stopped,
    /// It could not start or crashed (trap, host error); the message says how.
    Crashed(String),
}

impl Ending {
    /// The job's exit status, when it exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Ending::Exited(n) | Ending::Limit(_, Some(n)) => Some(*n),
            _ => None,
        }
    }
}

/// What an executor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// Fuel consumed, when metered.
    pub fuel_consumed: Option<u64>,
}

/// Where the guest sees its directories. Host paths never reach the guest.
pub mod guest_paths {
    /// The working copy (`WEBJOBS_PATH`).
    pub const JOB: &str = "/job";
    /// The job's persistent data (`WEBJOBS_DATA_PATH`).
    pub const DATA: &str = "/data";
    /// The run's private temporary folder.
    pub const TMP: &str = "/tmp";
}
