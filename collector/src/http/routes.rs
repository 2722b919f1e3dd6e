//! The `/v1/*` handlers: stores and agents, stock positions, traffic, alerts (with
//! acknowledgement), staffing signals, gaps, unknown GTINs and catalogue reload; the command
//! routes (`super::commands`) are registered here too.
//!
//! All reads are snapshots taken under short locks, no I/O; the one write (acknowledging an
//! alert) goes through [`crate::rules::Runtime::acknowledge`].

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use store_proto::v1::AlertState;

use super::stats::Stats;
use super::ApiState;
use crate::history::Actor;
use crate::rules::{alert_json, signal_json, signal_kind_name, AcknowledgeError};

/// Every route of the collector's HTTP server.
pub fn routes(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/stats", get(stats))
        .route("/v1/stores", get(stores))
        .route("/v1/stores/{store}/positions", get(positions))
        .route("/v1/stores/{store}/traffic", get(traffic))
        .route("/v1/alerts", get(alerts))
        .route("/v1/alerts/{id}/ack", post(acknowledge))
        .route("/v1/signals", get(signals))
        .route("/v1/gaps", get(gaps))
        .route("/v1/unknown-gtins", get(unknown_gtins))
        .route("/v1/catalogue/reload", post(reload_catalogue))
        .route("/v1/history", get(super::history::history))
        .route("/v1/history.csv", get(super::history::history_csv))
        .route("/v1/audit", get(super::history::audit_log))
        .route(
            "/v1/stores/{store}/positions/{gtin}/explain",
            get(super::history::explain_position),
        )
        .route(
            "/v1/alerts/{id}/explain",
            get(super::history::explain_alert),
        )
        .route(
            "/v1/admin/backup",
            post(backup).layer(DefaultBodyLimit::max(
                crate::backup::online::MAX_REQUEST_BYTES,
            )),
        )
        .merge(super::reports::routes())
        .route(
            "/v1/stores/{store}/agents/{agent}/commands",
            post(super::commands::issue),
        )
        .route("/v1/commands", get(super::commands::list))
        .route("/v1/commands/{id}", get(super::commands::get))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            super::auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/", get(super::dashboard))
        .route("/dashboard", get(super::dashboard))
        .merge(v1)
        .layer(middleware::from_fn(super::auth::security_headers))
        .with_state(state)
}

async fn stats(State(state): State<ApiState>) -> Json<Stats> {
    Json(Stats::of(
        &state.shared.lock().expect("state lock poisoned"),
    ))
}

#[derive(Debug, Deserialize)]
struct StoresQuery {
    /// `full` (default) or `summary`.
    fields: Option<String>,
    /// Only this store (the dashboard's store page).
    store: Option<String>,
}

