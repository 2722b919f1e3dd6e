//! HQ's dashboard page, loaded in headless Chromium against a collector fed with the scripted
//! store day (`store_tests::store_day`): the page shows both stores, the OUT alert for pens at s1
//! with its message, the staffing boxes and a traffic chart matching the API; without the token
//! (or with a wrong one) it shows the token form and says the API wants a token.
//!
//! Needs Chromium (Debian package `chromium`, installed by scripts/test.sh). Without it the test
//! fails and says so: a dashboard test that skips itself would prove nothing.

use std::time::{Duration, Instant};

use serde_json::Value;
use store_tests::browser::{self, Chromium, Element};
use store_tests::http;
use store_tests::store_day::{DayStack, PENS};
use store_tests::wait::wait_for;
use store_tests::{serial, Collector, CollectorConfig, Mosquitto, TestEnv};

const TOKEN: &str = "dashboard-token";
const SPEED: f64 = 3600.0;
/// How long the page may take to show what the API already holds: the page refreshes every 5 s,
/// and each load lets it run for several refreshes, so one or two loads suffice.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The store cards of a dashboard DOM, by store id.
fn store_cards(dom: &str) -> Vec<Element> {
    browser::elements(dom, "section")
        .into_iter()
        .filter(|s| s.has_class("store"))
        .collect()
}

fn card<'a>(cards: &'a [Element], store: &str) -> Option<&'a Element> {
    cards.iter().find(|c| c.attr("data-store") == Some(store))
}

fn status_line(dom: &str) -> String {
    browser::elements(dom, "div")
        .into_iter()
        .find(|d| d.attr("id") == Some("status"))
        .map(|d| d.text())
        .unwrap_or_else(|| "(no #status element)".to_owned())
}

/// The alert elements (`li.alert`) of a card.
fn alert_items(card: &Element) -> Vec<Element> {
    card.find("li")
        .into_iter()
        .filter(|li| li.has_class("alert"))
        .collect()
}

