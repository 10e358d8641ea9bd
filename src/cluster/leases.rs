//! Leases and continuous jobs' statuses in the database: a singleton
//! continuous job runs on the host whose token holds its lease row, while
//! that token is live; every instance's status of a continuous job is a row
//! (fenced like every write), read back for the job's JSON.

use anyhow::Result;

use super::Cluster;

impl Cluster {
    /// Takes (or keeps) the lease `name`; `true` when this host holds it.
    pub async fn lease(&self, name: &str) -> Result<bool> {
        let c = self.client().await?;
        let me = self.token();
        let row = c
            .query_opt(
                "INSERT INTO leases (name, token) SELECT $1, $2 WHERE wasmjobs_live($2)
                 ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token
                 WHERE leases.token = EXCLUDED.token OR NOT wasmjobs_live(leases.token)
                 RETURNING token",
                &[&name, &me],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Gives the lease `name` up, if this host holds it.
    pub async fn release(&self, name: &str) {
        if let Ok(c) = self.client().await {
            let _ = c
                .execute(
                    "DELETE FROM leases WHERE name = $1 AND token = $2",
                    &[&name, &self.token()],
                )
                .await;
        }
    }

    /// Records a continuous job's status on this instance.
    pub async fn set_continuous(&self, tenant: &str, name: &str, status: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO continuous (tenant, name, instance, token, status)
             SELECT $1, $2, $3, $4, $5 WHERE wasmjobs_live($4)
             ON CONFLICT (tenant, name, instance) DO UPDATE
             SET token = EXCLUDED.token, status = EXCLUDED.status, updated = now()",
            &[&tenant, &name, &self.instance, &self.token(), &status],
        )
        .await?;
        Ok(())
    }

    /// A continuous job's status on every instance that ran it, `(instance,
    /// status)`; a dead instance's reads `Aborted` once a survivor saw it.
    /// Running instances come last, so that the job's one status (WebJobs
    /// shows the last instance's that is not InactiveInstance) is Running
    /// while any instance runs it.
    pub async fn continuous_statuses(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<(String, String)>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT instance, status FROM continuous WHERE tenant = $1 AND name = $2
                 ORDER BY status = 'Running', instance",
                &[&tenant, &name],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Forgets a removed continuous job's statuses.
    pub async fn forget_continuous(&self, tenant: &str, name: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM continuous WHERE tenant = $1 AND name = $2",
            &[&tenant, &name],
        )
        .await?;
        Ok(())
    }
}

/// The lease name of a singleton continuous job.
pub fn singleton_lease(tenant: &str, name: &str) -> String {
    format!("singleton/{tenant}/{name}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_singletons_lease_is_named_by_tenant_and_job() {
        assert_eq!(
            super::singleton_lease("acme", "solo"),
            "singleton/acme/solo"
        );
    }
}
