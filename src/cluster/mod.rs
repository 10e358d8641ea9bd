//! Many hosts, one PostgreSQL. With `serve --database`, every host keeps
//! its own data root as a working cache (materialised jobs, working
//! copies, compiled guests, local logs) while the database holds what the
//! cluster shares: tenants, jobs and their bundles, run records and output,
//! schedule occurrences, leases. The protocol, explained in docs/cluster.md:
//!
//! - **Liveness and fencing.** Each host registers a row and gets a token
//!   (a sequence number, never reused). It renews its heartbeat every
//!   fifth of the lease; it is live while the heartbeat is younger than
//!   the lease, by the database's clock. Every write a host makes about
//!   its runs, claims, leases and statuses is conditioned on its token
//!   being live, so a host that was paused past its lease writes none of
//!   them once it resumes; it notices at its next heartbeat and registers
//!   again under a new token.
//! - **Runs** are rows; one partial unique index keeps one active run per
//!   job cluster-wide (the 409). A run belongs to the token that claimed
//!   it; survivors turn the runs of a dead token to `Aborted` (or, if it
//!   had not started them yet, back to `Queued`).
//! - **Ticks** are claimed by inserting `(job, occurrence)`, once.
//! - **Leases** (singleton continuous jobs) are rows naming a token, held
//!   while that token is live.

pub mod book;
pub mod leases;
pub mod mirror;
pub mod runs;
pub mod schema;
pub mod sync;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::store::logline::{self, Level};

/// How long a host stays live without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(5);
/// How many heartbeats fit in a lease.
const BEATS_PER_LEASE: u32 = 5;
/// Most database connections a host keeps (the heartbeat has its own).
const POOL_SIZE: usize = 16;
/// Longest a query waits for a connection, or a connection to be made.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Longest one statement (or one transaction) may take.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A host's membership of the cluster: its connections, its token and its
/// estimate of the database's clock.
pub struct Cluster {
    pool: Pool,
    instance: String,
    token: AtomicI64,
    lease: Duration,
    /// The database's clock minus this host's, in microseconds.
    offset_us: AtomicI64,
    /// What this host has materialised of the shared tenants and jobs.
    synced: std::sync::Mutex<sync::Synced>,
    /// Wakes this host's dispatcher (a run was queued through it).
    queued: tokio::sync::Notify,
    /// The runs this host is running (their rows' keys): a row of this
    /// host's that is active in the database but not here is swept.
    in_flight: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// The heartbeat's own connections, so that a busy pool cannot starve
    /// it into a lost lease.
    beat_pool: Pool,
    /// Bumped each time the host registers again after being fenced.
    generation: tokio::sync::watch::Sender<u64>,
    /// When the last heartbeat went through.
    last_beat: std::sync::Mutex<std::time::Instant>,
    /// A skew added to this host's clock (`WASMJOBS_TEST_CLOCK_SKEW_MS`,
    /// for the tests that check that skew is corrected), in microseconds.
    skew_us: i64,
}

/// The database URL from `--database` or `WASMJOBS_DATABASE_URL`, checked.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!("--database must be a postgres:// URL, not '{url}'");
    }
    url.parse::<tokio_postgres::Config>()
        .with_context(|| format!("--database '{url}' is not a valid PostgreSQL URL"))
}

impl Cluster {
    /// Connects, applies the schema's migrations and registers this host.
    pub async fn join(url: &str, instance: &str) -> Result<Arc<Cluster>> {
        let cluster = Self::connect(url, instance).await?;
        cluster.register().await?;
        // The clock offset before anything is scheduled.
        cluster.beat().await?;
        Ok(Arc::new(cluster))
    }

