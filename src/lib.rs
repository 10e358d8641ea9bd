//! wasmjobs: a host for other people's background jobs, compatible with Azure
//! App Service WebJobs, that runs every script inside a WebAssembly guest
//! interpreter under wasmtime with host-enforced limits.
//!
//! The crate is cut along the domain's nouns:
//! - [`bundle`]: a job zip or directory becomes a job folder (safe extraction,
//!   `settings.job`, entry-script discovery);
//! - [`store`]: the on-disk layout, run records, history and locks, exactly as
//!   WebJobs keeps them;
//! - [`runtime`]: the executors, today the wasm guests QuickJS-NG and
//!   CPython, and the capture and limits path they share;
//! - [`runtime`] also holds the native executor: a process in a
//!   capability-restricted sandbox, for types without a guest;
//! - [`runner`]: the one API through which every run starts;
//! - [`schedule`] and [`supervise`]: NCRONTAB schedules and the serving host
//!   that keeps scheduled and continuous jobs going;
//! - [`tenant`]: tenants, their secrets and quotas; [`metrics`]: what the
//!   host counts;
//! - [`api`]: WebJobs' REST API and the dashboard, over HTTP;
//! - [`wire`]: WebJobs' JSON shapes;
//! - [`net`]: outbound network for jobs: the one policy every executor
//!   holds connections to;
//! - [`bench`]: `wasmjobs bench`, what isolation costs;
//! - [`cluster`]: many hosts on one PostgreSQL (shared state, leases,
//!   fencing);
//! - [`cli`]: the `wasmjobs` command, a thin layer over the above.

#![warn(missing_docs)]

pub mod api;
pub mod bench;
pub mod bundle;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod job;
pub mod metrics;
pub mod net;
pub mod runner;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod supervise;
pub mod tenant;
pub mod wire;
