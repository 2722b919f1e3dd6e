//! Reading the history: one store's rows in a time range, filtered and paged, and single rows by
//! (store, agent, seq).
//!
//! A page is one range scan of the store's time index, oldest first. Filters (agent, kind,
//! device, GTIN) are applied to the rows the scan meets, so the work of one page is bounded by
//! [`MAX_SCAN`] rows, not by the page size: a filter that matches nothing returns an empty page
//! with a cursor rather than walking the whole range in one request. Clients follow
//! `next_cursor` until it is absent; no row is returned twice and none is skipped, whatever is
//! written meanwhile (new rows sort after or among the rows not yet read, never before the
//! cursor, except rows whose event time lies in the past, which a later query shows).

use super::keys;
use super::record::{self, BadRow, Row};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;
/// Most rows one page looks at, matching or not.
pub const MAX_SCAN: usize = 20_000;

/// What to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub store: String,
    pub agent: Option<String>,
    /// Inclusive lower bound on the event time, ms.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on the event time, ms.
    pub to_ms: Option<i64>,
    pub kind: Option<String>,
    pub device: Option<String>,
    pub gtin: Option<String>,
    /// Rows that name this id anywhere: as device, agent, GTIN or register (alert subjects).
    pub subject: Option<String>,
    /// Rows per page, `1..=MAX_LIMIT`.
    pub limit: usize,
    /// Continue after this key (from a previous page's `next_cursor`).
    pub cursor: Option<Vec<u8>>,
}

/// One page of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next_cursor: Option<Vec<u8>>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor does not belong to this query (client error).
    #[error("cursor does not belong to this store and time range")]
    BadCursor,
    #[error(transparent)]
    BadRow(#[from] BadRow),
    #[error("history: {0}")]
    Sled(#[from] sled::Error),
}

impl Query {
    fn wants(&self, row: &Row) -> bool {
        self.agent.as_deref().is_none_or(|a| a == row.agent)
            && self.kind.as_deref().is_none_or(|k| k == row.kind())
            && self
                .device
                .as_deref()
                .is_none_or(|d| d == row.event.device_id)
            && self.gtin.as_deref().is_none_or(|g| row.has_gtin(g))
            && self.subject.as_deref().is_none_or(|s| row.names(s))
    }

    /// The key range `[start, end)` of this query, before the cursor.
    fn bounds(&self) -> (Vec<u8>, Vec<u8>) {
        let prefix = keys::store_prefix(&self.store);
        let start = match self.from_ms {
            Some(from) => keys::store_time_key(&self.store, from),
            None => prefix.clone(),
        };
        let end = match self.to_ms {
            Some(to) => keys::store_time_key(&self.store, to),
            None => keys::prefix_end(&prefix),
        };
        (start, end)
    }
}

/// Reads one page (see the module docs). `max_scan` bounds the rows looked at.
pub fn page(tree: &sled::Tree, query: &Query, max_scan: usize) -> Result<Page, QueryError> {
    let (mut start, end) = query.bounds();
    if let Some(cursor) = &query.cursor {
        if *cursor < start || *cursor >= end || keys::parse_time_key(cursor).is_none() {
            return Err(QueryError::BadCursor);
        }
        // Strictly after the cursor: the smallest longer key.
        start = cursor.clone();
        start.push(0);
    }
    if start >= end {
        return Ok(Page {
            rows: Vec::new(),
            next_cursor: None,
        });
    }
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let mut rows = Vec::new();
    let mut scanned = 0;
    for item in tree.range(start..end) {
        let (key, value) = item?;
        let row = record::decode(&key, &value)?;
        scanned += 1;
        if query.wants(&row) {
            rows.push(row);
            if rows.len() == limit {
                return Ok(Page {
                    rows,
                    next_cursor: Some(key.to_vec()),
                });
            }
        }
        if scanned >= max_scan.max(1) {
            return Ok(Page {
                rows,
                next_cursor: Some(key.to_vec()),
            });
        }
    }
    Ok(Page {
        rows,
        next_cursor: None,
    })
}

/// The row of one event, if it is recorded (and not yet pruned): a scan of the store's rows.
///
/// There is no (agent, seq) index: it cost a second sled insert for every event recorded, and
/// no request path looks rows up this way (the API pages by time with filters). This is for
/// tools and tests; it reads every row of the store in the worst case.
pub fn event(
    tree: &sled::Tree,
    store: &str,
    agent: &str,
    seq: u64,
) -> Result<Option<Row>, QueryError> {
    for item in tree.scan_prefix(keys::store_prefix(store)) {
        let (key, value) = item?;
        let Some(parsed) = keys::parse_time_key(&key) else {
            continue;
        };
        if parsed.agent == agent && parsed.seq == seq {
            return Ok(Some(record::decode(&key, &value)?));
        }
    }
    Ok(None)
}
