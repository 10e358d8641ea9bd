//! The cluster's schema: versioned migrations, applied in order at start
//! under an advisory lock (hosts starting together apply each once).

use anyhow::{Context, Result};

/// Serialises migrations across hosts (an arbitrary, fixed key).
const MIGRATION_LOCK: i64 = 0x7761_736d_6a6f_6273; // "wasmjobs"

/// The migrations, oldest first; a migration is never edited once shipped,
/// only followed by another.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(1, "cluster state", V1)];

const V1: &str = r#"
-- Hosts: one row per registration. A host is live while its heartbeat is
-- younger than the lease; its token fences every write it makes.
CREATE TABLE hosts (
    token        bigserial PRIMARY KEY,
    instance     text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    lease_ms     integer NOT NULL,
    stopped      boolean NOT NULL DEFAULT false
);

CREATE FUNCTION wasmjobs_live(t bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM hosts h WHERE h.token = t AND NOT h.stopped
                   AND h.heartbeat_at > now() - make_interval(secs => h.lease_ms / 1000.0))
$$;

-- Tenants and their credentials (tenant.json, the secret only as a hash).
CREATE TABLE tenants (
    name    text PRIMARY KEY,
    record  text NOT NULL,
    version bigint NOT NULL
);

-- Jobs: the installed job folder as a zip (settings.job and disable.job
-- included), so that any host can materialise it.
CREATE TABLE jobs (
    tenant   text NOT NULL,
    job_type text NOT NULL,
    name     text NOT NULL,
    bundle   bytea NOT NULL,
    version  bigint NOT NULL,
    PRIMARY KEY (tenant, job_type, name)
);

CREATE SEQUENCE versions;

-- Runs of triggered jobs. Queued runs wait for a host with room; a host
-- claims one (FOR UPDATE SKIP LOCKED) and owns it under its token.
CREATE TABLE runs (
    pk         bigserial PRIMARY KEY,
    tenant     text NOT NULL,
    name       text NOT NULL,
    run_id     text NOT NULL,
    status     text NOT NULL,
    trigger    text NOT NULL,
    args       text[] NOT NULL DEFAULT '{}',
    job_version bigint,
    tick       timestamptz,
    catch_up_s integer NOT NULL DEFAULT 0,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time   timestamptz,
    exit_code  integer,
    limit_kind text,
    fuel       bigint,
    instance   text,
    token      bigint,
    stop_requested boolean NOT NULL DEFAULT false,
    output_bytes   bigint NOT NULL DEFAULT 0,
    UNIQUE (tenant, name, run_id)
);
-- One run of a job at a time, cluster-wide (409 for a second).
CREATE UNIQUE INDEX runs_one_active ON runs (tenant, name)
    WHERE status IN ('Queued', 'Initializing', 'Running');
CREATE INDEX runs_queued ON runs (pk) WHERE status = 'Queued';
CREATE INDEX runs_by_token ON runs (token) WHERE status IN ('Initializing', 'Running');
CREATE INDEX runs_history ON runs (tenant, name, run_id DESC);

-- Each run's output, in the batches its host appended.
CREATE TABLE run_output (
    run_pk bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    seq    bigserial,
    body   bytea NOT NULL,
    PRIMARY KEY (run_pk, seq)
);

-- Schedule occurrences, each claimed by exactly one host.
CREATE TABLE ticks (
    tenant     text NOT NULL,
    name       text NOT NULL,
    tick       timestamptz NOT NULL,
    token      bigint NOT NULL,
    instance   text NOT NULL,
    outcome    text NOT NULL,
    -- A catch-up run, standing for the occurrences missed before it.
    catch_up   boolean NOT NULL DEFAULT false,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name, tick)
);

-- Named leases (singleton continuous jobs): held while the holder is live.
CREATE TABLE leases (
    name  text PRIMARY KEY,
    token bigint NOT NULL
);

-- Continuous jobs' status, per instance (WebJobs' detailed_status).
CREATE TABLE continuous (
    tenant   text NOT NULL,
    name     text NOT NULL,
    instance text NOT NULL,
    token    bigint NOT NULL,
    status   text NOT NULL,
    updated  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name, instance)
);
"#;

/// Applies the migrations not applied yet.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let have: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if have > newest {
        anyhow::bail!(
            "the database's schema is version {have}, newer than this build knows ({newest}): upgrade this host"
        );
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("schema migration {version} ({name})"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_increase() {
        let v: Vec<i32> = super::MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]) && v[0] == 1, "{v:?}");
    }
}
