//! The PostgreSQL sink: the applied events, alert changes, staffing signals and hourly KPIs
//! streamed into PostgreSQL for BI, exactly once, without ever slowing ingest.
//!
//! - [`entry`]: what one commit hands to PostgreSQL, built while the commit is assembled
//!   (`rules::Runtime`);
//! - [`feed`]: those entries in the collector's sled database, written in the commit's own batch
//!   (so a crash cannot separate a group from its entry), bounded in bytes;
//! - [`writer`]: the task that writes entries and the sink's progress mark in one PostgreSQL
//!   transaction, resumes from that mark after any crash, and retries with backoff while
//!   PostgreSQL is away;
//! - [`rows`]: entries as rows, made acceptable to PostgreSQL;
//! - [`migrations`]: the versioned schema the writer creates and migrates.
//!
//! `/metrics` shows the lag (entries and seconds), rows written, batches, errors and lost
//! events (`http/metrics.rs`).

pub mod entry;
pub mod feed;
pub mod migrations;
pub mod rows;
pub mod writer;

use std::sync::Arc;

use store_runtime::secret::{read_secret, SecretError};

pub use self::entry::{FeedEntry, FeedEvent};
pub use self::feed::Feed;
use crate::config::PostgresConfig;

/// Starts the writer for `feed`. Reads the password file first, so a missing file stops the
/// collector at start-up instead of failing every session.
pub fn start(
    config: &PostgresConfig,
    feed: Arc<Feed>,
) -> Result<tokio::task::JoinHandle<()>, SecretError> {
    let password = match &config.password_file {
        Some(path) => Some(read_secret("postgres.password_file", path)?),
        None => None,
    };
    Ok(tokio::spawn(writer::run(config.clone(), password, feed)))
}
