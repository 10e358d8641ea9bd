//! Jobs: `GET /api/webjobs`, `GET /api/{kind}`, and per job `GET`, `PUT`
//! (WebJobs' upload), `DELETE`, `GET`/`PUT .../settings`, and a continuous
//! job's `start`/`stop`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{
    ApiState, JobAt, Tenant, base_url, error, kind, no_job, no_route, off_thread, with_etag,
};
use crate::bundle;
use crate::job::{Job, JobType};
use crate::runner::book::JobPlace;
use crate::wire;

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
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
        .route("/api/continuouswebjobs/{name}/start", post(start))
        .route("/api/continuouswebjobs/{name}/stop", post(stop))
}

/// A tenant's job, as the run book has it: a job another host took a
/// moment ago is materialised here first, and one the book no longer has
/// is not found.
pub(super) async fn find(state: &ApiState, tenant: &str, t: JobType, name: &str) -> Option<Job> {
    if !state.runner.book().job_current(tenant, t, name).await {
        return None;
    }
    let (layout, executors, name) = (
        state.layout(tenant),
        state.runner.host().executors,
        name.to_string(),
    );
    off_thread(move || bundle::read_job(&layout, executors, t, &name)).await
}

/// A job's WebJobs JSON, with wasmjobs' own fields under `"wasmjobs"`
/// (when a scheduled job runs next).
async fn job_value(state: &ApiState, tenant: &str, base: &str, job: &Job) -> Value {
    let facts = state
        .runner
        .book()
        .job_facts(&state.place(tenant, job))
        .await;
    let mut v = wire::job_json(base, job, &facts);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "wasmjobs".into(),
            json!({ "next_run": next_run(state, job) }),
        );
    }
    v
}

/// When a scheduled job's schedule fires next (RFC 3339), if it has one.
fn next_run(state: &ApiState, job: &Job) -> Option<String> {
    if job.job_type != JobType::Triggered {
        return None;
    }
    let cron: crate::schedule::Cron = job.settings.schedule()?.parse().ok()?;
    let zone = job
        .settings
        .time_zone()
        .map(str::to_string)
        .or_else(|| state.runner.host().time_zone.clone())
        .unwrap_or_else(|| "UTC".into());
    let tz = crate::schedule::zone::parse_zone(&zone).ok()?;
    let next = crate::schedule::zone::next_instant(&cron, &tz, jiff::Timestamp::now())?;
    Some(crate::schedule::zone::rfc3339(next, &tz))
}

async fn list(
    state: &ApiState,
    tenant: &str,
    headers: &HeaderMap,
    only: Option<JobType>,
) -> Response {
    let base = base_url(headers);
    let mut jobs = Vec::new();
    let (layout, executors) = (state.layout(tenant), state.runner.host().executors);
    for j in off_thread(move || bundle::list_jobs(&layout, executors))
        .await
        .iter()
        .filter(|j| only.is_none_or(|t| j.job_type == t))
    {
        jobs.push(job_value(state, tenant, &base, j).await);
    }
    with_etag(headers, &Value::Array(jobs))
}

async fn list_all(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
) -> Response {
    list(&s, &t, &headers, None).await
}

async fn list_kind(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    Path(k): Path<String>,
) -> Response {
    match kind(&k) {
        Some(jt) => list(&s, &t, &headers, Some(jt)).await,
        None => no_route(),
    }
}

async fn get_job(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    JobAt(jt, name): JobAt,
) -> Response {
    match find(&s, &t, jt, &name).await {
        Some(job) => axum::Json(job_value(&s, &t, &base_url(&headers), &job).await).into_response(),
        None => no_job(jt, &name),
    }
}

