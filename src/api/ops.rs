//! For operators and tools: `GET /metrics` (Prometheus text format, the
//! asking tenant's series only) and `GET /api/openapi.json` (this API's
//! OpenAPI 3.1 document).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiState, Tenant};

/// The OpenAPI document, kept beside the code it describes.
pub(super) const OPENAPI: &str = include_str!("assets/openapi.json");

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
}

async fn metrics(State(s): State<Arc<ApiState>>, Tenant(t): Tenant) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.runner.metrics().render(&t),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    /// Every route the router serves is in the OpenAPI document, and the
    /// document names no route the router lacks.
    #[test]
    fn openapi_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        documented.sort();
        let sources = [
            include_str!("jobs.rs"),
            include_str!("runs.rs"),
            include_str!("ops.rs"),
            include_str!("dashboard.rs"),
            include_str!("mod.rs"),
        ];
        // `.route("/path", ...)`, or rustfmt's `.route(` with the path on
        // the next line.
        let mut served: Vec<String> = Vec::new();
        for src in sources {
            let lines: Vec<&str> = src.lines().map(str::trim).collect();
            for (i, l) in lines.iter().enumerate() {
                let rest = match l.strip_prefix(".route(") {
                    Some("") => lines[i + 1],
                    Some(r) => r,
                    None => continue,
                };
                let path = rest.trim_start_matches('"');
                let path = &path[..path.find('"').unwrap()];
                served.push(path.replace("{*path}", "{path}"));
            }
        }
        served.sort();
        served.dedup();
        assert_eq!(documented, served);
    }
}
