//! Report routes (viewer role): KPIs per store, region or chain, stock-out hours per GTIN, and
//! next week's staffing plan; JSON, or CSV with `format=csv` (RFC 4180: a header row, CRLF line
//! ends, fields quoted when they hold a comma, quote or line break).
//!
//! Query parameters are checked here and a bad one is answered 400 with its name; the figures
//! come from [`crate::rules::engine::kpi::query`] and [`crate::rules::engine::staffing::plan`],
//! read under the engine lock.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use crate::rules::engine::kpi::query::{self, Granularity, Row};
use crate::rules::engine::staffing::plan;

/// Most local days one report may span.
pub const MAX_DAYS: i64 = 400;
/// Longest `id` accepted (store ids and region names are short).
const MAX_ID_LEN: usize = 128;

/// The report routes, merged into `/v1` (behind the token check).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/kpis", get(kpis))
        .route("/v1/stores/{store}/kpis/stockouts", get(stockouts))
        .route("/v1/stores/{store}/staffing-plan", get(staffing_plan))
}

/// A bad query parameter: answered 400 with `{"error": "{param}: {message}"}`.
#[derive(Debug)]
struct BadParam {
    param: &'static str,
    message: String,
}

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        let error = format!("{}: {}", self.param, self.message);
        (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
    }
}

fn bad(param: &'static str, message: String) -> BadParam {
    BadParam { param, message }
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    scope: Option<String>,
    id: Option<String>,
    granularity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format(q: &Option<String>) -> Result<Format, BadParam> {
    match q.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(bad("format", format!("{other:?} is not json or csv"))),
    }
}

/// `from` and `to` as local days (inclusive), at most [`MAX_DAYS`] apart.
fn days(q: &ReportQuery) -> Result<(i64, i64), BadParam> {
    let date = |name: &'static str, v: &Option<String>| -> Result<i64, BadParam> {
        let v = v
            .as_deref()
            .ok_or_else(|| bad(name, "missing (a local date YYYY-MM-DD)".to_owned()))?;
        query::parse_date(v).ok_or_else(|| bad(name, format!("{v:?} is not a date YYYY-MM-DD")))
    };
    let (from, to) = (date("from", &q.from)?, date("to", &q.to)?);
    if to < from {
        return Err(bad("to", "is before from".to_owned()));
    }
    if to - from >= MAX_DAYS {
        return Err(bad("to", format!("more than {MAX_DAYS} days after from")));
    }
    Ok((from, to))
}

