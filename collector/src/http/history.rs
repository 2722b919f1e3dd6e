//! The history and audit routes: `GET /v1/history` (JSON pages, or a JSON Lines download with
//! `format=jsonl`), `GET /v1/history.csv`, `GET /v1/audit`, and the two explains,
//! `GET /v1/stores/{store}/positions/{gtin}/explain` and `GET /v1/alerts/{id}/explain`.
//!
//! Every parameter is client input: ids are checked like topic ids, times parsed strictly, page
//! sizes clamped, cursors checked against the query they continue. A page looks at a bounded
//! number of rows ([`crate::history::query::MAX_SCAN`]); a download streams page by page through
//! a small bounded channel, so a slow client holds back the reader instead of filling memory.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use store_proto::v1::AlertKind;

use super::ApiState;
use crate::history::export::Format;
use crate::history::{audit, keys, query, time, Row};

type ApiError = (StatusCode, Json<Value>);

fn bad_request(message: impl std::fmt::Display) -> ApiError {
    // Counted and logged by `counted` in the handlers.
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.to_string() })),
    )
}

fn internal(message: impl std::fmt::Display) -> ApiError {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": message.to_string() })),
    )
}

fn query_error(e: query::QueryError) -> ApiError {
    match e {
        query::QueryError::BadCursor => bad_request(e),
        other => internal(other),
    }
}

/// Query string of `/v1/history` and `/v1/history.csv`.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    store: Option<String>,
    agent: Option<String>,
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    device: Option<String>,
    gtin: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    format: Option<String>,
}

fn checked_id(name: &str, id: &str) -> Result<String, ApiError> {
    if crate::ingest::valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(bad_request(format!("{name}={id:?} is not a valid id")))
    }
}

/// Free-text filters are compared, never interpreted; only their length is bounded.
fn checked_text(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.len() > 256 => Err(bad_request(format!("{name} is longer than 256 bytes"))),
        other => Ok(other),
    }
}

fn checked_time(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| time::parse_time(t).map_err(|e| bad_request(format!("{name}: {e}"))))
        .transpose()
}

fn checked_cursor(text: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    text.map(|c| {
        if c.len() > 1024 {
            return Err(bad_request("cursor is too long"));
        }
        keys::unhex(c).ok_or_else(|| bad_request("cursor is not one this API gave out"))
    })
    .transpose()
}

impl HistoryParams {
    fn to_query(&self) -> Result<query::Query, ApiError> {
        let store = self
            .store
            .as_deref()
            .ok_or_else(|| bad_request("store= is required"))?;
        Ok(query::Query {
            store: checked_id("store", store)?,
            agent: self
                .agent
                .as_deref()
                .map(|a| checked_id("agent", a))
                .transpose()?,
            from_ms: checked_time("from", self.from.as_deref())?,
            to_ms: checked_time("to", self.to.as_deref())?,
            kind: checked_text("kind", self.kind.clone())?,
            device: checked_text("device", self.device.clone())?,
            gtin: checked_text("gtin", self.gtin.clone())?,
            subject: None,
            limit: self
                .limit
                .unwrap_or(query::DEFAULT_LIMIT)
                .clamp(1, query::MAX_LIMIT),
            cursor: checked_cursor(self.cursor.as_deref())?,
        })
    }
}

/// Runs one page query off the async workers.
async fn run_page(state: &ApiState, q: query::Query) -> Result<query::Page, ApiError> {
    let db = state.rules.db().clone();
    tokio::task::spawn_blocking(move || query::page(db.tree(), &q, query::MAX_SCAN))
        .await
        .map_err(internal)?
        .map_err(query_error)
}

fn page_json(page: query::Page) -> Value {
    json!({
        "order": "oldest_first",
        "rows": page.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.as_deref().map(keys::hex),
    })
}

