//! `wasmjobs serve`: the host process. It keeps one task per job that needs
//! one — the schedule trigger of a scheduled triggered job, the supervisor
//! of a continuous job — over the one runner; watches the deployed jobs
//! (inotify, debounced) and restarts a job's task when its folder changes
//! (a redeploy, `settings.job`, `disable.job`); and on shutdown stops every
//! task in parallel, each letting its running job exit gracefully.

pub mod continuous;
pub mod dispatch;
pub mod scheduled;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use tokio::task::JoinHandle;

use crate::bundle;
use crate::job::{Job, JobType};
use crate::runner::Runner;
use crate::runner::background::Runs;
use crate::runtime::stop::StopSignal;
use crate::schedule::{Cron, zone};
use crate::store::logline::Level;
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

type Key = (JobType, String);

/// A job's running task.
struct Task {
    quit: StopSignal,
    handle: JoinHandle<()>,
    /// Turns true when the task has ended.
    ended: tokio::sync::watch::Receiver<bool>,
}

/// The tasks of a serving host.
pub struct Host {
    runner: Runner,
    host_tz: TimeZone,
    tasks: HashMap<Key, Task>,
    /// Tasks of changed or removed jobs, still stopping.
    retiring: Vec<Task>,
    /// Runs started by schedule triggers (they outlive a reschedule).
    runs: Arc<Runs>,
}

impl Host {
    /// A host over `runner`, registering the runs it starts in `runs`;
    /// fails on an invalid `WEBSITE_TIME_ZONE`.
    pub fn new(runner: Runner, runs: Arc<Runs>) -> Result<Host> {
        let host_tz = match &runner.host().time_zone {
            Some(name) => {
                zone::parse_zone(name).map_err(|e| anyhow::anyhow!("WEBSITE_TIME_ZONE: {e}"))?
            }
            None => TimeZone::UTC,
        };
        Ok(Host {
            runner,
            host_tz,
            tasks: HashMap::new(),
            retiring: Vec::new(),
            runs,
        })
    }

    /// How many jobs have a task (scheduled or continuous).
    pub fn active(&self) -> usize {
        self.tasks.len()
    }

    /// Starts the task of every deployed job that needs one.
    pub fn start_all(&mut self) {
        let host = self.runner.host().clone();
        for job in bundle::list_jobs(&host.layout, host.executors) {
            let key = (job.job_type, job.name.clone());
            self.start(key, job, None);
        }
    }

    /// Restarts a job's task from its folder as it is now (or ends it, if
    /// the job is gone), without waiting: the new task starts once the old
    /// one has ended (a continuous job's process stops gracefully first; a
    /// scheduled job's running run is left alone, as WebJobs does).
    pub fn resync(&mut self, key: Key) {
        self.retiring.retain(|t| !t.handle.is_finished());
        let after = self.tasks.remove(&key).map(|t| {
            t.quit.stop();
            let ended = t.ended.clone();
            self.retiring.push(t);
            ended
        });
        let host = self.runner.host().clone();
        if let Some(job) = bundle::read_job(&host.layout, host.executors, key.0, &key.1) {
            self.start(key, job, after);
        }
    }

