//! The HTTP API (WebJobs' REST routes), served by `wasmjobs serve
//! --listen`. Every route but `/healthz` needs a tenant's credentials
//! ([`auth`]), and sees only that tenant's jobs: job lists and objects,
//! run history, settings (read and replace), runs (`POST .../run`),
//! deleting, continuous start/stop, and the `vfs` log files the JSON
//! points to.

pub mod auth;
mod vfs;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::bundle;
use crate::job::{Job, JobType};
use crate::runner::background::Runs;
use crate::runner::{RunError, RunRequest, Runner};
use crate::runtime::ExecutorChoice;
use crate::store::history;
use crate::tenant::Tenants;
use crate::wire;

/// What the API serves from.
pub struct ApiState {
    tenants: Tenants,
    auth: auth::Auth,
    executors: ExecutorChoice,
    runner: Runner,
    runs: Arc<Runs>,
}

impl ApiState {
    /// The API over the tenants of `runner`'s data root; runs started
    /// through it use `runner`'s executors.
    pub fn new(tenants: Tenants, runner: Runner) -> ApiState {
        ApiState {
            auth: auth::Auth::new(tenants.clone()),
            executors: runner.host().executors,
            tenants,
            runner,
            runs: Arc::new(Runs::default()),
        }
    }

    /// Runs started through the API (the host stops them when it stops).
    pub fn runs(&self) -> Arc<Runs> {
        self.runs.clone()
    }
}

/// Largest request body (an uploaded job), as the host's bundle cap.
const MAX_UPLOAD_BYTES: usize = 256 << 20;

/// The authenticated tenant of a request.
#[derive(Clone)]
struct Tenant(String);

/// A JSON error with a status, WebJobs-style `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    let api = Router::new()
        .route("/api/webjobs", get(list_all))
        .route("/api/{kind}", get(list_kind))
        .route(
            "/api/{kind}/{name}",
            get(get_job).delete(delete_job).put(upload_job),
        )
        .route(
            "/api/{kind}/{name}/settings",
            get(get_settings).put(replace_settings),
        )
        .route("/api/triggeredwebjobs/{name}/history", get(history_list))
        .route(
            "/api/triggeredwebjobs/{name}/history/{id}",
            get(history_one),
        )
        .route("/api/triggeredwebjobs/{name}/run", post(run_triggered))
        .route(
            "/api/triggeredwebjobs/{name}/history/{id}/stop",
            post(stop_run),
        )
        .route(
            "/api/continuouswebjobs/{name}/start",
            post(start_continuous),
        )
        .route("/api/continuouswebjobs/{name}/stop", post(stop_continuous))
        .route("/vfs/data/jobs/{*path}", get(vfs_file))
        .fallback(|| async { no_route() })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .with_state(state)
}

async fn authenticate(
    State(state): State<Arc<ApiState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let st = state.clone();
    let tenant = tokio::task::spawn_blocking(move || st.auth.tenant(header.as_deref()))
        .await
        .ok()
        .flatten();
    match tenant {
        Some(t) => {
            req.extensions_mut().insert(Tenant(t));
            next.run(req).await
        }
        None => {
            let mut r = error(StatusCode::UNAUTHORIZED, "credentials required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"wasmjobs\""),
            );
            r
        }
    }
}

/// `{scheme}://{authority}` of the request (WebJobs builds URLs from it).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn job_value(state: &ApiState, tenant: &str, base: &str, job: &Job) -> Value {
    let layout = state.tenants.layout(tenant);
    let data_dir = layout.data_dir(job.job_type, &job.name);
    let latest = history::list(&data_dir).into_iter().next();
    wire::job_json(
        base,
        job,
        latest.as_ref(),
        data_dir.join("job_scheduler.log").exists(),
        &crate::supervise::continuous::statuses(&data_dir),
    )
}

fn list(state: &ApiState, tenant: &str, headers: &HeaderMap, only: Option<JobType>) -> Response {
    let base = base_url(headers);
    let jobs: Vec<Value> = bundle::list_jobs(&state.tenants.layout(tenant), state.executors)
        .iter()
        .filter(|j| only.is_none_or(|t| j.job_type == t))
        .map(|j| job_value(state, tenant, &base, j))
        .collect();
    with_etag(headers, &Value::Array(jobs))
}

