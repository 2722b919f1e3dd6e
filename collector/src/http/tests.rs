//! The router as a service: roles, refusals and headers, without a socket.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::{routes, ApiState, Tokens};
use crate::config::Config;
use crate::ledger::{Db, Live, Shared};
use crate::rules::Runtime;

const OPERATOR: &str = "operator-secret";
const VIEWER: &str = "viewer-secret";

fn router(tokens: Tokens) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n",
        "t.toml",
    )
    .unwrap();
    let (db, state) = Db::open(&dir.path().join("state")).unwrap();
    let db = Arc::new(db);
    let (outputs, _) = mpsc::unbounded_channel();
    let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
    let (commands, _) = crate::command::Commands::open(db, &config).unwrap();
    let shared: Shared = Arc::new(Mutex::new(Live {
        collector_id: "hq-1".into(),
        state,
        ..Default::default()
    }));
    let state = ApiState {
        shared,
        rules,
        tokens,
        commands,
    };
    (routes(state), dir)
}

fn both() -> Tokens {
    Tokens {
        operator: Some(Arc::from(OPERATOR)),
        viewer: Some(Arc::from(VIEWER)),
    }
}

/// Sends one request; returns the status, the response headers and the body as text.
async fn send(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn without_tokens_reads_are_open_and_state_changes_refused() {
    let (app, _dir) = router(Tokens::default());
    assert_eq!(
        send(&app, Method::GET, "/v1/stats", None).await.0,
        StatusCode::OK
    );
    for path in ["/v1/alerts/x/ack", "/v1/catalogue/reload"] {
        let (status, _, body) = send(&app, Method::POST, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("[api] token_file"), "{path}: {body}");
    }
}

#[tokio::test]
async fn viewers_read_and_only_operators_change_state() {
    let (app, _dir) = router(both());
    for token in [None, Some("wrong"), Some("operator-secre"), Some("")] {
        let (status, headers, _) = send(&app, Method::GET, "/v1/stats", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        let (status, _, _) = send(&app, Method::POST, "/v1/alerts/x/ack", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    for token in [VIEWER, OPERATOR] {
        let (status, _, _) = send(&app, Method::GET, "/v1/stats", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{token}");
    }
    for path in ["/v1/alerts/x/ack", "/v1/catalogue/reload"] {
        let (status, _, body) = send(&app, Method::POST, path, Some(VIEWER)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("only read"), "{body}");
    }
    // The operator passes the gate: what follows is the handlers' own answer.
    let (status, _, _) = send(&app, Method::POST, "/v1/alerts/x/ack", Some(OPERATOR)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = send(&app, Method::POST, "/v1/catalogue/reload", Some(OPERATOR)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_viewer_token_alone_never_allows_state_changes() {
    let (app, _dir) = router(Tokens {
        operator: None,
        viewer: Some(Arc::from(VIEWER)),
    });
    assert_eq!(
        send(&app, Method::GET, "/v1/stats", Some(VIEWER)).await.0,
        StatusCode::OK
    );
    let (status, _, body) = send(&app, Method::POST, "/v1/alerts/x/ack", Some(VIEWER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("[api] token_file"), "{body}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (app, _dir) = router(both());
    for (path, token, expected) in [
        ("/", None, StatusCode::OK),
        ("/dashboard", None, StatusCode::OK),
        ("/healthz", None, StatusCode::OK),
        ("/metrics", None, StatusCode::OK),
        ("/v1/stats", Some(VIEWER), StatusCode::OK),
        ("/v1/stats", None, StatusCode::UNAUTHORIZED),
        ("/nowhere", None, StatusCode::NOT_FOUND),
    ] {
        let (status, headers, _) = send(&app, Method::GET, path, token).await;
        assert_eq!(status, expected, "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn metrics_name_every_refusal_reason() {
    let (app, _dir) = router(Tokens::default());
    let (_, _, text) = send(&app, Method::GET, "/metrics", None).await;
    for line in [
        "store_collector_rejected_events_total{reason=\"seq_window\"} 0",
        "store_collector_rejected_events_total{reason=\"range_cap\"} 0",
        "store_collector_rejected_events_total{reason=\"seq_zero\"} 0",
        "store_collector_refused_publishes_total{reason=\"invalid_id\"} 0",
        "store_collector_refused_publishes_total{reason=\"store_cap\"} 0",
        "store_collector_refused_publishes_total{reason=\"topic\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing in:\n{text}");
    }
}

#[test]
fn tokens_match_exactly_and_name_their_role() {
    let t = both();
    assert_eq!(t.role_of(OPERATOR), Some(super::auth::Role::Operator));
    assert_eq!(t.role_of(VIEWER), Some(super::auth::Role::Viewer));
    for wrong in ["", "operator-secret ", "operator-secreT", "viewer"] {
        assert_eq!(t.role_of(wrong), None, "{wrong:?}");
    }
    assert!(!format!("{t:?}").contains(OPERATOR));
}

#[test]
fn the_dashboard_keeps_the_token_out_of_the_url_and_local_storage() {
    let page = include_str!("dashboard.html");
    assert!(page.contains("history.replaceState"));
    assert!(page.contains("sessionStorage.setItem"));
    assert!(!page.contains("localStorage.setItem"));
    assert!(!page.contains("localStorage.getItem"));
}
