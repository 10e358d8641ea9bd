//! The trigger of queued runs: a thin loop over the runner that claims the
//! oldest runs queued in the run book, up to 8 at a time (in a shared
//! book, any host's `POST .../run`, or a schedule's run whose host died
//! before starting it), whenever this host has room, and starts each like
//! any other run. A book whose runs start where they are asked for queues
//! none: the loop then only waits.

use std::sync::Arc;
use std::time::Duration;

use crate::job::JobType;
use crate::runner::background::Runs;
use crate::runner::book::QueuedRun;
use crate::runner::{RunRequest, Runner};
use crate::runtime::stop::StopSignal;
use crate::tenant::Tenants;
use crate::tenant::quota::Quotas;

/// How often the queue is looked at when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(200);
/// Most runs claimed at once.
const BATCH: u32 = 8;

/// Claims and starts queued runs until `quit` fires.
pub async fn run(runner: Runner, quotas: Arc<Quotas>, runs: Arc<Runs>, quit: StopSignal) {
    let tenants = Tenants::new(runner.host().layout.root());
    let book = runner.book().clone();
    loop {
        tokio::select! {
            _ = book.queued() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = quit.stopped() => return,
        }
        // Take runs while this host has room, a batch at a time, each
        // started on its own task; one given back ends the round (another
        // host may have room for it).
        while runner.has_room() && !quit.is_stopped() {
            let claimed = match book.claim_queued(BATCH).await {
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
                    let runner = runner.clone();
                    let (tenants, quotas, runs) = (tenants.clone(), quotas.clone(), runs.clone());
                    tokio::spawn(async move { start(&runner, &tenants, &quotas, &runs, c).await })
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
    runner: &Runner,
    tenants: &Tenants,
    quotas: &Quotas,
    runs: &Arc<Runs>,
    c: QueuedRun,
) -> bool {
    let executors = runner.host().executors;
    let layout = tenants.layout(&c.tenant);
    let mut job = crate::bundle::read_job(&layout, executors, JobType::Triggered, &c.name);
    if job.is_none() || c.stale {
        // Uploaded through another host a moment ago: materialise it now.
        runner.book().sync_jobs().await;
        job = crate::bundle::read_job(&layout, executors, JobType::Triggered, &c.name);
    }
    let runner = runner.for_tenant(&c.tenant, layout, &quotas.of(&c.tenant));
    let Some(job) = job else {
        c.claim
            .fail(&c.trigger, "The job is not deployed on this host")
            .await;
        return true;
    };
    let mut req = RunRequest::new(job, c.trigger.clone());
    req.args = c.args.clone();
    req.claim = Some(c.claim.clone());
    // (Back in the queue when a deploy holds the job here, or the host
    // filled up meanwhile.)
    !matches!(runs.start_claimed(&runner, req).await, Err((_, true)))
}