async fn delete_job(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    JobAt(jt, name): JobAt,
) -> Response {
    // WebJobs answers 200 whether or not the job existed.
    let (layout, n) = (s.layout(&t), name.clone());
    let data_dir = layout.job_data_dir(jt, &name);
    // A run in progress on any host keeps the job (this host's own hold
    // the job's lock, which removing it checks).
    let place = JobPlace {
        tenant: t.clone(),
        job_type: jt,
        name: name.clone(),
        data_dir: data_dir.clone(),
    };
    match s.runner.book().running_elsewhere(&place).await {
        Ok(false) => {}
        Ok(true) => {
            let e = bundle::BundleError::Running(name.clone());
            return error(StatusCode::CONFLICT, e.to_string());
        }
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")),
    }
    match off_thread(move || bundle::remove(&layout, jt, &n)).await {
        Ok(_) => {
            // Its data folder no longer counts toward the tenant's disk.
            s.runner.disk().forget_data(&data_dir, &t);
            match s.runner.book().forget_job(&t, jt, &name).await {
                Ok(()) => StatusCode::OK.into_response(),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")),
            }
        }
        Err(e @ bundle::BundleError::Running(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ bundle::BundleError::InvalidName(..)) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn upload_job(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    headers: HeaderMap,
    JobAt(jt, name): JobAt,
    body: axum::body::Body,
) -> Response {
    if let Err(e) = bundle::name::validate(&name) {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
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
    let max = s.limits.max_upload_bytes as u64;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the upload is larger than {} MiB (--max-upload-mb)",
                max >> 20
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return too_large();
    }
    // A bounded number of uploads are received at once (each holds a
    // scratch file of up to --max-upload-mb).
    let Ok(_receiving) = s.uploads.try_acquire() else {
        s.runner.metrics().refused(crate::metrics::Refusal::Uploads);
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many uploads are being received: retry in 5 s",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return r;
    };
    // The body goes to a scratch file as it comes (never whole in memory).
    let scratch_root = s.layout(&t).root().join("temp");
    let scratch = match off_thread(move || {
        std::fs::create_dir_all(&scratch_root)
            .and_then(|()| crate::store::fsutil::fresh_dir(&scratch_root, "upload"))
    })
    .await
    {
        Ok(d) => d,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let cleanup = crate::store::fsutil::RemoveOnDrop(vec![scratch.clone()]);
    let staged = if is_zip {
        scratch.join("upload.zip")
    } else {
        scratch.join("bundle")
    };
    let target = if is_zip {
        staged.clone()
    } else {
        staged.join(&file_name)
    };
    let answer = match receive(body, target, max).await {
        Ok(_) => install_upload(&s, &t, &headers, jt, &name, staged, is_zip).await,
        Err(Received::TooLarge) => too_large(),
        Err(Received::Failed(e)) if e.raw_os_error() == Some(libc::ENOSPC) => error(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("the upload could not be stored: the host's disk is full ({e})"),
        ),
        Err(Received::Failed(e)) => error(
            StatusCode::BAD_REQUEST,
            format!("the upload could not be received: {e}"),
        ),
    };
    off_thread(move || drop(cleanup)).await;
    answer
}

/// Why an upload's body was not received whole.
enum Received {
    /// It was larger than allowed.
    TooLarge,
    /// The client or the disk failed.
    Failed(std::io::Error),
}

/// Bytes of an upload gathered before they are written (on a blocking
/// thread, which is free again between writes).
const UPLOAD_BATCH: usize = 256 << 10;

/// Writes a request body to a new file at `path` (its folder made), in
/// batches on short blocking tasks, refusing more than `max` bytes.
async fn receive(
    body: axum::body::Body,
    path: std::path::PathBuf,
    max: u64,
) -> Result<u64, Received> {
    use futures_util::StreamExt;
    let mut file = off_thread(move || -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
    })
    .await
    .map_err(Received::Failed)?;
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    let mut batch: Vec<u8> = Vec::with_capacity(UPLOAD_BATCH);
    loop {
        let chunk = stream.next().await;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            let chunk = chunk.map_err(|e| Received::Failed(std::io::Error::other(e)))?;
            n += chunk.len() as u64;
            if n > max {
                return Err(Received::TooLarge);
            }
            batch.extend_from_slice(&chunk);
        }
        if batch.len() >= UPLOAD_BATCH || (last && !batch.is_empty()) {
            let bytes = std::mem::take(&mut batch);
            let (f, written) = off_thread(move || {
                use std::io::Write;
                let mut f = file;
                let r = f.write_all(&bytes);
                (f, r)
            })
            .await;
            file = f;
            written.map_err(Received::Failed)?;
            batch = Vec::with_capacity(UPLOAD_BATCH);
        }
        if last {
            return Ok(n);
        }
    }
}

/// Installs a staged upload (`source`: a zip, or a folder holding the one
/// file) as job `name`, then publishes it and answers with its JSON.
/// Installs under a byte quota go one at a time per host.
async fn install_upload(
    s: &Arc<ApiState>,
    tenant: &str,
    headers: &HeaderMap,
    t: JobType,
    name: &str,
    source: std::path::PathBuf,
    is_zip: bool,
) -> Response {
    let one_at_a_time = match s.quota(tenant).job_bytes_mb {
        Some(_) => Some(s.installing.clone().lock_owned().await),
        None => None,
    };
    // A shared book's sync keeps off this job until it is published.
    let _changing = s.runner.book().changing(tenant, t, name);
    let (st, tn, n) = (s.clone(), tenant.to_string(), name.to_string());
    let installed = off_thread(move || {
        let r = install_job(&st, &tn, t, &n, &source, is_zip);
        drop(one_at_a_time);
        r
    })
    .await;
    let job = match installed {
        Ok(job) => job,
        Err(r) => return *r,
    };
    if let Err(r) = publish(s, tenant, &job).await {
        return r;
    }
    axum::Json(job_value(s, tenant, &base_url(headers), &job).await).into_response()
}

/// Installs the job staged at `source`. The job is replaced whole; a
/// bundle that is refused installs nothing (400 with the reason; 413 when
/// it unpacks too large or would take the tenant past its
/// `job_bytes_mb`). Call on a blocking thread, holding the quota's install
/// lock when the tenant has one.
fn install_job(
    state: &ApiState,
    tenant: &str,
    t: JobType,
    name: &str,
    source: &std::path::Path,
    is_zip: bool,
) -> Result<Job, Box<Response>> {
    let layout = state.layout(tenant);
    let room = quota_room(state, tenant, t, name);
    let over_quota = || Box::new(over_quota(state, tenant, room));
    if !is_zip && room.is_some_and(|left| tree_bytes(source) > left) {
        return Err(over_quota());
    }
    let mut extract = state.runner.host().extract;
    if let Some(left) = room {
        extract.max_total_bytes = extract.max_total_bytes.min(left);
    }
    use bundle::BundleError as E;
    bundle::install(
        &layout,
        state.runner.host().executors,
        source,
        name,
        t,
        extract,
    )
    .map_err(|e| {
        Box::new(match e {
            E::TooLarge(n) if room == Some(n) => *over_quota(),
            e @ (E::TooLarge(_) | E::EntryTooLarge(..) | E::TooManyEntries(_)) => {
                error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            e @ E::Running(_) => error(StatusCode::CONFLICT, e.to_string()),
            e @ E::Io(..) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            e => error(StatusCode::BAD_REQUEST, e.to_string()),
        })
    })
}

/// Bytes under `dir` (regular files, not following symlinks).
fn tree_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(ft) if ft.is_dir() => tree_bytes(&e.path()),
            Ok(ft) if ft.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// What the tenant's `job_bytes_mb` quota leaves for job `name` (its own
/// current size does not count: it is being replaced), if it has one.
fn quota_room(state: &ApiState, tenant: &str, t: JobType, name: &str) -> Option<u64> {
    let mb = state.quota(tenant).job_bytes_mb?;
    let layout = state.layout(tenant);
    let others =
        tree_bytes(&layout.jobs_root()).saturating_sub(tree_bytes(&layout.job_dir(t, name)));
    Some((mb << 20).saturating_sub(others))
}

/// The 413 of a job that does not fit the tenant's `job_bytes_mb`.
fn over_quota(state: &ApiState, tenant: &str, room: Option<u64>) -> Response {
    let mb = state.quota(tenant).job_bytes_mb.unwrap_or(0);
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the job does not fit tenant '{tenant}' quota: job_bytes_mb = {mb}, and its other jobs leave {} bytes",
            room.unwrap_or(0)
        ),
    )
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

async fn get_settings(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    JobAt(jt, name): JobAt,
) -> Response {
    match find(&s, &t, jt, &name).await {
        Some(job) => axum::Json(Value::Object(job.settings.raw().clone())).into_response(),
        None => no_job(jt, &name),
    }
}

/// `PUT .../settings`: replaces `settings.job` with the body, a JSON object
/// (no merge, as WebJobs). A body over 64 KiB is a 413, one nested too
/// deep or with a schedule that cannot be used a 400; the new file counts
/// against the tenant's `job_bytes_mb` like the rest of the job.
async fn replace_settings(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    JobAt(jt, name): JobAt,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    use crate::bundle::settings::{self, MAX_BYTES};
    let Some(job) = find(&s, &t, jt, &name).await else {
        return no_job(jt, &name);
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body = match declared.filter(|n| *n > MAX_BYTES) {
        Some(_) => Err(()),
        None => axum::body::to_bytes(body, MAX_BYTES).await.map_err(|_| ()),
    };
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{} may be at most {MAX_BYTES} bytes", settings::FILE_NAME),
            );
        }
    };
    if let Some(why) = settings::refused(&body) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let map = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "settings must be a JSON object"),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("settings are not JSON: {e}"),
            );
        }
    };
    let parsed = settings::Settings::from_map(map.clone());
    if jt == JobType::Triggered
        && let Some(problem) = parsed.schedule_problem()
    {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    if let Some(problem) = parsed.network_problem() {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    let text = serde_json::to_vec_pretty(&Value::Object(map)).unwrap_or_default();
    // (As it will be written: pretty-printing adds bytes.)
    if let Some(why) = settings::refused(&text) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{why} once written out"),
        );
    }
    let _changing = s.runner.book().changing(&t, jt, &name);
    let one_at_a_time = match s.quota(&t).job_bytes_mb {
        Some(_) => Some(s.installing.clone().lock_owned().await),
        None => None,
    };
    let (st, tenant, job2) = (s.clone(), t.clone(), job.clone());
    let written = off_thread(move || {
        let _one_at_a_time = one_at_a_time;
        let dir = bundle::script_dir(&job2.dir).unwrap_or(job2.dir.clone());
        let path = dir.join(settings::FILE_NAME);
        // The job's other files and the new settings must fit the quota.
        if let Some(left) = quota_room(&st, &tenant, jt, &job2.name) {
            let old = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
            let rest = tree_bytes(&job2.dir).saturating_sub(old);
            if rest + text.len() as u64 > left {
                return Err(Box::new(over_quota(&st, &tenant, Some(left))));
            }
        }
        crate::store::fsutil::write_atomic(&path, &text)
            .map_err(|e| Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
    })
    .await;
    match written {
        Ok(()) => publish(&s, &t, &job)
            .await
            .map_or_else(|r| r, |()| StatusCode::OK.into_response()),
        Err(r) => *r,
    }
}

