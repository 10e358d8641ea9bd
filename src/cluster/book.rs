//! The cluster's run book: the [`RunBook`] of many hosts on one
//! PostgreSQL. A run asked for through any host is queued, and the first
//! host with room claims it; each schedule occurrence is claimed by one
//! host; a run's status and output are mirrored to the database as it goes
//! ([`super::mirror`]); singleton continuous jobs hold a lease instead of a
//! lock file; the clock that counts is the database's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::leases::singleton_lease;
use super::mirror::Mirror;
use super::runs::{Refusal, RunRecord, TickClaim};
use super::{Cluster, LEASE};
use crate::bundle::ExtractLimits;
use crate::config::HostConfig;
use crate::job::{Job, JobType};
use crate::runner::book::{
    Claim, JobFacts, JobPlace, Lease, Occurrence, QueuedRun, Recorder, Recording, RunBook,
    RunOutput, TickStart,
};
use crate::runner::{RunError, RunRequest, Runner};
use crate::runtime::ExecutorChoice;
use crate::store::layout::SCHEDULER_LOG;
use crate::store::logline::Level;
use crate::store::run::RunInfo;

/// The context of a failed read or write of the runs' records.
const DATABASE: &str = "the cluster's database";
/// How often a host without a singleton's lease tries again.
const SINGLETON_RETRY: Duration = Duration::from_secs(1);

/// The run book of a host that is a member of a cluster.
pub struct ClusterBook {
    cluster: Arc<Cluster>,
    /// This host's data root, and how it installs jobs (what a sync needs).
    root: PathBuf,
    executors: ExecutorChoice,
    extract: ExtractLimits,
}

impl ClusterBook {
    /// The book of `cluster` for the host `host` (its data root is the
    /// cluster's working copy).
    pub fn new(cluster: Arc<Cluster>, host: &HostConfig) -> ClusterBook {
        ClusterBook {
            cluster,
            root: host.layout.root().to_path_buf(),
            executors: host.executors,
            extract: host.extract,
        }
    }

    fn claim(&self, rec: RunRecord) -> Arc<dyn Claim> {
        Arc::new(Claimed {
            cluster: self.cluster.clone(),
            rec,
        })
    }
}

#[async_trait]
impl RunBook for ClusterBook {
    fn now(&self) -> jiff::Timestamp {
        self.cluster.now()
    }

    async fn submit(&self, runner: &Runner, req: RunRequest) -> Result<Result<String, RunError>> {
        // Queued, and the first host with room takes it (this one is woken
        // at once).
        if let Err(e) = runner.check(&req.job) {
            return Ok(Err(e));
        }
        let queued = self
            .cluster
            .enqueue(
                runner.tenant(),
                &req.job.name,
                &req.trigger,
                &req.args,
                runner.tenant_max_runs(),
            )
            .await
            .context(DATABASE)?;
        Ok(match queued {
            Ok(id) => {
                self.cluster.wake_dispatcher();
                Ok(id)
            }
            Err(refused) => Err(refused.into()),
        })
    }

    async fn history(&self, job: &JobPlace) -> Result<Option<Vec<RunInfo>>> {
        let runs = self.cluster.history(&job.tenant, &job.name).await;
        Ok(Some(runs.context(DATABASE)?))
    }

    async fn run(&self, job: &JobPlace, id: &str) -> Result<Option<RunInfo>> {
        let run = self.cluster.run(&job.tenant, &job.name, id).await;
        Ok(run.context(DATABASE)?.map(|(_, r)| r))
    }

    async fn output(&self, job: &JobPlace, id: &str) -> Result<Option<Box<dyn RunOutput>>> {
        let run = self.cluster.run(&job.tenant, &job.name, id).await;
        Ok(run.context(DATABASE)?.map(|(pk, _)| {
            Box::new(RecordedOutput {
                cluster: self.cluster.clone(),
                tenant: job.tenant.clone(),
                name: job.name.clone(),
                id: id.to_string(),
                pk,
            }) as Box<dyn RunOutput>
        }))
    }

    async fn request_stop(&self, job: &JobPlace, id: &str) -> Result<bool> {
        // The run's host sees the request within a moment.
        let run = self.cluster.run(&job.tenant, &job.name, id).await;
        match run.context(DATABASE)? {
            Some((pk, _)) => self.cluster.request_stop(pk).await.context(DATABASE),
            None => Ok(false),
        }
    }

