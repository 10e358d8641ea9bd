//! Runs started in the background and what is known of them while they
//! go: their stop signals and their ends, so a host can stop them all
//! gracefully when it stops, and stop one by id.

use std::sync::Arc;

use crate::runner::{RunError, RunRequest, Runner};
use crate::runtime::stop::StopSignal;

/// A run started in the background: its id, its stop signal and its end.
#[derive(Clone)]
pub struct RunHandle {
    id: String,
    /// The run's folder: unique across jobs and tenants (ids are not).
    dir: std::path::PathBuf,
    /// Whose run it is (`""`: the data root's own jobs).
    tenant: std::sync::Arc<str>,
    stop: StopSignal,
    done: tokio::sync::watch::Receiver<bool>,
}

impl RunHandle {
    /// The run's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A handle of no run, already ended (a run that could not start).
    pub fn ended_already() -> RunHandle {
        let (_, done) = tokio::sync::watch::channel(true);
        RunHandle {
            id: String::new(),
            dir: std::path::PathBuf::new(),
            tenant: std::sync::Arc::from(""),
            stop: StopSignal::default(),
            done,
        }
    }

    /// Asks the run to stop gracefully.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Whether the run has ended.
    pub fn finished(&self) -> bool {
        *self.done.borrow()
    }

    /// Resolves when the run has ended.
    pub async fn ended(&mut self) {
        let _ = self.done.wait_for(|d| *d).await;
    }
}

/// Runs started in the background (by schedule triggers, by the API), one
/// list shared by every tenant's host. A trigger that is rescheduled leaves
/// its running run alone, as WebJobs does; a tenant's host stops its own
/// runs when it stops ([`Runs::stop_tenant`]).
#[derive(Default)]
pub struct Runs {
    runs: std::sync::Mutex<Vec<RunHandle>>,
    /// The runtime runs go on (else the caller's).
    spawn_on: Option<tokio::runtime::Handle>,
}

impl Runs {
    /// Runs whose tasks go on the runtime of `handle` (the jobs' runtime,
    /// when the caller is the API's).
    pub fn on(handle: tokio::runtime::Handle) -> Runs {
        Runs {
            spawn_on: Some(handle),
            ..Runs::default()
        }
    }

    /// Prepares (on a blocking thread: it touches the file system) and
    /// starts a run in the background, registered here. One detached task
    /// prepares and runs it, so a caller that stops waiting (a request
    /// dropped) cannot leave a run record that never runs.
    pub async fn start(
        self: &Arc<Self>,
        runner: &Runner,
        req: RunRequest,
    ) -> Result<RunHandle, RunError> {
        let stop = req.stop.clone();
        let tenant: Arc<str> = Arc::from(runner.tenant());
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (runs, runner) = (self.clone(), runner.clone());
        let task = async move {
            let prepared = match tokio::task::spawn_blocking(move || runner.prepare(req)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
                Err(e) => {
                    let _ = started_tx.send(Err(RunError::Io(std::io::Error::other(e))));
                    return;
                }
            };
            let (tx, done) = tokio::sync::watch::channel(false);
            let handle = RunHandle {
                id: prepared.run_id().to_string(),
                dir: prepared.run_dir().to_path_buf(),
                tenant,
                stop,
                done,
            };
            runs.add(handle.clone());
            let _ = started_tx.send(Ok(handle));
            prepared.execute().await;
            let _ = tx.send(true);
        };
        match &self.spawn_on {
            Some(h) => drop(h.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
        started.await.unwrap_or_else(|_| {
            Err(RunError::Io(std::io::Error::other(
                "the run's task ended before the run started",
            )))
        })
    }

    /// As [`Runs::start`] for a run the run book gave this host
    /// (`req.claim`): when it cannot start here, its record is settled —
    /// given back when this host merely cannot start it now (the job's
    /// files are being replaced, the host is full), `Failed` with the
    /// reason otherwise. The error comes back with whether the run was
    /// given back. Without a claim, it is [`Runs::start`].
    pub async fn start_claimed(
        self: &Arc<Self>,
        runner: &Runner,
        req: RunRequest,
    ) -> Result<RunHandle, (RunError, bool)> {
        let (claim, trigger) = (req.claim.clone(), req.trigger.clone());
        let error = match self.start(runner, req).await {
            Ok(handle) => return Ok(handle),
            Err(e) => e,
        };
        let Some(claim) = claim else {
            return Err((error, false));
        };
        let give_back = matches!(error, RunError::AlreadyRunning | RunError::Busy(_));
        if give_back {
            claim.give_back().await;
        } else {
            let why = format!("WebJob could not be invoked: {error}");
            claim.fail(&trigger, &why).await;
        }
        Err((error, give_back))
    }

    /// Asks a run started here to stop gracefully (its shutdown file, then
    /// its `stopping_wait_time`); `false` if no such run is going.
    pub fn stop(&self, run_dir: &std::path::Path) -> bool {
        let runs = self.runs.lock().expect("runs lock");
        match runs.iter().find(|r| r.dir == run_dir && !r.finished()) {
            Some(r) => {
                r.stop.stop();
                true
            }
            None => false,
        }
    }

    fn add(&self, run: RunHandle) {
        let mut runs = self.runs.lock().expect("runs lock");
        runs.retain(|r| !r.finished());
        runs.push(run);
    }

    /// Stops every run gracefully and waits for all; when `kill` resolves
    /// meanwhile, the runs still stopping are killed.
    pub async fn stop_all(&self, kill: impl std::future::Future<Output = ()>) {
        self.stop_where(|_| true, kill).await
    }

    /// As [`Runs::stop_all`], for one tenant's runs only (`""`: the data
    /// root's own jobs).
    pub async fn stop_tenant(&self, tenant: &str, kill: impl std::future::Future<Output = ()>) {
        self.stop_where(|r| &*r.tenant == tenant, kill).await
    }

    async fn stop_where(
        &self,
        which: impl Fn(&RunHandle) -> bool,
        kill: impl std::future::Future<Output = ()>,
    ) {
        let runs: Vec<RunHandle> = {
            let mut all = self.runs.lock().expect("runs lock");
            let (mine, others) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|r| which(r));
            *all = others;
            mine
        };
        let stops: Vec<StopSignal> = runs.iter().map(|r| r.stop.clone()).collect();
        for s in &stops {
            s.stop();
        }
        let waiting = async {
            for mut r in runs {
                r.ended().await;
            }
        };
        tokio::pin!(waiting);
        tokio::select! {
            _ = &mut waiting => {}
            _ = kill => {
                for s in &stops {
                    s.kill();
                }
                waiting.await;
            }
        }
    }
}
