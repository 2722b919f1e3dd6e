//! The report routes through the router: KPIs, stock-outs and the staffing plan, JSON and CSV,
//! and bad parameters answered 400 with their name.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use store_proto::v1::{FootTraffic, PosTransaction, TransactionKind};
use store_proto::Event;
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::{routes, ApiState, Tokens};
use crate::config::Config;
use crate::ledger::{Changes, Db, Live, Shared};
use crate::rules::engine::BatchInfo;
use crate::rules::Runtime;

const MIN: i64 = 60_000;
/// 2026-12-01T09:00:00Z: 10:00 in Berlin (a Tuesday).
const T10: i64 = 1_796_115_600_000;

const CONFIG: &str = "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n\
[intel]\nclock = \"event\"\n\
[store.s1]\nregion = \"north\"\ntimezone = \"Europe/Berlin\"\n\
[store.s2]\nregion = \"north\"\ntimezone = \"Europe/Lisbon\"\n";

async fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(CONFIG, "t.toml").unwrap();
    let (db, state) = Db::open(&dir.path().join("state")).unwrap();
    let (outputs, _) = mpsc::unbounded_channel();
    let db = Arc::new(db);
    let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
    let (commands, _) = crate::command::Commands::open(db, &config).unwrap();
    // s1 (Berlin): 40 entries and 10 sales of 1500 cents at 10:00 local.
    // s2 (Lisbon, one hour behind): 60 entries and 5 sales of 1000 cents at 09:00 local.
    // And one counter interval 500 days old: refused by the KPIs' window, and counted.
    let mut s1 = vec![entries(T10, 40), entries(T10 - 500 * 86_400_000, 7)];
    s1.extend((0..10).map(|i| sale(T10 + i * MIN, 1500)));
    let mut s2 = vec![entries(T10, 60)];
    s2.extend((0..5).map(|i| sale(T10 + i * MIN, 1000)));
    rules
        .apply_group(|g| {
            for (store, events) in [("s1", &s1), ("s2", &s2)] {
                let info = BatchInfo {
                    store,
                    agent: "a1",
                    historical: false,
                    sent_ms: T10 + 10 * MIN,
                };
                for ev in events {
                    g.apply(info, ev);
                }
            }
            Changes::default()
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
        tokens: Tokens {
            operator: None,
            viewer: Some(Arc::from("viewer")),
            ..Default::default()
        },
    };
    (routes(state), dir)
}

fn entries(at: i64, n: u32) -> Event {
    Event {
        wall_time_ms: at,
        clock_synced: true,
        device_id: "door".into(),
        body: Some(store_proto::Body::FootTraffic(FootTraffic {
            counter_id: "door".into(),
            interval_start_ms: at,
            interval_end_ms: at + MIN,
            entries: n,
            ..FootTraffic::default()
        })),
        ..Event::default()
    }
}

fn sale(at: i64, total: i64) -> Event {
    Event {
        wall_time_ms: at,
        clock_synced: true,
        device_id: "till".into(),
        body: Some(store_proto::Body::PosTransaction(PosTransaction {
            register_id: "r1".into(),
            kind: TransactionKind::Sale as i32,
            total_minor: total,
            ..PosTransaction::default()
        })),
        ..Event::default()
    }
}

async fn get(app: &Router, path: &str) -> (StatusCode, String, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, "Bearer viewer")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let ctype = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

