//! HQ's HTTP API: the last stop of a batch, where its effects are read.
//!
//! `/v1/*` is gated by bearer tokens with two roles, operator and viewer ([`auth`]); `/healthz`,
//! `/metrics` and the dashboard page are open (the page asks for a token and sends it on its own
//! requests). Every response carries the security headers of [`auth::security_headers`].
//! Handlers only read snapshots ([`crate::ledger::Shared`] and [`crate::rules::Runtime::read`])
//! under short locks, except acknowledging an alert, which goes through the rules runtime like
//! every other write of the engine.
//!
//! - [`auth`]: tokens, roles and security headers;
//! - `routes`: the router, the `/v1/*` handlers and `/metrics`;
//! - `history`: the history, audit and explain routes;
//! - `reports`: KPIs, stock-out hours and the staffing plan, as JSON or CSV;
//! - `commands`: the command routes (issue, list, read) over [`crate::command`];
//! - [`stats`]: the body of `GET /v1/stats`;
//! - `metrics`: the Prometheus text;
//! - `dashboard.html`: the single-page dashboard, served as is.

pub mod auth;
mod commands;
mod history;
mod metrics;
mod reports;
#[cfg(test)]
mod reports_tests;
mod routes;
pub mod stats;
#[cfg(test)]
mod tests;

pub use self::auth::Tokens;
pub use self::routes::routes;

use std::sync::Arc;

use axum::response::Html;

use crate::ledger::Shared;
use crate::rules::Runtime;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub shared: Shared,
    pub rules: Arc<Runtime>,
    pub tokens: Tokens,
    /// `POST /v1/admin/backup`.
    pub backups: Arc<crate::backup::Backups>,
    pub commands: Arc<crate::command::Commands>,
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}