/// `GET /v1/stores[?fields=full|summary][&store=ID]`: every store with its agents, alerts, staffing and
/// today's traffic; `summary` is one flat row of counts per store for the dashboard's store
/// table (about a tenth of the bytes at 1,000 stores: no traffic windows, no alert bodies).
async fn stores(
    State(state): State<ApiState>,
    Query(q): Query<StoresQuery>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let summary = match q.fields.as_deref() {
        None | Some("full") => false,
        Some("summary") => true,
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("fields={other:?}: expected full or summary")})),
            ))
        }
    };
    let presence = state.rules.presence();
    let now = state.rules.now_ms();
    let live_agents: BTreeMap<_, _> = {
        let live = state.shared.lock().expect("state lock poisoned");
        live.state
            .agents
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    (a.committed_seq(), a.highest_seq(), gap_count(&a.gaps())),
                )
            })
            .collect()
    };
    let mut ids: Vec<String> = live_agents.keys().map(|k| k.store_id.clone()).collect();
    ids.extend(presence.keys().map(|k| k.store_id.clone()));
    if let Some(only) = &q.store {
        ids.retain(|i| i == only);
    }
    ids.sort();
    ids.dedup();
    let mut stores: BTreeMap<String, Value> = BTreeMap::new();
    state.rules.read(|engine| {
        // Grouped once: filtering every alert for every store is quadratic at 1,000 stores.
        let mut active_by_store: BTreeMap<&str, Vec<&store_proto::v1::Alert>> = BTreeMap::new();
        for (_, a) in engine.outbox.alerts.all_active() {
            active_by_store
                .entry(a.store_id.as_str())
                .or_default()
                .push(a);
        }
        for id in ids {
            let profile = engine.profiles.get(&id);
            let agents: Vec<Value> = live_agents
                .iter()
                .filter(|(k, _)| k.store_id == id)
                .map(|(k, (committed, highest, missing))| {
                    let p = presence.get(k).cloned().unwrap_or_default();
                    json!({
                        "agent_id": k.agent_id,
                        "online": p.online,
                        "version": p.version,
                        "last_seen_ms": p.last_seen_ms,
                        "last_batch_sent_ms": p.last_batch_sent_ms,
                        "clock_offset_ms": p.clock_offset_ms,
                        "clock_synced": p.clock_synced,
                        "draining_backlog": p.draining_backlog,
                        "backlog_events": p.backlog_events,
                        "committed_seq": committed,
                        "highest_seq": highest,
                        "missing_events": missing,
                    })
                })
                .collect();
            let (now_signal, next_signal) = engine.staffing.latest(&id);
            let active = active_by_store
                .get(id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let day_start = profile.day_start(now);
            let traffic = engine.traffic.windows(&id, day_start, now + 1, profile);
            let row = if summary {
                let online = agents.iter().filter(|a| a["online"] != false).count();
                let open_alerts = active
                    .iter()
                    .filter(|a| a.state == AlertState::Open as i32)
                    .count();
                json!({
                    "store_id": id,
                    "region": profile.region,
                    "open": profile.is_open(now),
                    "agents": agents.len(),
                    "agents_online": online,
                    "alerts": active.len(),
                    "alerts_open": open_alerts,
                    "entries_today": traffic.iter().map(|w| u64::from(w.entries)).sum::<u64>(),
                    "staffing_now": now_signal.map(|s| signal_kind_name(s.kind)),
                })
            } else {
                json!({
                    "store_id": id,
                    "region": profile.region,
                    "open": profile.is_open(now),
                    "agents": agents,
                    "active_alerts": active.iter().map(|a| alert_json(a)).collect::<Vec<_>>(),
                    "staffing_now": now_signal.map(signal_json),
                    "staffing_next_hour": next_signal.map(signal_json),
                    "traffic_today": traffic,
                })
            };
            stores.insert(id.clone(), row);
        }
    });
    Ok(Json(
        json!({ "now_ms": now, "stores": stores.into_values().collect::<Vec<_>>() }),
    ))
}

fn gap_count(gaps: &[(u64, u64)]) -> u64 {
    gaps.iter().map(|(a, b)| b - a + 1).sum()
}

async fn positions(State(state): State<ApiState>, Path(store): Path<String>) -> Json<Value> {
    state.rules.read(|engine| {
        Json(json!({ "store_id": store, "positions": engine.stock.positions(&store) }))
    })
}

#[derive(Debug, Deserialize)]
struct TrafficQuery {
    /// Hours back from now (default 24).
    hours: Option<i64>,
}

async fn traffic(
    State(state): State<ApiState>,
    Path(store): Path<String>,
    Query(q): Query<TrafficQuery>,
) -> Json<Value> {
    let now = state.rules.now_ms();
    let from = now - q.hours.unwrap_or(24).clamp(1, 24 * 35) * 3_600_000;
    state.rules.read(|engine| {
        let profile = engine.profiles.get(&store);
        Json(
            json!({ "store_id": store, "windows": engine.traffic.windows(&store, from, now + 1, profile) }),
        )
    })
}

#[derive(Debug, Deserialize)]
struct AlertQuery {
    store: Option<String>,
    /// `active` (default), `past` or `all`.
    state: Option<String>,
}

/// `GET /v1/alerts?store=&state=active|past|all`.
async fn alerts(
    State(state): State<ApiState>,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let which = q.state.as_deref().unwrap_or("active");
    if !matches!(which, "active" | "past" | "all") {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("state={which:?}: expected active, past or all")})),
        ));
    }
    let out = state.rules.read(|engine| {
        let book = &engine.outbox.alerts;
        let wanted = |s: &str| q.store.as_deref().is_none_or(|w| w == s);
        let mut out: Vec<Value> = Vec::new();
        if which != "past" {
            out.extend(
                book.all_active()
                    .filter(|(_, a)| wanted(&a.store_id))
                    .map(|(_, a)| alert_json(a)),
            );
        }
        if which != "active" {
            let stores: Vec<String> = match &q.store {
                Some(s) => vec![s.clone()],
                None => book.stores_with_past(),
            };
            for s in stores {
                out.extend(book.past(&s).map(alert_json));
            }
        }
        out
    });
    Ok(Json(json!({ "alerts": out })))
}

#[derive(Debug, Default, Deserialize)]
struct AckBody {
    /// Who is on it (free text, shown on the alert).
    by: Option<String>,
}

