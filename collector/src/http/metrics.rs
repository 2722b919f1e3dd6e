//! The collector's `/metrics` in the Prometheus text format (hand-written: a handful of gauges
//! and counters do not need an exporter crate).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use store_proto::v1::AlertKind;

use crate::backup::Backups;
use crate::command::results::Reject;
use crate::command::Commands;
use crate::ledger::Shared;
use crate::rules::{alert_kind_name, Runtime};

/// Renders every metric.
pub fn render(shared: &Shared, rules: &Runtime, backups: &Backups, commands: &Commands) -> String {
    let mut out = String::new();
    let (kinds, counters, agents, missing) = {
        let live = shared.lock().expect("state lock poisoned");
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        for s in live.state.stores.values() {
            for (k, n) in &s.kinds {
                *kinds.entry(k.clone()).or_default() += n;
            }
        }
        let missing: u64 = live
            .state
            .agents
            .values()
            .map(|a| a.gaps().iter().map(|(x, y)| y - x + 1).sum::<u64>())
            .sum();
        (
            kinds,
            live.counters.clone(),
            live.state.agents.len(),
            missing,
        )
    };
    metric(
        &mut out,
        "store_collector_events_applied_total",
        "counter",
        "Events applied exactly once, by kind (durable).",
    );
    for (kind, n) in &kinds {
        let _ = writeln!(
            out,
            "store_collector_events_applied_total{{kind=\"{kind}\"}} {n}"
        );
    }
    for (name, help, value) in [
        (
            "store_collector_duplicate_events_total",
            "Redelivered events skipped since start.",
            counters.duplicates_total,
        ),
        (
            "store_collector_batches_total",
            "Batches decoded since start.",
            counters.batches_total,
        ),
        (
            "store_collector_rejected_batches_total",
            "Undecodable batches since start.",
            counters.rejected_batches,
        ),
    ] {
        metric(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    metric(
        &mut out,
        "store_collector_rejected_events_total",
        "counter",
        "Events refused since start (not applied, mark not moved), by reason: seq_zero, \
         seq_window (beyond [ingest] max_seq_ahead), range_cap ([ingest] max_ranges_per_agent).",
    );
    for (reason, value) in [
        ("seq_zero", counters.events_seq_zero),
        ("seq_window", counters.events_out_of_window),
        ("range_cap", counters.events_over_range_cap),
    ] {
        let _ = writeln!(
            out,
            "store_collector_rejected_events_total{{reason=\"{reason}\"}} {value}"
        );
    }
    metric(
        &mut out,
        "store_collector_refused_publishes_total",
        "counter",
        "Publishes acknowledged and dropped since start, by reason: topic (not an agent's \
         events or status), invalid_id, store_cap ([ingest] max_stores).",
    );
    for (reason, value) in [
        ("topic", counters.refused_topic),
        ("invalid_id", counters.refused_invalid_id),
        ("store_cap", counters.refused_store_cap),
    ] {
        let _ = writeln!(
            out,
            "store_collector_refused_publishes_total{{reason=\"{reason}\"}} {value}"
        );
    }
    let c = &commands.counters;
    for (name, help, value) in [
        (
            "store_collector_commands_sent_total",
            "Command publishes to agents since start (resends included).",
            c.sent_count(),
        ),
        (
            "store_collector_commands_answered_total",
            "Command results recorded since start.",
            c.answered_count(),
        ),
        (
            "store_collector_commands_expired_total",
            "Commands expired unanswered since start.",
            c.expired_count(),
        ),
    ] {
        metric(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    metric(
        &mut out,
        "store_collector_command_results_rejected_total",
        "counter",
        "Command results ignored since start, by reason: too_large (over 64 KiB), undecodable, \
         unknown_id, wrong_agent (the topic is not the command's agent), overload.",
    );
    for reason in Reject::ALL {
        let _ = writeln!(
            out,
            "store_collector_command_results_rejected_total{{reason=\"{}\"}} {}",
            reason.label(),
            c.rejected_count(reason)
        );
    }
    metric(
        &mut out,
        "store_collector_commands_outstanding",
        "gauge",
        "Commands neither answered nor expired.",
    );
    let _ = writeln!(
        out,
        "store_collector_commands_outstanding {}",
        commands.outstanding()
    );
    let presence = rules.presence();
    let online = presence.values().filter(|p| p.online == Some(true)).count();
    for (name, help, value) in [
        ("store_collector_agents", "Agents known.", agents as u64),
        (
            "store_collector_agents_online",
            "Agents whose retained status says online.",
            online as u64,
        ),
        (
            "store_collector_missing_events",
            "Seqs missing between agents' committed marks and highest seqs.",
            missing,
        ),
    ] {
        metric(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    history_metrics(&mut out, rules);
    let b = backups.counters();
    metric(
        &mut out,
        "store_collector_backups_total",
        "counter",
        "POST /v1/admin/backup requests since start, by result: written, refused (bad \
         request, destination exists, one already running), failed.",
    );
    for (result, value) in [
        ("written", &b.written),
        ("refused", &b.refused),
        ("failed", &b.failed),
    ] {
        let _ = writeln!(
            out,
            "store_collector_backups_total{{result=\"{result}\"}} {}",
            value.load(Ordering::Relaxed)
        );
    }
    metric(
        &mut out,
        "store_collector_backup_last_pause_seconds",
        "gauge",
        "How long ingest waited while the newest backup read the state.",
    );
    let _ = writeln!(
        out,
        "store_collector_backup_last_pause_seconds {}",
        b.last_pause_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    metric(
        &mut out,
        "store_collector_backup_last_timestamp_seconds",
        "gauge",
        "When the newest backup written since start read the state (Unix seconds; 0: none).",
    );
    let _ = writeln!(
        out,
        "store_collector_backup_last_timestamp_seconds {}",
        b.last_written_ms.load(Ordering::Relaxed) / 1000
    );
    metric(
        &mut out,
        "store_collector_alerts_active",
        "gauge",
        "Open or acknowledged alerts, by kind.",
    );
    rules.read(|engine| {
        for kind in [
            AlertKind::Low,
            AlertKind::Out,
            AlertKind::Transfer,
            AlertKind::ReturnsSpike,
            AlertKind::VoidRate,
            AlertKind::DeviceOffline,
            AlertKind::DeviceSilent,
            AlertKind::CounterStuck,
            AlertKind::ClockOff,
            AlertKind::Tampered,
        ] {
            let n = engine.outbox.alerts.count_active(kind);
            let _ = writeln!(
                out,
                "store_collector_alerts_active{{kind=\"{}\"}} {n}",
                alert_kind_name(kind as i32)
            );
        }
    });
    deliveries(&mut out, rules);
    pgsink_metrics(&mut out, rules);
    metric(
        &mut out,
        "store_collector_kpi_refused_total",
        "counter",
        "Input the KPIs did not count, by reason (since start).",
    );
    let kpi = rules.read(|engine| engine.kpi.stats.clone());
    for (reason, n) in [
        ("out_of_window", kpi.out_of_window),
        ("bad_quantity", kpi.bad_quantity),
    ] {
        let _ = writeln!(
            out,
            "store_collector_kpi_refused_total{{reason=\"{reason}\"}} {n}"
        );
    }
    out
}

/// Per destination of `[deliver]`: delivered, failed attempts, dropped, depth, oldest age.
fn deliveries(out: &mut String, rules: &Runtime) {
    use std::sync::atomic::Ordering::Relaxed;
    let destinations = rules.deliveries().destinations();
    if destinations.is_empty() {
        return;
    }
    let now = crate::clock::now_ms();
    type Read = fn(&crate::deliver::outbox::Destination, i64) -> u64;
    let rows: [(&str, &str, &str, Read); 5] = [
        (
            "store_collector_delivery_delivered_total",
            "counter",
            "Outbox entries delivered (2xx) since start, by destination.",
            |d, _| d.metrics.delivered.load(Relaxed),
        ),
        (
            "store_collector_delivery_failed_attempts_total",
            "counter",
            "Delivery attempts that failed (status, timeout, connection) since start.",
            |d, _| d.metrics.failed_attempts.load(Relaxed),
        ),
        (
            "store_collector_delivery_dropped_total",
            "counter",
            "Outbox entries dropped undelivered since start (outbox over max_entries).",
            |d, _| d.metrics.dropped.load(Relaxed),
        ),
        (
            "store_collector_delivery_outbox_depth",
            "gauge",
            "Outbox entries waiting, by destination.",
            |d, _| d.depth(),
        ),
        (
            "store_collector_delivery_oldest_age_seconds",
            "gauge",
            "Age of the oldest waiting entry (0 when none), by destination.",
            |d, now| match d.metrics.oldest_created_ms.load(Relaxed) {
                0 => 0,
                t => ((now - t).max(0) / 1000) as u64,
            },
        ),
    ];
    for (name, kind, help, read) in rows {
        metric(out, name, kind, help);
        for d in destinations {
            let _ = writeln!(out, "{name}{{destination=\"{}\"}} {}", d.name, read(d, now));
        }
    }
}

fn history_metrics(out: &mut String, rules: &Runtime) {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = rules.history_stats();
    let oldest = stats.oldest_ms.load(Relaxed);
    let age_secs = if oldest == 0 {
        0
    } else {
        (crate::clock::now_ms() - oldest).max(0) / 1000
    };
    for (name, kind, help, value) in [
        (
            "store_collector_history_rows",
            "gauge",
            "Event rows in the history.",
            stats.rows.load(Relaxed).max(0) as u64,
        ),
        (
            "store_collector_history_bytes",
            "gauge",
            "Bytes of the history's event rows (keys and values).",
            stats.bytes.load(Relaxed).max(0) as u64,
        ),
        (
            "store_collector_history_oldest_age_seconds",
            "gauge",
            "Age of the oldest history row by event time, as of the last retention pass.",
            age_secs as u64,
        ),
        (
            "store_collector_history_pruned_total",
            "counter",
            "History rows pruned by retention since start.",
            stats.pruned.load(Relaxed),
        ),
        (
            "store_collector_audit_records_total",
            "counter",
            "Audit records written since start.",
            stats.audit_written.load(Relaxed),
        ),
        (
            "store_collector_audit_pruned_total",
            "counter",
            "Audit records pruned by retention since start.",
            stats.audit_pruned.load(Relaxed),
        ),
        (
            "store_collector_history_refused_queries_total",
            "counter",
            "History and audit queries refused as malformed since start.",
            stats.refused_queries.load(Relaxed),
        ),
    ] {
        metric(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// The PostgreSQL sink's lag, rows, batches, errors and losses (only with `[postgres]`).
fn pgsink_metrics(out: &mut String, rules: &Runtime) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(feed) = rules.pgsink() else { return };
    let s = &feed.stats;
    let lag_seconds = feed
        .oldest_unwritten_ms()
        .map_or(0.0, |t| (crate::clock::now_ms() - t).max(0) as f64 / 1000.0);
    for (name, kind, help, value) in [
        (
            "store_collector_pgsink_lag_entries",
            "gauge",
            "Committed feed entries (commit groups) not yet in PostgreSQL.",
            feed.lag_entries() as f64,
        ),
        (
            "store_collector_pgsink_lag_seconds",
            "gauge",
            "Age of the oldest feed entry not yet in PostgreSQL (0 when caught up).",
            lag_seconds,
        ),
        (
            "store_collector_pgsink_feed_bytes",
            "gauge",
            "Bytes the sink feed holds in the collector's database.",
            feed.bytes() as f64,
        ),
        (
            "store_collector_pgsink_connected",
            "gauge",
            "1 while the sink has a PostgreSQL session.",
            s.connected.load(Relaxed) as f64,
        ),
        (
            "store_collector_pgsink_batches_total",
            "counter",
            "PostgreSQL transactions committed by the sink since start.",
            s.batches.load(Relaxed) as f64,
        ),
        (
            "store_collector_pgsink_errors_total",
            "counter",
            "Sink sessions ended by an error (connection, timeout, SQL) since start.",
            s.errors.load(Relaxed) as f64,
        ),
        (
            "store_collector_pgsink_lost_events_total",
            "counter",
            "Events that will be missing in PostgreSQL: feed over max_backlog_bytes, or a value PostgreSQL cannot hold (since start).",
            s.lost_events.load(Relaxed) as f64,
        ),
    ] {
        metric(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    metric(
        out,
        "store_collector_pgsink_rows_written_total",
        "counter",
        "Rows written to PostgreSQL by the sink since start, by table.",
    );
    for (table, n) in [
        ("events", &s.events_written),
        ("alert_states", &s.alert_rows_written),
        ("signals", &s.signal_rows_written),
        ("kpi_hourly", &s.kpi_rows_written),
    ] {
        let _ = writeln!(
            out,
            "store_collector_pgsink_rows_written_total{{table=\"{table}\"}} {}",
            n.load(Relaxed)
        );
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
