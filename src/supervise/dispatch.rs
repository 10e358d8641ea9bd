//! In a cluster, the trigger of queued runs: a thin loop over the runner
//! that claims the oldest queued run (any host's `POST .../run`, or a
//! schedule's run whose host died before starting it) whenever this host
//! has room, and starts it like any other run.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::cluster::runs::Claimed;
use crate::job::JobType;
use crate::runner::background::Runs;
use crate::runner::{RunError, RunRequest, Runner};
use crate::runtime::stop::StopSignal;
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

/// How often the queue is looked at when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(200);

/// Claims and starts queued runs until `quit` fires.
pub async fn run(
    cluster: Arc<Cluster>,
    runner: Runner,
    quotas: Arc<Quotas>,
    runs: Arc<Runs>,
    quit: StopSignal,
) {
    let tenants = Tenants::new(runner.host().layout.root());
    loop {
        tokio::select! {
            _ = cluster.run_queued() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = quit.stopped() => return,
        }
        // Take runs while this host has room; one given back ends the round
        // (another host may have room for it).
        while runner.has_room() && !quit.is_stopped() {
            let claimed = match cluster.claim_queued().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("claiming a queued run: {e:#}");
                    break;
                }
            };
            if !start(&cluster, &runner, &tenants, &quotas, &runs, claimed).await {
                break;
            }
        }
    }
}

/// Starts a claimed run; `false` when it went back to the queue.
async fn start(
    cluster: &Arc<Cluster>,
    runner: &Runner,
    tenants: &Tenants,
    quotas: &Quotas,
    runs: &Runs,
    c: Claimed,
) -> bool {
    let host = runner.host();
    let executors = host.executors;
    let layout = tenants.layout(&c.tenant);
    let current = c
        .job_version
        .is_none_or(|v| cluster.has_job_version(&c.tenant, JobType::Triggered, &c.name, v));
    let mut job = crate::bundle::read_job(&layout, executors, JobType::Triggered, &c.name);
    if job.is_none() || !current {
        // Uploaded through another host a moment ago: materialise it now.
        let _ = cluster
            .sync_local(host.layout.root(), executors, host.extract)
            .await;
        job = crate::bundle::read_job(&layout, executors, JobType::Triggered, &c.name);
    }
    let runner = runner.for_tenant(&c.tenant, layout, &quotas.of(&c.tenant));
    let Some(job) = job else {
        cluster
            .fail_run(
                &c.record,
                &c.trigger,
                "The job is not deployed on this host",
            )
            .await;
        return true;
    };
    let mut req = RunRequest::new(job, c.trigger.clone());
    req.args = c.args.clone();
    req.record = Some(c.record.clone());
    match runs.start(&runner, req) {
        Ok(_) => true,
        Err(RunError::AlreadyRunning | RunError::Busy(_)) => {
            // A deploy holds the job here, or the host filled up meanwhile.
            if let Err(e) = cluster.requeue(&c.record).await {
                tracing::warn!("giving run {} back: {e:#}", c.record.run_id);
            }
            false
        }
        Err(e) => {
            let why = format!("WebJob could not be invoked: {e}");
            cluster.fail_run(&c.record, &c.trigger, &why).await;
            true
        }
    }
}
