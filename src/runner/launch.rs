//! One execution of a job, shared by triggered runs (with their run record)
//! and continuous starts (with the job's rolling log): the log preamble, the
//! private working copy and tmp, the environment, the executor, draining the
//! output, and the log lines that say how it ended.

use std::sync::Arc;

use anyhow::Context;

use super::{Runner, env};
use crate::job::{Job, JobType};
use crate::net::policy::{Policy, Request};
use crate::runtime::capture::{self, OutputLog};
use crate::runtime::executor::Dirs;
use crate::runtime::limits::{LimitKind, Limits};
use crate::runtime::stop::StopSignal;
use crate::runtime::watch::Shutdown;
use crate::runtime::{Ending, ExecutorKind, Invocation, NetAccess, Outcome};
use crate::store::disk::{self, RunDisk, RunSpec};
use crate::store::fsutil;
use crate::store::logline::Level;
use crate::store::run::RunStatus;

/// How long the output may take to drain once the job's processes are gone.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything one execution needs.
pub(super) struct Launch<'a> {
    pub runner: &'a Runner,
    pub job: &'a Job,
    pub executor: ExecutorKind,
    /// What the run's log must say about the executor's pick.
    pub note: Option<&'a str>,
    /// Names the working copy (and is `WEBJOBS_RUN_ID` for triggered runs).
    pub run_id: &'a str,
    pub args: &'a [String],
    pub limits: Limits,
    pub log: &'a Arc<OutputLog>,
    pub stop: &'a StopSignal,
}

/// How a continuous start ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuousEnd {
    /// `Success` (exit 0), `Failed` or `Stopped`.
    pub status: RunStatus,
    /// How it ended.
    pub ending: Ending,
}

/// A run's connections through the host, as its log and the host's
/// metrics tell them.
struct NetLog {
    log: Arc<OutputLog>,
    metrics: Arc<crate::metrics::Metrics>,
    tenant: String,
}

impl crate::net::forward::Observer for NetLog {
    fn line(&self, level: Level, line: &str) {
        self.log.sys(level, line);
    }

    fn connection(&self, allowed: bool) {
        let outcome = if allowed { "allowed" } else { "refused" };
        self.metrics.connection(&self.tenant, outcome);
    }

    fn closed(&self, out: u64, back: u64) {
        self.metrics.network_bytes(&self.tenant, out, back);
    }
}

