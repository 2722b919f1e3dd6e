//! HQ's HTTP API: the last stop of a batch, where its effects are read.
//!
//! `/v1/*` needs `Authorization: Bearer <token>` when `[api] token` (or `token_file`) is set;
//! `/healthz`, `/metrics` and the dashboard page are open (the page asks for the token and sends
//! it on its own requests). Handlers only read snapshots ([`crate::ledger::Shared`] and
//! [`crate::rules::Runtime::read`]) under short locks, except acknowledging an alert, which
//! goes through the rules runtime like every other write of the engine.
//!
//! - `routes`: the router, the `/v1/*` handlers and `/metrics`;
//! - [`stats`]: the body of `GET /v1/stats`;
//! - `metrics`: the Prometheus text;
//! - `dashboard.html`: the single-page dashboard, served as is.

mod metrics;
mod routes;
pub mod stats;

pub use self::routes::routes;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ledger::Shared;
use crate::rules::Runtime;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub shared: Shared,
    pub rules: Arc<Runtime>,
    pub token: Option<Arc<str>>,
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_ref()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "missing or wrong bearer token"})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}
