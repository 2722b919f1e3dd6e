//! The command routes: issue a command to an agent (operator), list and read commands (viewer
//! or operator). The work is the [`crate::command`] book's; here are the HTTP shapes and status
//! codes.

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiState;
use crate::clock::now_ms;
use crate::command::request::{self, MAX_BODY_BYTES};
use crate::command::{InsertError, Record};
use crate::history::Actor;
use crate::ingest::{valid_id, MAX_ID_LEN};
use crate::ledger::AgentKey;

/// Most commands one `GET /v1/commands` page holds.
pub const MAX_PAGE: usize = 1_000;
/// Page size when the request names none.
const DEFAULT_PAGE: usize = 100;

type Refusal = (StatusCode, Json<Value>);

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    (status, Json(json!({ "error": message.into() })))
}

fn check_id(name: &str, id: &str) -> Result<(), Refusal> {
    if valid_id(id) {
        return Ok(());
    }
    Err(refuse(
        StatusCode::BAD_REQUEST,
        format!(
            "{name}: not a valid id (1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '_', '.', '-')"
        ),
    ))
}

/// `POST /v1/stores/{store}/agents/{agent}/commands`: 202 with the command's record.
pub async fn issue(
    State(state): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((store, agent)): Path<(String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<Record>), Refusal> {
    check_id("store", &store)?;
    check_id("agent", &agent)?;
    // Read at most the limit: a larger body is refused without being taken in whole.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("body is larger than {MAX_BODY_BYTES} bytes (or could not be read)"),
            )
        })?;
    let request =
        request::parse(&bytes).map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    let commands = state.commands.clone();
    let target = AgentKey::new(&store, &agent);
    let issued = tokio::task::spawn_blocking(move || commands.issue(&target, request, now_ms()))
        .await
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match issued {
        Ok(record) => {
            // The command book holds the command durably whatever happens here; the audit log
            // says who sent it, next to the other HQ actions.
            let detail = json!({ "id": record.id, "command": record.command, "expires_at_ms": record.expires_at_ms });
            let target = format!("{}/{}", record.store_id, record.agent_id);
            if let Err(e) = state
                .rules
                .audit_log()
                .record(&actor, "command.issue", &target, detail)
                .await
            {
                tracing::error!(error = %e, command_id = %record.id, "could not write the audit record of a command");
            }
            Ok((StatusCode::ACCEPTED, Json(record)))
        }
        Err(e @ InsertError::TooMany { .. }) => {
            Err(refuse(StatusCode::TOO_MANY_REQUESTS, e.to_string()))
        }
        Err(e) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    store: Option<String>,
    agent: Option<String>,
    /// `pending`, `sent`, `answered` or `expired`.
    state: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<usize>,
    /// The last id of the previous page: only older commands.
    after: Option<String>,
}

/// `GET /v1/commands?store=&agent=&state=&limit=&after=`: newest first, paged.
pub async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Refusal> {
    let wanted_state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(crate::command::State::parse(s).ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "state: expected pending, sent, answered or expired",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("limit: must be from 1 to {MAX_PAGE}"),
        ));
    }
    let commands = state.commands.list(&crate::command::Query {
        store: q.store.as_deref(),
        agent: q.agent.as_deref(),
        state: wanted_state,
        after: q.after.as_deref(),
        limit,
    });
    let next_after = (commands.len() == limit).then(|| commands[limit - 1].id.clone());
    Ok(Json(
        json!({ "commands": commands, "next_after": next_after }),
    ))
}

/// `GET /v1/commands/{id}`.
pub async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Record>, Refusal> {
    state
        .commands
        .get(&id)
        .map(Json)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "no command has this id"))
}
