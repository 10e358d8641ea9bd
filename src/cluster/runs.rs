//! Run records in the database: the queue of triggered runs, schedule
//! ticks claimed once, a run's status and output as its host writes them
//! (every write fenced by the host's token), and the history read back.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{Cluster, bounded};
use crate::store::run::{RunInfo, RunStatus, StatusFile, new_run_id};

/// A run this host owns (claimed under `token`).
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The row's key.
    pub pk: i64,
    /// The WebJobs run id (18 digits).
    pub run_id: String,
    /// The token it was claimed under: every write about it is fenced by it.
    pub token: i64,
}

/// A queued run this host has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its record.
    pub record: RunRecord,
    /// Whose job.
    pub tenant: String,
    /// The triggered job's name.
    pub name: String,
    /// `External - <who>` or `Schedule - <cron>`.
    pub trigger: String,
    /// The run's arguments.
    pub args: Vec<String>,
    /// The job's version when the run was queued: the host runs that
    /// version or a later one.
    pub job_version: Option<i64>,
}

/// Why a run was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A run of the job is queued or in progress somewhere (409).
    AlreadyRunning,
    /// The tenant has its most runs in progress, cluster-wide (429).
    Busy(String),
}

impl From<Refusal> for crate::runner::RunError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::AlreadyRunning => Self::AlreadyRunning,
            Refusal::Busy(why) => Self::Busy(why),
        }
    }
}

/// What claiming a schedule's occurrence gave.
#[derive(Debug, Clone)]
pub enum TickClaim {
    /// This host has the occurrence and its run.
    Run(RunRecord),
    /// Another host has the occurrence (or this host is fenced).
    Taken,
    /// This host has the occurrence, but the job is running (the overlap
    /// policy applies) or the tenant is at its quota.
    NoRun(Refusal),
}

/// Inserts a run row (see [`Cluster::insert_run`]).
const INSERT_RUN: &str = "INSERT INTO runs (tenant, name, run_id, status, trigger, args, tick, catch_up_s,
                                   instance, token, start_time, job_version)
                 SELECT $1, $2,
                        greatest($3, (SELECT lpad((coalesce(max(run_id), '0')::numeric + 1)::text, 18, '0')
                                      FROM runs WHERE tenant = $1 AND name = $2)),
                        CASE WHEN $8 THEN 'Initializing' ELSE 'Queued' END, $4, $5, $6, $7,
                        CASE WHEN $8 THEN $9 END, CASE WHEN $8 THEN $10::bigint END,
                        CASE WHEN $8 THEN now() END,
                        (SELECT version FROM jobs WHERE tenant = $1 AND job_type = 'triggered' AND name = $2)
                 WHERE $8 = false OR wasmjobs_live($10)
                 ON CONFLICT (tenant, name) WHERE status IN ('Queued', 'Initializing', 'Running')
                 DO NOTHING
                 RETURNING pk, run_id";

/// Statuses of a run that has not ended.
const ACTIVE: &str = "('Queued', 'Initializing', 'Running')";

