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
        backups: Arc::new(crate::backup::Backups::new("hq-1", dir.path())),
        commands,
    };
    (routes(state), dir)
}

fn both() -> Tokens {
    Tokens {
        operator: Some(Arc::from(OPERATOR)),
        viewer: Some(Arc::from(VIEWER)),
        ..Default::default()
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
        ..Default::default()
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
    // The audit log says who sent it, and only the accepted command is there.
    let audit = json(
        &send(
            &app,
            Method::GET,
            "/v1/audit?action=command.issue",
            Some(VIEWER),
        )
        .await
        .2,
    );
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "operator");
    assert_eq!(entries[0]["target"], "s1/a1");
    assert_eq!(entries[0]["detail"]["id"], id);

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

/// A router whose runtime has applied `events` to store s1, agent a1, through the real group
/// commit (so the history rows are the ones ingest would write).
async fn router_with_history(events: Vec<store_proto::Event>) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n",
        "t.toml",
    )
    .unwrap();
    let (db, state) = Db::open(&dir.path().join("state")).unwrap();
    let (outputs, _) = mpsc::unbounded_channel();
    let db = Arc::new(db);
    let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
    let (commands, _) = crate::command::Commands::open(db, &config).unwrap();
    rules
        .apply_group(|group| {
            let info = crate::rules::engine::BatchInfo {
                store: "s1",
                agent: "a1",
                historical: false,
                sent_ms: 0,
            };
            for e in &events {
                group.apply(info, e);
            }
            crate::ledger::Changes::default()
        })
        .await
        .unwrap();
    let shared: Shared = Arc::new(Mutex::new(Live {
        collector_id: "hq-1".into(),
        state,
        ..Default::default()
    }));
    let state = ApiState {
        commands,
        backups: Arc::new(crate::backup::Backups::new("hq-1", dir.path())),
        shared,
        rules,
        tokens: both(),
    };
    (routes(state), dir)
}