/// A JSON response with an `ETag` (a hash of the body); `304 Not
/// Modified` when the client's `If-None-Match` already has it (WebJobs
/// does this for job lists and history).
fn with_etag(headers: &HeaderMap, body: &Value) -> Response {
    use sha2::Digest;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let tag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&bytes)[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
    }
    (
        [
            (header::ETAG, tag),
            (header::CONTENT_TYPE, "application/json".to_string()),
        ],
        bytes,
    )
        .into_response()
}

async fn list_all(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
) -> Response {
    list(&s, &t, &headers, None)
}

fn find(state: &ApiState, tenant: &str, t: JobType, name: &str) -> Option<Job> {
    bundle::read_job(&state.tenants.layout(tenant), state.executors, t, name)
}

fn no_job(t: JobType, name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no {t} job named '{name}'"))
}

fn one(state: &ApiState, tenant: &str, headers: &HeaderMap, t: JobType, name: &str) -> Response {
    match find(state, tenant, t, name) {
        Some(job) => axum::Json(job_value(state, tenant, &base_url(headers), &job)).into_response(),
        None => no_job(t, name),
    }
}

async fn history_list(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let Some(job) = find(&s, &t, JobType::Triggered, &name) else {
        return no_job(JobType::Triggered, &name);
    };
    let data_dir = s.tenants.layout(&t).data_dir(job.job_type, &job.name);
    if !data_dir.is_dir() {
        return error(
            StatusCode::NOT_FOUND,
            format!("job '{name}' has no history"),
        );
    }
    let base = base_url(&headers);
    let runs = history::list(&data_dir)
        .iter()
        .map(|r| wire::run_json(&base, &job.name, r))
        .collect();
    let body = serde_json::to_value(wire::HistoryJson { runs }).unwrap_or(Value::Null);
    with_etag(&headers, &body)
}

async fn history_one(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(job) = find(&s, &t, JobType::Triggered, &name) else {
        return no_job(JobType::Triggered, &name);
    };
    let data_dir = s.tenants.layout(&t).data_dir(job.job_type, &job.name);
    match history::get(&data_dir, &id) {
        Some(run) => {
            axum::Json(wire::run_json(&base_url(&headers), &job.name, &run)).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            format!("job '{name}' has no run '{id}'"),
        ),
    }
}

fn settings(state: &ApiState, tenant: &str, t: JobType, name: &str) -> Response {
    match find(state, tenant, t, name) {
        Some(job) => axum::Json(Value::Object(job.settings.raw().clone())).into_response(),
        None => no_job(t, name),
    }
}

async fn vfs_file(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path(path): Path<String>,
) -> Response {
    let root = s.tenants.layout(&t).root().join("data").join("jobs");
    let rel = path.clone();
    match tokio::task::spawn_blocking(move || vfs::read(&root, &rel)).await {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, format!("no file '{path}'")),
    }
}

#[derive(serde::Deserialize)]
struct RunQuery {
    arguments: Option<String>,
}