    /// Connects and applies the schema's migrations, without joining as a
    /// host (what `wasmjobs tenant` does).
    pub async fn connect(url: &str, instance: &str) -> Result<Cluster> {
        let mut pg = parse_url(url)?;
        // A peer that vanished is noticed in seconds, not at TCP's pace.
        pg.keepalives_idle(Duration::from_secs(5))
            .tcp_user_timeout(Duration::from_secs(10));
        let pool = |size: usize| {
            let mgr = Manager::from_config(
                pg.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(mgr)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(POOL_WAIT))
                .create_timeout(Some(POOL_WAIT))
                .build()
                .context("database pool")
        };
        let (pool, beat_pool) = (pool(POOL_SIZE)?, pool(1)?);
        let cluster = Cluster {
            pool,
            instance: instance.to_string(),
            token: AtomicI64::new(0),
            lease: LEASE,
            offset_us: AtomicI64::new(0),
            synced: Default::default(),
            queued: tokio::sync::Notify::new(),
            in_flight: Default::default(),
            beat_pool,
            generation: tokio::sync::watch::channel(0).0,
            last_beat: std::sync::Mutex::new(std::time::Instant::now()),
            skew_us: std::env::var("WASMJOBS_TEST_CLOCK_SKEW_MS")
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                .saturating_mul(1000),
        };
        {
            let mut c = cluster
                .pool
                .get()
                .await
                .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
            schema::migrate(&mut c).await?;
        }
        Ok(cluster)
    }

    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<Conn> {
        self.pool
            .get()
            .await
            .map(Conn)
            .map_err(|e| anyhow::anyhow!("database: {e}"))
    }

    /// Wakes this host's dispatcher: a run was just queued.
    pub fn wake_dispatcher(&self) {
        self.queued.notify_one();
    }

    /// Resolves when a run is queued through this host.
    pub async fn run_queued(&self) {
        self.queued.notified().await
    }

    async fn beat_client(&self) -> Result<Conn> {
        self.beat_pool
            .get()
            .await
            .map(Conn)
            .map_err(|e| anyhow::anyhow!("database: {e}"))
    }

    /// Whether a whole lease has passed since this host's last heartbeat
    /// went through: other hosts may be taking its runs and leases.
    pub fn lapsed(&self) -> bool {
        self.last_beat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= self.lease
    }

    /// Notes a run of this host's as going (`true`) or gone.
    pub fn in_flight(&self, pk: i64, going: bool) {
        let mut set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if going {
            set.insert(pk);
        } else {
            set.remove(&pk);
        }
    }

    /// Resolves when this host registers again after being fenced.
    pub async fn rejoined(&self) {
        let mut rx = self.generation.subscribe();
        let _ = rx.changed().await;
    }

    /// This host's current token (it changes when the host is fenced and
    /// registers again).
    pub fn token(&self) -> i64 {
        self.token.load(Ordering::SeqCst)
    }

    /// The lease's length in milliseconds (as the database stores it).
    fn lease_ms(&self) -> i32 {
        self.lease.as_millis() as i32
    }

