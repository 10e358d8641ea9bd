//! Host metrics, per tenant, in Prometheus' text format (`GET /metrics`
//! shows a tenant its own series only): runs by status, run durations,
//! fuel used, limit hits by kind, runs in flight, queued ticks and how
//! late schedule ticks fire.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the run duration histogram's buckets.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0];
/// Upper bounds (seconds) of the scheduler lag histogram's buckets.
const LAG_BUCKETS: [f64; 7] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, tenant: &str, bounds: &[f64]) {
        for (i, b) in bounds.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{tenant=\"{tenant}\",le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{tenant=\"{tenant}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{tenant=\"{tenant}\"}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{tenant=\"{tenant}\"}} {}", self.count);
    }
}

#[derive(Debug, Default, Clone)]
struct Series {
    runs: BTreeMap<String, u64>,
    limit_hits: BTreeMap<String, u64>,
    duration: Histogram,
    fuel: u64,
    in_flight: i64,
    queued: i64,
    lag: Histogram,
    /// Connections jobs made through the host, by outcome.
    connections: BTreeMap<&'static str, u64>,
    /// Bytes through those connections: (out, in).
    net_bytes: (u64, u64),
}

/// A run counted in flight; dropping it (however the run ends) ends that.
#[derive(Debug)]
pub struct InFlight {
    metrics: Arc<Metrics>,
    tenant: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.with(&self.tenant, |s| s.in_flight -= 1);
    }
}

/// Why the host refused a request or dropped a connection (counted
/// host-wide, whoever the client was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The host had its most connections open.
    Connections,
    /// The client had its most connections open.
    ClientConnections,
    /// The process had no file descriptor left to accept with.
    Descriptors,
    /// A request head did not arrive within the header timeout.
    HeaderTimeout,
    /// The client stopped reading its response.
    Stalled,
    /// The client failed to sign in too often and must wait.
    SignInThrottled,
    /// Too many sign-ins were waiting to be checked.
    SignInBusy,
    /// The answer took longer than the request timeout.
    RequestTimeout,
    /// The host was receiving its most uploads.
    Uploads,
}

impl Refusal {
    /// Every reason, in the order they are counted and shown.
    pub const ALL: [Refusal; 9] = [
        Refusal::Connections,
        Refusal::ClientConnections,
        Refusal::Descriptors,
        Refusal::HeaderTimeout,
        Refusal::Stalled,
        Refusal::SignInThrottled,
        Refusal::SignInBusy,
        Refusal::RequestTimeout,
        Refusal::Uploads,
    ];

