//! The HTTP side of `wasmjobs serve`: WebJobs' REST API, a few routes
//! beyond it, and the dashboard. Every route but `/healthz` needs a
//! tenant's credentials ([`auth`], or the dashboard's session cookie) and
//! sees only that tenant's jobs, runs and files.
//!
//! - [`jobs`]: job lists and objects, upload, delete, settings, continuous
//!   start/stop;
//! - [`runs`]: history, `POST .../run`, stopping a run, live output;
//! - [`ops`]: `/metrics`, the OpenAPI document;
//! - [`dashboard`]: the web page, its login and session.

pub mod auth;
mod dashboard;
mod jobs;
mod ops;
mod runs;
pub mod server;
mod throttle;
mod vfs;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::job::Job;
use crate::job::JobType;
use crate::runner::Runner;
use crate::runner::book::JobPlace;
use crate::store::layout::Layout;
use crate::tenant::Tenants;
use crate::tenant::quota::{Quota, Quotas};

/// Limits on requests and connections.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body (an uploaded job); 413 beyond.
    pub max_upload_bytes: usize,
    /// Longest a request may take to be answered, credentials checked
    /// included (a streamed body may go on after); 503 beyond.
    pub request_timeout: Duration,
    /// Connections, header and stall timeouts.
    pub connections: server::ConnectionLimits,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_upload_bytes: 256 << 20,
            request_timeout: Duration::from_secs(30),
            connections: server::ConnectionLimits::for_descriptors(1024),
        }
    }
}

/// What the API serves from.
pub struct ApiState {
    tenants: Tenants,
    quotas: Arc<Quotas>,
    auth: auth::Auth,
    sessions: dashboard::Sessions,
    runner: Runner,
    limits: ApiLimits,
    /// Held while a job is installed under a byte quota (awaited, so a
    /// waiting install holds no thread).
    installing: Arc<tokio::sync::Mutex<()>>,
    /// Uploads being received at once (each a scratch file on disk).
    uploads: tokio::sync::Semaphore,
}

impl ApiState {
    /// The API over the tenants of `runner`'s data root, with their
    /// `quotas`; runs asked for through it go to `runner`'s run book (whose
    /// runs go on the jobs' runtime, never the threads that answer
    /// requests) and use its executors. Starts the threads that check
    /// secrets.
    pub fn new(
        runner: Runner,
        quotas: Arc<Quotas>,
        limits: ApiLimits,
    ) -> std::io::Result<ApiState> {
        let tenants = Tenants::new(runner.host().layout.root());
        Ok(ApiState {
            auth: auth::Auth::new(tenants.clone())?,
            sessions: dashboard::Sessions::default(),
            tenants,
            quotas,
            runner,
            limits,
            installing: Arc::default(),
            uploads: tokio::sync::Semaphore::new(MAX_UPLOADS),
        })
    }

    fn layout(&self, tenant: &str) -> Layout {
        self.tenants.layout(tenant)
    }

    fn quota(&self, tenant: &str) -> Quota {
        self.quotas.of(tenant)
    }

    /// Where a tenant's job is, for the run book.
    fn place(&self, tenant: &str, job: &Job) -> JobPlace {
        JobPlace {
            tenant: tenant.to_string(),
            job_type: job.job_type,
            name: job.name.clone(),
            data_dir: self.layout(tenant).data_dir(job.job_type, &job.name),
        }
    }

    /// The runner for a tenant's runs (its data root and quota).
    fn runner(&self, tenant: &str) -> Runner {
        self.runner
            .for_tenant(tenant, self.layout(tenant), &self.quota(tenant))
    }
}

/// The authenticated tenant of a request (set by [`authenticate`]).
#[derive(Clone)]
struct Tenant(String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "credentials required"))
    }
}

/// The `{kind}/{name}` of a job route, its kind checked (`no such route`
/// otherwise).
struct JobAt(JobType, String);

impl<S: Send + Sync> FromRequestParts<S> for JobAt {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let axum::extract::Path((k, name)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let t = kind(&k).ok_or_else(no_route)?;
        Ok(JobAt(t, name))
    }
}

/// A JSON error with a status, WebJobs-style `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn no_route() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    let guarded = Router::new()
        .merge(jobs::routes())
        .merge(runs::routes())
        .merge(ops::routes())
        .merge(dashboard::routes())
        .fallback(|| async { no_route() })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/dashboard/login", post(dashboard::login))
        .merge(guarded)
        // Uploads stream to disk under their own limit; every other body
        // read whole is small.
        .layer(axum::extract::DefaultBodyLimit::max(SMALL_BODY))
        // Credentials (a sign-in's too) are checked inside the time limit.
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// Uploads received at once (beyond: `503` with `Retry-After`).
const MAX_UPLOADS: usize = 8;