/// `POST /v1/alerts/{id}/ack` with optional `{"by": "name"}`.
async fn acknowledge(
    State(state): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<Json<AckBody>>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let by = body
        .and_then(|Json(b)| b.by)
        .unwrap_or_else(|| "api".to_owned());
    let alert = state
        .rules
        .acknowledge(&id, &by, &actor)
        .await
        .map_err(|e| match e {
            AcknowledgeError::NotFound(e) => {
                (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()})))
            }
            AcknowledgeError::Commit(e) => internal(e),
        })?;
    debug_assert_eq!(alert.state, AlertState::Acknowledged as i32);
    Ok(Json(alert_json(&alert)))
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, Json<Value>) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": e.to_string()})),
    )
}

#[derive(Debug, Deserialize)]
struct StoreQuery {
    store: Option<String>,
}

/// `GET /v1/signals?store=`: the newest staffing signal per store, now and next hour.
async fn signals(State(state): State<ApiState>, Query(q): Query<StoreQuery>) -> Json<Value> {
    let ids = store_ids(&state, q.store);
    let out: Vec<Value> = state.rules.read(|engine| {
        ids.iter()
            .map(|id| {
                let (now, next) = engine.staffing.latest(id);
                json!({"store_id": id, "now": now.map(signal_json), "next_hour": next.map(signal_json)})
            })
            .collect()
    });
    Json(json!({ "signals": out }))
}

fn store_ids(state: &ApiState, only: Option<String>) -> Vec<String> {
    if let Some(s) = only {
        return vec![s];
    }
    let live = state.shared.lock().expect("state lock poisoned");
    let mut ids: Vec<String> = live.state.stores.keys().cloned().collect();
    ids.sort();
    ids
}

/// `GET /v1/gaps`: seqs missing per agent (between its committed mark and its highest seq).
async fn gaps(State(state): State<ApiState>) -> Json<Value> {
    let live = state.shared.lock().expect("state lock poisoned");
    let out: Vec<Value> = live
        .state
        .agents
        .iter()
        .filter(|(_, a)| !a.gaps().is_empty())
        .map(|(k, a)| {
            json!({
                "store_id": k.store_id, "agent_id": k.agent_id,
                "committed_seq": a.committed_seq(), "highest_seq": a.highest_seq(),
                "gaps": a.gaps().iter().map(|(x, y)| [x, y]).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "gaps": out }))
}

async fn unknown_gtins(State(state): State<ApiState>) -> Json<Value> {
    state
        .rules
        .read(|engine| Json(json!({ "unknown_gtins": engine.stock.unknown_gtins() })))
}

/// `POST /v1/catalogue/reload`: re-reads the catalogue now; a refused file leaves the last good
/// one in force and answers 422 with the error (file and line).
async fn reload_catalogue(
    State(state): State<ApiState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let rules = state.rules.clone();
    let result = tokio::task::spawn_blocking(move || rules.reload_catalogue_if_changed(true))
        .await
        .map_err(internal)?;
    let detail = match &result {
        Ok(_) => json!({"reloaded": true}),
        Err(e) => json!({"reloaded": false, "error": e}),
    };
    state
        .rules
        .audit_log()
        .record(&actor, "catalogue.reload", "catalogue", detail)
        .await
        .map_err(internal)?;
    match result {
        Ok(_) => Ok(Json(json!({"reloaded": true}))),
        Err(e) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"reloaded": false, "error": e})),
        )),
    }
}

/// `POST /v1/admin/backup` with `{"dest": "/absolute/path"}` (operator): writes a backup of the
/// state as it stood between two commit groups and answers with its manifest.
async fn backup(
    State(state): State<ApiState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    use crate::backup::BackupError;
    match state.backups.take(&state.rules, &body).await {
        Ok((dest, manifest)) => {
            // The backup is written: a failure to audit it is logged, not a failed backup.
            let detail = json!({ "dest": dest, "created_at_ms": manifest.created_at_ms });
            if let Err(e) = state
                .rules
                .audit_log()
                .record(
                    &actor,
                    "collector.backup",
                    &dest.display().to_string(),
                    detail,
                )
                .await
            {
                tracing::error!(error = %e, "could not write the audit record of a backup");
            }
            Ok(Json(json!({ "dest": dest, "manifest": manifest })))
        }
        Err(e) => {
            let status = match &e {
                BackupError::Refused(_) => StatusCode::BAD_REQUEST,
                BackupError::Exists(_) | BackupError::Busy => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Err((status, Json(json!({"error": e.to_string()}))))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let text = super::metrics::render(&state.shared, &state.rules, &state.backups, &state.commands);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