    /// The `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Connections => "connections",
            Refusal::ClientConnections => "client_connections",
            Refusal::Descriptors => "descriptors",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::Stalled => "stalled",
            Refusal::SignInThrottled => "sign_in_throttled",
            Refusal::SignInBusy => "sign_in_busy",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::Uploads => "uploads",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The metrics of a host, by tenant (`""` for the host's own jobs), and
/// its refusals.
#[derive(Debug, Default)]
pub struct Metrics {
    tenants: Mutex<HashMap<String, Series>>,
    refused: [std::sync::atomic::AtomicU64; Refusal::ALL.len()],
}

impl Metrics {
    fn with(&self, tenant: &str, f: impl FnOnce(&mut Series)) {
        let mut m = self.tenants.lock().expect("metrics lock");
        f(m.entry(tenant.to_string()).or_default());
    }

    /// A triggered run started: counted in flight until the guard drops.
    pub fn run_started(self: &Arc<Self>, tenant: &str) -> InFlight {
        self.with(tenant, |s| s.in_flight += 1);
        InFlight {
            metrics: self.clone(),
            tenant: tenant.to_string(),
        }
    }

    /// A triggered run ended with `status` after `took`; `limit` is the
    /// limit that ended it, `fuel` the fuel it used when metered.
    pub fn run_finished(
        &self,
        tenant: &str,
        status: &str,
        took: Duration,
        fuel: Option<u64>,
        limit: Option<&str>,
    ) {
        self.with(tenant, |s| {
            *s.runs.entry(status.to_string()).or_default() += 1;
            s.duration.observe(&DURATION_BUCKETS, took.as_secs_f64());
            s.fuel += fuel.unwrap_or(0);
            if let Some(k) = limit {
                *s.limit_hits.entry(k.to_string()).or_default() += 1;
            }
        });
    }

    /// A schedule tick was queued (`+1`) or its queued run started (`-1`).
    pub fn queued(&self, tenant: &str, delta: i64) {
        self.with(tenant, |s| s.queued += delta);
    }

    /// The host refused a request or dropped a connection.
    pub fn refused(&self, why: Refusal) {
        self.refused[why.index()].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A job's connection through the host: `allowed` or `refused`.
    pub fn connection(&self, tenant: &str, outcome: &'static str) {
        self.with(tenant, |s| *s.connections.entry(outcome).or_default() += 1);
    }

    /// A job's connection through the host closed after `out` bytes out
    /// and `back` bytes in.
    pub fn network_bytes(&self, tenant: &str, out: u64, back: u64) {
        self.with(tenant, |s| {
            s.net_bytes.0 += out;
            s.net_bytes.1 += back;
        });
    }

    /// A schedule tick fired `late` after its time.
    pub fn tick_lag(&self, tenant: &str, late: Duration) {
        self.with(tenant, |s| s.lag.observe(&LAG_BUCKETS, late.as_secs_f64()));
    }

    /// One tenant's series in Prometheus' text exposition format.
    pub fn render(&self, tenant: &str) -> String {
        let s = self
            .tenants
            .lock()
            .expect("metrics lock")
            .get(tenant)
            .cloned()
            .unwrap_or_default();
        let t = tenant;
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let one = |o: &mut String, name: &str, label: &str, v: &dyn std::fmt::Display| {
            let _ = writeln!(o, "{name}{{tenant=\"{t}\"{label}}} {v}");
        };
        let name = "wasmjobs_runs_total";
        head(&mut o, name, "counter", "Triggered runs ended, by status.");
        for status in ["Success", "Failed", "Stopped"] {
            let n = s.runs.get(status).copied().unwrap_or(0);
            one(&mut o, name, &format!(",status=\"{status}\""), &n);
        }
        let name = "wasmjobs_run_duration_seconds";
        head(&mut o, name, "histogram", "Triggered run durations.");
        s.duration.render(&mut o, name, t, &DURATION_BUCKETS);
        let name = "wasmjobs_fuel_consumed_total";
        head(&mut o, name, "counter", "Fuel used by metered runs.");
        one(&mut o, name, "", &s.fuel);
        let name = "wasmjobs_limit_hits_total";
        head(&mut o, name, "counter", "Runs ended by a limit, by kind.");
        for (k, n) in &s.limit_hits {
            one(&mut o, name, &format!(",kind=\"{k}\""), n);
        }
        let name = "wasmjobs_runs_in_flight";
        head(&mut o, name, "gauge", "Triggered runs going now.");
        one(&mut o, name, "", &s.in_flight);
        let name = "wasmjobs_queue_depth";
        head(
            &mut o,
            name,
            "gauge",
            "Schedule ticks queued behind a running run.",
        );
        one(&mut o, name, "", &s.queued);
        let name = "wasmjobs_scheduler_lag_seconds";
        head(&mut o, name, "histogram", "How late schedule ticks fire.");
        s.lag.render(&mut o, name, t, &LAG_BUCKETS);
        let name = "wasmjobs_network_connections_total";
        head(
            &mut o,
            name,
            "counter",
            "Connections jobs asked the host for, by outcome.",
        );
        for outcome in ["allowed", "refused"] {
            let n = s.connections.get(outcome).copied().unwrap_or(0);
            one(&mut o, name, &format!(",outcome=\"{outcome}\""), &n);
        }
        let name = "wasmjobs_network_bytes_total";
        head(
            &mut o,
            name,
            "counter",
            "Bytes through jobs' connections, by direction.",
        );
        one(&mut o, name, ",direction=\"out\"", &s.net_bytes.0);
        one(&mut o, name, ",direction=\"in\"", &s.net_bytes.1);
        let name = "wasmjobs_refused_total";
        head(
            &mut o,
            name,
            "counter",
            "Requests refused and connections dropped by the host's limits, by reason (host-wide).",
        );
        for r in Refusal::ALL {
            let n = self.refused[r.index()].load(std::sync::atomic::Ordering::Relaxed);
            let _ = writeln!(o, "{name}{{reason=\"{}\"}} {n}", r.reason());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_only_the_asked_tenant() {
        let m = Arc::new(Metrics::default());
        let run = m.run_started("a");
        m.run_finished(
            "a",
            "Failed",
            Duration::from_millis(70),
            Some(5),
            Some("timeout"),
        );
        drop(run);
        let _b = m.run_started("b");
        let a = m.render("a");
        assert!(
            a.contains("wasmjobs_runs_total{tenant=\"a\",status=\"Failed\"} 1"),
            "{a}"
        );
        assert!(a.contains("wasmjobs_run_duration_seconds_bucket{tenant=\"a\",le=\"0.05\"} 0"));
        assert!(a.contains("wasmjobs_run_duration_seconds_bucket{tenant=\"a\",le=\"0.1\"} 1"));
        assert!(a.contains("wasmjobs_limit_hits_total{tenant=\"a\",kind=\"timeout\"} 1"));
        assert!(a.contains("wasmjobs_fuel_consumed_total{tenant=\"a\"} 5"));
        assert!(a.contains("wasmjobs_runs_in_flight{tenant=\"a\"} 0"));
        assert!(!a.contains("tenant=\"b\""), "{a}");
        m.refused(Refusal::Stalled);
        assert!(
            m.render("a")
                .contains("wasmjobs_refused_total{reason=\"stalled\"} 1")
        );
        assert!(
            m.render("b")
                .contains("wasmjobs_runs_in_flight{tenant=\"b\"} 1")
        );
    }
}
