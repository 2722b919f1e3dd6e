//! Who may do what on `/v1/*`: bearer tokens with two roles, and the headers every response
//! carries.
//!
//! - The **operator** token (`[api] token` / `token_file`) reads and changes state: acknowledge
//!   alerts, reload the catalogue, take backups, send commands to agents.
//! - The **viewer** token (`[api] viewer_token` / `viewer_token_file`) only reads.
//!
//! Reads (`GET`, `HEAD`) need either token once any is configured, and are open when none is
//! (loopback set-ups). Every other method needs the operator token, and is refused (403) while no
//! operator token is configured: a state change is never open to anyone who can reach the port.
//! Tokens are compared in constant time (`subtle`), both always, so response times tell nothing
//! about how much of a guess was right or which role a token has (only whether its length
//! matches one).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::ApiState;
use crate::history::Actor;

/// The API's bearer tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    /// Reads and changes state.
    pub operator: Option<Arc<str>>,
    /// Only reads.
    pub viewer: Option<Arc<str>>,
    /// Who the operator token is, in the audit log and on commands (`[api] token_name`;
    /// `operator` when not set).
    pub operator_name: Option<Arc<str>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("Tokens")
            .field("operator", &self.operator.is_some())
            .field("viewer", &self.viewer.is_some())
            .finish()
    }
}

/// What a request's token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Operator,
}

impl Tokens {
    /// Whether any token is configured.
    pub fn any(&self) -> bool {
        self.operator.is_some() || self.viewer.is_some()
    }

    /// The role `given` grants, if any.
    pub fn role_of(&self, given: &str) -> Option<Role> {
        let matches = |token: &Option<Arc<str>>| -> bool {
            token
                .as_deref()
                .is_some_and(|t| bool::from(t.as_bytes().ct_eq(given.as_bytes())))
        };
        // Both compared, always: which one matched does not show in the time taken.
        let (operator, viewer) = (matches(&self.operator), matches(&self.viewer));
        if operator {
            Some(Role::Operator)
        } else if viewer {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The `/v1/*` gate (see the module docs).
pub async fn require_token(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let tokens = &state.tokens;
    let role = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|given| tokens.role_of(given));
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if reads {
        if tokens.any() && role.is_none() {
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    } else if tokens.operator.is_none() {
        return refuse(
            StatusCode::FORBIDDEN,
            "state-changing requests need the operator token, and none is configured: set \
             [api] token_file (or token) in the collector's configuration",
        );
    } else {
        match role {
            Some(Role::Operator) => {}
            Some(Role::Viewer) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "this token may only read; acknowledging, reloading and sending commands need \
                     the operator token",
                )
            }
            None => return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"),
        }
    }
    // Handlers learn who is asking from this, for the audit log.
    request.extensions_mut().insert(actor_of(role, tokens));
    next.run(request).await
}

/// The audit log's name for the token that authorised a request.
fn actor_of(role: Option<Role>, tokens: &Tokens) -> Actor {
    let any_token = tokens.any();
    match role {
        Some(Role::Operator) => Actor::new(
            tokens.operator_name.as_deref().unwrap_or("operator"),
            "operator",
        ),
        Some(Role::Viewer) => Actor::new("viewer", "viewer"),
        // Only reads get here without a role, and only while no token is configured.
        None if !any_token => Actor::new("open", "none"),
        None => Actor::new("unknown", "none"),
    }
}

/// `Content-Security-Policy` of every response. The dashboard is one page with inline script
/// and style and nothing from elsewhere; nothing may frame it.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response: no framing (clickjacking on the ack button), no
/// content sniffing, no referrer, no caching of API data.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
