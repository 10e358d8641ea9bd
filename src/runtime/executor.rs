//! What the runner asks of an executor for one kind of script, whichever
//! it is: its script host's name, what the run's log says about it before
//! the run, how the job sees the run's folders, and the run itself. The
//! wasm guests ([`super::wasm::WasmExecutor`]) and the native sandbox
//! ([`super::native::NativeExecutor`]) implement it; the runner's launch
//! code speaks only to this trait.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use super::limits::Limits;
use super::{Invocation, Outcome};
use crate::store::logline::Level;

/// A run's folders: on the host, or as the job sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// The working copy.
    pub work: PathBuf,
    /// The persistent data folder.
    pub data: PathBuf,
    /// The private temporary folder.
    pub tmp: PathBuf,
}

/// A run's future, as an executor returns it.
pub type Running<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// An executor for one kind of script (a guest, or a native interpreter).
pub trait Executor: Send + Sync {
    /// The script host name in the log's `Run script '...' with script
    /// host - '...'` line.
    fn host_name(&self) -> &'static str;

    /// Lines for the run's log before it starts, for a run with `limits`
    /// (the sandbox's layers, a limit the host lowered).
    fn describe(&self, limits: &Limits) -> Vec<(Level, String)>;

    /// How the job sees the run's host folders (`WEBJOBS_PATH`,
    /// `WEBJOBS_DATA_PATH`, its `/tmp`).
    fn view(&self, host: &Dirs) -> Dirs;

    /// Whether the job writes in its data folder as the host itself (so a
    /// later native run must give the folder to its own uid again).
    fn writes_as_host(&self) -> bool;

    /// Runs one invocation to its end; never fails (a run that cannot
    /// start is a `Crashed` ending).
    fn run(&self, inv: Invocation) -> Running<'_>;
}