    fn start(&mut self, key: Key, job: Job, after: Option<tokio::sync::watch::Receiver<bool>>) {
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        let after = async move {
            if let Some(mut old) = after {
                let _ = old.wait_for(|e| *e).await;
            }
        };
        let quit = StopSignal::default();
        let runner = self.runner.clone();
        let handle = match job.job_type {
            JobType::Continuous => {
                let quit = quit.clone();
                tokio::spawn(async move {
                    after.await;
                    continuous::run(runner, job, quit).await;
                    let _ = ended_tx.send(true);
                })
            }
            JobType::Triggered => {
                let Some(expr) = job.settings.schedule().map(str::to_string) else {
                    return;
                };
                let log = match scheduler_log(&runner, &job) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("job '{}': cannot open its scheduler log: {e}", job.name);
                        return;
                    }
                };
                // A schedule that cannot be used is logged where WebJobs
                // logs it, and the job stays manual-only.
                let cron = match expr.parse::<Cron>() {
                    Ok(c) => c,
                    Err(e) => {
                        log.sys(Level::Err, &e.to_string());
                        return;
                    }
                };
                let tz = match job.settings.time_zone() {
                    Some(name) => match zone::parse_zone(name) {
                        Ok(tz) => tz,
                        Err(e) => {
                            log.sys(Level::Err, &format!("settings.job 'time_zone': {e}"));
                            return;
                        }
                    },
                    None => self.host_tz.clone(),
                };
                let (quit, runs) = (quit.clone(), self.runs.clone());
                tokio::spawn(async move {
                    after.await;
                    scheduled::run(runner, job, cron, tz, log, quit, runs).await;
                    let _ = ended_tx.send(true);
                })
            }
        };
        self.tasks.insert(
            key,
            Task {
                quit,
                handle,
                ended,
            },
        );
    }

    /// Stops every task at once (each job gets its graceful stop) and
    /// waits for all; when `kill` resolves meanwhile, the jobs still
    /// stopping are ended at once.
    pub async fn stop_all(&mut self, kill: impl Future<Output = ()>) {
        let mut tasks: Vec<Task> = self.tasks.drain().map(|(_, t)| t).collect();
        tasks.append(&mut self.retiring);
        let runs = self.runs.clone();
        // This host's runs only (a removed tenant's host stops alone).
        let tenant = self.runner.tenant().to_string();
        let quits: Vec<StopSignal> = tasks.iter().map(|t| t.quit.clone()).collect();
        for q in &quits {
            q.stop();
        }
        // Scheduled runs are stopped alongside the tasks (a kill reaches
        // both through the same signal).
        let (kill_tx, kill_rx) = tokio::sync::watch::channel(false);
        let runs_stopping = {
            let mut rx = kill_rx.clone();
            async move {
                runs.stop_tenant(&tenant, async move {
                    let _ = rx.wait_for(|k| *k).await;
                })
                .await
            }
        };
        let waiting = async {
            for t in tasks {
                let _ = t.handle.await;
            }
        };
        let all = async { tokio::join!(waiting, runs_stopping) };
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => {}
            _ = kill => {
                eprintln!("wasmjobs serve: killing every job");
                for q in &quits {
                    q.kill();
                }
                let _ = kill_tx.send(true);
                all.await;
            }
        }
    }
}

fn scheduler_log(
    runner: &Runner,
    job: &Job,
) -> std::io::Result<std::sync::Arc<crate::runtime::capture::OutputLog>> {
    let host = runner.host();
    let dir = host.layout.data_dir(job.job_type, &job.name);
    std::fs::create_dir_all(&dir)?;
    crate::runtime::capture::OutputLog::open_rolling(
        &dir.join(crate::store::layout::SCHEDULER_LOG),
        &dir.join(crate::store::layout::SCHEDULER_PREV_LOG),
        continuous::ROLL_BYTES,
        &host.instance,
        u64::MAX,
    )
}

/// The job a path under a jobs root belongs to.
fn job_of(jobs_root: &Path, path: &Path) -> Option<Key> {
    let rel = path.strip_prefix(jobs_root).ok()?;
    let mut parts = rel.components();
    let t = parts
        .next()?
        .as_os_str()
        .to_str()?
        .parse::<JobType>()
        .ok()?;
    let name = parts.next()?.as_os_str().to_str()?.to_string();
    bundle::name::validate(&name).ok()?;
    Some((t, name))
}

