//! `/metrics` for Prometheus (text exposition format 0.0.4), on loopback by default, rendered
//! from the same snapshot as `store-agent status` plus the journal's counters and the listening
//! drivers' connection counters ([`store_drivers::listen::listener_counts`]).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use store_drivers::listen::{listener_counts, ListenerCounts};
use tracing::{info, warn};

use crate::journal::{JournalReader, KINDS};
use crate::status::{Board, Snapshot, LATENCY_BUCKETS};

/// Renders the metrics text.
pub fn render(s: &Snapshot, reader: &JournalReader) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let stats = reader.stats();
    let appended: Vec<(String, f64)> = KINDS
        .iter()
        .zip(stats.appended.iter())
        .map(|(k, n)| {
            (
                format!("{{kind=\"{k}\"}}"),
                n.load(Ordering::Relaxed) as f64,
            )
        })
        .collect();
    metric(
        "store_agent_events_journaled_total",
        "counter",
        "Events made durable in the journal since start, by kind.",
        &appended,
    );
    let j = &s.journal;
    metric(
        "store_agent_journal_bytes",
        "gauge",
        "Logical bytes of events the collector has not committed.",
        &one(j.bytes_held as f64),
    );
    metric(
        "store_agent_journal_events",
        "gauge",
        "Events held by the journal that the collector has not committed.",
        &one(j.events_held as f64),
    );
    metric(
        "store_agent_journal_retained_events",
        "gauge",
        "Committed events kept for refilling a restored collector.",
        &one(j.retained_events as f64),
    );
    metric(
        "store_agent_journal_retained_bytes",
        "gauge",
        "Logical bytes of retained events (counted in the byte budget too).",
        &one(j.retained_bytes as f64),
    );
    metric(
        "store_agent_journal_retain_floor_seq",
        "gauge",
        "Every seq below it is no longer held by the journal.",
        &one(j.retain_floor as f64),
    );
    metric(
        "store_agent_journal_head_seq",
        "gauge",
        "Highest durable seq.",
        &one(j.head_seq as f64),
    );
    metric(
        "store_agent_journal_ahead_of_collector",
        "gauge",
        "Seqs durable here but not yet committed by the collector (the backlog).",
        &one(j.ahead_of_collector as f64),
    );
    metric(
        "store_agent_journal_oldest_unacked_age_seconds",
        "gauge",
        "Age of the oldest event the collector has not committed.",
        &one(j.oldest_unacked_age_ms.unwrap_or(0) as f64 / 1000.0),
    );
    metric(
        "store_agent_data_loss_events_total",
        "counter",
        "Events removed by the journal's byte budget, by how.",
        &[
            ("{how=\"dropped\"}".to_owned(), j.shed_events as f64),
            ("{how=\"coalesced\"}".to_owned(), j.coalesced_events as f64),
            ("{how=\"refused\"}".to_owned(), j.refused_events as f64),
        ],
    );
    let u = &s.uplink;
    metric(
        "store_agent_collector_committed_seq",
        "gauge",
        "The collector's committed mark.",
        &one(u.committed_seq as f64),
    );
    metric(
        "store_agent_collector_restores_total",
        "counter",
        "Commit marks that went back (a collector restored from a backup), each counted once.",
        &one(u.restores as f64),
    );
    metric(
        "store_agent_replay_queued_seqs",
        "gauge",
        "Seqs queued to be sent again at or below the committed mark.",
        &one(u.to_replay as f64),
    );
    metric(
        "store_agent_resend_requests_total",
        "counter",
        "Resend requests served, by outcome.",
        &[
            (
                "{outcome=\"queued\"}".to_owned(),
                u.resend_requests.saturating_sub(u.resend_refused) as f64,
            ),
            ("{outcome=\"refused\"}".to_owned(), u.resend_refused as f64),
        ],
    );
    metric(
        "store_agent_broker_connected",
        "gauge",
        "1 when connected to the broker.",
        &one(u.connected as u8 as f64),
    );
    metric(
        "store_agent_collector_online",
        "gauge",
        "1 when a collector announces itself online.",
        &one(u.collector_online as u8 as f64),
    );
    metric(
        "store_agent_broker_reconnects_total",
        "counter",
        "Connections made to the broker.",
        &one(u.reconnects as f64),
    );
    metric(
        "store_agent_uplink_rewinds_total",
        "counter",
        "Resends after the broker lost acknowledged batches.",
        &one(u.rewinds as f64),
    );
    metric(
        "store_agent_forged_commit_marks_total",
        "counter",
        "Commit marks ignored because they claimed seqs this agent never published (someone else publishes on its ack topic).",
        &one(u.forged_marks as f64),
    );
    metric(
        "store_agent_uplink_inflight_batches",
        "gauge",
        "Batches awaiting the broker's PUBACK.",
        &one(u.inflight_batches as f64),
    );
    let mut hist: Vec<(String, f64)> = LATENCY_BUCKETS
        .iter()
        .zip(u.puback_latency_buckets.iter().chain(std::iter::repeat(&0)))
        .map(|(b, n)| (format!("_bucket{{le=\"{b}\"}}"), *n as f64))
        .collect();
    hist.push((
        "_bucket{le=\"+Inf\"}".to_owned(),
        u.puback_latency_count as f64,
    ));
    hist.push(("_sum".to_owned(), u.puback_latency_sum_s));
    hist.push(("_count".to_owned(), u.puback_latency_count as f64));
    metric(
        "store_agent_publish_latency_seconds",
        "histogram",
        "Time from publishing a batch to the broker's PUBACK.",
        &hist,
    );
    let restarts: Vec<(String, f64)> = s
        .drivers
        .iter()
        .map(|(id, d)| {
            (
                format!("{{driver=\"{id}\",kind=\"{}\"}}", d.kind),
                d.restarts as f64,
            )
        })
        .collect();
    metric(
        "store_agent_driver_restarts_total",
        "counter",
        "Driver restarts after failures.",
        &restarts,
    );
    let commands: Vec<(String, f64)> = s
        .commands
        .iter()
        .map(|(outcome, n)| (format!("{{outcome=\"{outcome}\"}}"), *n as f64))
        .collect();
    metric(
        "store_agent_commands_total",
        "counter",
        "HQ commands handled since start, by outcome: ok, error (ran and failed), refused (another addressee, expired), duplicate (id already answered), invalid (too large, undecodable, bad id, unknown kind or arguments), busy (dropped: too many waiting).",
        &commands,
    );
    metric(
        "store_agent_clock_synced",
        "gauge",
        "1 when the system clock is synchronised.",
        &one(s.clock_synced as u8 as f64),
    );
    render_listeners(&mut out, &listener_counts());
    out
}

