//! Reading the history: one store's rows in a time range, filtered and paged, and single rows by
//! (store, agent, seq).
//!
//! A page is one range scan of the store's time index, pack by pack ([`super::pack`]), oldest
//! pack first; within a pack, rows come in the order the agent's events were applied (seq
//! order). Packs are ordered by their earliest row, and a pack spans at most
//! [`SPAN_MS`], so rows come oldest first to within that span: rows of
//! one agent in time order as sent, rows of agents whose packs overlap in time one pack after
//! the other. Since a pack may start up to `SPAN_MS` before `from`, the scan starts that early
//! and rows outside `[from, to)` are skipped.
//!
//! Filters (agent, kind, device, GTIN, time) are applied to the rows the scan meets, so the
//! work of one page is bounded by [`MAX_SCAN`] rows, not by the page size: a filter that
//! matches nothing returns an empty page with a cursor rather than walking the whole range in
//! one request. A cursor is the key of the pack the page stopped in and how many of its rows
//! were read; packs never change once written, so clients following `next_cursor` until it is
//! absent get no row twice and none skipped, whatever is written meanwhile (new packs sort
//! after or among the packs not yet read, never before the cursor, except packs whose event
//! time lies in the past, which a later query shows).

use super::keys;
use super::pack::{self, SPAN_MS};
use super::record::{BadRow, Row};

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
    /// Continue where a previous page stopped (its `next_cursor`).
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
        self.from_ms.is_none_or(|from| row.time_ms >= from)
            && self.to_ms.is_none_or(|to| row.time_ms < to)
            && self.agent.as_deref().is_none_or(|a| a == row.agent)
            && self.kind.as_deref().is_none_or(|k| k == row.kind())
            && self
                .device
                .as_deref()
                .is_none_or(|d| d == row.event.device_id)
            && self.gtin.as_deref().is_none_or(|g| row.has_gtin(g))
            && self.subject.as_deref().is_none_or(|s| row.names(s))
    }

    /// The key range `[start, end)` of packs that may hold rows of this query.
    fn bounds(&self) -> (Vec<u8>, Vec<u8>) {
        let prefix = keys::store_prefix(&self.store);
        let start = match self.from_ms {
            Some(from) => keys::store_time_key(&self.store, from.saturating_sub(SPAN_MS)),
            None => prefix.clone(),
        };
        let end = match self.to_ms {
            Some(to) => keys::store_time_key(&self.store, to),
            None => keys::prefix_end(&prefix),
        };
        (start, end)
    }
}

/// A cursor: a pack key and the rows of that pack already read (4 bytes).
fn cursor(key: &[u8], read: usize) -> Vec<u8> {
    let mut cursor = Vec::with_capacity(key.len() + 4);
    cursor.extend_from_slice(key);
    cursor.extend_from_slice(&(read.min(u32::MAX as usize) as u32).to_be_bytes());
    cursor
}

/// Splits a cursor into its pack key and rows read; `None` for anything else.
fn parse_cursor(cursor: &[u8]) -> Option<(&[u8], usize)> {
    let (key, read) = cursor.split_last_chunk::<4>()?;
    keys::parse_time_key(key)?;
    Some((key, u32::from_be_bytes(*read) as usize))
}

/// Reads one page (see the module docs). `max_scan` bounds the rows looked at.
pub fn page(tree: &sled::Tree, query: &Query, max_scan: usize) -> Result<Page, QueryError> {
    let (mut start, end) = query.bounds();
    let mut resume: Option<(Vec<u8>, usize)> = None;
    if let Some(c) = &query.cursor {
        let (key, read) = parse_cursor(c).ok_or(QueryError::BadCursor)?;
        if key < start.as_slice() || key >= end.as_slice() {
            return Err(QueryError::BadCursor);
        }
        // From the cursor's pack on (it may have been pruned meanwhile: then the next one).
        start = key.to_vec();
        resume = Some((key.to_vec(), read));
    }
    if start >= end {
        return Ok(Page {
            rows: Vec::new(),
            next_cursor: None,
        });
    }
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let max_scan = max_scan.max(1);
    let mut rows = Vec::new();
    let mut scanned = 0;
    for item in tree.range(start..end) {
        let (key, value) = item?;
        let pack = pack::parse(&key, &value)?;
        let skip = match &resume {
            Some((k, read)) if k.as_slice() == key.as_ref() => *read,
            _ => 0,
        };
        for (i, raw) in pack.raw_rows().enumerate() {
            let raw = raw?;
            if i < skip {
                continue;
            }
            let row = pack.row(raw, i == 0)?;
            scanned += 1;
            if query.wants(&row) {
                rows.push(row);
                if rows.len() == limit {
                    return Ok(Page {
                        rows,
                        next_cursor: Some(cursor(&key, i + 1)),
                    });
                }
            }
            if scanned >= max_scan {
                return Ok(Page {
                    rows,
                    next_cursor: Some(cursor(&key, i + 1)),
                });
            }
        }
    }
    Ok(Page {
        rows,
        next_cursor: None,
    })
}

/// The row of one event, if it is recorded (and not yet pruned): a scan of the store's packs.
///
/// There is no (agent, seq) index: it cost a second sled insert for every pack written, and
/// no request path looks rows up this way (the API pages by time with filters). This is for
/// tools and tests; it reads every pack of the store in the worst case, and decodes the rows of
/// the agent's packs that start at or before `seq`.
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
        if parsed.agent != agent || parsed.seq > seq {
            continue;
        }
        let pack = pack::parse(&key, &value)?;
        for (i, raw) in pack.raw_rows().enumerate() {
            let row = pack.row(raw?, i == 0)?;
            if row.event.seq == seq {
                return Ok(Some(row));
            }
        }
    }
    Ok(None)
}