    async fn queued(&self) {
        self.cluster.run_queued().await
    }

    async fn claim_queued(&self, max: u32) -> Result<Vec<QueuedRun>> {
        let claimed = self.cluster.claim_queued(max).await?;
        Ok(claimed
            .into_iter()
            .map(|c| QueuedRun {
                stale: c.job_version.is_some_and(|v| {
                    !self
                        .cluster
                        .has_job_version(&c.tenant, JobType::Triggered, &c.name, v)
                }),
                claim: self.claim(c.record),
                tenant: c.tenant,
                name: c.name,
                trigger: c.trigger,
                args: c.args,
            })
            .collect())
    }

    async fn schedule_base(&self, job: &JobPlace) -> Result<Option<DateTime<Utc>>> {
        // Any host's latest occurrence or start.
        self.cluster
            .schedule_base(&job.tenant, &job.name)
            .await
            .context("Cannot read the cluster's latest run")
    }

    async fn claim_tick(
        &self,
        runner: &Runner,
        job: &Job,
        trigger: &str,
        at: Occurrence,
    ) -> TickStart {
        if !runner.has_room() {
            // Another host with room claims it (if none has, it is missed).
            return TickStart::Skip(Some((
                Level::Warn,
                "This host has as many runs in progress as it allows: this schedule is left to the other hosts".into(),
            )));
        }
        let (tenant, max) = (runner.tenant(), runner.tenant_max_runs());
        let claimed = match at.tick {
            Some(tick) => {
                let Some(tick) = DateTime::from_timestamp_micros(tick.as_microsecond()) else {
                    return TickStart::Skip(None);
                };
                let catch_up = at.catch_up.as_secs().min(i32::MAX as u64) as i32;
                self.cluster
                    .claim_tick(tenant, &job.name, tick, at.late, trigger, catch_up, max)
                    .await
                    .map(|c| match c {
                        TickClaim::Run(rec) => Ok(Some(rec)),
                        TickClaim::Taken => Ok(None),
                        TickClaim::NoRun(r) => Err(r),
                    })
            }
            None => self
                .cluster
                .start_owned(tenant, &job.name, trigger, max)
                .await
                .map(|r| r.map(Some)),
        };
        match claimed {
            Ok(Ok(Some(rec))) => TickStart::Start(Some(self.claim(rec))),
            Ok(Ok(None)) => TickStart::Skip(None),
            Ok(Err(Refusal::AlreadyRunning)) => TickStart::Running,
            Ok(Err(Refusal::Busy(why))) => {
                TickStart::Skip(Some((Level::Warn, format!("Skipped this schedule: {why}"))))
            }
            Err(e) => TickStart::Skip(Some((
                Level::Err,
                format!("WebJob could not be invoked: {DATABASE}: {e:#}"),
            ))),
        }
    }

    async fn job_current(&self, tenant: &str, t: JobType, name: &str) -> bool {
        // A job another host took a moment ago is materialised here first.
        let Ok(Some(version)) = self.cluster.job_version(tenant, t, name).await else {
            return false;
        };
        if !self.cluster.has_job_version(tenant, t, name, version) {
            self.sync_jobs().await;
        }
        true
    }

    async fn sync_jobs(&self) {
        let _ = self
            .cluster
            .sync_local(&self.root, self.executors, self.extract)
            .await;
    }

    async fn job_facts(&self, job: &JobPlace) -> JobFacts {
        // The latest run and the instances' statuses are the cluster's.
        let (tenant, name) = (&job.tenant, &job.name);
        JobFacts {
            latest_run: match job.job_type {
                JobType::Triggered => self.cluster.latest_run(tenant, name).await.ok().flatten(),
                JobType::Continuous => None,
            },
            scheduler_log: job.data_dir.join(SCHEDULER_LOG).exists(),
            statuses: match job.job_type {
                JobType::Continuous => self
                    .cluster
                    .continuous_statuses(tenant, name)
                    .await
                    .unwrap_or_default(),
                JobType::Triggered => Vec::new(),
            },
        }
    }

    async fn running_elsewhere(&self, job: &JobPlace) -> Result<bool> {
        match job.job_type {
            JobType::Triggered => self.cluster.is_running(&job.tenant, &job.name).await,
            JobType::Continuous => Ok(false),
        }
    }