impl Cluster {
    /// Checks the tenant's concurrent-runs quota cluster-wide inside `tx`
    /// (serialised per tenant by an advisory lock).
    async fn quota_ok(
        tx: &deadpool_postgres::Transaction<'_>,
        tenant: &str,
        name: &str,
        max: Option<u32>,
    ) -> Result<Result<(), Refusal>> {
        let Some(max) = max else { return Ok(Ok(())) };
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('wasmjobs-tenant:' || $1))",
            &[&tenant],
        )
        .await?;
        let row = tx
            .query_one(
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE name = $2)
                     FROM runs WHERE tenant = $1 AND status IN {ACTIVE}"
                ),
                &[&tenant, &name],
            )
            .await?;
        let (n, this): (i64, i64) = (row.get(0), row.get(1));
        // The job itself running is a 409, as without a quota.
        if this > 0 {
            return Ok(Err(Refusal::AlreadyRunning));
        }
        if n >= i64::from(max) {
            return Ok(Err(Refusal::Busy(format!(
                "tenant '{tenant}' has {n} runs in progress or queued across the cluster, its quota's concurrent_runs; try again later"
            ))));
        }
        Ok(Ok(()))
    }

    /// Inserts a run row: `Queued` with no owner, or `Initializing` owned
    /// by this host. `Err(AlreadyRunning)` when the job has an active run
    /// (the partial unique index decides, also between concurrent
    /// inserts). Its id is now by the cluster's clock, or one more than
    /// the job's latest (ids sort by time and never repeat).
    #[allow(clippy::too_many_arguments)]
    async fn insert_run(
        &self,
        c: &impl tokio_postgres::GenericClient,
        st: &tokio_postgres::Statement,
        tenant: &str,
        name: &str,
        trigger: &str,
        args: &[String],
        tick: Option<DateTime<Utc>>,
        catch_up_s: i32,
        owned: bool,
    ) -> Result<Result<RunRecord, Refusal>> {
        let me = self.token();
        let id = new_run_id(self.now_utc());
        let row = c
            .query_opt(
                st,
                &[
                    &tenant,
                    &name,
                    &id,
                    &trigger,
                    &args,
                    &tick,
                    &catch_up_s,
                    &owned,
                    &self.instance,
                    &me,
                ],
            )
            .await?;
        match row {
            Some(r) => Ok(Ok(RunRecord {
                pk: r.get(0),
                run_id: r.get(1),
                token: me,
            })),
            None if owned && !self.is_live(c).await? => {
                anyhow::bail!("this host's lease has expired")
            }
            None => Ok(Err(Refusal::AlreadyRunning)),
        }
    }

    async fn is_live(&self, c: &impl tokio_postgres::GenericClient) -> Result<bool> {
        let row = c
            .query_one("SELECT wasmjobs_live($1)", &[&self.token()])
            .await?;
        Ok(row.get(0))
    }

    /// Queues a run of a triggered job for any host to take; returns its
    /// run id.
    pub async fn enqueue(
        &self,
        tenant: &str,
        name: &str,
        trigger: &str,
        args: &[String],
        tenant_max: Option<u32>,
    ) -> Result<Result<String, Refusal>> {
        bounded(self.create_run(tenant, name, trigger, args, tenant_max, false))
            .await
            .map(|r| r.map(|rec| rec.run_id))
    }

    /// Creates a run owned by this host at once (a queued schedule run's
    /// turn on this host).
    pub async fn start_owned(
        &self,
        tenant: &str,
        name: &str,
        trigger: &str,
        tenant_max: Option<u32>,
    ) -> Result<Result<RunRecord, Refusal>> {
        let r = bounded(self.create_run(tenant, name, trigger, &[], tenant_max, true)).await?;
        if let Ok(rec) = &r {
            self.in_flight(rec.pk, true);
        }
        Ok(r)
    }

    /// A run row, under the tenant's quota when it has one (a transaction
    /// then; one statement otherwise).
    async fn create_run(
        &self,
        tenant: &str,
        name: &str,
        trigger: &str,
        args: &[String],
        tenant_max: Option<u32>,
        owned: bool,
    ) -> Result<Result<RunRecord, Refusal>> {
        let mut c = self.client().await?;
        if tenant_max.is_none() {
            let st = c.statement(INSERT_RUN).await?;
            return self
                .insert_run(c.raw(), &st, tenant, name, trigger, args, None, 0, owned)
                .await;
        }
        let tx = c.transaction().await?;
        if let Err(r) = Self::quota_ok(&tx, tenant, name, tenant_max).await? {
            return Ok(Err(r));
        }
        let r = self
            .insert_run(
                &*tx,
                &tx.prepare_cached(INSERT_RUN).await?,
                tenant,
                name,
                trigger,
                args,
                None,
                0,
                owned,
            )
            .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Claims up to `max` of the oldest queued runs no other host is
    /// claiming.
    pub async fn claim_queued(&self, max: u32) -> Result<Vec<Claimed>> {
        let c = self.client().await?;
        let me = self.token();
        let rows = c
            .query(
                "UPDATE runs SET status = 'Initializing', instance = $1, token = $2, start_time = now()
                 WHERE pk IN (SELECT pk FROM runs WHERE status = 'Queued'
                              ORDER BY pk LIMIT $3 FOR UPDATE SKIP LOCKED)
                   AND wasmjobs_live($2)
                 RETURNING pk, run_id, tenant, name, trigger, args, job_version",
                &[&self.instance, &me, &i64::from(max)],
            )
            .await?;
        for r in &rows {
            self.in_flight(r.get(0), true);
        }
        Ok(rows
            .iter()
            .map(|r| Claimed {
                record: RunRecord {
                    pk: r.get(0),
                    run_id: r.get(1),
                    token: me,
                },
                tenant: r.get(2),
                name: r.get(3),
                trigger: r.get(4),
                args: r.get(5),
                job_version: r.get(6),
            })
            .collect())
    }

    /// Puts a claimed run back in the queue (this host could not start it).
    pub async fn requeue(&self, rec: &RunRecord) -> Result<()> {
        self.in_flight(rec.pk, false);
        let c = self.client().await?;
        c.execute(
            "UPDATE runs SET status = 'Queued', instance = NULL, token = NULL, start_time = NULL
             WHERE pk = $1 AND token = $2 AND status = 'Initializing'",
            &[&rec.pk, &rec.token],
        )
        .await?;
        Ok(())
    }

    /// Claims one occurrence of a job's schedule: exactly one host gets
    /// each `(job, tick)`, and with it the run, if the job can run.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_tick(
        &self,
        tenant: &str,
        name: &str,
        tick: DateTime<Utc>,
        catch_up: bool,
        trigger: &str,
        catch_up_s: i32,
        tenant_max: Option<u32>,
    ) -> Result<TickClaim> {
        let r = bounded(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let me = self.token();
            let won = tx
                .query_opt(
                    "INSERT INTO ticks (tenant, name, tick, token, instance, outcome, catch_up)
                 SELECT $1, $2, $3, $4, $5, 'claimed', $6 WHERE wasmjobs_live($4)
                 ON CONFLICT DO NOTHING RETURNING 1",
                    &[&tenant, &name, &tick, &me, &self.instance, &catch_up],
                )
                .await?
                .is_some();
            if !won {
                return Ok(TickClaim::Taken);
            }
            let run = match Self::quota_ok(&tx, tenant, name, tenant_max).await? {
                Err(r) => Err(r),
                Ok(()) => {
                    let st = tx.prepare_cached(INSERT_RUN).await?;
                    self.insert_run(
                        &*tx,
                        &st,
                        tenant,
                        name,
                        trigger,
                        &[],
                        Some(tick),
                        catch_up_s,
                        true,
                    )
                    .await?
                }
            };
            let outcome = match &run {
                Ok(_) => "run",
                Err(Refusal::AlreadyRunning) => "overlap",
                Err(Refusal::Busy(_)) => "quota",
            };
            tx.execute(
                "UPDATE ticks SET outcome = $4 WHERE tenant = $1 AND name = $2 AND tick = $3",
                &[&tenant, &name, &tick, &outcome],
            )
            .await?;
            tx.commit().await?;
            anyhow::Ok(match run {
                Ok(rec) => TickClaim::Run(rec),
                Err(r) => TickClaim::NoRun(r),
            })
        })
        .await?;
        if let TickClaim::Run(rec) = &r {
            self.in_flight(rec.pk, true);
        }
        Ok(r)
    }

    /// The latest occurrence of a job's schedule any host dealt with, or
    /// the latest run's start: what the next occurrence counts from.
    pub async fn schedule_base(&self, tenant: &str, name: &str) -> Result<Option<DateTime<Utc>>> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT greatest(
                     (SELECT max(tick) FROM ticks WHERE tenant = $1 AND name = $2),
                     (SELECT max(start_time) FROM runs WHERE tenant = $1 AND name = $2))",
                &[&tenant, &name],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records a run's new status (`Running` or final) with the output
    /// written before it, in one statement (fenced); `false` if the run is
    /// no longer this host's.
    pub async fn set_status(&self, rec: &RunRecord, s: &StatusFile, output: &[u8]) -> Result<bool> {
        let c = self.client().await?;
        let fuel = s.fuel_consumed.map(|f| f.min(i64::MAX as u64) as i64);
        let row = c
            .query_one(
                "WITH r AS (
                     UPDATE runs SET status = $3,
                         end_time = CASE WHEN $3 = 'Running' THEN NULL ELSE coalesce($4, now()) END,
                         exit_code = $5, limit_kind = $6, fuel = $7,
                         output_bytes = output_bytes + length($8::bytea)
                     WHERE pk = $1 AND token = $2 AND status IN ('Initializing', 'Running')
                       AND wasmjobs_live($2)
                     RETURNING pk),
                 o AS (INSERT INTO run_output (run_pk, body)
                       SELECT pk, $8 FROM r WHERE length($8::bytea) > 0)
                 SELECT count(*) FROM r",
                &[
                    &rec.pk,
                    &rec.token,
                    &s.status.as_str(),
                    &s.end_time,
                    &s.exit_code,
                    &s.limit,
                    &fuel,
                    &output,
                ],
            )
            .await?;
        Ok(row.get::<_, i64>(0) == 1)
    }

    /// Appends a batch of output (fenced). `None` when the run is no
    /// longer this host's; else whether a stop was requested.
    pub async fn append_output(&self, rec: &RunRecord, bytes: &[u8]) -> Result<Option<bool>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "WITH r AS (
                     UPDATE runs SET output_bytes = output_bytes + length($3::bytea)
                     WHERE pk = $1 AND token = $2 AND status IN ('Initializing', 'Running')
                       AND wasmjobs_live($2)
                     RETURNING pk, stop_requested),
                 o AS (INSERT INTO run_output (run_pk, body)
                       SELECT pk, $3 FROM r WHERE length($3::bytea) > 0)
                 SELECT stop_requested FROM r",
                &[&rec.pk, &rec.token, &bytes],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Ends a claimed run that could not start as `Failed`, saying why in
    /// its output (fenced like every write).
    pub async fn fail_run(&self, rec: &RunRecord, trigger: &str, why: &str) {
        self.in_flight(rec.pk, false);
        let line = crate::store::logline::format(
            Utc::now(),
            &self.instance,
            true,
            crate::store::logline::Level::Err,
            why,
        );
        let status = StatusFile {
            trigger: Some(trigger.to_string()),
            status: RunStatus::Failed,
            start_time: None,
            end_time: Some(Utc::now()),
            exit_code: None,
            limit: None,
            fuel_consumed: None,
        };
        if let Err(e) = self.set_status(rec, &status, line.as_bytes()).await {
            tracing::warn!("run {}: {e:#}", rec.run_id);
        }
    }

    /// Deletes the oldest ended runs of a job beyond `keep`.
    pub async fn prune(&self, tenant: &str, name: &str, keep: usize) -> Result<()> {
        let c = self.client().await?;
        let keep = keep as i64;
        c.execute(
            &format!(
                "DELETE FROM runs WHERE tenant = $1 AND name = $2 AND status NOT IN {ACTIVE}
                   AND pk NOT IN (SELECT pk FROM runs WHERE tenant = $1 AND name = $2
                                  ORDER BY run_id DESC LIMIT $3)"
            ),
            &[&tenant, &name, &keep],
        )
        .await?;
        Ok(())
    }

    /// A job's runs, newest first.
    pub async fn history(&self, tenant: &str, name: &str) -> Result<Vec<RunInfo>> {
        self.runs_newest_first(tenant, name, i64::MAX).await
    }

    /// A job's latest run.
    pub async fn latest_run(&self, tenant: &str, name: &str) -> Result<Option<RunInfo>> {
        Ok(self.runs_newest_first(tenant, name, 1).await?.pop())
    }

    async fn runs_newest_first(&self, tenant: &str, name: &str, most: i64) -> Result<Vec<RunInfo>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "{RUN_COLUMNS} WHERE tenant = $1 AND name = $2 ORDER BY run_id DESC LIMIT $3"
                ),
                &[&tenant, &name, &most],
            )
            .await
            .context("reading the run history")?;
        Ok(rows.iter().map(run_info).collect())
    }

    /// One run of a job, and its row's key.
    pub async fn run(&self, tenant: &str, name: &str, id: &str) -> Result<Option<(i64, RunInfo)>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("{RUN_COLUMNS} WHERE tenant = $1 AND name = $2 AND run_id = $3"),
                &[&tenant, &name, &id],
            )
            .await?;
        Ok(row.map(|r| (r.get("pk"), run_info(&r))))
    }

    /// At most `max` bytes of a run's output from byte `offset`.
    pub async fn output(&self, pk: i64, offset: u64, max: usize) -> Result<Vec<u8>> {
        let c = self.client().await?;
        let from = offset.min(i32::MAX as u64 - 1) as i32 + 1;
        let max = max.min(i32::MAX as usize) as i32;
        let row = c
            .query_one(
                "SELECT coalesce(substring(string_agg(body, ''::bytea ORDER BY seq) FROM $2 FOR $3),
                                 ''::bytea)
                 FROM run_output WHERE run_pk = $1",
                &[&pk, &from, &max],
            )
            .await?;
        Ok(row.get(0))
    }

    /// How many bytes of a run's output the database holds.
    pub async fn output_len(&self, pk: i64) -> Result<u64> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT coalesce(sum(octet_length(body)), 0)::bigint FROM run_output WHERE run_pk = $1",
                &[&pk],
            )
            .await?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    /// Asks the host running a run to stop it; `false` if it has ended.
    pub async fn request_stop(&self, pk: i64) -> Result<bool> {
        let c = self.client().await?;
        // A queued run has no host: it is simply not started.
        let n = c
            .execute(
                "UPDATE runs SET status = CASE WHEN status = 'Queued' THEN 'Stopped' ELSE status END,
                                 end_time = CASE WHEN status = 'Queued' THEN now() END,
                                 stop_requested = true
                 WHERE pk = $1 AND status IN ('Queued', 'Initializing', 'Running')",
                &[&pk],
            )
            .await?;
        Ok(n == 1)
    }

    /// Whether a job has a run queued or in progress anywhere.
    pub async fn is_running(&self, tenant: &str, name: &str) -> Result<bool> {
        let c = self.client().await?;
        let row = c
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE tenant = $1 AND name = $2 AND status IN {ACTIVE})"
                ),
                &[&tenant, &name],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Forgets a removed job's runs and ticks.
    pub async fn forget_runs(&self, tenant: &str, name: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM runs WHERE tenant = $1 AND name = $2",
            &[&tenant, &name],
        )
        .await?;
        c.execute(
            "DELETE FROM ticks WHERE tenant = $1 AND name = $2",
            &[&tenant, &name],
        )
        .await?;
        Ok(())
    }
}

const RUN_COLUMNS: &str = "SELECT pk, run_id, status, trigger, start_time, end_time, exit_code, \
     limit_kind, fuel, output_bytes, queued_at FROM runs";

fn run_info(r: &tokio_postgres::Row) -> RunInfo {
    let status = match r.get::<_, &str>("status") {
        "Queued" | "Initializing" => RunStatus::Initializing,
        "Running" => RunStatus::Running,
        "Success" => RunStatus::Success,
        "Failed" => RunStatus::Failed,
        "Stopped" => RunStatus::Stopped,
        _ => RunStatus::Aborted,
    };
    let start: Option<DateTime<Utc>> = r.get("start_time");
    let queued: DateTime<Utc> = r.get("queued_at");
    let output: i64 = r.get("output_bytes");
    RunInfo {
        id: r.get("run_id"),
        dir: std::path::PathBuf::new(),
        status: StatusFile {
            trigger: Some(r.get("trigger")),
            status,
            start_time: Some(start.unwrap_or(queued)),
            end_time: r.get("end_time"),
            exit_code: r.get("exit_code"),
            limit: r.get("limit_kind"),
            fuel_consumed: r.get::<_, Option<i64>>("fuel").map(|f| f as u64),
        },
        has_output: output > 0,
    }
}