/// How often the tenants folder is checked for tenants added or removed.
const TENANT_SCAN: std::time::Duration = std::time::Duration::from_secs(3);
/// Longest a burst of changes is collected before it is acted on, however
/// busy the folders are.
const MAX_DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Every tenant's host (and the data root's own, tenant `""`), the watch
/// on their jobs folders, and how a changed path finds its host.
struct Hosts {
    runner: Runner,
    tenants: Tenants,
    quotas: Arc<Quotas>,
    runs: Arc<Runs>,
    watcher: notify::RecommendedWatcher,
    hosts: HashMap<String, Host>,
    /// Tenants whose host could not start (reported once).
    failed: BTreeSet<String>,
    /// Hosts of removed tenants, still stopping.
    removed: Vec<JoinHandle<()>>,
}

impl Hosts {
    /// A host per existing tenant and one for the data root's own jobs,
    /// each with its task per job started and its jobs folder watched.
    fn start(
        runner: Runner,
        quotas: Arc<Quotas>,
        runs: Arc<Runs>,
        watcher: notify::RecommendedWatcher,
    ) -> Result<Hosts> {
        let tenants = Tenants::new(runner.host().layout.root());
        let mut hosts = Hosts {
            runner,
            tenants,
            quotas,
            runs,
            watcher,
            hosts: HashMap::new(),
            failed: BTreeSet::new(),
            removed: Vec::new(),
        };
        hosts.add("")?;
        hosts.discover();
        Ok(hosts)
    }

    /// Starts serving a tenant (`""`: the data root's own jobs).
    fn add(&mut self, tenant: &str) -> Result<()> {
        use notify::Watcher;
        let runner = if tenant.is_empty() {
            self.runner.clone()
        } else {
            let quota = self.quotas.of(tenant);
            self.runner
                .for_tenant(tenant, self.tenants.layout(tenant), &quota)
        };
        // The type folders exist before any job arrives, so the watch
        // covers them (a folder made and filled at once could be missed).
        let layout = runner.host().layout.clone();
        for t in JobType::ALL {
            std::fs::create_dir_all(layout.jobs_dir(t))
                .with_context(|| format!("creating {}", layout.jobs_dir(t).display()))?;
        }
        // Only the jobs folder: what runs write (data, temp) is not watched.
        self.watcher
            .watch(&layout.jobs_root(), notify::RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", layout.jobs_root().display()))?;
        let mut host = Host::new(runner, self.runs.clone())?;
        host.start_all();
        self.hosts.insert(tenant.to_string(), host);
        Ok(())
    }

    /// Starts hosts for tenants added since, stops those of tenants
    /// removed since.
    fn discover(&mut self) {
        use notify::Watcher;
        let now: BTreeSet<String> = self.tenants.list().into_iter().map(|t| t.name).collect();
        for t in &now {
            if !self.hosts.contains_key(t) && !self.failed.contains(t) {
                match self.add(t) {
                    Ok(()) => tracing::info!("tenant {t}: serving its jobs"),
                    Err(e) => {
                        eprintln!("wasmjobs serve: tenant '{t}' cannot be served: {e:#}");
                        self.failed.insert(t.clone());
                    }
                }
            }
        }
        self.failed.retain(|t| now.contains(t));
        let gone: Vec<String> = self
            .hosts
            .keys()
            .filter(|t| !t.is_empty() && !now.contains(*t))
            .cloned()
            .collect();
        for t in gone {
            if let Some(mut host) = self.hosts.remove(&t) {
                tracing::info!("tenant {t} removed: stopping its jobs");
                let _ = self.watcher.unwatch(&self.tenants.layout(&t).jobs_root());
                self.removed.retain(|h| !h.is_finished());
                self.removed.push(tokio::spawn(async move {
                    host.stop_all(std::future::pending()).await;
                }));
            }
        }
    }

    /// The tenant and job a changed path belongs to.
    fn job_of(&self, path: &Path) -> Option<(String, Key)> {
        if let Some(key) = job_of(&self.runner.host().layout.jobs_root(), path) {
            return Some((String::new(), key));
        }
        let rel = path.strip_prefix(self.tenants.root()).ok()?;
        let tenant = rel.components().next()?.as_os_str().to_str()?.to_string();
        if !self.hosts.contains_key(&tenant) {
            return None;
        }
        let key = job_of(&self.tenants.layout(&tenant).jobs_root(), path)?;
        Some((tenant, key))
    }

    fn resync(&mut self, tenant: &str, key: Key) {
        if let Some(h) = self.hosts.get_mut(tenant) {
            h.resync(key);
        }
    }

    fn active(&self) -> usize {
        self.hosts.values().map(Host::active).sum()
    }

    async fn stop_all(&mut self, kill: impl Future<Output = ()>) {
        let (kill_tx, kill_rx) = tokio::sync::watch::channel(false);
        let stopping = self.hosts.values_mut().map(|h| {
            let mut rx = kill_rx.clone();
            h.stop_all(async move {
                let _ = rx.wait_for(|k| *k).await;
            })
        });
        let removed = std::mem::take(&mut self.removed);
        let all = async {
            futures_util::future::join_all(stopping).await;
            futures_util::future::join_all(removed).await;
        };
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => {}
            _ = kill => {
                let _ = kill_tx.send(true);
                all.await;
            }
        }
    }
}

