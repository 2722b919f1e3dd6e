//! The sink's schema in PostgreSQL, created and migrated by the collector.
//!
//! Migrations are numbered and only ever appended: a released one is never edited, a change is a
//! new migration. `schema_migrations` records which ran; [`migrate`] runs the missing ones in one
//! transaction under a table lock, so two collectors starting together cannot both run one, and a
//! database migrated by a newer collector is refused rather than written with an older schema's
//! assumptions.

use tokio_postgres::Client;

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tables",
        sql: "
CREATE TABLE events (
    store text NOT NULL,
    agent text NOT NULL,
    seq bigint NOT NULL,
    device text NOT NULL,
    kind text NOT NULL,
    event_time timestamptz NOT NULL,
    arrival_time timestamptz NOT NULL,
    clock_synced boolean NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (store, agent, seq)
);
CREATE INDEX events_store_time ON events (store, event_time);
CREATE TABLE alert_states (
    alert_id text NOT NULL,
    state text NOT NULL,
    store text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    message text NOT NULL,
    event_time timestamptz,
    raised_at timestamptz,
    resolved_at timestamptz,
    acknowledged_by text NOT NULL,
    retrospective boolean NOT NULL,
    body jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (alert_id, state)
);
CREATE INDEX alert_states_store_time ON alert_states (store, recorded_at);
CREATE TABLE signals (
    store text NOT NULL,
    kind text NOT NULL,
    hour_start timestamptz NOT NULL,
    forecast boolean NOT NULL,
    entries_per_hour double precision NOT NULL,
    needed_staff integer NOT NULL,
    on_duty integer NOT NULL,
    retrospective boolean NOT NULL,
    message text NOT NULL,
    event_time timestamptz,
    body jsonb NOT NULL,
    PRIMARY KEY (store, hour_start, forecast, kind)
);
CREATE TABLE kpi_hourly (
    store text NOT NULL,
    hour_start timestamptz NOT NULL,
    local_day date NOT NULL,
    entries bigint NOT NULL,
    transactions bigint NOT NULL,
    returns bigint NOT NULL,
    voids bigint NOT NULL,
    sales_minor bigint NOT NULL,
    returns_minor bigint NOT NULL,
    units double precision NOT NULL,
    stockout_minutes bigint NOT NULL,
    understaffed_minutes bigint NOT NULL,
    overstaffed_minutes bigint NOT NULL,
    alerts_raised bigint NOT NULL,
    alerts_acknowledged bigint NOT NULL,
    alerts_resolved bigint NOT NULL,
    PRIMARY KEY (store, hour_start)
);
CREATE TABLE sink_progress (
    feed_id text PRIMARY KEY,
    mark bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "kpi_hourly_ratios",
        // The same formulas as the API's KPIs (README "KPIs"): ratios of sums, NULL when the
        // denominator is zero.
        sql: "
CREATE VIEW kpi_hourly_ratios AS
SELECT store, hour_start, local_day,
    transactions::double precision / NULLIF(entries, 0) AS conversion,
    sales_minor::double precision / NULLIF(transactions, 0) AS average_basket_minor,
    units / NULLIF(transactions, 0) AS units_per_transaction,
    returns::double precision / NULLIF(transactions + returns + voids, 0) AS returns_rate,
    voids::double precision / NULLIF(transactions + returns + voids, 0) AS voids_rate,
    stockout_minutes / 60.0 AS stockout_hours,
    understaffed_minutes / 60.0 AS understaffed_hours,
    overstaffed_minutes / 60.0 AS overstaffed_hours
FROM kpi_hourly;
",
    },
];

/// The newest schema version this collector knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("PostgreSQL")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database's sink schema is at version {found}, newer than this collector knows ({known}); upgrade the collector")]
    Newer { found: i32, known: i32 },
}

/// Runs the migrations the database lacks; returns the versions run (empty when it was up to
/// date).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let tx = client.transaction().await?;
    // Serialises collectors migrating the same database; readers are not blocked.
    tx.batch_execute("LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let found: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    let found = found.unwrap_or(0);
    if found > latest() {
        return Err(MigrateError::Newer {
            found,
            known: latest(),
        });
    }
    let mut ran = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        ran.push(m.version);
    }
    tx.commit().await?;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "migration {}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
        assert_eq!(latest(), MIGRATIONS.len() as i32);
    }
}