    /// Now by the database's clock (this host's clock corrected by the
    /// offset measured at each heartbeat): what schedules are computed in,
    /// so hosts whose clocks disagree still agree on when a tick is due.
    pub fn now(&self) -> jiff::Timestamp {
        let off = self.offset_us.load(Ordering::Relaxed) + self.skew_us;
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_micros(off))
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// This host's own clock (with the test's skew, if any).
    fn local_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::microseconds(self.skew_us)
    }

    /// [`Cluster::now`] as a chrono time.
    pub fn now_utc(&self) -> DateTime<Utc> {
        let t = self.now();
        DateTime::from_timestamp_micros(t.as_microsecond()).unwrap_or_else(Utc::now)
    }

    async fn register(&self) -> Result<()> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO hosts (instance, lease_ms) VALUES ($1, $2) RETURNING token",
                &[&self.instance, &self.lease_ms()],
            )
            .await
            .context("registering the host")?;
        self.token.store(row.get(0), Ordering::SeqCst);
        Ok(())
    }

    /// Renews the heartbeat; `false` when this host's lease had expired
    /// (it was fenced: its runs and leases are no longer its own).
    async fn beat(&self) -> Result<bool> {
        let c = self.beat_client().await?;
        let sent = std::time::Instant::now();
        let local = self.local_now();
        let row = c
            .query_opt(
                "UPDATE hosts SET heartbeat_at = now() WHERE token = $1 AND wasmjobs_live($1)
                 RETURNING clock_timestamp()",
                &[&self.token()],
            )
            .await?;
        let Some(row) = row else { return Ok(false) };
        *self.last_beat.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        // The database read its clock about halfway through the round trip.
        let db: DateTime<Utc> = row.get(0);
        let mid = local + chrono::Duration::from_std(sent.elapsed() / 2).unwrap_or_default();
        let off = (db - mid).num_microseconds().unwrap_or(0);
        self.offset_us.store(off, Ordering::Relaxed);
        Ok(true)
    }

    /// Turns the runs of dead hosts into what they are: a run that never
    /// started goes back to the queue (a schedule's only within its
    /// catch-up window), one that was running reads `Aborted`, with a
    /// line saying why in its output.
    async fn reap(&self) -> Result<()> {
        let c = self.client().await?;
        let me = self.token();
        // (A run someone asked to stop is not started again: it is Stopped.)
        c.execute(
            "UPDATE runs SET instance = NULL, token = NULL,
                 status = CASE WHEN stop_requested THEN 'Stopped' ELSE 'Queued' END,
                 start_time = CASE WHEN stop_requested THEN start_time END,
                 end_time = CASE WHEN stop_requested THEN now() END
             WHERE status = 'Initializing' AND token IS NOT NULL AND wasmjobs_live($1)
               AND NOT wasmjobs_live(token)
               AND (tick IS NULL OR tick > now() - make_interval(secs => catch_up_s))",
            &[&me],
        )
        .await?;
        let line = logline::format(
            Utc::now(),
            &self.instance,
            true,
            Level::Err,
            "Status changed to Aborted: the host running this run stopped answering (its lease expired)",
        );
        c.execute(
            "WITH a AS (
                UPDATE runs SET status = 'Aborted', end_time = now()
                WHERE status IN ('Initializing', 'Running') AND token IS NOT NULL
                  AND wasmjobs_live($1) AND NOT wasmjobs_live(token)
                RETURNING pk)
             INSERT INTO run_output (run_pk, body) SELECT pk, $2 FROM a",
            &[&me, &line.as_bytes()],
        )
        .await?;
        // This host's own rows that nothing here runs any more (a claim
        // whose start failed, an end that could not be written): after a
        // grace longer than any claim takes to start, they read Aborted.
        let going: Vec<i64> = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        let line = logline::format(
            Utc::now(),
            &self.instance,
            true,
            Level::Err,
            "Status changed to Aborted: its host lost track of this run (its start or its end could not be recorded)",
        );
        c.execute(
            "WITH a AS (
                UPDATE runs SET status = 'Aborted', end_time = now()
                WHERE token = $1 AND status IN ('Initializing', 'Running')
                  AND start_time < now() - interval '30 seconds' AND NOT (pk = ANY($2))
                RETURNING pk)
             INSERT INTO run_output (run_pk, body) SELECT pk, $3 FROM a",
            &[&me, &going, &line.as_bytes()],
        )
        .await?;
        // A dead host's continuous jobs: one that ran reads Aborted.
        c.execute(
            "UPDATE continuous SET updated = now(),
                 status = CASE WHEN status = 'InactiveInstance' THEN 'Stopped' ELSE 'Aborted' END
             WHERE status NOT IN ('Stopped', 'Aborted') AND wasmjobs_live($1)
               AND NOT wasmjobs_live(token)",
            &[&me],
        )
        .await?;
        c.execute(
            "DELETE FROM continuous WHERE updated < now() - interval '1 hour'
               AND NOT wasmjobs_live(token)",
            &[],
        )
        .await?;
        // Claimed occurrences are kept an hour (each job's latest always:
        // the next one counts from it).
        c.execute(
            "DELETE FROM ticks t WHERE tick < now() - interval '1 hour'
               AND EXISTS (SELECT 1 FROM ticks u
                           WHERE u.tenant = t.tenant AND u.name = t.name AND u.tick > t.tick)",
            &[],
        )
        .await?;
        c.execute(
            "DELETE FROM hosts WHERE heartbeat_at < now() - interval '1 day'",
            &[],
        )
        .await?;
        Ok(())
    }

    /// Heartbeats and reaps until `quit` fires; a fenced host registers
    /// again under a new token (what it ran under the old one is already
    /// being stopped: every write of the old token fails).
    pub async fn keep_alive(self: Arc<Self>, quit: crate::runtime::stop::StopSignal) {
        let period = self.lease / BEATS_PER_LEASE;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        // Reaping has its own task and connections: it cannot delay a beat.
        let reaper = {
            let (me, quit) = (self.clone(), quit.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = quit.stopped() => return,
                    }
                    if !me.lapsed()
                        && let Err(e) = me.reap().await
                    {
                        tracing::warn!("reaping dead hosts' runs: {e:#}");
                    }
                }
            })
        };
        let _reaper = AbortOnDrop(reaper);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = quit.stopped() => return,
            }
            match self.beat().await {
                Ok(true) => failing = false,
                Ok(false) => {
                    eprintln!(
                        "wasmjobs serve: instance {}: this host's lease expired (token {}); its runs and leases have passed to other hosts; joining again",
                        self.instance,
                        self.token()
                    );
                    match self.register().await {
                        Ok(()) => {
                            self.generation.send_modify(|g| *g += 1);
                        }
                        Err(e) => eprintln!("wasmjobs serve: cannot register again: {e:#}"),
                    }
                    continue;
                }
                Err(e) => {
                    if !failing {
                        eprintln!("wasmjobs serve: heartbeat failed: {e:#}");
                    }
                    failing = true;
                    continue;
                }
            }
        }
    }

    /// Leaves the cluster (a graceful stop): its leases pass on at once.
    pub async fn leave(&self) {
        let Ok(c) = self.client().await else { return };
        let me = self.token();
        let _ = c
            .execute("DELETE FROM leases WHERE token = $1", &[&me])
            .await;
        let _ = c
            .execute(
                "UPDATE continuous SET status = 'Stopped', updated = now() WHERE token = $1",
                &[&me],
            )
            .await;
        let _ = c
            .execute("UPDATE hosts SET stopped = true WHERE token = $1", &[&me])
            .await;
    }
}