/// Records a job as this host now has it in the run book (in a shared
/// book, every host installs it within a second or two); the request fails
/// when the book does not take it.
async fn publish(state: &ApiState, tenant: &str, job: &Job) -> Result<(), Response> {
    state
        .runner
        .book()
        .publish(tenant, job)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))
}

/// `start`/`stop` of a continuous job: removes or writes its `disable.job`,
/// which the serving host acts on.
async fn set_disabled(state: &ApiState, tenant: &str, name: &str, disabled: bool) -> Response {
    let Some(job) = find(state, tenant, JobType::Continuous, name).await else {
        return no_job(JobType::Continuous, name);
    };
    let _changing = state
        .runner
        .book()
        .changing(tenant, JobType::Continuous, name);
    let j = job.clone();
    match off_thread(move || crate::supervise::continuous::set_disabled(&j, disabled)).await {
        Ok(_) => publish(state, tenant, &job)
            .await
            .map_or_else(|r| r, |()| StatusCode::OK.into_response()),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn start(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    Path(name): Path<String>,
) -> Response {
    set_disabled(&s, &t, &name, false).await
}

async fn stop(
    State(s): State<Arc<ApiState>>,
    Tenant(t): Tenant,
    Path(name): Path<String>,
) -> Response {
    set_disabled(&s, &t, &name, true).await
}