/// `GET /v1/kpis?scope=store|region|chain&id=&granularity=hour|day&from=&to=&format=json|csv`.
async fn kpis(
    State(state): State<ApiState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, BadParam> {
    let fmt = format(&q.format)?;
    let granularity = match q.granularity.as_deref() {
        None | Some("day") => Granularity::Day,
        Some("hour") => Granularity::Hour,
        Some(other) => return Err(bad("granularity", format!("{other:?} is not hour or day"))),
    };
    let (from, to) = days(&q)?;
    let scope = q.scope.as_deref().unwrap_or("");
    let id = q.id.clone().unwrap_or_default();
    if scope != "chain" && id.is_empty() {
        return Err(bad("id", format!("missing (the {scope} to report)")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(bad("id", format!("longer than {MAX_ID_LEN} bytes")));
    }
    let (stores, rows) = match scope {
        "store" => state.rules.read(|engine| {
            let profile = engine.profiles.get(&id);
            let rows = query::store_rows(&engine.kpi, &id, profile, from, to, granularity);
            (vec![id.clone()], rows)
        }),
        "region" | "chain" => state.rules.read(|engine| {
            let stores: Vec<String> = engine
                .kpi
                .stores()
                .filter(|s| scope == "chain" || engine.profiles.get(s).region == id)
                .map(str::to_owned)
                .collect();
            let rows = query::summed_rows(
                &engine.kpi,
                stores.iter().map(|s| (s.as_str(), engine.profiles.get(s))),
                from,
                to,
                granularity,
            );
            (stores, rows)
        }),
        "" => return Err(bad("scope", "missing (store, region or chain)".to_owned())),
        other => {
            return Err(bad(
                "scope",
                format!("{other:?} is not store, region or chain"),
            ))
        }
    };
    Ok(match fmt {
        Format::Json => Json(json!({
            "scope": scope,
            "id": if scope == "chain" { None } else { Some(id) },
            "granularity": if granularity == Granularity::Day { "day" } else { "hour" },
            "from": query::date_label(from),
            "to": query::date_label(to),
            "stores": stores,
            "rows": rows,
        }))
        .into_response(),
        Format::Csv => csv(kpi_csv(&rows)),
    })
}

const KPI_COLUMNS: [&str; 21] = [
    "period",
    "entries",
    "transactions",
    "conversion",
    "sales_minor",
    "average_basket_minor",
    "units",
    "units_per_transaction",
    "returns",
    "returns_minor",
    "returns_rate",
    "voids",
    "voids_rate",
    "stockout_hours",
    "understaffed_hours",
    "overstaffed_hours",
    "alerts_raised",
    "alerts_acknowledged",
    "alerts_resolved",
    "mean_ack_seconds",
    "median_ack_seconds",
];

fn kpi_csv(rows: &[Row]) -> String {
    let mut out = String::new();
    line(&mut out, KPI_COLUMNS);
    for r in rows {
        let (c, k) = (&r.counters, &r.kpis);
        let fields = [
            r.period.clone(),
            c.entries.to_string(),
            c.transactions.to_string(),
            opt(k.conversion),
            c.sales_minor.to_string(),
            opt(k.average_basket_minor),
            c.units.to_string(),
            opt(k.units_per_transaction),
            c.returns.to_string(),
            c.returns_minor.to_string(),
            opt(k.returns_rate),
            c.voids.to_string(),
            opt(k.voids_rate),
            k.stockout_hours.to_string(),
            k.understaffed_hours.to_string(),
            k.overstaffed_hours.to_string(),
            c.alerts_raised.to_string(),
            c.alerts_acknowledged.to_string(),
            c.alerts_resolved.to_string(),
            opt(r.mean_ack_seconds),
            opt(r.median_ack_seconds),
        ];
        line(&mut out, fields.iter().map(String::as_str));
    }
    out
}

#[derive(Debug, Default, Deserialize)]
struct StockoutQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// `GET /v1/stores/{store}/kpis/stockouts?from=&to=&format=json|csv`.
async fn stockouts(
    State(state): State<ApiState>,
    Path(store): Path<String>,
    Query(q): Query<StockoutQuery>,
) -> Result<Response, BadParam> {
    let fmt = format(&q.format)?;
    let range = ReportQuery {
        from: q.from,
        to: q.to,
        ..ReportQuery::default()
    };
    let (from, to) = days(&range)?;
    let gtins = state
        .rules
        .read(|engine| query::stockouts(&engine.kpi, &store, from, to));
    Ok(match fmt {
        Format::Json => {
            let gtins: Vec<_> = gtins
                .iter()
                .map(|(g, h)| json!({ "gtin": g, "stockout_hours": h }))
                .collect();
            Json(json!({
                "store_id": store,
                "from": query::date_label(from),
                "to": query::date_label(to),
                "gtins": gtins,
            }))
            .into_response()
        }
        Format::Csv => {
            let mut out = String::new();
            line(&mut out, ["gtin", "stockout_hours"]);
            for (g, h) in &gtins {
                line(&mut out, [g.as_str(), h.to_string().as_str()]);
            }
            csv(out)
        }
    })
}

#[derive(Debug, Default, Deserialize)]
struct PlanQuery {
    format: Option<String>,
}

/// `GET /v1/stores/{store}/staffing-plan?format=json|csv`: the next seven local days.
async fn staffing_plan(
    State(state): State<ApiState>,
    Path(store): Path<String>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, BadParam> {
    let fmt = format(&q.format)?;
    let now = state.rules.now_ms();
    let hours = state
        .rules
        .read(|engine| plan::next_week(&engine.traffic, &store, engine.profiles.get(&store), now));
    Ok(match fmt {
        Format::Json => Json(json!({ "store_id": store, "hours": hours })).into_response(),
        Format::Csv => {
            let mut out = String::new();
            line(
                &mut out,
                [
                    "date",
                    "hour",
                    "forecast_entries",
                    "weeks",
                    "needed_staff",
                    "rostered_staff",
                ],
            );
            for h in &hours {
                let fields = [
                    h.date.clone(),
                    h.hour.to_string(),
                    opt(h.forecast_entries),
                    h.weeks.to_string(),
                    h.needed_staff.to_string(),
                    h.rostered_staff.to_string(),
                ];
                line(&mut out, fields.iter().map(String::as_str));
            }
            csv(out)
        }
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Appends one CSV record (RFC 4180 quoting, CRLF).
fn line<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}