/// The listening drivers' (`line_feed`, `counter_push`) connection counters: what a hostile
/// network costs them. Nothing is written when no driver listens.
fn render_listeners(out: &mut String, counts: &[ListenerCounts]) {
    if counts.is_empty() {
        return;
    }
    let name = "store_agent_listener_connections_total";
    let _ = writeln!(
        out,
        "# HELP {name} Connections to listening drivers since start, by outcome: accepted (served), \
         refused_busy (max_connections were open), accept_error (failed accept, e.g. file \
         descriptors exhausted), timed_out (closed by an idle, line, header or body timeout)."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for c in counts {
        for (outcome, n) in [
            ("accepted", c.accepted),
            ("refused_busy", c.refused_busy),
            ("accept_error", c.accept_errors),
            ("timed_out", c.timed_out),
        ] {
            let _ = writeln!(
                out,
                "{name}{{driver=\"{}\",outcome=\"{outcome}\"}} {n}",
                c.driver_id
            );
        }
    }
    let name = "store_agent_listener_open_connections";
    let _ = writeln!(
        out,
        "# HELP {name} Connections open now, by listening driver."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for c in counts {
        let _ = writeln!(out, "{name}{{driver=\"{}\"}} {}", c.driver_id, c.open);
    }
}

/// Serves `/metrics` until the task is aborted; a port in use is a warning, not a failure.
pub async fn serve(
    addr: SocketAddr,
    board: Arc<Board>,
    reader: JournalReader,
    store_id: String,
    agent_id: String,
) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let s = board.snapshot(&store_id, &agent_id, &reader);
            let text = render(&s, &reader);
            async move { ([("content-type", "text/plain; version=0.0.4")], text) }
        }),
    );
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            warn!(%addr, error = %e, "Cannot serve /metrics.");
            return;
        }
    };
    info!(%addr, "Serving /metrics.");
    if let Err(e) = axum::serve(listener, app).await {
        warn!(error = %e, "/metrics server stopped.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_counters_by_driver_and_outcome() {
        let mut out = String::new();
        render_listeners(&mut out, &[]);
        assert_eq!(out, "", "no listening driver, no metric");
        let counts = [ListenerCounts {
            driver_id: "tills".to_owned(),
            accepted: 7,
            refused_busy: 3,
            accept_errors: 1,
            timed_out: 2,
            open: 4,
        }];
        render_listeners(&mut out, &counts);
        for line in [
            "# TYPE store_agent_listener_connections_total counter",
            "store_agent_listener_connections_total{driver=\"tills\",outcome=\"accepted\"} 7",
            "store_agent_listener_connections_total{driver=\"tills\",outcome=\"refused_busy\"} 3",
            "store_agent_listener_connections_total{driver=\"tills\",outcome=\"accept_error\"} 1",
            "store_agent_listener_connections_total{driver=\"tills\",outcome=\"timed_out\"} 2",
            "# TYPE store_agent_listener_open_connections gauge",
            "store_agent_listener_open_connections{driver=\"tills\"} 4",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{line:?} missing from:\n{out}"
            );
        }
    }

    #[test]
    fn registered_listeners_reach_the_rendered_text() {
        let stats = store_drivers::listen::stats_for("metrics-test-driver");
        stats.refused_busy.fetch_add(5, Ordering::Relaxed);
        let mut out = String::new();
        render_listeners(&mut out, &listener_counts());
        assert!(
            out.lines().any(|l| l
                == "store_agent_listener_connections_total{driver=\"metrics-test-driver\",outcome=\"refused_busy\"} 5"),
            "{out}"
        );
    }
}