#[test]
fn dashboard_shows_the_days_alerts_staffing_and_traffic() {
    let _serial = serial();
    // Before starting anything: without a browser there is nothing to test.
    let chromium = Chromium::find().unwrap_or_else(|e| panic!("{e}"));
    let env = TestEnv::new("dashboard");
    env.log(format!("browser: {}", chromium.program().display()));
    let mut day = DayStack::start(env, TOKEN, SPEED, |_| {});
    day.play_day();
    let pens = format!("{PENS:0>14}");
    let out = wait_for(Duration::from_secs(30), "OUT for pens at s1", || {
        let v = day.api_json("/v1/alerts")?;
        v["alerts"]
            .as_array()
            .and_then(|alerts| {
                alerts
                    .iter()
                    .find(|a| a["store_id"] == "s1" && a["kind"] == "OUT" && a["subject"] == *pens)
            })
            .cloned()
            .ok_or_else(|| format!("active alerts: {v}"))
    });
    let out_message = out["message"].as_str().unwrap().to_owned();
    day.env.log(format!("API: OUT at s1: {out_message}"));

    let url = format!("http://{}/#token={TOKEN}", day.collector.api_addr());
    let started = Instant::now();
    let mut api = Value::Null;
    let mut loads = 0;
    let dom = chromium
        .wait_for_dom(&url, PAGE_TIMEOUT, |dom| {
            loads += 1;
            let cards = store_cards(dom);
            let s1 =
                card(&cards, "s1").ok_or_else(|| format!("no s1 card; {}", status_line(dom)))?;
            if !alert_items(s1)
                .iter()
                .any(|li| li.attr("data-kind") == Some("OUT"))
            {
                return Err(format!("no OUT alert on s1's card; {}", status_line(dom)));
            }
            // What the page should show now; compared below, once the page shows the alert.
            api = day.api_json("/v1/stores")?;
            Ok(dom.to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    day.env.log(format!(
        "page shows the OUT alert after {:.1} s ({loads} loads)",
        started.elapsed().as_secs_f64()
    ));
    let saved = day.env.path().join("dashboard.html");
    std::fs::write(&saved, &dom).unwrap();
    let cards = store_cards(&dom);
    let stores = api["stores"].as_array().unwrap();

    // One card per store, in the API's order.
    let card_ids: Vec<&str> = cards.iter().filter_map(|c| c.attr("data-store")).collect();
    assert_eq!(
        card_ids,
        ["s1", "s2"],
        "store cards (DOM in {})",
        saved.display()
    );
    let status = status_line(&dom);
    assert!(status.starts_with("2 stores"), "status line: {status}");

    // The OUT alert for pens at s1, with HQ's message and the GTIN, open (acknowledgeable).
    let s1 = card(&cards, "s1").unwrap();
    let out_item = alert_items(s1)
        .into_iter()
        .find(|li| li.attr("data-kind") == Some("OUT"))
        .unwrap();
    assert_eq!(out_item.attr("data-store"), Some("s1"));
    assert!(out_item.has_class("OPEN"), "{out_item:?}");
    let text = out_item.text();
    assert!(
        text.contains(&out_message) && text.contains(&pens),
        "the OUT item reads {text:?}; expected HQ's message {out_message:?}"
    );
    assert_eq!(
        out_item
            .find("button")
            .first()
            .map(Element::text)
            .as_deref(),
        Some("ack"),
        "an open alert has an ack button: {out_item:?}"
    );

    for (store, api_store) in ["s1", "s2"].iter().zip(stores) {
        assert_eq!(api_store["store_id"], *store);
        let card = card(&cards, store).unwrap();

        // Exactly the store's active alerts, each once, with its message.
        let mut shown: Vec<(String, String)> = alert_items(card)
            .iter()
            .map(|li| {
                assert_eq!(li.attr("data-store"), Some(*store), "{li:?}");
                (li.attr("data-kind").unwrap_or("").to_owned(), li.text())
            })
            .collect();
        let mut active: Vec<(String, String)> = api_store["active_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_owned(),
                    a["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        shown.sort();
        active.sort();
        assert_eq!(
            shown.len(),
            active.len(),
            "{store}: alerts on the page {shown:#?}, active in the API {active:#?}"
        );
        for ((kind, text), (api_kind, message)) in shown.iter().zip(&active) {
            assert!(
                kind == api_kind && text.contains(message.as_str()),
                "{store}: the page shows {kind} {text:?}, the API {api_kind} {message:?}"
            );
        }

        // The staffing box: now and next hour, as the API has them.
        let staffing = card
            .find("div")
            .into_iter()
            .find(|d| d.has_class("staffing"))
            .unwrap_or_else(|| panic!("{store}: no staffing box"));
        let boxes = staffing.find("div");
        assert_eq!(boxes.len(), 2, "{store}: staffing boxes {boxes:#?}");
        for (b, (label, key)) in boxes
            .iter()
            .zip([("Now", "staffing_now"), ("Next hour", "staffing_next_hour")])
        {
            let text = b.text();
            assert!(text.starts_with(label), "{store}: staffing box {text:?}");
            let signal = &api_store[key];
            if signal.is_null() {
                assert!(text.contains("no data"), "{store}: {text:?}");
            } else {
                let kind = signal["kind"].as_str().unwrap();
                let numbers = format!(
                    "{} on duty, {} needed",
                    signal["on_duty"], signal["needed_staff"]
                );
                assert_eq!(b.attr("data-kind"), Some(kind), "{store}: {b:?}");
                assert!(
                    text.contains(kind) && text.contains(&numbers),
                    "{store}: staffing box {text:?}, API {signal}"
                );
            }
        }
        if *store == "s1" {
            assert!(
                !api_store["staffing_now"].is_null(),
                "s1 has door counts and staff on duty: the API should have a staffing signal"
            );
        }

        // The traffic chart: one bar per window of today, in order, the rush the tallest.
        let svg = card
            .find("svg")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{store}: no traffic chart"));
        let bars = svg.find("rect");
        let windows = api_store["traffic_today"].as_array().unwrap();
        let windows = &windows[windows.len().saturating_sub(96)..];
        assert!(!windows.is_empty(), "{store}: no traffic today in the API");
        assert_eq!(bars.len(), windows.len(), "{store}: bars vs windows");
        let max = windows
            .iter()
            .map(|w| w["entries"].as_u64().unwrap())
            .max()
            .unwrap();
        for (bar, w) in bars.iter().zip(windows) {
            let entries = w["entries"].as_u64().unwrap();
            let label = bar.text();
            assert!(
                label.contains(&format!(": {entries} in,")),
                "{store}: bar {label:?} for window {w}"
            );
            let height: f64 = bar.attr("height").unwrap().parse().unwrap();
            let expected = 38.0 * entries as f64 / max as f64;
            assert!(
                (height - expected).abs() < 0.01,
                "{store}: bar {label:?} is {height} high, expected {expected}"
            );
        }
        if *store == "s1" {
            assert_eq!(max, 60, "s1's rush quarters hold 60 entries each");
            let tallest = bars
                .iter()
                .filter(|b| b.attr("height") == Some("38"))
                .count();
            assert_eq!(tallest, 4, "four rush quarters stand out on s1's chart");
        }
    }
    day.env.log(format!(
        "checked the page: {} alert items, {} bars",
        cards.iter().map(|c| alert_items(c).len()).sum::<usize>(),
        cards.iter().map(|c| c.find("rect").len()).sum::<usize>()
    ));
}

#[test]
fn dashboard_without_the_token_asks_for_it() {
    let _serial = serial();
    let chromium = Chromium::find().unwrap_or_else(|e| panic!("{e}"));
    let env = TestEnv::new("dashboard_token");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let collector_dir = env.subdir("collector");
    let mut cfg = CollectorConfig::new(&collector_dir, broker.port());
    cfg.api_token = Some(TOKEN.to_owned());
    let collector = Collector::start(&collector_dir, cfg);

    // The page itself is open; the API behind it is not.
    let page = http::get(collector.api_addr(), "/", Duration::from_secs(5)).unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let api = http::get(collector.api_addr(), "/v1/stores", Duration::from_secs(5)).unwrap();
    assert_eq!(api.status, 401, "{}", api.body);

    let base = format!("http://{}/", collector.api_addr());
    for url in [base.clone(), format!("{base}#token=wrong-{TOKEN}")] {
        let started = Instant::now();
        chromium
            .wait_for_dom(&url, PAGE_TIMEOUT, |dom| {
                let status = status_line(dom);
                if !status.contains("wants a token") {
                    return Err(format!("status line: {status:?}"));
                }
                let form = browser::elements(dom, "form")
                    .into_iter()
                    .find(|f| f.attr("id") == Some("token-form"))
                    .ok_or("no token form")?;
                let style = form.attr("style").unwrap_or("");
                if !style.contains("display: block") {
                    return Err(format!("the token form is hidden (style {style:?})"));
                }
                if !store_cards(dom).is_empty() {
                    return Err("store cards without a token".into());
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        env.log(format!(
            "{url}: token form shown after {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }
}