impl Launch<'_> {
    fn run_command(&self) -> String {
        self.job.run_command.clone().unwrap_or_default()
    }

    /// The `Run script` line, the note on the executor's pick, what the
    /// run's network is, and what the executor says of itself (the native
    /// sandbox's layers and lowered limits). Returns the network the run
    /// gets, decided here once ([`Launch::run`] takes it).
    pub fn preamble(&self) -> NetAccess {
        let log = self.log;
        if let Some(err) = &self.job.error {
            log.sys(Level::Warn, err);
        }
        log.sys(
            Level::Info,
            &format!(
                "Run script '{}' with script host - '{}'",
                self.run_command(),
                self.runner.executor(self.executor).host_name()
            ),
        );
        if let Some(note) = self.note {
            log.sys(Level::Warn, note);
        }
        let policy = self
            .runner
            .host()
            .network_policy(self.job.settings.network());
        let (net, why) = self.network(&policy);
        if policy.request != Request::Off {
            log.sys(Level::Info, &policy.summary());
            match (&net, why) {
                (_, Some(why)) => {
                    log.sys(Level::Warn, &format!("Network: this run gets none: {why}"));
                }
                (NetAccess::Proxied { .. }, None) if self.executor.is_wasm() => log.sys(
                    Level::Info,
                    "Network: the guest's sockets are the host's; every connection is held to the policy above",
                ),
                (NetAccess::Proxied { .. }, None) => log.sys(
                    Level::Info,
                    &format!(
                        "Network: through the host only ({} in the job's environment); every connection is held to the policy above",
                        crate::net::forward::proxy_url()
                    ),
                ),
                _ => {}
            }
        }
        for (level, line) in self.runner.executor(self.executor).describe(&self.limits) {
            log.sys(level, &line);
        }
        net
    }

    /// The network the run gets (with the reason it gets none, when it
    /// asked for some): `true` gives a native job the sandbox's sockets;
    /// allow patterns give a native job only the host's proxy in its
    /// network namespace, which holds every connection to its policy. A
    /// WebAssembly guest's sockets are always the host's, held to its
    /// policy (`true`: any public address the host allows).
    fn network(&self, policy: &Policy) -> (NetAccess, Option<String>) {
        if policy.request == Request::Off {
            return (NetAccess::None, None);
        }
        if !policy.any() {
            let why = "the host's or the tenant's bound allows no network";
            return (NetAccess::None, Some(why.into()));
        }
        match &policy.request {
            Request::Host if !self.executor.is_wasm() => (NetAccess::Sockets, None),
            _ if !self.executor.is_wasm() && !self.runner.host().sandbox.net_namespace => (
                NetAccess::None,
                Some("allow patterns need each run's own network namespace (this host runs with --no-net-namespace)".into()),
            ),
            _ => (
                NetAccess::Proxied {
                    policy: std::sync::Arc::new(policy.clone()),
                    say: std::sync::Arc::new(NetLog {
                        log: self.log.clone(),
                        metrics: self.runner.metrics().clone(),
                        tenant: self.runner.tenant().to_string(),
                    }),
                    budget: std::sync::Arc::new(crate::net::forward::Budget::new(
                        self.limits.net_connections,
                        self.limits.net_out_mb.saturating_mul(1 << 20),
                        self.limits.net_in_mb.saturating_mul(1 << 20),
                        std::time::Duration::from_secs(self.limits.net_connect_timeout_s),
                    )),
                    trust: self.runner.host().trust.clone(),
                    resolver: self.runner.host().resolver(),
                },
                None,
            ),
        }
    }

    /// Runs it to its end; never fails (a failure to start is a `Crashed`
    /// ending).
    pub async fn run(&self, network: NetAccess) -> Outcome {
        let mut outcome = match self.launch(network.clone()).await {
            Ok(o) => o,
            Err(e) => {
                Ending::Crashed(crate::runtime::confine::start_failure(&format!("{e:#}"))).into()
            }
        };
        // The kept tail of a capped output is copied from disk: not on a
        // thread that answers requests.
        if self.log.is_capped() {
            let log = self.log.clone();
            let _ = tokio::task::spawn_blocking(move || log.finish()).await;
        }
        // A job that exits on its own after a stop request (it saw its
        // shutdown file) was stopped.
        if self.stop.is_stopped() && matches!(outcome.ending, Ending::Exited(_)) {
            outcome.ending = Ending::Stopped;
        }
        // A run whose network budget ran out was ended by it, whichever
        // executor ran it, even when the job, seeing its connections end,
        // exited (or crashed) before the executor's watch saw the budget.
        if matches!(outcome.ending, Ending::Exited(_) | Ending::Crashed(_))
            && let Some(limit) = network.tripped()
        {
            outcome.ending = limit;
        }
        outcome
    }

    /// Logs how it ended; returns the run status and the limit that ended it.
    pub fn report(&self, outcome: &Outcome) -> (RunStatus, Option<LimitKind>) {
        let log = self.log;
        for note in &outcome.notes {
            log.sys(Level::Warn, note);
        }
        let r = match &outcome.ending {
            Ending::Exited(0) => (RunStatus::Success, None),
            Ending::Exited(n) => {
                log.sys(Level::Err, &format!("Job failed due to exit code {n}"));
                (RunStatus::Failed, None)
            }
            Ending::Limit(k, _) => {
                log.sys(Level::Err, &k.message(&self.limits, &self.run_command()));
                (RunStatus::Failed, Some(*k))
            }
            Ending::Stopped => {
                log.sys(Level::Info, "WebJob was stopped on request");
                (RunStatus::Stopped, None)
            }
            Ending::Crashed(m) => {
                log.sys(Level::Err, m);
                (RunStatus::Failed, None)
            }
        };
        if let Some(f) = outcome.fuel_consumed {
            log.sys(Level::Info, &format!("Fuel consumed: {f}"));
        }
        r
    }

    /// Opens the run's disk account: its scratch starts with the working
    /// copy (`scratch`, counted as it was made), and its job's data folder
    /// is measured unless a run of the job is counting it now (walked off
    /// the async threads, at most `data_files + 1` entries).
    async fn open_disk(
        &self,
        scratch: disk::Usage,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<RunDisk> {
        let ledger = self.runner.disk.clone();
        let in_use = ledger.data_in_use(data_dir);
        let data = data_dir.to_path_buf();
        let l = self.limits;
        let tenant = self.runner.tenant.to_string();
        let allow = self.runner.host.tenant_disk;
        // A tenant with a disk quota has its every data folder counted
        // before its first run on this host.
        let seed = (allow != disk::Allowance::default() && !ledger.is_seeded(&tenant)).then(|| {
            [JobType::Triggered, JobType::Continuous]
                .map(|t| self.runner.host.layout.data_dir(t, ""))
        });
        let seeding = ledger.clone();
        let data = tokio::task::spawn_blocking(move || {
            if let Some(roots) = seed {
                let mut folders = Vec::new();
                let mut budget = allow.files.unwrap_or(u64::MAX).saturating_add(1);
                for root in roots {
                    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
                        let f = e.path().join(crate::store::layout::JOB_DATA);
                        let used = disk::measure(&f, budget);
                        budget = budget.saturating_sub(used.files);
                        folders.push((f, used));
                    }
                }
                seeding.seed(&tenant, folders);
            }
            (!in_use).then(|| disk::measure(&data, l.data_files.saturating_add(1)))
        })
        .await
        .context("measuring the run's folders")?;
        let log = self.log.clone();
        Ok(ledger.open(RunSpec {
            tenant: &self.runner.tenant,
            tenant_allow: self.runner.host.tenant_disk,
            data_dir,
            allow: self.limits.disk_allowance(),
            scratch,
            data,
            on_refusal: Box::new(move |m| log.sys(Level::Warn, m)),
        }))
    }

    /// Makes the working copy and private tmp, runs the executor, waits for
    /// the output to drain and cleans up.
    async fn launch(&self, network: NetAccess) -> anyhow::Result<Outcome> {
        let host = &self.runner.host;
        let layout = &host.layout;
        let job = self.job;
        let work_root = layout.work_root(job.job_type, &job.name);
        let work_dir = work_root.join(self.run_id);
        let tmp_dir = work_root.join(format!("{}.tmp", self.run_id));
        let data_dir = layout.job_data_dir(job.job_type, &job.name);
        let _cleanup = fsutil::RemoveOnDrop(vec![work_dir.clone(), tmp_dir.clone()]);
        let copied = fsutil::copy_tree(&job.dir, &work_dir).with_context(|| {
            format!(
                "Missing working directory: cannot copy the job to {}",
                work_dir.display()
            )
        })?;
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("creating {}", tmp_dir.display()))?;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let executor = self.runner.executor(self.executor);
        if executor.writes_as_host() {
            // The job writes in its data folder as the host: a later native
            // run gives the folder to its own uid again.
            self.runner.native.forget_owner(&data_dir);
        }
        let disk = Some(Arc::new(self.open_disk(copied, &data_dir).await?));

        let run_command = self.run_command();
        let (script_subdir, script) = match run_command.rsplit_once('/') {
            Some((dir, file)) => (dir.to_string(), file.to_string()),
            None => (String::new(), run_command.clone()),
        };
        let host_dirs = Dirs {
            work: work_dir.clone(),
            data: data_dir.clone(),
            tmp: tmp_dir.clone(),
        };
        let seen = executor.view(&host_dirs);
        let shutdown = Shutdown {
            file: tmp_dir.join(env::SHUTDOWN_FILE_NAME),
            wait: std::time::Duration::from_secs(
                job.settings
                    .stopping_wait_time(job.job_type.stopping_wait_s()),
            ),
        };
        let pipes = capture::pipes(self.log).context("creating the output pipes")?;
        let inv = Invocation {
            script,
            script_subdir,
            args: self.args.to_vec(),
            env: env::job_env(host, job, self.run_id, self.args, &seen),
            work_dir,
            data_dir,
            tmp_dir,
            limits: self.limits,
            activity: self.log.activity(),
            stdout: pipes.stdout,
            stderr: pipes.stderr,
            stop: self.stop.clone(),
            shutdown: Some(shutdown),
            network,
            run_name: format!("{}-{}", job.name, self.run_id),
            tenant: self.runner.share().clone(),
            disk,
        };
        let outcome = executor.run(inv).await;
        // The executor has killed the job's tree; a process that escaped it
        // (only possible with the sandbox off) cannot hold the run open.
        let drain = pipes.drain;
        let drained = tokio::task::spawn_blocking(move || drain.wait());
        if tokio::time::timeout(DRAIN_GRACE, drained).await.is_err() {
            self.log.sys(
                Level::Warn,
                "A process the job left behind still holds its output; what it writes now is not part of this run",
            );
        }
        Ok(outcome)
    }
}