/// `GET /v1/history?store=&agent=&from=&to=&kind=&device=&gtin=&limit=&cursor=[&format=jsonl]`.
async fn history_inner(
    State(state): State<ApiState>,
    Query(params): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let q = params.to_query()?;
    match params.format.as_deref() {
        None | Some("json") => Ok(Json(page_json(run_page(&state, q).await?)).into_response()),
        Some(other) => export(state, q, Format::parse(other).map_err(bad_request)?),
    }
}

/// `GET /v1/history.csv?...`: the same rows as CSV, the whole range in one download.
async fn history_csv_inner(
    State(state): State<ApiState>,
    Query(params): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let q = params.to_query()?;
    export(state, q, Format::Csv)
}

/// Streams every row of `q` (from its cursor on) in `format`.
fn export(state: ApiState, mut q: query::Query, format: Format) -> Result<Response, ApiError> {
    q.limit = query::MAX_LIMIT;
    // A few chunks in flight: the reader waits for the client, never the other way round.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    let db = state.rules.db().clone();
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(Ok(format.header().to_owned())).is_err() {
            return;
        }
        loop {
            match query::page(db.tree(), &q, query::MAX_SCAN) {
                Ok(page) => {
                    let chunk: String = page.rows.iter().map(|r| format.row(r)).collect();
                    if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
                        return; // The client went away.
                    }
                    match page.next_cursor {
                        Some(cursor) => q.cursor = Some(cursor),
                        None => return,
                    }
                }
                Err(e) => {
                    // Headers are gone: cutting the body short is how the client learns.
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Query string of `/v1/audit`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/audit?from=&to=&actor=&action=&limit=&cursor=`, oldest first.
async fn audit_log_inner(
    State(state): State<ApiState>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let q = audit::AuditQuery {
        from_ms: checked_time("from", params.from.as_deref())?,
        to_ms: checked_time("to", params.to.as_deref())?,
        actor: checked_text("actor", params.actor)?,
        action: checked_text("action", params.action)?,
        limit: params
            .limit
            .unwrap_or(query::DEFAULT_LIMIT)
            .clamp(1, query::MAX_LIMIT),
        cursor: checked_cursor(params.cursor.as_deref())?,
    };
    let db = state.rules.db().clone();
    let page = tokio::task::spawn_blocking(move || audit::page(db.tree(), &q, query::MAX_SCAN))
        .await
        .map_err(internal)?
        .map_err(query_error)?;
    Ok(Json(json!({
        "order": "oldest_first",
        "entries": page.entries,
        "next_cursor": page.next_cursor.as_deref().map(keys::hex),
    })))
}

/// Query string of the explains: paging only.
#[derive(Debug, Default, Deserialize)]
pub struct ExplainParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/stores/{store}/positions/{gtin}/explain`: the store's rows naming the GTIN since the
/// position's last count (all retained ones if it was never counted), oldest first.
async fn explain_position_inner(
    State(state): State<ApiState>,
    Path((store, gtin)): Path<(String, String)>,
    Query(params): Query<ExplainParams>,
) -> Result<Json<Value>, ApiError> {
    let store = checked_id("store", &store)?;
    let gtin = checked_text("gtin", Some(gtin))?.unwrap_or_default();
    let view = state.rules.read(|engine| {
        engine
            .stock
            .positions(&store)
            .into_iter()
            .find(|p| p.gtin == gtin)
    });
    let since = view.as_ref().and_then(|v| v.last_count_ms);
    let q = query::Query {
        store: store.clone(),
        from_ms: since,
        gtin: Some(gtin.clone()),
        limit: params
            .limit
            .unwrap_or(query::DEFAULT_LIMIT)
            .clamp(1, query::MAX_LIMIT),
        cursor: checked_cursor(params.cursor.as_deref())?,
        ..query::Query::default()
    };
    let mut out = page_json(run_page(&state, q).await?);
    out["store_id"] = json!(store);
    out["gtin"] = json!(gtin);
    out["position"] = json!(view);
    out["since_ms"] = json!(since);
    Ok(Json(out))
}

/// How far back an anomaly alert's explain looks from its event time.
const ANOMALY_WINDOW_MS: i64 = 3_600_000;

/// `GET /v1/alerts/{id}/explain`: the events behind an alert (see the README).
async fn explain_alert_inner(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(params): Query<ExplainParams>,
) -> Result<Json<Value>, ApiError> {
    if id.len() > 512 {
        return Err(bad_request("alert id is too long"));
    }
    let found = state.rules.read(|engine| {
        let book = &engine.outbox.alerts;
        let alert = book
            .all_active()
            .map(|(_, a)| a)
            .find(|a| a.id == id)
            .or_else(|| {
                let store = id.split('/').next().unwrap_or_default();
                book.past(store).find(|a| a.id == id)
            })
            .cloned()?;
        let last_count = engine
            .stock
            .positions(&alert.store_id)
            .into_iter()
            .find(|p| p.gtin == alert.subject)
            .and_then(|p| p.last_count_ms);
        Some((alert, last_count))
    });
    let Some((alert, last_count)) = found else {
        return Err((
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no alert {id:?}") })),
        ));
    };
    let stock = matches!(
        AlertKind::try_from(alert.kind),
        Ok(AlertKind::Low | AlertKind::Out | AlertKind::Transfer)
    );
    // Stock alerts: what made the position (since its last count); anomalies: the subject's
    // events in the hour before the alert's event time.
    let from_ms = if stock {
        last_count
    } else {
        Some(alert.event_time_ms.saturating_sub(ANOMALY_WINDOW_MS))
    };
    let q = query::Query {
        store: alert.store_id.clone(),
        from_ms,
        to_ms: Some(alert.event_time_ms.saturating_add(1)),
        gtin: stock.then(|| alert.subject.clone()),
        subject: (!stock && !alert.subject.is_empty()).then(|| alert.subject.clone()),
        limit: params
            .limit
            .unwrap_or(query::DEFAULT_LIMIT)
            .clamp(1, query::MAX_LIMIT),
        cursor: checked_cursor(params.cursor.as_deref())?,
        ..query::Query::default()
    };
    let mut out = page_json(run_page(&state, q).await?);
    out["alert"] = crate::rules::alert_json(&alert);
    out["from_ms"] = json!(from_ms);
    out["to_ms"] = json!(alert.event_time_ms.saturating_add(1));
    Ok(Json(out))
}

/// Counts and logs (rate-limited) a query refused as malformed.
fn counted<T>(state: &ApiState, result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err((StatusCode::BAD_REQUEST, Json(body))) = &result {
        let reason = body["error"].as_str().unwrap_or_default();
        state.rules.history_stats().refused_query(reason);
    }
    result
}

/// See [`history_inner`].
pub async fn history(
    State(state): State<ApiState>,
    params: Query<HistoryParams>,
) -> Result<Response, ApiError> {
    counted(&state, history_inner(State(state.clone()), params).await)
}

/// See [`history_csv_inner`].
pub async fn history_csv(
    State(state): State<ApiState>,
    params: Query<HistoryParams>,
) -> Result<Response, ApiError> {
    counted(
        &state,
        history_csv_inner(State(state.clone()), params).await,
    )
}

/// See [`audit_log_inner`].
pub async fn audit_log(
    State(state): State<ApiState>,
    params: Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    counted(&state, audit_log_inner(State(state.clone()), params).await)
}

/// See [`explain_position_inner`].
pub async fn explain_position(
    State(state): State<ApiState>,
    path: Path<(String, String)>,
    params: Query<ExplainParams>,
) -> Result<Json<Value>, ApiError> {
    counted(
        &state,
        explain_position_inner(State(state.clone()), path, params).await,
    )
}

/// See [`explain_alert_inner`].
pub async fn explain_alert(
    State(state): State<ApiState>,
    path: Path<String>,
    params: Query<ExplainParams>,
) -> Result<Json<Value>, ApiError> {
    counted(
        &state,
        explain_alert_inner(State(state.clone()), path, params).await,
    )
}
