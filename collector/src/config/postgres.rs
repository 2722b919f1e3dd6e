//! `[postgres]`: the PostgreSQL sink (see `crate::pgsink`). Absent (the default), nothing is
//! streamed and ingest writes no sink feed.

use std::path::PathBuf;

use serde::Deserialize;

/// `[postgres]`: stream the applied events, alert changes, staffing signals and hourly KPIs into
/// a PostgreSQL database, exactly once. Plain TCP without TLS: keep the database on loopback or
/// a trusted LAN.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Host name or IP address of the PostgreSQL server.
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Role the collector logs in as; it must be allowed to create tables in `dbname` (the
    /// collector creates and migrates its schema itself).
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_dbname")]
    pub dbname: String,
    /// File holding the role's password (first line). None: no password (trust or peer
    /// authentication).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Most events written in one PostgreSQL transaction (whole feed entries are taken, so a
    /// transaction may hold one commit group more than this).
    #[serde(default = "default_batch_events")]
    pub batch_events: usize,
    /// Most bytes the sink feed may hold in the collector's database while PostgreSQL is away or
    /// behind. Beyond it the oldest feed entries are dropped, counted in
    /// `store_collector_pgsink_lost_events_total` and logged: ingest never waits for PostgreSQL.
    #[serde(default = "default_max_backlog_bytes")]
    pub max_backlog_bytes: u64,
    /// Seconds allowed to connect, and for one batch's transaction, before it counts as failed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Longest pause between reconnect attempts, milliseconds (exponential backoff from 200 ms).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

/// Upper bound of `batch_events`: one transaction must stay small enough to retry cheaply.
pub const MAX_BATCH_EVENTS: usize = 100_000;
/// Lower bound of `max_backlog_bytes`.
pub const MIN_BACKLOG_BYTES: u64 = 1024 * 1024;

fn default_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_port() -> u16 {
    5432
}
fn default_user() -> String {
    "store_collector".to_owned()
}
fn default_dbname() -> String {
    "store_edge".to_owned()
}
fn default_batch_events() -> usize {
    10_000
}
fn default_max_backlog_bytes() -> u64 {
    1024 * 1024 * 1024
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_retry_max_ms() -> u64 {
    10_000
}

impl PostgresConfig {
    /// A section with every default (what an empty `[postgres]` table gives).
    pub fn with_defaults() -> PostgresConfig {
        PostgresConfig {
            host: default_host(),
            port: default_port(),
            user: default_user(),
            dbname: default_dbname(),
            password_file: None,
            batch_events: default_batch_events(),
            max_backlog_bytes: default_max_backlog_bytes(),
            timeout_secs: default_timeout_secs(),
            retry_max_ms: default_retry_max_ms(),
        }
    }

    /// Checks serde cannot express: the offending key and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.host.is_empty() {
            return Err(("host", "must not be empty".to_owned()));
        }
        if self.user.is_empty() {
            return Err(("user", "must not be empty".to_owned()));
        }
        if self.dbname.is_empty() {
            return Err(("dbname", "must not be empty".to_owned()));
        }
        if !(1..=MAX_BATCH_EVENTS).contains(&self.batch_events) {
            return Err((
                "batch_events",
                format!("must be between 1 and {MAX_BATCH_EVENTS}"),
            ));
        }
        if self.max_backlog_bytes < MIN_BACKLOG_BYTES {
            return Err((
                "max_backlog_bytes",
                format!("must be at least {MIN_BACKLOG_BYTES}"),
            ));
        }
        if self.timeout_secs == 0 {
            return Err(("timeout_secs", "must be at least 1".to_owned()));
        }
        if self.retry_max_ms < 200 {
            return Err(("retry_max_ms", "must be at least 200".to_owned()));
        }
        Ok(())
    }
}