    fn changing(&self, tenant: &str, t: JobType, name: &str) -> Box<dyn Send + '_> {
        // The sync keeps off this job until it is published.
        Box::new(self.cluster.changing(tenant, t, name))
    }

    async fn publish(&self, tenant: &str, job: &Job) -> Result<()> {
        // A job that cannot be published is taken back to the cluster's
        // version at the next sync.
        let (t, name) = (job.job_type, &job.name);
        let published = self.cluster.publish_job(tenant, t, name, &job.dir).await;
        published.map_err(|e| {
            self.cluster.unsync_job(tenant, t, name);
            e.context("the cluster's database did not take the job")
        })
    }

    async fn forget_job(&self, tenant: &str, t: JobType, name: &str) -> Result<()> {
        self.cluster.delete_job(tenant, t, name).await
    }

    async fn record_continuous(&self, job: &JobPlace, status: &str) -> Result<()> {
        self.cluster
            .set_continuous(&job.tenant, &job.name, status)
            .await
            .context("recording its status in the cluster")
    }

    async fn singleton(
        &self,
        job: &JobPlace,
        _instance: &str,
    ) -> std::io::Result<Option<Box<dyn Lease>>> {
        let name = singleton_lease(&job.tenant, &job.name);
        match self.cluster.lease(&name).await {
            Ok(true) => Ok(Some(Box::new(LeaseRow {
                cluster: self.cluster.clone(),
                name,
            }))),
            Ok(false) => Ok(None),
            Err(e) => Err(std::io::Error::other(format!("{e:#}"))),
        }
    }

    fn singleton_retry(&self) -> Duration {
        SINGLETON_RETRY
    }

    async fn rejoined(&self) {
        self.cluster.rejoined().await
    }
}

/// A run this host claimed in the database.
struct Claimed {
    cluster: Arc<Cluster>,
    rec: RunRecord,
}

#[async_trait]
impl Claim for Claimed {
    fn run_id(&self) -> &str {
        &self.rec.run_id
    }

    fn record(self: Arc<Self>, run: Recording) -> Box<dyn Recorder> {
        Box::new(Mirror::start(self.cluster.clone(), self.rec.clone(), run))
    }

    async fn give_back(&self) {
        if let Err(e) = self.cluster.requeue(&self.rec).await {
            tracing::warn!("giving run {} back: {e:#}", self.rec.run_id);
        }
    }

    async fn fail(&self, trigger: &str, why: &str) {
        self.cluster.fail_run(&self.rec, trigger, why).await
    }
}

/// A run's output as the database holds it (wherever its host ran it).
struct RecordedOutput {
    cluster: Arc<Cluster>,
    tenant: String,
    name: String,
    id: String,
    pk: i64,
}

#[async_trait]
impl RunOutput for RecordedOutput {
    fn file(&self) -> Option<&std::path::Path> {
        None
    }

    async fn size(&self) -> std::io::Result<u64> {
        self.cluster
            .output_len(self.pk)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
    }

    async fn read(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let bytes = self
            .cluster
            .output(self.pk, offset, max)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    async fn ended(&self) -> bool {
        match self.cluster.run(&self.tenant, &self.name, &self.id).await {
            Ok(r) => r.is_none_or(|(_, r)| r.status.status.is_final()),
            Err(_) => false,
        }
    }
}

/// A singleton's lease row, given back when dropped (unless disowned).
struct LeaseRow {
    cluster: Arc<Cluster>,
    /// Empty once disowned.
    name: String,
}

#[async_trait]
impl Lease for LeaseRow {
    async fn still_held(&self) -> bool {
        self.cluster.lease(&self.name).await.unwrap_or(false)
    }

    async fn lost(&self) {
        // Lost when another host holds it, or when it could not be
        // confirmed for a whole lease (this host may have been cut off,
        // and another may hold it by now).
        let mut confirmed = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match self.cluster.lease(&self.name).await {
                Ok(true) => confirmed = Instant::now(),
                Ok(false) => return,
                Err(_) if confirmed.elapsed() >= LEASE => return,
                Err(_) => {}
            }
        }
    }

    fn disown(mut self: Box<Self>) {
        // (A release now could delete the row another host, or this one
        // again, has just taken.)
        self.name.clear();
    }
}

impl Drop for LeaseRow {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let (cluster, name) = (self.cluster.clone(), std::mem::take(&mut self.name));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { cluster.release(&name).await });
        }
    }
}