fn scan_at(seq: u64, wall_time_ms: i64, gtin: &str) -> store_proto::Event {
    store_proto::Event {
        seq,
        device_id: "scanner-1".into(),
        wall_time_ms,
        body: Some(store_proto::Body::Scan(store_proto::v1::Scan {
            data: gtin.into(),
            gtin: gtin.into(),
            mode: store_proto::v1::ScanMode::Sale as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn history_pages_exports_and_refusals() {
    let gtin = |seq: u64| {
        if seq % 2 == 0 {
            "00000000000017"
        } else {
            "00000000000024"
        }
    };
    let events = (1..=5)
        .map(|seq| scan_at(seq, 1_764_600_000_000 + seq as i64 * 60_000, gtin(seq)))
        .collect();
    let (app, _dir) = router_with_history(events).await;

    // Pages of two, oldest first, for the viewer; following the cursor returns the rest.
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/v1/history?store=s1&limit=2",
        Some(VIEWER),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = json(&body);
    assert_eq!(first["order"], "oldest_first");
    assert_eq!(first["rows"].as_array().unwrap().len(), 2);
    assert_eq!(first["rows"][0]["seq"], 1);
    assert_eq!(first["rows"][0]["kind"], "scan");
    assert_eq!(first["rows"][0]["body"]["mode"], "SCAN_MODE_SALE");
    let mut seqs: Vec<u64> = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/history?store=s1&limit=2&cursor={c}"),
            None => "/v1/history?store=s1&limit=2".to_owned(),
        };
        let page = json(&send(&app, Method::GET, &path, Some(VIEWER)).await.2);
        seqs.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);

    // Time bounds in RFC 3339 and ms; filters.
    let page = json(
        &send(
            &app,
            Method::GET,
            "/v1/history?store=s1&from=2025-12-01T14:42:00Z&to=1764600240000&gtin=00000000000017",
            Some(VIEWER),
        )
        .await
        .2,
    );
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0]["seq"], 2);

    // CSV: header and one line per row; JSON Lines: one object per row.
    let (status, headers, csv) =
        send(&app, Method::GET, "/v1/history.csv?store=s1", Some(VIEWER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(lines[0].starts_with("store_id,agent_id,seq,"));
    assert!(lines[3].starts_with("s1,a1,3,scanner-1,scan,2025-12-01T14:43:00.000Z,"));
    let jsonl = send(
        &app,
        Method::GET,
        "/v1/history?store=s1&format=jsonl",
        Some(VIEWER),
    )
    .await
    .2;
    assert_eq!(jsonl.lines().map(json).count(), 5);

    // Explain: the position's events by GTIN.
    let explain = json(
        &send(
            &app,
            Method::GET,
            "/v1/stores/s1/positions/00000000000017/explain",
            Some(VIEWER),
        )
        .await
        .2,
    );
    let seqs: Vec<u64> = explain["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 4]);

    // Malformed queries are refused, counted, and never reach the database.
    for path in [
        "/v1/history",
        "/v1/history?store=s%2F1",
        "/v1/history?store=s1&from=yesterday",
        "/v1/history?store=s1&cursor=zz",
        "/v1/history?store=s1&cursor=00",
        "/v1/history?store=s1&format=xml",
        "/v1/audit?from=never",
    ] {
        let (status, _, body) = send(&app, Method::GET, path, Some(VIEWER)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let metrics = send(&app, Method::GET, "/metrics", None).await.2;
    assert!(
        metrics.contains("store_collector_history_refused_queries_total 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("store_collector_history_rows 5"),
        "{metrics}"
    );
    // And without a token, nothing.
    assert_eq!(
        send(&app, Method::GET, "/v1/history?store=s1", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn catalogue_reload_is_audited_with_the_tokens_name() {
    let (app, _dir) = router_with_history(Vec::new()).await;
    // No catalogue configured: refused (422), and audited all the same.
    let (status, _, _) = send(&app, Method::POST, "/v1/catalogue/reload", Some(OPERATOR)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The viewer may read the audit log, not write to it.
    assert_eq!(
        send(&app, Method::POST, "/v1/catalogue/reload", Some(VIEWER))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let audit = json(&send(&app, Method::GET, "/v1/audit", Some(VIEWER)).await.2);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "operator");
    assert_eq!(entries[0]["role"], "operator");
    assert_eq!(entries[0]["action"], "catalogue.reload");
    assert_eq!(entries[0]["detail"]["reloaded"], false);
    let none = json(
        &send(&app, Method::GET, "/v1/audit?actor=viewer", Some(VIEWER))
            .await
            .2,
    );
    assert_eq!(none["entries"].as_array().unwrap().len(), 0);
}

/// `POST path` with a body and the operator's or viewer's token.
async fn post_body(app: &Router, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, String) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn backups_need_the_operator_and_a_sane_request() {
    let (app, dir) = router(both());
    let dest = dir.path().join("backup-1");
    let good = serde_json::json!({ "dest": dest }).to_string().into_bytes();
    let path = "/v1/admin/backup";
    assert_eq!(
        post_body(&app, path, VIEWER, good.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert!(!dest.exists());
    let (status, body) = post_body(&app, path, OPERATOR, br#"{"dest": "rel"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let oversized = format!(r#"{{"dest": "/{}"}}"#, "a".repeat(9000)).into_bytes();
    assert_eq!(
        post_body(&app, path, OPERATOR, oversized).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let (status, body) = post_body(&app, path, OPERATOR, good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["manifest"]["collector_id"], "hq-1");
    assert!(dest.join("manifest.json").is_file());
    let (status, body) = post_body(&app, path, OPERATOR, good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, _, metrics) = send(&app, Method::GET, "/metrics", None).await;
    assert!(
        metrics.contains("store_collector_backups_total{result=\"written\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("store_collector_backups_total{result=\"refused\"} 2"),
        "{metrics}"
    );
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

#[tokio::test]
async fn the_store_list_has_a_summary_form_and_refuses_unknown_fields() {
    let (app, _dir) = router(both());
    for (path, status) in [
        ("/v1/stores", StatusCode::OK),
        ("/v1/stores?fields=full", StatusCode::OK),
        ("/v1/stores?fields=summary", StatusCode::OK),
        ("/v1/stores?fields=summary&store=s1", StatusCode::OK),
        ("/v1/stores?fields=everything", StatusCode::BAD_REQUEST),
    ] {
        let (got, _, body) = send(&app, Method::GET, path, Some(VIEWER)).await;
        assert_eq!(got, status, "{path}: {body}");
        if status == StatusCode::OK {
            assert!(json(&body)["stores"].is_array(), "{path}: {body}");
        } else {
            assert!(body.contains("fields="), "{path}: {body}");
        }
    }
}

#[test]
fn the_dashboard_routes_its_views_and_pages_the_store_table() {
    let page = include_str!("dashboard.html");
    for needle in [
        "/v1/stores?fields=summary",
        "scope=region",
        "#/alerts",
        "#/store/",
        "PAGE_ROWS = 100",
        "dataset.ready",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
}
