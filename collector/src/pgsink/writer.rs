//! The writer task: feed entries into PostgreSQL, exactly once.
//!
//! One session: connect, migrate, read this feed's mark from `sink_progress`, remove the feed
//! entries at or below it, then repeat: read committed entries above the mark, write their rows
//! and the new mark in ONE PostgreSQL transaction, remove those entries from the feed. After a
//! crash of either side the transaction either committed (rows and mark) or did not (neither),
//! and the next session starts from the mark PostgreSQL holds, so every entry is written once.
//! Events go in by COPY straight into `events`; they are keyed by store, agent and seq, so should
//! one already be there by some other path (an older backup of the collector restored, a wiped
//! collector state whose agents refill what PostgreSQL has), the transaction fails on the key and
//! the batch is written again through a temporary table with `ON CONFLICT DO NOTHING`: a second
//! write of an event adds nothing and never stalls the sink.
//!
//! Any error ends the session; the next one starts after a backoff. Ingest never waits for this
//! task: the feed absorbs what PostgreSQL has not taken yet (see [`super::feed`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use store_runtime::backoff::Backoff;
use store_runtime::log_limit::LogLimit;
use tokio_postgres::{Client, NoTls, Statement};
use tracing::{info, warn};

use super::feed::{Feed, Read};
use super::migrations;
use super::rows::{self, KpiHour, EVENT_COLUMNS};
use crate::config::PostgresConfig;
use crate::rules::{alert_json, alert_kind_name, alert_state_name, signal_json, signal_kind_name};

