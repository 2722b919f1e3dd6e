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
    send_body(app, method, path, token, Body::empty()).await
}

/// [`send`] with a request body.
async fn send_body(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Body,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
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
        "store_collector_command_results_rejected_total{reason=\"undecodable\"} 0",
        "store_collector_command_results_rejected_total{reason=\"unknown_id\"} 0",
        "store_collector_command_results_rejected_total{reason=\"wrong_agent\"} 0",
        "store_collector_command_results_rejected_total{reason=\"too_large\"} 0",
        "store_collector_commands_sent_total 0",
        "store_collector_commands_outstanding 0",
    ] {
        assert!(text.contains(line), "{line} missing in:\n{text}");
    }
}

#[tokio::test]
async fn commands_are_issued_by_operators_checked_and_listed() {
    let (app, _dir) = router(both());
    let path = "/v1/stores/s1/agents/a1/commands";
    let post = |path: &'static str, token: &'static str, body: String| {
        let app = app.clone();
        async move { send_body(&app, Method::POST, path, Some(token), Body::from(body)).await }
    };
    let (status, _, body) = post(path, VIEWER, r#"{"kind":"reload"}"#.into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("sending commands"), "{body}");
    for (path, body, names) in [
        (path, r#"{"kind":"reboot"}"#.to_owned(), "kind: "),
        (
            path,
            r#"{"kind":"reload","x":1}"#.to_owned(),
            "x: unknown field",
        ),
        (
            path,
            format!(r#"{{"kind":"reload","pad":"{}"}}"#, "a".repeat(20_000)),
            "body is larger than 16384 bytes",
        ),
        (
            "/v1/stores/s%2B1/agents/a1/commands",
            r#"{"kind":"reload"}"#.to_owned(),
            "store: ",
        ),
        (
            "/v1/stores/s1/agents/a%23/commands",
            r#"{"kind":"reload"}"#.to_owned(),
            "agent: ",
        ),
    ] {
        let (status, _, text) = post(path, OPERATOR, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let error: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            error["error"].as_str().unwrap().starts_with(names),
            "{text}"
        );
    }
    let (status, _, text) = post(
        path,
        OPERATOR,
        r#"{"kind":"status_report","expires_in_secs":60}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["state"], "pending");
    assert_eq!(record["issued_by"], "operator");
    assert_eq!(record["command"]["kind"], "status_report");
    let expires =
        record["expires_at_ms"].as_i64().unwrap() - record["issued_at_ms"].as_i64().unwrap();
    assert_eq!(expires, 60_000);
    let id = record["id"].as_str().unwrap();

    let (status, _, text) = send(
        &app,
        Method::GET,
        &format!("/v1/commands/{id}"),
        Some(VIEWER),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, _, _) = send(&app, Method::GET, "/v1/commands/nope", Some(VIEWER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, text) = send(
        &app,
        Method::GET,
        "/v1/commands?store=s1&state=pending&limit=1",
        Some(VIEWER),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["commands"][0]["id"], id);
    assert_eq!(list["next_after"], id);
    for query in ["state=done", "limit=0", "limit=1001", "colour=red"] {
        let (status, _, text) = send(
            &app,
            Method::GET,
            &format!("/v1/commands?{query}"),
            Some(VIEWER),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
    }

    // The per-agent bound (100 by default) answers 429; other agents are not affected.
    for _ in 1..100 {
        let (status, _, _) = post(path, OPERATOR, r#"{"kind":"reload"}"#.into()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, _, text) = post(path, OPERATOR, r#"{"kind":"reload"}"#.into()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    let (status, _, _) = post(
        "/v1/stores/s1/agents/a2/commands",
        OPERATOR,
        r#"{"kind":"reload"}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
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

#[test]
fn the_dashboard_sends_commands_and_shows_results_as_text_only() {
    let page = include_str!("dashboard.html");
    assert!(page.contains("/commands`"));
    assert!(page.contains("/v1/commands?limit="));
    for kind in ["status_report", "\"replay\"", "set_scan_mode"] {
        assert!(page.contains(kind), "{kind}");
    }
    // Result messages come from agents: never parsed as markup.
    assert!(!page.contains("innerHTML"));
}
