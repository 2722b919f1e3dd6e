//! A scripted store day through agent → Mosquitto → collector produces exactly the expected
//! stock alerts (LOW, OUT), the transfer suggestion, the UNDERSTAFFED signal and the returns-spike
//! anomaly, on MQTT and on the HTTP API, and nothing else; the collector's history holds every
//! event of the day exactly once and its audit log the acknowledgement with the token that made
//! it, before and after a SIGKILL; the day's KPIs on the API match what the script sent. See
//! `store_tests::store_day` for the day and why each outcome follows.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use store_tests::http;
use store_tests::mqtt_probe::{Message, MqttProbe};
use store_tests::store_day::{steps, DayStack, NOTEBOOKS, PENS};
use store_tests::wait::wait_for;
use store_tests::{serial, TestEnv};

const TOKEN: &str = "day-token";
const SPEED: f64 = 3600.0;

fn gtin14(gtin: &str) -> String {
    format!("{gtin:0>14}")
}

/// Every history row of every store, page by page (small pages, so the cursors are exercised):
/// (store, agent, seq) in the order the API returns them.
fn history(day: &DayStack) -> Result<Vec<(String, String, u64)>, String> {
    let stores = day.api_json("/v1/stores")?;
    let mut rows = Vec::new();
    for store in stores["stores"].as_array().cloned().unwrap_or_default() {
        let id = store["store_id"].as_str().unwrap_or_default().to_owned();
        let mut cursor = String::new();
        loop {
            let page = day.api_json(&format!("/v1/history?store={id}&limit=97{cursor}"))?;
            for row in page["rows"].as_array().ok_or(format!("no rows: {page}"))? {
                rows.push((
                    id.clone(),
                    row["agent_id"].as_str().unwrap_or_default().to_owned(),
                    row["seq"].as_u64().unwrap_or(0),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
    }
    Ok(rows)
}

/// Checks that `rows` are exactly the applied events: `stored` of them, none twice, each
/// agent's seqs `1..=n` and in seq order (the day's event times rise with the seqs).
fn assert_history_is_the_day(rows: &[(String, String, u64)], stored: u64) {
    assert_eq!(rows.len() as u64, stored, "history rows vs events stored");
    let mut per_agent: std::collections::BTreeMap<(&str, &str), Vec<u64>> = Default::default();
    for (store, agent, seq) in rows {
        per_agent.entry((store, agent)).or_default().push(*seq);
    }
    for ((store, agent), seqs) in &per_agent {
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "history of {store}/{agent}");
    }
}

/// Per store, from the script's own lines: (entries, sales, sales in cents, returns, returns in
/// cents).
fn sent_kpis() -> std::collections::BTreeMap<&'static str, (u64, u64, i64, u64, i64)> {
    let mut out = std::collections::BTreeMap::new();
    for step in steps() {
        let v: Value = serde_json::from_str(&step.line).unwrap();
        let k = out.entry(step.store).or_insert((0, 0, 0, 0, 0));
        match (v["type"].as_str(), v["kind"].as_str()) {
            (Some("foot_traffic"), _) => k.0 += v["entries"].as_u64().unwrap(),
            (Some("pos_transaction"), Some("sale")) => {
                k.1 += 1;
                k.2 += v["total_minor"].as_i64().unwrap();
            }
            (Some("pos_transaction"), Some("return")) => {
                k.3 += 1;
                k.4 += v["total_minor"].as_i64().unwrap();
            }
            _ => {}
        }
    }
    out
}

#[test]
fn scripted_store_day_raises_exactly_the_expected_alerts_and_signals() {
    let _serial = serial();
    // Everything HQ publishes, from before the first event.
    let stop = Arc::new(AtomicBool::new(false));
    let mut probe = None;
    let mut day = DayStack::start(TestEnv::new("store_day"), TOKEN, SPEED, |broker| {
        let (addr, stop) = (broker.addr(), stop.clone());
        probe = Some(std::thread::spawn(
            move || -> Result<Vec<Message>, String> {
                let (mut p, _) =
                    MqttProbe::connect(addr, "hq-watcher", true, Duration::from_secs(5))?;
                p.subscribe("hq/alerts/#", 1)?;
                p.subscribe("hq/signals/#", 1)?;
                let mut all = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    all.extend(p.receive_for(Duration::from_millis(200))?);
                }
                p.disconnect();
                Ok(all)
            },
        ));
    });
    let probe = probe.expect("probe started");

    // The API refuses requests without the token.
    let open = http::get(
        day.collector.api_addr(),
        "/v1/alerts",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(open.status, 401, "no token: {}", open.body);

    let stored = day.play_day();
    // And until the expected alerts are there (rules run on the evaluation timer too).
    let expected: BTreeSet<(String, String, String)> = [
        ("s1", "OUT", gtin14(PENS)),
        ("s1", "LOW", gtin14(NOTEBOOKS)),
        ("s1", "TRANSFER", gtin14(PENS)),
        ("s1", "RETURNS_SPIKE", String::new()),
    ]
    .into_iter()
    .map(|(s, k, g)| (s.to_owned(), k.to_owned(), g))
    .collect();
    let alerts = wait_for(Duration::from_secs(30), "the expected alerts", || {
        let v = day.api_json("/v1/alerts?state=all")?;
        let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
        let seen: BTreeSet<(String, String, String)> = alerts
            .iter()
            .map(|a| {
                let kind = a["kind"].as_str().unwrap_or("").to_owned();
                let subject = if kind.starts_with("RETURNS") {
                    String::new()
                } else {
                    a["subject"].as_str().unwrap_or("").to_owned()
                };
                (
                    a["store_id"].as_str().unwrap_or("").to_owned(),
                    kind,
                    subject,
                )
            })
            .collect();
        if seen.is_superset(&expected) {
            Ok(alerts)
        } else {
            Err(format!("seen {seen:?}"))
        }
    });
    // Exactly those: one alert per condition, nothing else raised. A box whose kernel clock is
    // not NTP-synchronised (common in CI containers) stamps clock_synced = false on its events,
    // and HQ rightly flags its agent with CLOCK_OFF: expected then, and only then.
    let stores = day.api_json("/v1/stores").unwrap();
    let unsynced_agents = stores["stores"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["agents"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["clock_synced"] == false)
        .count();
    let unexpected: Vec<String> = alerts
        .iter()
        .filter(|a| {
            let kind = a["kind"].as_str().unwrap_or("");
            !(expected
                .iter()
                .any(|(s, k, _)| a["store_id"] == s.as_str() && k == kind)
                || (kind == "CLOCK_OFF"
                    && unsynced_agents > 0
                    && a["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("unsynchronised")))
        })
        .map(|a| a.to_string())
        .collect();
    assert!(unexpected.is_empty(), "unexpected alerts: {unexpected:#?}");
    let stock_and_anomalies = alerts.iter().filter(|a| a["kind"] != "CLOCK_OFF").count();
    assert_eq!(
        stock_and_anomalies,
        expected.len(),
        "one alert per condition: {alerts:#?}"
    );
    let transfer = alerts.iter().find(|a| a["kind"] == "TRANSFER").unwrap();
    assert_eq!(transfer["from_store_id"], "s2", "{transfer}");
    assert!(
        transfer["transfer_qty"].as_i64().unwrap_or(0) > 0,
        "{transfer}"
    );
    let out = alerts.iter().find(|a| a["kind"] == "OUT").unwrap();
    assert_eq!(out["position"].as_f64(), Some(0.0), "{out}");
    assert!(
        out["suggested_order_qty"].as_i64().unwrap_or(0) > 0,
        "{out}"
    );

    // Acknowledge the OUT alert through the API: its state changes and is published again.
    let auth = format!("Bearer {TOKEN}");
    let id = out["id"].as_str().unwrap();
    let r = http::request(
        day.collector.api_addr(),
        "POST",
        &format!("/v1/alerts/{id}/ack"),
        &[("Authorization", &auth)],
        Some(r#"{"by":"maria"}"#),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("ACKNOWLEDGED") && r.body.contains("maria"),
        "{}",
        r.body
    );

    // The history holds every event of the day once; the audit log says who acknowledged.
    let rows = history(&day).unwrap();
    assert_history_is_the_day(&rows, stored);
    let audit = day.api_json("/v1/audit?action=alert.acknowledge").unwrap();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "operator", "{audit}");
    assert_eq!(entries[0]["role"], "operator", "{audit}");
    assert_eq!(entries[0]["target"], id, "{audit}");
    assert_eq!(entries[0]["detail"]["by"], "maria", "{audit}");
    // The OUT alert's explain is the pens' stock count and the sales that emptied the shelf:
    // they add up to the alert's position 0.
    let explain = day.api_json(&format!("/v1/alerts/{id}/explain")).unwrap();
    let explained = explain["rows"].as_array().cloned().unwrap_or_default();
    assert!(explained.len() > 1, "{explain}");
    assert_eq!(
        explained[0]["body"]["mode"], "SCAN_MODE_STOCK_COUNT",
        "{explain}"
    );
    assert_eq!(explained[0]["body"]["gtin"], PENS, "{explain}");
    let counted = explained[0]["body"]["quantity"].as_f64().unwrap();
    let sold: f64 = explained[1..]
        .iter()
        .flat_map(|r| r["body"]["items"].as_array().cloned().unwrap_or_default())
        .filter(|item| item["gtin"] == PENS)
        .map(|item| item["quantity"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(counted - sold, 0.0, "{explain}");

    // Prometheus sees the active alerts and the applied events (no token needed).
    let metrics = http::get(day.collector.api_addr(), "/metrics", Duration::from_secs(5)).unwrap();
    assert_eq!(metrics.status, 200);
    for line in [
        "store_collector_alerts_active{kind=\"OUT\"} 1",
        "store_collector_alerts_active{kind=\"LOW\"} 1",
        "store_collector_alerts_active{kind=\"TRANSFER\"} 1",
    ] {
        assert!(
            metrics.body.contains(line),
            "{line} not in:\n{}",
            metrics.body
        );
    }
    let applied: u64 = metrics
        .body
        .lines()
        .filter(|l| l.starts_with("store_collector_events_applied_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        applied, stored,
        "events applied per kind add up to what was stored"
    );

    // MQTT carried the same alerts and the rush's UNDERSTAFFED signal with its numbers.
    let wanted_signal = |m: &Message| -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(&m.payload) else {
            return false;
        };
        m.topic == "hq/signals/s1"
            && v["kind"] == "UNDERSTAFFED"
            && v["forecast"] == false
            && v["on_duty"] == 2
            && v["needed_staff"].as_u64().unwrap_or(0) >= 8
    };
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    stop.store(true, Ordering::SeqCst);
    messages.extend(probe.join().unwrap().unwrap());
    assert!(Instant::now() < deadline + Duration::from_secs(5));
    let signals: Vec<String> = messages
        .iter()
        .filter(|m| m.topic.starts_with("hq/signals/"))
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert!(
        messages.iter().any(wanted_signal),
        "no UNDERSTAFFED signal for s1 during the rush; signals: {signals:#?}"
    );
    for (store, kind, _) in &expected {
        assert!(
            messages
                .iter()
                .any(|m| m.topic == format!("hq/alerts/{store}")
                    && serde_json::from_slice::<Value>(&m.payload)
                        .map(|v| v["kind"] == kind.as_str())
                        .unwrap_or(false)),
            "{kind} for {store} not published on MQTT"
        );
    }
    assert!(
        messages
            .iter()
            .any(|m| String::from_utf8_lossy(&m.payload).contains("ACKNOWLEDGED")),
        "the acknowledgement was not published"
    );

    // The day's KPIs from the API equal what the script sent, counted from its lines.
    let sent = sent_kpis();
    // s1: 40 quarters × 5 + 4 rush quarters × 60 = 440 entries; 19 sales (3 notebooks, 18 pens)
    // of 250 cents a unit = 5250 cents; 8 returns = 2000 cents. s2: 44 × 5 = 220 entries.
    assert_eq!(sent["s1"], (440, 19, 5250, 8, 2000), "the script changed");
    assert_eq!(sent["s2"], (220, 0, 0, 0, 0), "the script changed");
    let kpi_row = |d: &DayStack, query: &str| -> Result<Value, String> {
        let v = d.api_json(&format!("/v1/kpis?{query}&from=2026-11-21&to=2026-11-21"))?;
        Ok(v["rows"][0].clone())
    };
    for store in ["s1", "s2"] {
        let row = kpi_row(&day, &format!("scope=store&id={store}")).unwrap();
        let (entries, transactions, sales, returns, returns_minor) = sent[store];
        assert_eq!(row["period"], "2026-11-21", "{row}");
        assert_eq!(row["entries"], entries, "{store}: {row}");
        assert_eq!(row["transactions"], transactions, "{store}: {row}");
        assert_eq!(row["sales_minor"], sales, "{store}: {row}");
        assert_eq!(row["returns"], returns, "{store}: {row}");
        assert_eq!(row["returns_minor"], returns_minor, "{store}: {row}");
    }
    // Region north: 19 sales / 660 entries, a ratio of the sums.
    let north = kpi_row(&day, "scope=region&id=north").unwrap();
    assert_eq!(north["entries"], 660, "{north}");
    assert!(
        (north["conversion"].as_f64().unwrap() - 19.0 / 660.0).abs() < 1e-12,
        "{north}"
    );

    // The rules' state is durable: after a SIGKILL and restart, HQ shows the same alerts (with
    // their ids and lifecycle), the same stock positions and the same KPI sums.
    let snapshot = |d: &DayStack| -> Result<Value, String> {
        let s1 = kpi_row(d, "scope=store&id=s1")?;
        Ok(serde_json::json!({
            "alerts": d.api_json("/v1/alerts?state=all")?["alerts"],
            "s1": d.api_json("/v1/stores/s1/positions")?["positions"],
            "s2": d.api_json("/v1/stores/s2/positions")?["positions"],
            "kpi_s1": [s1["entries"].clone(), s1["transactions"].clone(), s1["sales_minor"].clone()],
        }))
    };
    let before = snapshot(&day).unwrap();
    assert!(
        before["s1"].as_array().is_some_and(|p| !p.is_empty()),
        "{before}"
    );
    day.collector.restart();
    let after = snapshot(&day).unwrap();
    assert_eq!(after, before, "rules state after a restart");
    // History and audit committed with the state: the same after the SIGKILL.
    assert_eq!(history(&day).unwrap(), rows, "history after a restart");
    let audit_after = day.api_json("/v1/audit?action=alert.acknowledge").unwrap();
    assert_eq!(audit_after["entries"], audit["entries"]);
}
