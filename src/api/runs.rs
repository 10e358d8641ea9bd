//! Runs of triggered jobs: history, `POST .../run`, and beyond WebJobs,
//! stopping a run and its output live; plus the `vfs` files the JSON
//! points to.

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
use super::{ApiState, Tenant, base_url, error, no_job, with_etag};
use crate::job::JobType;
use crate::runner::book::{JobPlace, RunOutput};
use crate::runner::{RunError, RunRequest};
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

/// Where a triggered job is, if the tenant has that job.
async fn place(s: &ApiState, tenant: &str, name: &str) -> Option<JobPlace> {
    let job = find(s, tenant, JobType::Triggered, name).await?;
    Some(s.place(tenant, &job))
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
    let Some(job) = place(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let runs = match s.runner.book().history(&job).await {
        Ok(Some(runs)) => runs,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("job '{name}' has no history"),
            );
        }
        Err(e) => return unavailable(e),
    };
    let base = base_url(&headers);
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
    let Some(job) = place(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    match s.runner.book().run(&job, &id).await {
        Ok(Some(run)) => {
            axum::Json(wire::run_json(&base_url(&headers), &name, &run)).into_response()
        }
        Ok(None) => no_run(&name, &id),
        Err(e) => unavailable(e),
    }
}

/// The run book could not answer (503).
fn unavailable(e: anyhow::Error) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
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
    let started = match s.runner.book().submit(&s.runner(&t), req).await {
        Ok(started) => started,
        Err(e) => return unavailable(e),
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
    let Some(job) = place(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let stopped = match s.runner.book().request_stop(&job, &id).await {
        Ok(stopped) => stopped,
        Err(e) => return unavailable(e),
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
    let Some(job) = place(&s, &t, &name).await else {
        return no_job(JobType::Triggered, &name);
    };
    let source = match s.runner.book().output(&job, &id).await {
        Ok(Some(out)) => Source(out),
        Ok(None) => return no_run(&name, &id),
        Err(e) => return unavailable(e),
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
        (head, source.body_until(offset, None, true)).into_response()
    } else {
        source.sized(offset, head).await
    }
}

/// A run's output as the run book keeps it.
struct Source(Box<dyn RunOutput>);

impl Source {
    /// What is written now, from `offset`, as a response with its length
    /// (the log may grow meanwhile: it is cut where it was when asked).
    async fn sized(self, offset: u64, head: impl IntoResponseParts) -> Response {
        let len = match self.0.size().await {
            Ok(n) => n,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        let n = len.saturating_sub(offset);
        let mut r = (head, self.body_until(offset, Some(len), false)).into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(n));
        r
    }

    /// The output from `offset` up to `end` (or with `follow`, as the run
    /// writes it until it has ended), a chunk at a time.
    fn body_until(self, offset: u64, end: Option<u64>, follow: bool) -> Body {
        struct Follow {
            source: Source,
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
                if let Err(e) = f.source.0.read(f.offset, want as usize, &mut buf).await {
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
                f.ended = f.source.0.ended().await;
                if !f.ended {
                    tokio::time::sleep(FOLLOW_POLL).await;
                }
            }
        });
        Body::from_stream(stream)
    }
}

async fn vfs_file(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    // A run's log the run book keeps off this host's disk (wherever its
    // host ran it) comes from the book; any other file from the data root.
    if let ["triggered", name, id, OUTPUT_LOG] = path.split('/').collect::<Vec<_>>()[..]
        && let Some(job) = place(&s, &t, name).await
    {
        match s.runner.book().output(&job, id).await {
            Ok(Some(out)) if out.file().is_none() => {
                return Source(out)
                    .sized(0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")])
                    .await;
            }
            Ok(_) => {}
            Err(e) => return unavailable(e),
        }
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
