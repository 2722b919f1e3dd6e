//! The audit log: who at HQ did what, and when.
//!
//! Each record is one `audit/{time}{id}` key (see [`super::keys`]) holding a small JSON object.
//! An action that commits state (acknowledging an alert) writes its record in that same commit,
//! through [`crate::rules::Runtime`]; anything else calls [`AuditLog::record`], which commits
//! the record on its own, durably, before it returns.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys;
use crate::clock::now_ms;
use crate::ledger::{Changes, Db, DbError};

/// Longest `actor`, `action` or `target` kept; longer text is cut (it may come from a client).
const MAX_FIELD_CHARS: usize = 200;
/// Longest `detail`, as JSON text; a longer detail is replaced by a note saying so.
const MAX_DETAIL_BYTES: usize = 4096;

/// Who did it: the API token that authorised the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The token's name: `operator` or `viewer` (the names of `[api] token` and
    /// `[api] viewer_token`), `open` when the API has no token, or a process name such as
    /// `collector` for the collector's own actions.
    pub name: String,
    /// `operator`, `viewer`, `none` or `system`.
    pub role: String,
}

impl Actor {
    pub fn new(name: impl Into<String>, role: impl Into<String>) -> Self {
        Actor {
            name: name.into(),
            role: role.into(),
        }
    }

    /// The collector itself (timers, start-up).
    pub fn system() -> Self {
        Actor::new("collector", "system")
    }
}

/// One audit record as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Collector wall time, ms.
    pub at_ms: i64,
    pub actor: String,
    pub role: String,
    /// What was done: `alert.acknowledge`, `catalogue.reload`, ...
    pub action: String,
    /// What it was done to: an alert id, a file, a store.
    pub target: String,
    /// Anything else worth keeping (JSON).
    pub detail: Value,
}

impl AuditEntry {
    /// A record of `action` on `target` by `actor`, now; over-long fields are cut.
    pub fn new(actor: &Actor, action: &str, target: &str, detail: Value) -> Self {
        let detail = if detail.to_string().len() > MAX_DETAIL_BYTES {
            Value::String(format!("(detail over {MAX_DETAIL_BYTES} bytes not kept)"))
        } else {
            detail
        };
        AuditEntry {
            at_ms: now_ms(),
            actor: cut(&actor.name),
            role: cut(&actor.role),
            action: cut(action),
            target: cut(target),
            detail,
        }
    }

    /// The key and value to commit; `id` makes the key unique among records of the same ms.
    pub fn to_kv(&self, id: u64) -> (Vec<u8>, Vec<u8>) {
        (
            keys::audit_key(self.at_ms, id),
            serde_json::to_vec(self).expect("an audit entry serialises"),
        )
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

/// Handle for writing audit records that have no state commit of their own.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Arc<Db>,
    stats: Arc<super::Stats>,
}

impl AuditLog {
    pub fn new(db: Arc<Db>, stats: Arc<super::Stats>) -> Self {
        AuditLog { db, stats }
    }

    /// Records that `actor` did `action` to `target`; durable when this returns. Blocking work
    /// runs off the async workers.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: Value,
    ) -> Result<AuditEntry, DbError> {
        let entry = AuditEntry::new(actor, action, target, detail);
        let db = self.db.clone();
        let stored = entry.clone();
        tokio::task::spawn_blocking(move || {
            let kv = stored.to_kv(db.generate_id()?);
            db.commit(&Changes {
                audit: vec![kv],
                ..Changes::default()
            })
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))??;
        self.stats
            .audit_written
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(entry)
    }
}

/// What to read from the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: usize,
    pub cursor: Option<Vec<u8>>,
}

/// One page of audit records, oldest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<Vec<u8>>,
}

/// Reads one page of the audit log; at most `max_scan` records are looked at.
pub fn page(
    tree: &sled::Tree,
    query: &AuditQuery,
    max_scan: usize,
) -> Result<AuditPage, super::QueryError> {
    let mut start = match query.from_ms {
        Some(from) => keys::audit_time_key(from),
        None => keys::AUDIT_PREFIX.to_vec(),
    };
    let end = match query.to_ms {
        Some(to) => keys::audit_time_key(to),
        None => keys::prefix_end(keys::AUDIT_PREFIX),
    };
    if let Some(cursor) = &query.cursor {
        if *cursor < start || *cursor >= end || keys::audit_time(cursor).is_none() {
            return Err(super::QueryError::BadCursor);
        }
        start = cursor.clone();
        start.push(0);
    }
    let mut entries = Vec::new();
    if start >= end {
        return Ok(AuditPage {
            entries,
            next_cursor: None,
        });
    }
    let limit = query.limit.clamp(1, super::query::MAX_LIMIT);
    let mut scanned = 0;
    for item in tree.range(start..end) {
        let (key, value) = item?;
        scanned += 1;
        let entry: AuditEntry =
            serde_json::from_slice(&value).map_err(|e| super::record::BadRow {
                key: keys::hex(&key),
                reason: e.to_string(),
            })?;
        let wanted = query.actor.as_deref().is_none_or(|a| a == entry.actor)
            && query.action.as_deref().is_none_or(|a| a == entry.action);
        if wanted {
            entries.push(entry);
            if entries.len() == limit {
                return Ok(AuditPage {
                    entries,
                    next_cursor: Some(key.to_vec()),
                });
            }
        }
        if scanned >= max_scan.max(1) {
            return Ok(AuditPage {
                entries,
                next_cursor: Some(key.to_vec()),
            });
        }
    }
    Ok(AuditPage {
        entries,
        next_cursor: None,
    })
}