/// Bytes of COPY text sent per message.
const COPY_CHUNK: usize = 1 << 20;
/// How long an idle session waits for a wake-up before it looks at the feed (and the
/// connection) again.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("PostgreSQL")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Migrate(#[from] migrations::MigrateError),
    #[error("sink feed")]
    Feed(#[from] sled::Error),
    #[error("timed out")]
    Timeout,
    #[error("connection closed")]
    Closed,
    #[error("task")]
    Join(#[from] tokio::task::JoinError),
}

/// Runs sessions until the task is aborted.
pub async fn run(config: PostgresConfig, password: Option<String>, feed: Arc<Feed>) {
    let mut backoff = Backoff::from_millis(200, config.retry_max_ms);
    let mut log: LogLimit<&'static str> = LogLimit::default();
    loop {
        let mut wrote = false;
        let result = session(&config, password.as_deref(), &feed, &mut wrote).await;
        feed.stats.connected.store(0, Relaxed);
        if let Err(e) = result {
            feed.stats.errors.fetch_add(1, Relaxed);
            if let Some(n) = log.note(&"session", 1, tokio::time::Instant::now()) {
                warn!(error = %chain(&e), failures = n, host = %config.host, port = config.port, "PostgreSQL sink: session failed; retrying (ingest goes on, the feed keeps the rows)");
            }
        }
        if wrote {
            backoff.reset();
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// `e` with its causes (tokio-postgres says only "db error" and keeps the server's message in
/// the source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Connects with the config's timeout and runs the connection on its own task.
pub async fn connect(
    config: &PostgresConfig,
    password: Option<&str>,
) -> Result<(Client, tokio::task::JoinHandle<()>), SessionError> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .dbname(&config.dbname)
        .application_name("store-collector")
        .connect_timeout(timeout);
    if let Some(p) = password {
        pg.password(p);
    }
    let (client, connection) = tokio::time::timeout(timeout, pg.connect(NoTls))
        .await
        .map_err(|_| SessionError::Timeout)??;
    let task = tokio::spawn(async move {
        // Its error also reaches the client's next call, which ends the session.
        let _ = connection.await;
    });
    Ok((client, task))
}

/// The statements a session prepares once.
struct Statements {
    alert: Statement,
    signal: Statement,
    kpi: Statement,
    mark: Statement,
}

async fn session(
    config: &PostgresConfig,
    password: Option<&str>,
    feed: &Arc<Feed>,
    wrote: &mut bool,
) -> Result<(), SessionError> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let (mut client, connection) = connect(config, password).await?;
    let _connection = AbortOnDrop(connection);
    // The server's notices ("already exists, skipping") are not worth a log line each session.
    client
        .batch_execute("SET client_min_messages TO warning")
        .await?;
    let ran = tokio::time::timeout(timeout, migrations::migrate(&mut client))
        .await
        .map_err(|_| SessionError::Timeout)??;
    if !ran.is_empty() {
        info!(versions = ?ran, "PostgreSQL sink: schema migrated.");
    }
    client
        .batch_execute("CREATE TEMP TABLE events_in (LIKE events) ON COMMIT DELETE ROWS")
        .await?;
    let statements = prepare(&client).await?;
    let mark: i64 = client
        .query_opt(
            "SELECT mark FROM sink_progress WHERE feed_id = $1",
            &[&feed.id()],
        )
        .await?
        .map_or(0, |row| row.get(0));
    let mut mark = u64::try_from(mark).unwrap_or(0);
    trim(feed, mark).await?;
    feed.stats.connected.store(1, Relaxed);
    info!(feed = feed.id(), mark, "PostgreSQL sink: connected.");
    loop {
        let reads = {
            let (feed, max) = (feed.clone(), config.batch_events);
            tokio::task::spawn_blocking(move || feed.read_after(mark, max)).await??
        };
        let Some(last) = reads.last().map(|r| r.seq) else {
            tokio::select! {
                _ = feed.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            if client.is_closed() {
                return Err(SessionError::Closed);
            }
            continue;
        };
        let direct = tokio::time::timeout(
            timeout,
            write_batch(
                &mut client,
                &statements,
                feed,
                &reads,
                last,
                EventPath::Direct,
            ),
        )
        .await
        .map_err(|_| SessionError::Timeout)?;
        match direct {
            Ok(()) => {}
            // An event PostgreSQL already holds (see the module docs): the batch was rolled
            // back whole; again, skipping the rows it has.
            Err(SessionError::Postgres(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                tokio::time::timeout(
                    timeout,
                    write_batch(
                        &mut client,
                        &statements,
                        feed,
                        &reads,
                        last,
                        EventPath::SkipKnown,
                    ),
                )
                .await
                .map_err(|_| SessionError::Timeout)??;
            }
            Err(e) => return Err(e),
        }
        *wrote = true;
        mark = last;
        trim(feed, mark).await?;
    }
}

async fn trim(feed: &Arc<Feed>, mark: u64) -> Result<(), SessionError> {
    let feed = feed.clone();
    tokio::task::spawn_blocking(move || feed.trim_through(mark)).await??;
    Ok(())
}

async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
    Ok(Statements {
        alert: client
            .prepare(
                "INSERT INTO alert_states (alert_id, state, store, kind, subject, message,
                    event_time, raised_at, resolved_at, acknowledged_by, retrospective, body,
                    recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, CAST($7::text AS timestamptz),
                    CAST($8::text AS timestamptz), CAST($9::text AS timestamptz), $10, $11,
                    CAST($12::text AS jsonb), CAST($13::text AS timestamptz))
                 ON CONFLICT (alert_id, state) DO UPDATE SET message = excluded.message,
                    event_time = excluded.event_time, resolved_at = excluded.resolved_at,
                    acknowledged_by = excluded.acknowledged_by, body = excluded.body,
                    recorded_at = excluded.recorded_at",
            )
            .await?,
        signal: client
            .prepare(
                "INSERT INTO signals (store, kind, hour_start, forecast, entries_per_hour,
                    needed_staff, on_duty, retrospective, message, event_time, body)
                 VALUES ($1, $2, CAST($3::text AS timestamptz), $4, $5, $6, $7, $8, $9,
                    CAST($10::text AS timestamptz), CAST($11::text AS jsonb))
                 ON CONFLICT (store, hour_start, forecast, kind) DO UPDATE SET
                    entries_per_hour = excluded.entries_per_hour,
                    needed_staff = excluded.needed_staff, on_duty = excluded.on_duty,
                    retrospective = excluded.retrospective, message = excluded.message,
                    event_time = excluded.event_time, body = excluded.body",
            )
            .await?,
        kpi: client
            .prepare(
                "INSERT INTO kpi_hourly (store, hour_start, local_day, entries, transactions,
                    returns, voids, sales_minor, returns_minor, units, stockout_minutes,
                    understaffed_minutes, overstaffed_minutes, alerts_raised,
                    alerts_acknowledged, alerts_resolved)
                 VALUES ($1, CAST($2::text AS timestamptz), DATE '1970-01-01' + $3::integer,
                    $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (store, hour_start) DO UPDATE SET local_day = excluded.local_day,
                    entries = excluded.entries, transactions = excluded.transactions,
                    returns = excluded.returns, voids = excluded.voids,
                    sales_minor = excluded.sales_minor, returns_minor = excluded.returns_minor,
                    units = excluded.units, stockout_minutes = excluded.stockout_minutes,
                    understaffed_minutes = excluded.understaffed_minutes,
                    overstaffed_minutes = excluded.overstaffed_minutes,
                    alerts_raised = excluded.alerts_raised,
                    alerts_acknowledged = excluded.alerts_acknowledged,
                    alerts_resolved = excluded.alerts_resolved",
            )
            .await?,
        mark: client
            .prepare(
                "INSERT INTO sink_progress (feed_id, mark, updated_at) VALUES ($1, $2, now())
                 ON CONFLICT (feed_id) DO UPDATE SET mark = excluded.mark, updated_at = now()",
            )
            .await?,
    })
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn opt_time(ms: i64) -> Option<String> {
    (ms != 0).then(|| rows::time_text(ms))
}

/// How a batch's events go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventPath {
    /// COPY straight into `events`: the fast path. The mark guarantees the rows are new; should
    /// one not be, the whole transaction fails on its key and is retried with [`EventPath::SkipKnown`].
    Direct,
    /// COPY into a temporary table, then `INSERT ... ON CONFLICT DO NOTHING`.
    SkipKnown,
}

/// Writes the rows of `reads` and the mark `last` in one transaction.
async fn write_batch(
    client: &mut Client,
    st: &Statements,
    feed: &Feed,
    reads: &[Read],
    last: u64,
    path: EventPath,
) -> Result<(), SessionError> {
    let tx = client.transaction().await?;
    let (mut events, mut skipped) = (0u64, 0u64);
    if reads.iter().any(|r| !r.entry.events.is_empty()) {
        let table = match path {
            EventPath::Direct => "events",
            EventPath::SkipKnown => "events_in",
        };
        let sink = tx
            .copy_in(&format!("COPY {table} ({EVENT_COLUMNS}) FROM STDIN"))
            .await?;
        futures_util::pin_mut!(sink);
        let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
        for r in reads {
            let (n, s) = rows::events_copy(&r.entry, &mut buf);
            events += n;
            skipped += s;
            if buf.len() >= COPY_CHUNK {
                let chunk = std::mem::replace(&mut buf, Vec::with_capacity(COPY_CHUNK + 64 * 1024));
                sink.send(std::io::Cursor::new(chunk)).await?;
            }
        }
        if !buf.is_empty() {
            sink.send(std::io::Cursor::new(buf)).await?;
        }
        sink.finish().await?;
        if path == EventPath::SkipKnown {
            // Only the rows it did not have count as written.
            events = tx
                .execute(
                    "INSERT INTO events SELECT * FROM events_in ON CONFLICT DO NOTHING",
                    &[],
                )
                .await?;
        }
    }
    let mut alerts = 0u64;
    let mut alert_changes = Vec::new();
    for r in reads {
        for a in &r.entry.alerts {
            alert_changes.push((r.entry.created_ms, a));
        }
    }
    for (created_ms, a) in alert_changes {
        let state = alert_state_name(a.state);
        let recorded = rows::time_text(created_ms);
        tx.execute(
            &st.alert,
            &[
                &rows::clean(&a.id).as_ref(),
                &state,
                &rows::clean(&a.store_id).as_ref(),
                &alert_kind_name(a.kind),
                &rows::clean(&a.subject).as_ref(),
                &rows::clean(&a.message).as_ref(),
                &opt_time(a.event_time_ms),
                &opt_time(a.raised_at_ms),
                &opt_time(a.resolved_at_ms),
                &rows::clean(&a.acknowledged_by).as_ref(),
                &a.retrospective,
                &rows::json_text(alert_json(a)),
                &recorded,
            ],
        )
        .await?;
        alerts += 1;
    }
    let mut signals = 0u64;
    for s in reads.iter().flat_map(|r| &r.entry.signals) {
        tx.execute(
            &st.signal,
            &[
                &rows::clean(&s.store_id).as_ref(),
                &signal_kind_name(s.kind),
                &rows::time_text(s.hour_start_ms),
                &s.forecast,
                &s.entries_per_hour,
                &i32::try_from(s.needed_staff).unwrap_or(i32::MAX),
                &i32::try_from(s.on_duty).unwrap_or(i32::MAX),
                &s.retrospective,
                &rows::clean(&s.message).as_ref(),
                &opt_time(s.event_time_ms),
                &rows::json_text(signal_json(s)),
            ],
        )
        .await?;
        signals += 1;
    }
    let (hours, bad_days) = rows::kpi_hours(reads.iter().flat_map(|r| &r.entry.kpi_days));
    for h in &hours {
        kpi_row(&tx, &st.kpi, h).await?;
    }
    tx.execute(&st.mark, &[&feed.id(), &big(last)]).await?;
    tx.commit().await?;
    let s = &feed.stats;
    s.events_written.fetch_add(events, Relaxed);
    s.alert_rows_written.fetch_add(alerts, Relaxed);
    s.signal_rows_written.fetch_add(signals, Relaxed);
    s.kpi_rows_written.fetch_add(hours.len() as u64, Relaxed);
    s.batches.fetch_add(1, Relaxed);
    s.last_write_ms.store(crate::clock::now_ms(), Relaxed);
    if skipped + bad_days > 0 {
        s.lost_events.fetch_add(skipped, Relaxed);
        warn!(
            skipped_events = skipped,
            bad_kpi_days = bad_days,
            "PostgreSQL sink: rows PostgreSQL cannot hold were left out"
        );
    }
    Ok(())
}

async fn kpi_row(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Statement,
    h: &KpiHour,
) -> Result<(), tokio_postgres::Error> {
    let c = &h.counters;
    tx.execute(
        st,
        &[
            &rows::clean(&h.store).as_ref(),
            &rows::time_text(h.hour_start_ms),
            &i32::try_from(h.day).unwrap_or(0),
            &big(c.entries),
            &big(c.transactions),
            &big(c.returns),
            &big(c.voids),
            &c.sales_minor,
            &c.returns_minor,
            &c.units,
            &big(c.stockout_minutes),
            &big(c.understaffed_minutes),
            &big(c.overstaffed_minutes),
            &big(c.alerts_raised),
            &big(c.alerts_acknowledged),
            &big(c.alerts_resolved),
        ],
    )
    .await?;
    Ok(())
}

/// Aborts the connection task when the session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