/// `POST .../run?arguments=`: 202 with the new run's `Location`; 409 when
/// the job is already running or `WEBJOBS_STOPPED` is set.
async fn run_triggered(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<RunQuery>,
) -> Response {
    let Some(job) = find(&s, &t, JobType::Triggered, &name) else {
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
    let runner = s.runner.with_layout(s.tenants.layout(&t));
    match s.runs.start(&runner, req) {
        Ok(run) => {
            let location = format!(
                "{}/api/triggeredwebjobs/{name}/history/{}",
                base_url(&headers),
                run.id()
            );
            (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response()
        }
        Err(e @ (RunError::AlreadyRunning | RunError::Stopped)) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e @ RunError::NotRunnable(..)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST .../history/{id}/stop` (beyond WebJobs): stops a running run
/// gracefully; 202, or 404 when no such run of this job is going.
async fn stop_run(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(job) = find(&s, &t, JobType::Triggered, &name) else {
        return no_job(JobType::Triggered, &name);
    };
    // Only a run of this tenant's job: its record must be there.
    let data_dir = s.tenants.layout(&t).data_dir(job.job_type, &job.name);
    if history::get(&data_dir, &id).is_none() || !s.runs.stop(&id) {
        return error(
            StatusCode::NOT_FOUND,
            format!("job '{name}' has no run '{id}' in progress"),
        );
    }
    StatusCode::ACCEPTED.into_response()
}

fn delete(state: &ApiState, tenant: &str, t: JobType, name: &str) -> Response {
    // WebJobs answers 200 whether or not the job existed.
    match bundle::remove(&state.tenants.layout(tenant), t, name) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e @ bundle::BundleError::Running(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ bundle::BundleError::InvalidName(..)) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `PUT .../settings`: replaces `settings.job` with the body, a JSON object
/// (no merge, as WebJobs). A schedule that cannot be used is a 400.
fn put_settings(state: &ApiState, tenant: &str, t: JobType, name: &str, body: &[u8]) -> Response {
    let Some(job) = find(state, tenant, t, name) else {
        return no_job(t, name);
    };
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "settings must be a JSON object"),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("settings are not JSON: {e}"),
            );
        }
    };
    let settings = crate::bundle::settings::Settings::from_map(map.clone());
    if t == JobType::Triggered
        && let Some(problem) = settings.schedule_problem()
    {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    let dir = bundle::script_dir(&job.dir).unwrap_or(job.dir.clone());
    let text = serde_json::to_vec_pretty(&Value::Object(map)).unwrap_or_default();
    match crate::store::fsutil::write_atomic(&dir.join(crate::bundle::settings::FILE_NAME), &text) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `start`/`stop` of a continuous job: removes or writes its `disable.job`.
fn set_disabled(state: &ApiState, tenant: &str, name: &str, disabled: bool) -> Response {
    let Some(job) = find(state, tenant, JobType::Continuous, name) else {
        return no_job(JobType::Continuous, name);
    };
    let flag = job.dir.join(crate::supervise::continuous::DISABLE_FILE);
    let r = if disabled {
        std::fs::write(&flag, b"")
    } else {
        match std::fs::remove_file(&flag) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    };
    match r {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn start_continuous(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path(name): Path<String>,
) -> Response {
    set_disabled(&s, &t, &name, false)
}

async fn stop_continuous(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path(name): Path<String>,
) -> Response {
    set_disabled(&s, &t, &name, true)
}

/// `PUT /api/{type}webjobs/{name}`: WebJobs' upload. `Content-Disposition`
/// with a file name is required; an `application/zip` body is unpacked,
/// anything else is saved as that one file. The job is replaced whole; a
/// bundle that is refused installs nothing (400 with the reason).
fn put_job(
    state: &ApiState,
    tenant: &str,
    headers: &HeaderMap,
    t: JobType,
    name: &str,
    body: &[u8],
) -> Response {
    let Some(file_name) = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing Content-Disposition header.",
        );
    };
    let is_zip = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().starts_with("application/zip"));
    let layout = state.tenants.layout(tenant);
    let scratch_root = layout.root().join("temp");
    if let Err(e) = std::fs::create_dir_all(&scratch_root) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let scratch = match crate::store::fsutil::fresh_dir(&scratch_root, "upload") {
        Ok(d) => d,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let _cleanup = crate::store::fsutil::RemoveOnDrop(vec![scratch.clone()]);
    let source = if is_zip {
        scratch.join("upload.zip")
    } else {
        let dir = scratch.join("bundle");
        let _ = std::fs::create_dir_all(&dir);
        dir
    };
    let written = if is_zip {
        std::fs::write(&source, body)
    } else {
        std::fs::write(source.join(&file_name), body)
    };
    if let Err(e) = written {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let extract = state.runner.host().extract;
    match bundle::install(&layout, state.executors, &source, name, t, extract) {
        Ok(job) => axum::Json(job_value(state, tenant, &base_url(headers), &job)).into_response(),
        Err(e @ bundle::BundleError::Running(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ bundle::BundleError::Io(..)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// The file name of a `Content-Disposition` header, quotes stripped and
/// reduced to its last path component (as WebJobs).
fn disposition_file_name(v: &str) -> Option<String> {
    let raw = v
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("filename"))?
        .1
        .trim()
        .trim_matches('"');
    let base = raw.rsplit(['/', '\\']).next()?.to_string();
    (!base.is_empty() && base != "." && base != ".." && !base.contains('\0')).then_some(base)
}

/// WebJobs' deprecated route aliases (`/api/{type}jobs/...`,
/// `/jobs/{type}/...`, `/api/jobs/{type}/...`, and `/api/jobs` or `/jobs`
/// for the list of all jobs), as the current route's path.
pub fn alias(path: &str) -> Option<String> {
    if matches!(path, "/api/jobs" | "/api/jobs/" | "/jobs" | "/jobs/") {
        return Some("/api/webjobs".into());
    }
    for t in ["triggered", "continuous"] {
        for old in [
            format!("/api/{t}jobs"),
            format!("/jobs/{t}"),
            format!("/api/jobs/{t}"),
        ] {
            if let Some(rest) = path.strip_prefix(&old)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some(format!("/api/{t}webjobs{rest}"));
            }
        }
    }
    None
}

fn rewrite_alias(mut req: Request) -> Request {
    if let Some(path) = alias(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The job type a `{kind}` path segment names (`triggeredwebjobs`,
/// `continuouswebjobs`).
fn kind(segment: &str) -> Option<JobType> {
    match segment {
        "triggeredwebjobs" => Some(JobType::Triggered),
        "continuouswebjobs" => Some(JobType::Continuous),
        _ => None,
    }
}

fn no_route() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

async fn list_kind(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path(k): Path<String>,
) -> Response {
    match kind(&k) {
        Some(jt) => list(&s, &t, &headers, Some(jt)),
        None => no_route(),
    }
}

async fn get_job(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path((k, name)): Path<(String, String)>,
) -> Response {
    match kind(&k) {
        Some(jt) => one(&s, &t, &headers, jt, &name),
        None => no_route(),
    }
}

async fn delete_job(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path((k, name)): Path<(String, String)>,
) -> Response {
    match kind(&k) {
        Some(jt) => delete(&s, &t, jt, &name),
        None => no_route(),
    }
}

async fn upload_job(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    headers: HeaderMap,
    Path((k, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(jt) = kind(&k) else {
        return no_route();
    };
    tokio::task::spawn_blocking(move || put_job(&s, &t, &headers, jt, &name, &body))
        .await
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn get_settings(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path((k, name)): Path<(String, String)>,
) -> Response {
    match kind(&k) {
        Some(jt) => settings(&s, &t, jt, &name),
        None => no_route(),
    }
}

async fn replace_settings(
    State(s): State<Arc<ApiState>>,
    axum::Extension(Tenant(t)): axum::Extension<Tenant>,
    Path((k, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    match kind(&k) {
        Some(jt) => put_settings(&s, &t, jt, &name, &body),
        None => no_route(),
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Aliases are rewritten before routing.
    let app = tower::ServiceExt::<Request>::map_request(router(state), rewrite_alias);
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn deprecated_aliases() {
        use super::alias;
        assert_eq!(alias("/api/jobs").as_deref(), Some("/api/webjobs"));
        assert_eq!(alias("/jobs/").as_deref(), Some("/api/webjobs"));
        assert_eq!(
            alias("/api/triggeredjobs/x/run").as_deref(),
            Some("/api/triggeredwebjobs/x/run")
        );
        assert_eq!(
            alias("/jobs/continuous/x").as_deref(),
            Some("/api/continuouswebjobs/x")
        );
        assert_eq!(
            alias("/api/jobs/triggered").as_deref(),
            Some("/api/triggeredwebjobs")
        );
        assert_eq!(alias("/api/triggeredwebjobs/x"), None);
        assert_eq!(alias("/api/triggeredjobsx"), None);
    }
}
