//! Runs of triggered jobs: history, `POST .../run`, and beyond WebJobs,
//! stopping a run and its output live; plus the `vfs` files the JSON
//! points to.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::jobs::find;
use super::vfs::CHUNK;
use super::{ApiState, Tenant, base_url, error, no_job, off_thread, with_etag};
use crate::job::JobType;
use crate::runner::{RunError, RunRequest};
use crate::store::history;
use crate::store::layout::OUTPUT_LOG;
use crate::wire;

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/triggeredwebjobs/{name}/history", get(history_list))
        .route(
            "/api/triggeredwebjobs/{name}/history/{id}",
            get(history_one),
        )
        .route(
            "/api/triggeredwebjobs/{name}/history/{id}/output",
            get(output),
        )
        .route("/api/triggeredwebjobs/{name}/run", post(run))
        .route("/api/triggeredwebjobs/{name}/history/{id}/stop", post(stop))
        .route("/vfs/data/jobs/{*path}", get(vfs_file))
}

/// A triggered job's data folder, if the tenant has that job.
async fn data_dir(s: &ApiState, tenant: &str, name: &str) -> Option<PathBuf> {
    let job = find(s, tenant, JobType::Triggered, name).await?;
    Some(s.layout(tenant).data_dir(job.job_type, &job.name))
}

fn no_run(name: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("job '{name}' has no run '{id}'"),
    )
}

async fn history_list(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let Some(dir) = data_dir(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let base = base_url(&headers);
    if let Some(c) = s.cluster() {
        return match c.history(&t, &name).await {
            Ok(runs) => {
                let runs = runs
                    .iter()
                    .map(|r| wire::run_json(&base, &name, r))
                    .collect();
                let body = serde_json::to_value(wire::HistoryJson { runs }).unwrap_or(Value::Null);
                with_etag(&headers, &body)
            }
            Err(e) => unavailable(e),
        };
    }
    let Some(runs) = off_thread(move || dir.is_dir().then(|| history::list(&dir))).await else {
        return error(
            StatusCode::NOT_FOUND,
            format!("job '{name}' has no history"),
        );
    };
    let runs = runs
        .iter()
        .map(|r| wire::run_json(&base, &name, r))
        .collect();
    let body = serde_json::to_value(wire::HistoryJson { runs }).unwrap_or(Value::Null);
    with_etag(&headers, &body)
}

async fn history_one(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(dir) = data_dir(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let run = match s.cluster() {
        Some(c) => match c.run(&t, &name, &id).await {
            Ok(r) => r.map(|(_, run)| run),
            Err(e) => return unavailable(e),
        },
        None => {
            let id = id.clone();
            off_thread(move || history::get(&dir, &id)).await
        }
    };
    match run {
        Some(run) => axum::Json(wire::run_json(&base_url(&headers), &name, &run)).into_response(),
        None => no_run(&name, &id),
    }
}

/// The cluster's database could not answer (503).
fn unavailable(e: anyhow::Error) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the cluster's database: {e:#}"),
    )
}

#[derive(serde::Deserialize)]
struct RunQuery {
    arguments: Option<String>,
}

