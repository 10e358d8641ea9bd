//! Bounds on triggered runs in flight, per host and per tenant: a run is
//! admitted with a [`Permit`] it holds until it ends, or refused at once
//! (the API answers 429, a schedule tick is skipped and logged).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts of runs in flight.
#[derive(Debug, Default)]
pub struct Admission {
    /// The most runs in flight on the host (`None`: no bound).
    host_max: Option<u32>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    by_tenant: HashMap<String, u32>,
}

/// A run's place among the runs in flight, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    tenant: String,
}

impl Admission {
    /// Admission with at most `host_max` runs in flight on the host.
    pub fn new(host_max: Option<u32>) -> Admission {
        Admission {
            host_max,
            counts: Mutex::default(),
        }
    }

    /// Whether a run of `tenant` would be admitted now.
    pub fn has_room(&self, tenant: &str, tenant_max: Option<u32>) -> bool {
        let c = self.counts.lock().expect("admission lock");
        let mine = c.by_tenant.get(tenant).copied().unwrap_or(0);
        self.host_max.is_none_or(|m| c.total < m) && tenant_max.is_none_or(|m| mine < m)
    }

    /// Admits a run of `tenant` (at most `tenant_max` of its runs at once),
    /// or says which bound is reached.
    pub fn admit(
        self: &Arc<Self>,
        tenant: &str,
        tenant_max: Option<u32>,
    ) -> Result<Permit, String> {
        let mut c = self.counts.lock().expect("admission lock");
        if let Some(max) = self.host_max
            && c.total >= max
        {
            // Not how many: a tenant learns nothing of the others' load.
            return Err(
                "the host has as many runs in progress as it allows; try again later".into(),
            );
        }
        let mine = c.by_tenant.get(tenant).copied().unwrap_or(0);
        if let Some(max) = tenant_max
            && mine >= max
        {
            return Err(format!(
                "tenant '{tenant}' has {mine} runs in progress, its quota's concurrent_runs; try again later"
            ));
        }
        c.total += 1;
        *c.by_tenant.entry(tenant.to_string()).or_default() += 1;
        Ok(Permit {
            admission: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.admission.counts.lock().expect("admission lock");
        c.total -= 1;
        if let Some(n) = c.by_tenant.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                c.by_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_tenant_and_per_host() {
        let a = Arc::new(Admission::new(Some(3)));
        let p1 = a.admit("x", Some(2)).unwrap();
        let _p2 = a.admit("x", Some(2)).unwrap();
        let e = a.admit("x", Some(2)).unwrap_err();
        assert!(e.contains("tenant 'x'"), "{e}");
        let _p3 = a.admit("y", None).unwrap();
        let e = a.admit("y", None).unwrap_err();
        assert!(e.contains("the host"), "{e}");
        drop(p1);
        a.admit("x", Some(2))
            .expect("a permit given back is free again");
    }
}
