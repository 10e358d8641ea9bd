//! Executors and what they share. An executor is handed an [`Invocation`]
//! (what to run, its directories, environment, limits and capture pipes) and
//! returns an [`Outcome`]; the runner does everything around it (working
//! copy, run record, log, history), so every executor goes through one
//! capture, limits and history path.

pub mod capture;
pub mod confine;
pub mod executor;
pub mod limits;
pub mod native;
pub mod stop;
pub mod tail;
pub mod wasm;
pub mod watch;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::bundle::entry::ScriptKind;
use limits::{LimitKind, Limits};
use stop::StopSignal;
pub use wasm::Guest;
use watch::Activity;

/// What network a run gets, as the launch decided from its policy.
#[derive(Clone, Default)]
pub enum NetAccess {
    /// None: no sockets but local ones.
    #[default]
    None,
    /// The sockets the native sandbox leaves a job that asks for `true`
    /// (within a network namespace when the host gives runs one).
    Sockets,
    /// Only through the host, which holds every connection to `policy`:
    /// a native run's network namespace holds a proxy the host answers; a
    /// WebAssembly guest's sockets are the host's.
    Proxied {
        /// The run's policy.
        policy: std::sync::Arc<crate::net::policy::Policy>,
        /// Tells the run's log and the host's metrics of its connections.
        say: crate::net::forward::Say,
        /// Its connections and bytes (`limits.net_*`).
        budget: std::sync::Arc<crate::net::forward::Budget>,
        /// What TLS the host speaks for the run verifies against.
        trust: crate::net::tls::Trust,
        /// How the host resolves the run's names.
        resolver: std::sync::Arc<dyn crate::net::connect::Resolver>,
    },
}

impl NetAccess {
    /// Resolves, with the limit's ending, when a run whose way out is the
    /// host has used up one of its byte budgets (never for another run).
    pub async fn exceeded(&self) -> Ending {
        match self {
            NetAccess::Proxied { budget, .. } => net_limit(budget.exceeded().await),
            _ => std::future::pending().await,
        }
    }

    /// The limit's ending if one of the run's byte budgets has run out
    /// (a job that saw its connection end may exit before
    /// [`NetAccess::exceeded`] is seen: the budget, not the exit, ended it).
    pub fn tripped(&self) -> Option<Ending> {
        match self {
            NetAccess::Proxied { budget, .. } => budget.tripped().map(net_limit),
            _ => None,
        }
    }
}

fn net_limit(which: crate::net::forward::Exceeded) -> Ending {
    Ending::Limit(
        match which {
            crate::net::forward::Exceeded::Out => LimitKind::NetOut,
            crate::net::forward::Exceeded::In => LimitKind::NetIn,
        },
        None,
    )
}

/// No executor can run this kind of script on this host.
#[derive(Debug, Error)]
#[error("{why}")]
pub struct NoExecutor {
    /// The script kind.
    pub kind: ScriptKind,
    /// Why, and what would help.
    pub why: String,
}

/// Which executor a host (`--executor`) or a job (`settings.job`
/// `"executor"`) wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutorChoice {
    /// The wasm guest wherever one exists, the native sandbox otherwise.
    #[default]
    Auto,
    /// Only WebAssembly guests.
    Wasm,
    /// Only the native sandbox.
    Native,
}

impl ExecutorChoice {
    /// Parses a `settings.job` value.
    pub fn parse(s: &str) -> Option<ExecutorChoice> {
        match s {
            "auto" => Some(ExecutorChoice::Auto),
            "wasm" => Some(ExecutorChoice::Wasm),
            "native" => Some(ExecutorChoice::Native),
            _ => None,
        }
    }
}

/// How a kind of script is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    /// In a WebAssembly guest interpreter.
    Wasm(Guest),
    /// As a native process in the sandbox.
    Native(native::Interpreter),
}

impl ExecutorKind {
    /// Whether it runs in a WebAssembly guest (and so needs a wasm slot).
    pub fn is_wasm(self) -> bool {
        matches!(self, ExecutorKind::Wasm(_))
    }
}

/// The wasm guest for a script kind, if there is one.
fn guest_for(kind: ScriptKind) -> Option<Guest> {
    match kind {
        ScriptKind::Js => Some(Guest::Js),
        ScriptKind::Py => Some(Guest::Python),
        _ => None,
    }
}

/// The executor picked for a run, and what its run log must say about the
/// pick (a fallback from the wasm guest, a JIT turned off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The executor.
    pub kind: ExecutorKind,
    /// A `SYS WARN` for the run's log.
    pub note: Option<String>,
}