/// `POST .../run?arguments=`: 202 with the new run's `Location`; 409 when
/// the job is already running or `WEBJOBS_STOPPED` is set; 429 with
/// `Retry-After` when the tenant or the host has its most runs going.
async fn run(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<RunQuery>,
) -> Response {
    let Some(job) = find(&s, &t, JobType::Triggered, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let mut req = RunRequest::new(job, format!("External - {agent}"));
    req.args = q
        .arguments
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let started = match s.cluster() {
        // In a cluster the run is queued, and the first host with room
        // takes it (this one is woken at once).
        Some(c) => {
            let runner = s.runner(&t);
            match runner.check(&req.job) {
                Err(e) => Err(e),
                Ok(_) => match c
                    .enqueue(&t, &name, &req.trigger, &req.args, runner.tenant_max_runs())
                    .await
                {
                    Ok(Ok(id)) => {
                        c.wake_dispatcher();
                        Ok(id)
                    }
                    Ok(Err(refused)) => Err(refused.into()),
                    Err(e) => return unavailable(e),
                },
            }
        }
        None => s
            .runs
            .start(&s.runner(&t), req)
            .await
            .map(|r| r.id().to_string()),
    };
    match started {
        Ok(id) => {
            let location = format!(
                "{}/api/triggeredwebjobs/{name}/history/{id}",
                base_url(&headers),
            );
            (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response()
        }
        Err(e @ (RunError::AlreadyRunning | RunError::Stopped)) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e @ RunError::Busy(_)) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            r
        }
        Err(e @ RunError::NotRunnable(..)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(RunError::Io(e)) if e.raw_os_error() == Some(libc::ENOSPC) => error(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("cannot create the run record: the host's disk is full ({e})"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST .../history/{id}/stop` (beyond WebJobs): stops a running run
/// gracefully; 202, or 404 when no such run of this job is going.
async fn stop(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(dir) = data_dir(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    // In a cluster the run's host sees the request within a moment.
    let stopped = match s.cluster() {
        Some(c) => match c.run(&t, &name, &id).await {
            Ok(Some((pk, _))) => match c.request_stop(pk).await {
                Ok(going) => going,
                Err(e) => return unavailable(e),
            },
            Ok(None) => false,
            Err(e) => return unavailable(e),
        },
        // Only a run of this tenant's job: its record must be there.
        None => {
            let (d, i) = (dir.clone(), id.clone());
            off_thread(move || history::get(&d, &i).is_some()).await && s.runs.stop(&dir.join(&id))
        }
    };
    if !stopped {
        return error(
            StatusCode::NOT_FOUND,
            format!("job '{name}' has no run '{id}' in progress"),
        );
    }
    StatusCode::ACCEPTED.into_response()
}

#[derive(serde::Deserialize)]
struct OutputQuery {
    follow: Option<String>,
    offset: Option<u64>,
}

/// How often a followed output is checked for more.
const FOLLOW_POLL: Duration = Duration::from_millis(150);

/// `GET .../history/{id}/output[?offset=N][&follow=1]` (beyond WebJobs):
/// the run's `output_log.txt` from byte `offset`; with `follow`, a chunked
/// stream that goes on as the run writes and ends when the run has ended
/// and everything is sent. `X-Output-Offset` says where the body starts.
async fn output(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<OutputQuery>,
) -> Response {
    let Some(dir) = data_dir(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let source = match s.cluster() {
        Some(c) => match c.run(&t, &name, &id).await {
            Ok(Some((pk, _))) => Source::Cluster {
                cluster: c.clone(),
                tenant: t.clone(),
                name: name.clone(),
                pk,
            },
            Ok(None) => return no_run(&name, &id),
            Err(e) => return unavailable(e),
        },
        None => {
            let (d, i) = (dir.clone(), id.clone());
            if off_thread(move || history::get(&d, &i).is_none()).await {
                return no_run(&name, &id);
            }
            Source::Disk {
                file: dir.join(&id).join(OUTPUT_LOG),
                dir,
            }
        }
    };
    let follow = q
        .follow
        .as_deref()
        .is_some_and(|v| matches!(v, "1" | "true" | ""));
    let offset = q.offset.unwrap_or(0);
    let head = [
        (
            header::CONTENT_TYPE,
            "text/plain; charset=utf-8".to_string(),
        ),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (
            header::HeaderName::from_static("x-output-offset"),
            offset.to_string(),
        ),
    ];
    if follow {
        (head, source.body_until(offset, None, true, id)).into_response()
    } else {
        source.sized(offset, head).await
    }
}

/// Where a run's output is read from: its folder on this host, or the
/// cluster's database.
enum Source {
    Disk {
        dir: PathBuf,
        file: PathBuf,
    },
    Cluster {
        cluster: Arc<crate::cluster::Cluster>,
        tenant: String,
        name: String,
        pk: i64,
    },
}

impl Source {
    /// What is written now, from `offset`, as a response with its length
    /// (the log may grow meanwhile: it is cut where it was when asked).
    async fn sized(self, offset: u64, head: impl IntoResponseParts) -> Response {
        let len = match self.length().await {
            Ok(n) => n,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        let n = len.saturating_sub(offset);
        let mut r = (
            head,
            self.body_until(offset, Some(len), false, String::new()),
        )
            .into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(n));
        r
    }

    /// The output from `offset` up to `end` (or with `follow`, as the run
    /// writes it until it has ended), a chunk at a time.
    fn body_until(self, offset: u64, end: Option<u64>, follow: bool, id: String) -> Body {
        struct Follow {
            source: Source,
            id: String,
            offset: u64,
            end: Option<u64>,
            follow: bool,
            /// The run has ended (one more read takes its last lines).
            ended: bool,
            /// A read failed: the stream has ended with that error.
            failed: bool,
        }
        let state = Follow {
            source: self,
            id,
            offset,
            end,
            follow,
            ended: false,
            failed: false,
        };
        let stream = futures_util::stream::unfold(state, |mut f| async move {
            loop {
                if f.failed {
                    return None;
                }
                let want = f.end.map_or(CHUNK as u64, |e| {
                    e.saturating_sub(f.offset).min(CHUNK as u64)
                });
                if want == 0 {
                    return None;
                }
                let mut buf = Vec::new();
                if let Err(e) = f.source.read(f.offset, want as usize, &mut buf).await {
                    f.failed = true;
                    return Some((Err(e), f));
                }
                if !buf.is_empty() {
                    f.offset += buf.len() as u64;
                    return Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), f));
                }
                if f.ended || !f.follow {
                    return None;
                }
                f.ended = f.source.ended(&f.id).await;
                if !f.ended {
                    tokio::time::sleep(FOLLOW_POLL).await;
                }
            }
        });
        Body::from_stream(stream)
    }

    /// How many bytes of output there are now.
    async fn length(&self) -> std::io::Result<u64> {
        match self {
            Source::Disk { file, .. } => {
                let file = file.clone();
                off_thread(move || match std::fs::metadata(&file) {
                    Ok(m) => Ok(m.len()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
                    Err(e) => Err(e),
                })
                .await
            }
            Source::Cluster { cluster, pk, .. } => cluster
                .output_len(*pk)
                .await
                .map_err(|e| std::io::Error::other(format!("{e:#}"))),
        }
    }

    /// Appends up to `max` bytes of the output from `offset` to `out`.
    async fn read(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Source::Disk { file, .. } => {
                let (file, mut buf) = (file.clone(), std::mem::take(out));
                let r = tokio::task::spawn_blocking(move || {
                    read_from(&file, offset, max, &mut buf).map(|()| buf)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))?;
                *out = r;
                Ok(())
            }
            Source::Cluster { cluster, pk, .. } => {
                let bytes = cluster
                    .output(*pk, offset, max)
                    .await
                    .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    /// Whether the run has ended (or is gone).
    async fn ended(&self, id: &str) -> bool {
        match self {
            Source::Disk { dir, .. } => {
                let (dir, id) = (dir.clone(), id.to_string());
                tokio::task::spawn_blocking(move || {
                    history::get(&dir, &id).is_none_or(|r| r.status.status.is_final())
                })
                .await
                .unwrap_or(true)
            }
            Source::Cluster {
                cluster,
                tenant,
                name,
                ..
            } => match cluster.run(tenant, name, id).await {
                Ok(r) => r.is_none_or(|(_, r)| r.status.status.is_final()),
                Err(_) => false,
            },
        }
    }
}

/// Appends up to `max` bytes of `path` from `offset` to `out`; a file not
/// there yet reads as empty.
fn read_from(
    path: &std::path::Path,
    offset: u64,
    max: usize,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let Some((mut f, _)) = crate::store::fsutil::open_regular(path)? else {
        return Ok(());
    };
    f.seek(SeekFrom::Start(offset))?;
    f.take(max as u64).read_to_end(out)?;
    Ok(())
}

async fn vfs_file(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    // A run's log in a cluster is wherever its host ran it: the database
    // has it.
    if let Some(c) = s.cluster()
        && let ["triggered", name, id, OUTPUT_LOG] = path.split('/').collect::<Vec<_>>()[..]
    {
        return match c.run(&t, name, id).await {
            Ok(Some((pk, _))) => {
                let source = Source::Cluster {
                    cluster: c.clone(),
                    tenant: t.clone(),
                    name: name.to_string(),
                    pk,
                };
                source
                    .sized(0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")])
                    .await
            }
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no file '{path}'")),
            Err(e) => unavailable(e),
        };
    }
    let root = s.layout(&t).data_root();
    let rel = path.clone();
    match tokio::task::spawn_blocking(move || super::vfs::open(&root, &rel)).await {
        Ok(Some((file, len))) => super::vfs::respond(file, len, &headers),
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no file '{path}' (only regular files are served)"),
        ),
    }
}
