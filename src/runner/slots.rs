//! Bounds on what holds a WebAssembly slot for long: wasm guests per
//! tenant (quota `wasm_slots`), continuous jobs per tenant (quota
//! `continuous_jobs`), and the host's slots (`--wasm-slots`), of which
//! continuous jobs of all tenants together may hold all but
//! `--triggered-reserve`, so triggered and scheduled runs always find
//! one. Each is taken with a permit held until the run or start ends, or
//! refused at once with a message naming the bound; no guest ever reaches
//! the pooling allocator's own limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The host's wasm slots and the counts of what holds them.
#[derive(Debug)]
pub struct Slots {
    /// Wasm guests at once on the host.
    host: u32,
    /// Slots continuous jobs may not take.
    reserve: u32,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    wasm: u32,
    continuous_wasm: u32,
    wasm_by_tenant: HashMap<String, u32>,
    continuous_by_tenant: HashMap<String, u32>,
}

/// A wasm guest's slot, given back when dropped.
#[derive(Debug)]
pub struct WasmSlot {
    slots: Arc<Slots>,
    tenant: String,
    continuous: bool,
}

/// A running continuous job's place among its tenant's, given back when
/// dropped.
#[derive(Debug)]
pub struct ContinuousPlace {
    slots: Arc<Slots>,
    tenant: String,
}

fn count_down(map: &mut HashMap<String, u32>, tenant: &str) {
    if let Some(n) = map.get_mut(tenant) {
        *n -= 1;
        if *n == 0 {
            map.remove(tenant);
        }
    }
}

impl Slots {
    /// `host` slots, `reserve` of them kept for triggered runs (at most
    /// `host - 1`).
    pub fn new(host: u32, reserve: u32) -> Slots {
        Slots {
            host,
            reserve: reserve.min(host.saturating_sub(1)),
            counts: Mutex::default(),
        }
    }

    /// A slot for a wasm guest of `tenant` (at most `tenant_max` of its
    /// guests at once), or why not. A continuous job's guest may not take
    /// the slots kept for triggered runs.
    pub fn wasm(
        self: &Arc<Self>,
        tenant: &str,
        tenant_max: Option<u32>,
        continuous: bool,
    ) -> Result<WasmSlot, String> {
        let mut c = self.counts.lock().expect("slots lock");
        // Not how many: a tenant learns nothing of the others' load.
        if c.wasm >= self.host {
            return Err(
                "every WebAssembly slot of the host is taken (--wasm-slots); try again later"
                    .into(),
            );
        }
        if continuous && c.continuous_wasm >= self.host - self.reserve {
            return Err(
                "continuous jobs hold every WebAssembly slot the host gives them (the rest is kept for triggered runs, --triggered-reserve); try again later"
                    .into(),
            );
        }
        let mine = c.wasm_by_tenant.get(tenant).copied().unwrap_or(0);
        if let Some(max) = tenant_max
            && mine >= max
        {
            return Err(format!(
                "tenant '{tenant}' already has {mine} wasm runs in progress (quota wasm_slots); try again later"
            ));
        }
        c.wasm += 1;
        if continuous {
            c.continuous_wasm += 1;
        }
        *c.wasm_by_tenant.entry(tenant.to_string()).or_default() += 1;
        Ok(WasmSlot {
            slots: self.clone(),
            tenant: tenant.to_string(),
            continuous,
        })
    }

    /// A place for a continuous job of `tenant` (at most `tenant_max` of
    /// them running at once), or why not.
    pub fn continuous(
        self: &Arc<Self>,
        tenant: &str,
        tenant_max: Option<u32>,
    ) -> Result<ContinuousPlace, String> {
        let mut c = self.counts.lock().expect("slots lock");
        let mine = c.continuous_by_tenant.get(tenant).copied().unwrap_or(0);
        if let Some(max) = tenant_max
            && mine >= max
        {
            return Err(format!(
                "tenant '{tenant}' already has {mine} continuous jobs running (quota continuous_jobs); try again later"
            ));
        }
        *c.continuous_by_tenant
            .entry(tenant.to_string())
            .or_default() += 1;
        Ok(ContinuousPlace {
            slots: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

impl Drop for WasmSlot {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().expect("slots lock");
        c.wasm -= 1;
        if self.continuous {
            c.continuous_wasm -= 1;
        }
        count_down(&mut c.wasm_by_tenant, &self.tenant);
    }
}

impl Drop for ContinuousPlace {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().expect("slots lock");
        count_down(&mut c.continuous_by_tenant, &self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_have_their_slots_and_triggered_runs_their_reserve() {
        let s = Arc::new(Slots::new(5, 2));
        let a1 = s.wasm("a", Some(2), true).unwrap();
        let _a2 = s.wasm("a", Some(2), false).unwrap();
        let e = s.wasm("a", Some(2), false).unwrap_err();
        assert!(
            e.starts_with("tenant 'a' already has 2 wasm runs in progress (quota wasm_slots)"),
            "{e}"
        );
        let _b1 = s.wasm("b", None, true).unwrap();
        let _c1 = s.wasm("c", None, true).unwrap();
        // Three continuous guests: the last slot is the triggered runs'.
        let e = s.wasm("d", None, true).unwrap_err();
        assert!(e.contains("--triggered-reserve"), "{e}");
        let d = s
            .wasm("d", None, false)
            .expect("the reserve is for triggered runs");
        let e = s.wasm("e", None, false).unwrap_err();
        assert!(e.contains("--wasm-slots"), "{e}");
        drop(d);
        drop(a1);
        s.wasm("d", None, true)
            .expect("a slot given back is free again");
    }

    #[test]
    fn continuous_jobs_are_counted_per_tenant() {
        let s = Arc::new(Slots::new(4, 1));
        let p = s.continuous("a", Some(1)).unwrap();
        let e = s.continuous("a", Some(1)).unwrap_err();
        assert!(
            e.starts_with(
                "tenant 'a' already has 1 continuous jobs running (quota continuous_jobs)"
            ),
            "{e}"
        );
        s.continuous("b", Some(1)).unwrap();
        drop(p);
        s.continuous("a", Some(1)).unwrap();
    }

    #[test]
    fn the_reserve_leaves_continuous_jobs_a_slot() {
        let s = Arc::new(Slots::new(2, 5));
        let _a = s.wasm("a", None, true).unwrap();
        assert!(s.wasm("b", None, true).is_err());
    }
}
