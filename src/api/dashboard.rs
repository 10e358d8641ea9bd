//! The dashboard: one page (HTML, JS and CSS embedded in the binary) over
//! the REST API. A visitor without credentials gets the login form as the
//! body of a 401; `POST /dashboard/login` with the tenant's secret starts
//! a session (an `HttpOnly`, `SameSite=Strict` cookie naming a random
//! token kept in memory), which the API then accepts like credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{ApiState, Tenant, error};

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The session cookie's name.
const COOKIE: &str = "wasmjobs_session";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Sessions one tenant may have at once; a new one ends the oldest.
const MAX_SESSIONS: usize = 64;
/// The header the dashboard's own requests carry (see [`is_own_request`]).
const OWN_HEADER: &str = "x-requested-with";

/// Dashboard sessions: token → tenant. A session ends after
/// [`SESSION_TTL`], at sign-out, or when the tenant's record changes (a
/// new secret, a removal).
#[derive(Default)]
pub(super) struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

struct Session {
    tenant: String,
    at: Instant,
    stamp: Option<std::time::SystemTime>,
}

impl Sessions {
    /// The tenant of the request's session cookie, if it names a live one.
    pub(super) fn tenant(&self, headers: &HeaderMap, auth: &super::auth::Auth) -> Option<String> {
        let token = cookie(headers)?;
        let mut m = self.by_token.lock().expect("sessions lock");
        m.retain(|_, s| s.at.elapsed() < SESSION_TTL);
        let s = m.get(&token)?;
        if !auth.unchanged(&s.tenant, s.stamp) {
            m.remove(&token);
            return None;
        }
        Some(s.tenant.clone())
    }

    fn start(&self, tenant: &str, stamp: Option<std::time::SystemTime>) -> anyhow::Result<String> {
        let token = hex::encode(crate::tenant::random_bytes::<32>()?);
        let mut m = self.by_token.lock().expect("sessions lock");
        // A tenant's oldest sessions end when it starts too many.
        let mut mine: Vec<(Instant, String)> = m
            .iter()
            .filter(|(_, s)| s.tenant == tenant)
            .map(|(k, s)| (s.at, k.clone()))
            .collect();
        if mine.len() >= MAX_SESSIONS {
            mine.sort();
            for (_, k) in &mine[..=mine.len() - MAX_SESSIONS] {
                m.remove(k);
            }
        }
        m.insert(
            token.clone(),
            Session {
                tenant: tenant.to_string(),
                at: Instant::now(),
                stamp,
            },
        );
        Ok(token)
    }

    fn end(&self, headers: &HeaderMap) {
        if let Some(token) = cookie(headers) {
            self.by_token.lock().expect("sessions lock").remove(&token);
        }
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Whether a request comes from the dashboard's own script (it sets a
/// header a cross-site form cannot, and a cross-site script may not
/// without this host's consent, which it never gives).
pub(super) fn is_own_request(headers: &HeaderMap) -> bool {
    headers
        .get(OWN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "wasmjobs")
}

/// Whether a path is one of the dashboard's pages (answered with the
/// login form when there are no credentials).
pub(super) fn is_page(path: &str) -> bool {
    path == "/" || path == "/dashboard" || path.starts_with("/dashboard/")
}

/// The login form, as the body of a 401 (never framed by another site).
pub(super) fn login_page() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        LOGIN,
    )
        .into_response()
}

/// The dashboard's routes (behind credentials; the login is public).
pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(index))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/app.css", get(app_css))
        .route("/dashboard/logout", post(logout))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

async fn index(Tenant(t): Tenant) -> Response {
    let page = INDEX.replace("{{tenant}}", &html_escape(&t));
    let mut r = asset("text/html; charset=utf-8", "").into_response();
    *r.body_mut() = page.into();
    r
}

/// `s` safe inside HTML text.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// The sign-in form's request body.
#[derive(serde::Deserialize)]
pub(super) struct Login {
    tenant: String,
    secret: String,
}

/// `POST /dashboard/login` `{"tenant": ..., "secret": ...}`: starts a
/// session (sets its cookie), or 401.
pub(super) async fn login(
    State(s): State<Arc<ApiState>>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Only the sign-in form's own request: another site cannot sign a
    // visitor in (to its tenant) with a form post.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_own_request(&headers) || !json {
        return error(
            StatusCode::BAD_REQUEST,
            "sign in with the dashboard's form (application/json with X-Requested-With: wasmjobs)",
        );
    }
    let Ok(Login { tenant, secret }) = serde_json::from_slice(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON object {\"tenant\": ..., \"secret\": ...}",
        );
    };
    let client = client.map(|c| c.0.0.ip());
    let ok = match s.auth.sign_in(client, &tenant, &secret).await {
        Ok(ok) => ok,
        Err(refused) => return super::refused_sign_in(&s, refused),
    };
    if !ok {
        return error(StatusCode::UNAUTHORIZED, "wrong tenant or secret");
    }
    match s.sessions.start(&tenant, s.auth.stamp(&tenant)) {
        Ok(token) => (
            [(
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                    SESSION_TTL.as_secs(),
                    if super::base_url(&headers).starts_with("https:") {
                        "; Secure"
                    } else {
                        ""
                    }
                ),
            )],
            axum::Json(serde_json::json!({ "tenant": tenant })),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn logout(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    s.sessions.end(&headers);
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        StatusCode::OK,
    )
        .into_response()
}