/// Picks the executor for a script kind: the host's choice binds, a job's
/// choice applies within it, and `auto` prefers a wasm guest. `wasm` says
/// whether a guest can run on this host; where it cannot, `auto` runs the
/// script natively and says why in the note, `wasm` refuses with the same
/// reason. Nothing switches interpreter silently.
pub fn executor_for(
    kind: ScriptKind,
    job: ExecutorChoice,
    host: ExecutorChoice,
    wasm: &dyn Fn(Guest) -> Result<(), wasm::Unusable>,
) -> Result<Chosen, NoExecutor> {
    let fail = |why: String| NoExecutor { kind, why };
    if matches!(kind, ScriptKind::Cmd | ScriptKind::Bat) {
        return Err(fail(format!(
            "cannot run {kind} on a Linux host (Windows command scripts need cmd.exe)"
        )));
    }
    let choice = match (host, job) {
        (ExecutorChoice::Auto, j) => j,
        (h, ExecutorChoice::Auto) => h,
        (h, j) if h == j => h,
        (h, j) => {
            return Err(fail(format!(
                "settings.job asks for the {j:?} executor but this host runs {h:?} only (--executor)"
            )
            .to_lowercase()));
        }
    };
    let native = || -> Result<Chosen, NoExecutor> {
        let Some(interp) = native::Interpreter::for_kind(kind) else {
            return Err(fail(format!("cannot run {kind} on a Linux host")));
        };
        if let Some(why) = interp.unrunnable() {
            return Err(fail(format!("cannot run {kind} on this host: {why}")));
        }
        match interp.locate() {
            Ok(_) => Ok(Chosen {
                kind: ExecutorKind::Native(interp),
                note: interp.jit_note(),
            }),
            Err(e) if kind == ScriptKind::Ps1 => Err(fail(format!(
                "cannot run .ps1 on a Linux host without PowerShell: {e}"
            ))),
            Err(e) => Err(fail(format!("cannot run {kind}: {e}"))),
        }
    };
    let guest = |g: Guest| -> Result<Chosen, wasm::Unusable> {
        wasm(g).map(|()| Chosen {
            kind: ExecutorKind::Wasm(g),
            note: None,
        })
    };
    match (choice, guest_for(kind)) {
        (ExecutorChoice::Native, _) => native(),
        (ExecutorChoice::Wasm, None) => {
            Err(fail(format!("there is no WebAssembly guest for {kind}")))
        }
        (ExecutorChoice::Wasm, Some(g)) => guest(g).map_err(|u| {
            fail(format!(
                "{} cannot run in WebAssembly here: {}; fix: {}",
                kind, u.why, u.fix
            ))
        }),
        (ExecutorChoice::Auto, None) => native(),
        (ExecutorChoice::Auto, Some(g)) => match guest(g) {
            Ok(c) => Ok(c),
            Err(u) => {
                let mut chosen = native().map_err(|e| {
                    fail(format!(
                        "{} cannot run in WebAssembly here ({}), and natively: {}",
                        kind, u.why, e.why
                    ))
                })?;
                let ExecutorKind::Native(interp) = chosen.kind else {
                    unreachable!("native() picks a native executor")
                };
                chosen.note = Some(format!(
                    "this {} job runs natively in the sandbox with {}{} instead of its WebAssembly guest ({}): {}. To run it in WebAssembly: {}",
                    kind,
                    interp
                        .locate()
                        .ok()
                        .flatten()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    if interp.jitless() { " --jitless" } else { "" },
                    g.host_name(),
                    u.why,
                    u.fix
                ));
                Ok(chosen)
            }
        },
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
    /// The graceful-stop contract (its shutdown file and wait), which every
    /// run gets.
    pub shutdown: Option<watch::Shutdown>,
    /// What network the run gets.
    pub network: NetAccess,
    /// A name for the run's host resources (its cgroup): `<job>-<run id>`.
    pub run_name: String,
    /// Whose run it is, and what the tenant's runs share.
    pub tenant: TenantShare,
    /// The run's disk account (scratch, data folder, tenant), when the
    /// runner keeps one.
    pub disk: Option<std::sync::Arc<crate::store::disk::RunDisk>>,
}

/// A tenant's share of the host, which all its runs use together.
#[derive(Debug, Clone)]
pub struct TenantShare {
    /// The tenant's name (`""`: the data root's own jobs).
    pub name: std::sync::Arc<str>,
    /// Processes of all the tenant's native runs at once (quota
    /// `max_processes`; the tenant's cgroup `pids.max`).
    pub max_processes: u64,
    /// The tenant's weight against the others' in sharing CPU time (quota
    /// `cpu_share`; 100 an equal share): between wasm guests, and its
    /// native runs' cgroup weight.
    pub cpu_share: u32,
}

impl TenantShare {
    /// Processes a tenant's native runs may have at once when its quota
    /// says nothing.
    pub const DEFAULT_PROCESSES: u64 = 1024;

    /// The share of the data root's own jobs (no quota).
    pub fn unnamed() -> TenantShare {
        TenantShare {
            name: std::sync::Arc::from(""),
            max_processes: TenantShare::DEFAULT_PROCESSES,
            cpu_share: crate::tenant::quota::DEFAULT_CPU_SHARE,
        }
    }
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
    /// What the run used, as far as the executor can tell.
    pub usage: Usage,
    /// Lines for the run's log (`SYS WARN`): limits the job ran into that
    /// did not end it (a full scratch, say).
    pub notes: Vec<String>,
}

impl From<Ending> for Outcome {
    fn from(ending: Ending) -> Outcome {
        Outcome {
            ending,
            fuel_consumed: None,
            usage: Usage::default(),
            notes: Vec::new(),
        }
    }
}

/// What a run used, as far as its executor can measure it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Peak memory in bytes: the guest's largest linear memory (wasm), or
    /// the most memory the run's cgroup was charged at once (native).
    pub peak_memory: Option<u64>,
    /// Time inside the guest's entry point (wasm): the run minus
    /// everything the host does around it.
    pub guest_time: Option<std::time::Duration>,
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