type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// A pooled connection whose statements go through its cache: each is
/// parsed and planned once per connection, not at every call (what
/// PostgreSQL spent most of its time on under load).
pub(crate) struct Conn(Object);

/// Bounds a database call: a connection that silently stopped answering
/// is an error, not a wait without end.
pub(crate) async fn bounded<T, E: Into<anyhow::Error>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(QUERY_TIMEOUT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => anyhow::bail!("the database did not answer within {QUERY_TIMEOUT:?}"),
    }
}

impl Conn {
    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        bounded(self.0.prepare_cached(sql)).await
    }

    pub(crate) async fn query(&self, sql: &str, p: Params<'_>) -> Result<Vec<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        bounded(self.0.query(&st, p)).await
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        p: Params<'_>,
    ) -> Result<Option<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        bounded(self.0.query_opt(&st, p)).await
    }

    pub(crate) async fn query_one(&self, sql: &str, p: Params<'_>) -> Result<tokio_postgres::Row> {
        let st = self.statement(sql).await?;
        bounded(self.0.query_one(&st, p)).await
    }

    pub(crate) async fn execute(&self, sql: &str, p: Params<'_>) -> Result<u64> {
        let st = self.statement(sql).await?;
        bounded(self.0.execute(&st, p)).await
    }

    pub(crate) async fn transaction(&mut self) -> Result<deadpool_postgres::Transaction<'_>> {
        bounded(self.0.transaction()).await
    }

    /// The connection itself (for statements run once).
    pub(crate) fn raw(&self) -> &tokio_postgres::Client {
        &self.0
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_are_checked() {
        assert!(super::parse_url("postgres://u@127.0.0.1:5432/db").is_ok());
        let e = super::parse_url("mysql://u@h/db").unwrap_err().to_string();
        assert!(e.contains("postgres://"), "{e}");
        assert!(super::parse_url("postgres://u@h:notaport/db").is_err());
    }
}