impl Runner {
    /// Runs one start of a continuous job to its end, its output going to
    /// `log` (the job's rolling `job_log.txt`). No wall-clock or idle limit
    /// applies unless the job's `limits` sets one; `stop` ends it with the
    /// graceful-stop contract.
    pub async fn run_continuous(
        &self,
        job: &Job,
        start_id: &str,
        log: &Arc<OutputLog>,
        stop: &StopSignal,
    ) -> ContinuousEnd {
        debug_assert_eq!(job.job_type, JobType::Continuous);
        let chosen = match job
            .script
            .ok_or_else(|| crate::bundle::entry::NO_RUNNABLE_SCRIPT.to_string())
            .and_then(|kind| self.executor_for(kind, job).map_err(|e| e.to_string()))
        {
            Ok(e) => e,
            Err(why) => {
                log.sys(Level::Err, &why);
                return ContinuousEnd {
                    status: RunStatus::Failed,
                    ending: Ending::Crashed(why),
                };
            }
        };
        // Bounded per tenant, and their wasm guests may not take the slots
        // kept for triggered runs: refused, the job is retried as a start
        // that failed at once.
        let held = self
            .slots
            .continuous(&self.tenant, self.tenant_continuous)
            .and_then(|place| {
                if chosen.kind.is_wasm() {
                    self.wasm_slot(true).map(|slot| (place, Some(slot)))
                } else {
                    Ok((place, None))
                }
            });
        let _held = match held {
            Ok(h) => h,
            Err(why) => {
                log.sys(Level::Err, &why);
                return ContinuousEnd {
                    status: RunStatus::Failed,
                    ending: Ending::Crashed(why),
                };
            }
        };
        let asked = job.settings.limits();
        let (mut limits, notes) =
            self.host
                .limits
                .with_overrides(asked, &self.host.ceiling, &self.host.ceiling_owner);
        for n in notes {
            log.sys(Level::Warn, &n);
        }
        limits.keep_running_unless(&asked);
        let launch = Launch {
            runner: self,
            job,
            executor: chosen.kind,
            note: chosen.note.as_deref(),
            run_id: start_id,
            args: &[],
            limits,
            log,
            stop,
        };
        let network = launch.preamble();
        let outcome = launch.run(network).await;
        let (status, _) = launch.report(&outcome);
        ContinuousEnd {
            status,
            ending: outcome.ending,
        }
    }
}