async fn json(app: &Router, path: &str) -> Value {
    let (status, _, body) = get(app, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn store_region_and_chain_kpis_as_json_and_csv() {
    let (app, _dir) = app().await;
    let v = json(
        &app,
        "/v1/kpis?scope=store&id=s1&granularity=day&from=2026-12-01&to=2026-12-01",
    )
    .await;
    let row = &v["rows"][0];
    // s1: 10 sales / 40 entries = 0.25; basket 15000 / 10 = 1500.
    assert_eq!(row["period"], "2026-12-01");
    assert_eq!(row["entries"], 40);
    assert_eq!(row["transactions"], 10);
    assert_eq!(row["conversion"], 0.25);
    assert_eq!(row["average_basket_minor"], 1500.0);

    // Region north = s1 + s2: 15 sales / 100 entries = 0.15 (not the mean of 0.25 and
    // 5/60); sales 15000 + 5000 = 20000.
    let v = json(
        &app,
        "/v1/kpis?scope=region&id=north&from=2026-12-01&to=2026-12-01",
    )
    .await;
    assert_eq!(v["stores"], serde_json::json!(["s1", "s2"]));
    assert_eq!(v["rows"][0]["conversion"], 0.15);
    assert_eq!(v["rows"][0]["sales_minor"], 20_000);
    let v = json(&app, "/v1/kpis?scope=chain&from=2026-12-01&to=2026-12-01").await;
    assert_eq!(v["rows"][0]["transactions"], 15);

    // Hours carry the store's local hour and offset: Berlin 10:00+01:00, Lisbon 09:00+00:00.
    let v = json(
        &app,
        "/v1/kpis?scope=chain&granularity=hour&from=2026-12-01&to=2026-12-01",
    )
    .await;
    let periods: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        ["2026-12-01T09:00+00:00", "2026-12-01T10:00+01:00"]
    );

    let (status, ctype, body) = get(
        &app,
        "/v1/kpis?scope=store&id=s1&from=2026-12-01&to=2026-12-02&format=csv",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/csv; charset=utf-8");
    let lines: Vec<&str> = body.split("\r\n").collect();
    // Header, one row (the 2nd has no data), and the empty string after the last CRLF.
    assert_eq!(lines.len(), 3, "{body}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(
        header[..4],
        ["period", "entries", "transactions", "conversion"]
    );
    assert_eq!(header.len(), 21);
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(row.len(), 21);
    assert_eq!(row[..4], ["2026-12-01", "40", "10", "0.25"]);
    // No returns: the returns rate is 0 of 10 POS transactions; alerts: no acknowledgement,
    // so the mean time to acknowledge is an empty field.
    assert_eq!(row[10], "0");
    assert_eq!(row[19], "");
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let (app, _dir) = app().await;
    for (query, param) in [
        ("id=s1&from=2026-12-01&to=2026-12-01", "scope"),
        ("scope=planet&id=s1&from=2026-12-01&to=2026-12-01", "scope"),
        ("scope=store&from=2026-12-01&to=2026-12-01", "id"),
        ("scope=store&id=s1&to=2026-12-01", "from"),
        ("scope=store&id=s1&from=2026-13-01&to=2026-12-01", "from"),
        ("scope=store&id=s1&from=2026-12-02&to=2026-12-01", "to"),
        ("scope=store&id=s1&from=2020-01-01&to=2026-12-01", "to"),
        (
            "scope=store&id=s1&granularity=week&from=2026-12-01&to=2026-12-01",
            "granularity",
        ),
        (
            "scope=store&id=s1&from=2026-12-01&to=2026-12-01&format=xml",
            "format",
        ),
    ] {
        let (status, _, body) = get(&app, &format!("/v1/kpis?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let error = v["error"].as_str().unwrap();
        assert!(error.starts_with(&format!("{param}: ")), "{query}: {error}");
    }
    let (status, _, body) = get(&app, "/v1/stores/s1/kpis/stockouts?from=2026-12-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("to: missing"), "{body}");
    let (status, _, _) = get(&app, "/v1/stores/s1/staffing-plan?format=pdf").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, metrics) = get(&app, "/metrics").await;
    assert!(
        metrics.contains("store_collector_kpi_refused_total{reason=\"out_of_window\"} 1"),
        "{metrics}"
    );
    // Without the token: refused like every /v1 read.
    let request = Request::get("/v1/kpis?scope=chain&from=2026-12-01&to=2026-12-01")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn stockouts_and_staffing_plan_answer_in_both_formats() {
    let (app, _dir) = app().await;
    let v = json(
        &app,
        "/v1/stores/s1/kpis/stockouts?from=2026-12-01&to=2026-12-01",
    )
    .await;
    assert_eq!(v["gtins"], serde_json::json!([]));
    let (status, _, body) = get(
        &app,
        "/v1/stores/s1/kpis/stockouts?from=2026-12-01&to=2026-12-01&format=csv",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "gtin,stockout_hours\r\n")
    );

    // Now (the event clock) is Tuesday 2026-12-01: the plan covers Wed 2 .. Tue 8, 08:00-20:00
    // each day, 84 hours; no earlier week has traffic, so each needs the minimum staff (2).
    let v = json(&app, "/v1/stores/s1/staffing-plan").await;
    let hours = v["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 84);
    assert_eq!(hours[0]["date"], "2026-12-02");
    assert_eq!(hours[0]["hour"], 8);
    assert_eq!(hours[0]["needed_staff"], 2);
    assert_eq!(hours[0]["forecast_entries"], Value::Null);
    let (status, ctype, body) = get(&app, "/v1/stores/s1/staffing-plan?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/csv; charset=utf-8");
    let mut lines = body.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("date,hour,forecast_entries,weeks,needed_staff,rostered_staff")
    );
    assert_eq!(lines.next(), Some("2026-12-02,8,,0,2,0"));
    assert_eq!(body.matches("\r\n").count(), 85);
}