/// The largest body a route other than an upload reads (a sign-in, a
/// `settings.job`).
const SMALL_BODY: usize = 64 << 10;

/// Most bytes of a plain-text error body turned into JSON.
const ERROR_TEXT_MAX: usize = 4096;

/// Every error the API answers is `{"error": "..."}`: rejections made by
/// the framework (a body over the cap, a malformed path or query) come as
/// plain text and are wrapped here. HTML (the sign-in page) and JSON pass
/// as they are.
async fn json_errors(r: Response) -> Response {
    let status = r.status();
    let plain = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, ERROR_TEXT_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = error(status, message);
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Answers 503 when a request's response is not ready in time (a body
/// streamed after the response started is not limited).
async fn time_limit(State(state): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            state
                .runner
                .metrics()
                .refused(crate::metrics::Refusal::RequestTimeout);
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request took longer than {} s",
                    state.limits.request_timeout.as_secs()
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            r
        }
    }
}

/// Finds the tenant a request proves: an `Authorization` header, or the
/// dashboard's session cookie (which, for anything but reading, must come
/// with the dashboard's `X-Requested-With` header, so another site cannot
/// make a browser act with it).
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
    let tenant = match header {
        Some(h) => match auth::credentials(&h) {
            None => None,
            Some((t, secret)) => {
                let client = client_ip(&req);
                match state.auth.sign_in(client, &t, &secret).await {
                    Ok(true) => Some(t),
                    Ok(false) => None,
                    Err(refused) => return refused_sign_in(&state, refused),
                }
            }
        },
        None => {
            let from_cookie = state.sessions.tenant(req.headers(), &state.auth);
            let reading = matches!(*req.method(), Method::GET | Method::HEAD);
            if from_cookie.is_some() && !reading && !dashboard::is_own_request(req.headers()) {
                return error(
                    StatusCode::FORBIDDEN,
                    "a request with the session cookie must carry X-Requested-With: wasmjobs",
                );
            }
            from_cookie
        }
    };
    match tenant {
        Some(t) => {
            req.extensions_mut().insert(Tenant(t));
            next.run(req).await
        }
        None if dashboard::is_page(req.uri().path()) => dashboard::login_page(),
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

/// Runs file-system work on a blocking thread: the threads that answer
/// requests never wait on a disk.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down, and this request with it.
        Err(_) => std::future::pending().await,
    }
}

/// The address the request came from, when the server knows it.
fn client_ip(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|a| a.0.ip())
}

/// The answer to credentials that were not checked: `429` with
/// `Retry-After` for a client that failed or asked too often, `503` when
/// every checking thread is busy; each counted in `/metrics`.
fn refused_sign_in(state: &ApiState, refused: auth::Refused) -> Response {
    use crate::metrics::Refusal;
    let (status, retry, message, counted) = match refused {
        auth::Refused::Throttled(d) => {
            let s = d.as_secs_f64().ceil().max(1.0) as u64;
            (
                StatusCode::TOO_MANY_REQUESTS,
                s,
                format!("too many failed sign-ins from this client: retry in {s} s"),
                Refusal::SignInThrottled,
            )
        }
        auth::Refused::ClientBusy => (
            StatusCode::TOO_MANY_REQUESTS,
            1,
            "this client already has sign-ins being checked: retry in 1 s".to_string(),
            Refusal::SignInThrottled,
        ),
        auth::Refused::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            1,
            "too many sign-ins are being checked: retry in 1 s".to_string(),
            Refusal::SignInBusy,
        ),
    };
    state.runner.metrics().refused(counted);
    let mut r = error(status, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry));
    r
}

/// `{scheme}://{authority}` of the request (WebJobs builds URLs from it).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
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

/// The job type a `{kind}` path segment names (`triggeredwebjobs`,
/// `continuouswebjobs`).
fn kind(segment: &str) -> Option<JobType> {
    match segment {
        "triggeredwebjobs" => Some(JobType::Triggered),
        "continuouswebjobs" => Some(JobType::Continuous),
        _ => None,
    }
}

fn no_job(t: JobType, name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no {t} job named '{name}'"))
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

/// The request with a deprecated alias rewritten to its current path.
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

/// Serves the API on `listener` until `shutdown` resolves, within the
/// state's connection limits; the requests under way then get `drain` to
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let limits = state.limits.connections;
    let metrics = state.runner.metrics().clone();
    // Aliases are rewritten before routing.
    let app = tower::ServiceExt::<Request>::map_request(router(state), rewrite_alias);
    server::serve(listener, app, limits, metrics, shutdown, drain).await
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
