//! In a cluster, the trigger of queued runs: a thin loop over the runner
//! that claims the oldest queued runs, up to 8 at a time (any host's
//! `POST .../run`, or a schedule's run whose host died before starting it),
//! whenever this host has room, and starts each like any other run.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::cluster::runs::Claimed;
use crate::job::JobType;
use crate::runner::background::Runs;
use crate::runner::{RunRequest, Runner};
use crate::runtime::stop::StopSignal;
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

/// How often the queue is looked at when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(200);
/// Most runs claimed at once.
const BATCH: u32 = 8;

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
        // Take runs while this host has room, a batch at a time, each
        // started on its own task; one given back ends the round (another
        // host may have room for it).
        while runner.has_room() && !quit.is_stopped() {
            let claimed = match cluster.claim_queued(BATCH).await {
                Ok(c) if c.is_empty() => break,
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("claiming queued runs: {e:#}");
                    break;
                }
            };
            let full = claimed.len() == BATCH as usize;
            let starts: Vec<_> = claimed
                .into_iter()
                .map(|c| {
                    let (cluster, runner) = (cluster.clone(), runner.clone());
                    let (tenants, quotas, runs) = (tenants.clone(), quotas.clone(), runs.clone());
                    tokio::spawn(async move {
                        start(&cluster, &runner, &tenants, &quotas, &runs, c).await
                    })
                })
                .collect();
            let mut all_started = true;
            for s in starts {
                all_started &= s.await.unwrap_or(false);
            }
            if !all_started || !full {
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
    runs: &Arc<Runs>,
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
    // (Back in the queue when a deploy holds the job here, or the host
    // filled up meanwhile.)
    !matches!(runs.start_claimed(&runner, req).await, Err((_, true)))
}