/// Serves the data root's own jobs and every tenant's (tenants added or
/// removed while serving are picked up) until `shutdown` resolves (the
/// first SIGTERM or SIGINT), then stops every job gracefully; `kill`
/// resolving meanwhile (a second signal) ends them at once. Runs started
/// by schedules are registered in `runs` (shared with the API, so a
/// scheduled run can be stopped through it).
pub async fn serve(
    runner: Runner,
    quotas: Arc<Quotas>,
    runs: Arc<Runs>,
    shutdown: impl Future<Output = ()>,
    kill: impl Future<Output = ()>,
) -> Result<()> {
    let host = runner.host().clone();
    let tenants_dir = Tenants::new(host.layout.root()).root().to_path_buf();
    crate::store::fsutil::ensure_private_dir(&tenants_dir)
        .with_context(|| format!("creating {}", tenants_dir.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::path::PathBuf>();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Reads (every run copies its job) are not changes.
        if let Ok(ev) = ev
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            for p in ev.paths {
                let _ = tx.send(p);
            }
        }
    })
    .context("watching the jobs folders")?;
    let mut served = Hosts::start(runner, quotas, runs, watcher)?;
    eprintln!(
        "wasmjobs serve: {} ({} tenants; {} jobs with a schedule or kept running); Ctrl-C or SIGTERM stops",
        host.layout.root().display(),
        served.hosts.len() - 1,
        served.active()
    );
    let mut scan = tokio::time::interval(TENANT_SCAN);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = scan.tick() => served.discover(),
            first = rx.recv() => {
                let Some(first) = first else { break };
                // Debounce: collect until the folders have been quiet for a
                // while (or for at most MAX_DEBOUNCE).
                let mut changed: BTreeSet<(String, Key)> =
                    served.job_of(&first).into_iter().collect();
                let cap = tokio::time::sleep(MAX_DEBOUNCE);
                tokio::pin!(cap);
                let mut quitting = false;
                loop {
                    tokio::select! {
                        more = rx.recv() => match more {
                            Some(p) => changed.extend(served.job_of(&p)),
                            None => break,
                        },
                        _ = tokio::time::sleep(host.change_debounce) => break,
                        _ = &mut cap => break,
                        _ = &mut shutdown => { quitting = true; break }
                    }
                }
                if quitting {
                    break;
                }
                for (tenant, key) in changed {
                    tracing::info!("job {} {} of tenant '{tenant}' changed", key.0, key.1);
                    served.resync(&tenant, key);
                }
            }
        }
    }
    eprintln!("wasmjobs serve: stopping every job (a second signal kills them now)");
    served.stop_all(kill).await;
    Ok(())
}
