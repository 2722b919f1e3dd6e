//! `store-collector`: the HQ side of store-edge.
//!
//! It subscribes to every agent's `stores/{store}/agents/{agent}/events` topic with a persistent
//! MQTT session, applies each event exactly once, and tells each agent how far it got by
//! publishing a retained commit mark on `.../ack`; agents delete journal entries only up to that
//! mark. The folders, in the order a batch visits them:
//!
//! 1. [`ingest`]: the MQTT session receives the publish; it is decoded and taken into a commit
//!    group (and after the commit: PUBACK, commit marks, gap logging);
//! 2. [`ledger`]: dedup against the agent's applied ranges, applied to working copies of its
//!    records; the sled database ([`ledger::Db`]) commits them;
//! 3. [`rules`]: the one owner of the rules engine ([`rules::engine`], pure) applies the group's new
//!    events and commits its state in the same sled batch, then hands over alerts and signals;
//! 4. [`http`]: the API and dashboard read what was committed.
//!
//! After the commit, [`deliver`] pushes alert changes and signals to webhooks and Alertmanagers
//! from a durable outbox written in the same batch, and [`pgsink`] (with `[postgres]`) streams
//! the applied events, alert changes, signals and hourly KPIs into PostgreSQL from a feed written
//! in that batch too.
//!
//! Beside them: [`config`] (the TOML file), [`clock`] (wall clock and the rules' "now"),
//! [`broker`] (optional embedded rumqttd), [`backup`] (backup and restore of the state),
//! [`command`] (commands from HQ to agents: the durable command book, publishing, results).
//!
//! Exactly once: the dedup state and the state change it guards are written in one sled batch,
//! made durable (flush + fdatasync) before the broker gets its PUBACK and before the mark moves
//! (ARCHITECTURE.md invariants 1, 4 and 6).

pub mod backup;
pub mod broker;
pub mod clock;
pub mod command;
pub mod config;
pub mod deliver;
pub mod history;
pub mod http;
pub mod ingest;
pub mod ledger;
pub mod pgsink;
pub mod rules;

use std::future::{Future, IntoFuture};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store_runtime::secret::read_secret;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::ingest::mqtt::Mqtt;
use crate::ingest::{acks, mqtt};
use crate::ledger::{Db, Live, Shared};
use crate::rules::{Output, Runtime};

/// How long each shutdown step may take before the collector gives up on it and exits anyway
/// (unacknowledged batches are redelivered next run, so giving up loses nothing).
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the collector could not run or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Db(#[from] ledger::DbError),
    #[error(transparent)]
    Broker(#[from] broker::BrokerError),
    #[error("HTTP API cannot listen on {addr}: {source}")]
    ApiBind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
    #[error(transparent)]
    SecretFile(#[from] store_runtime::secret::SecretError),
    #[error("api.viewer_token_file holds the operator's token: the viewer token must differ")]
    SameTokens,
    #[error("{key} {}: the file is empty", path.display())]
    EmptyToken {
        key: &'static str,
        path: std::path::PathBuf,
    },
    #[error(transparent)]
    Tls(#[from] store_runtime::tls::TlsError),
    #[error(transparent)]
    Deliver(#[from] deliver::DeliverError),
    #[error("a collector task failed: {0}")]
    Panic(#[from] tokio::task::JoinError),
}

/// Runs the collector until `shutdown` resolves, then stops in order: no new batches; the group
/// in hand is committed and acknowledged; pending marks and the offline status are published;
/// the MQTT connection is closed. Returns an error if the collector cannot start or ingest fails
/// (the process should then exit non-zero; the broker publishes the offline last will).
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    if let Some(path) = &config.mqtt.password_file {
        config.mqtt.password = Some(read_secret("mqtt.password_file", path)?);
    }
    let state_path = config.state_dir.join("state");
    let (db, state) = tokio::task::spawn_blocking(move || Db::open(&state_path)).await??;
    info!(
        agents = state.agents.len(),
        stores = state.stores.len(),
        applied_total = state.applied_total(),
        "State loaded."
    );
    let db = Arc::new(db);
    let (output_tx, output_rx) = mpsc::unbounded_channel::<Output>();
    let rules = {
        let (config, db) = (config.clone(), db.clone());
        let rules =
            tokio::task::spawn_blocking(move || Runtime::open(&config, db, output_tx)).await??;
        Arc::new(rules)
    };
    let delivery_tasks = deliver::start(&config.deliver, rules.deliveries(), &rules)?;
    if !delivery_tasks.is_empty() {
        info!(
            destinations = rules.deliveries().destinations().len(),
            "Alert delivery started."
        );
    }
    let pgsink_task = match (&config.postgres, rules.pgsink()) {
        (Some(pg), Some(feed)) => {
            info!(host = %pg.host, port = pg.port, dbname = %pg.dbname, "PostgreSQL sink started.");
            Some(pgsink::start(pg, feed.clone())?)
        }
        _ => None,
    };
    let shared: Shared = Arc::new(Mutex::new(Live {
        collector_id: config.collector_id.clone(),
        state,
        ..Default::default()
    }));

    let (host, port) = match &config.embedded_broker {
        Some(embedded) => {
            let embedded = embedded.clone();
            let addr = tokio::task::spawn_blocking(move || broker::start(&embedded)).await??;
            (addr.ip().to_string(), addr.port())
        }
        None => (config.mqtt.host.clone(), config.mqtt.port),
    };

    let (commands, command_wakes) = {
        let (db, config) = (db.clone(), config.clone());
        tokio::task::spawn_blocking(move || command::Commands::open(db, &config)).await??
    };
    info!(outstanding = commands.outstanding(), "Command book loaded.");

    let tokens = api_tokens(&config)?;
    if !tokens.any() && !config.api.listen.ip().is_loopback() {
        warn!(listen = %config.api.listen, "The HTTP API has no token and listens beyond loopback: anyone who reaches it can read it (acknowledging and reloading stay refused without [api] token_file).");
    }
    let api_state = http::ApiState {
        shared: shared.clone(),
        rules: rules.clone(),
        tokens,
        backups: Arc::new(backup::Backups::new(
            &config.collector_id,
            &config.state_dir,
        )),
        commands: commands.clone(),
    };

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| RunError::ApiBind {
            addr: config.api.listen,
            source,
        })?;
    info!(listen = %config.api.listen, "HTTP API listening.");
    let (api_stop_tx, api_stop_rx) = oneshot::channel::<()>();
    let api = tokio::spawn(
        axum::serve(listener, http::routes(api_state))
            .with_graceful_shutdown(async {
                let _ = api_stop_rx.await;
            })
            .into_future(),
    );

    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let backoff = store_runtime::backoff::Backoff::from_millis(
        config.mqtt.reconnect_min_ms,
        config.mqtt.reconnect_max_ms,
    );
    let opts = mqtt::options_with_transport(&config, &host, port)?;
    let (conn, poll_task) = mqtt::connect(
        opts,
        backoff,
        store_runtime::probe::Probe::from_millis(config.mqtt.reconnect_probe_ms),
        notice_tx,
    );
    info!(broker = %format!("{host}:{port}"), client_id = %config.mqtt_client_id(), "Connecting to broker.");

    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let acks_task = tokio::spawn(acks::run(
        conn.clone(),
        config.collector_id.clone(),
        Duration::from_millis(config.ack.interval_ms),
        ack_rx,
    ));

    let mut output_rx = output_rx;
    let outputs_task = {
        let conn = conn.clone();
        tokio::spawn(async move {
            while let Some(output) = output_rx.recv().await {
                // At most once across a crash: the alert itself is durable and on the API.
                if let Err(e) = conn
                    .publish(output.topic.clone(), false, output.payload)
                    .await
                {
                    warn!(topic = %output.topic, error = %e, "Output not published.");
                }
            }
        })
    };
    let retention_task = tokio::spawn(history::retention::run(
        db.clone(),
        rules.history_stats().clone(),
        history::retention::Policy::from_config(&config.history),
        Duration::from_secs(config.history.prune_interval_secs),
    ));
    let commands_task = tokio::spawn(command::publish::run(
        commands.clone(),
        conn.clone(),
        rules.clone(),
        command_wakes,
    ));
    let ingest = ingest::Ingest::new(&config, conn.clone(), &db, shared, ack_tx.clone(), rules)?
        .with_commands(commands.inbox());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut ingest_task = tokio::spawn(ingest.run(notice_rx, stop_rx));

    tokio::select! {
        _ = shutdown => info!("Shutting down: finishing the batches in hand."),
        result = &mut ingest_task => {
            // Ingest only ends on its own on a fatal error: exit without a clean disconnect so
            // the broker publishes our offline last will.
            let err = match result {
                Ok(Ok(())) => RunError::Ingest(ingest::IngestError::PollingStopped),
                Ok(Err(e)) => RunError::Ingest(e),
                Err(e) => RunError::Panic(e),
            };
            error!(error = %err, "Ingest failed; stopping.");
            return Err(err);
        }
    }

    // 1. No new batches; the group in hand is committed and acknowledged.
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(30), &mut ingest_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            warn!("Ingest did not stop in time; its unacknowledged batches will be redelivered.")
        }
    }
    // 2. Marks of what was committed go out before we say goodbye.
    let (done_tx, done_rx) = oneshot::channel();
    if ack_tx.send(acks::AckCommand::Flush(done_tx)).is_ok()
        && tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, done_rx)
            .await
            .is_err()
    {
        warn!("Commit marks not flushed in time.");
    }
    drop(ack_tx);
    // 3. Offline status (a clean disconnect suppresses the last will), then disconnect.
    let offline = conn.publish(
        store_proto::topics::collector_status(&config.collector_id),
        true,
        mqtt::status_payload(&config.collector_id, false, clock::now_ms()),
    );
    if !matches!(
        tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, offline).await,
        Ok(Ok(()))
    ) {
        warn!("Offline status not published.");
    }
    if !matches!(
        tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, conn.disconnect()).await,
        Ok(Ok(()))
    ) {
        warn!("MQTT disconnect not sent.");
    }
    if tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, poll_task)
        .await
        .is_err()
    {
        warn!("MQTT connection did not close in time.");
    }
    let _ = tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, acks_task).await;
    outputs_task.abort();
    // Undelivered entries stay in the outbox for the next run.
    for task in &delivery_tasks {
        task.abort();
    }
    retention_task.abort();
    // What PostgreSQL has not taken yet stays in the feed for the next run.
    if let Some(task) = &pgsink_task {
        task.abort();
    }
    // Every change of the command book is durable before it is acted on: nothing to finish.
    commands_task.abort();
    let _ = api_stop_tx.send(());
    let _ = tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, api).await;
    info!("Stopped.");
    Ok(())
}

/// The API's bearer tokens: the operator's from `api.token` or `api.token_file`, the viewer's
/// from `api.viewer_token` or `api.viewer_token_file`.
fn api_tokens(config: &Config) -> Result<http::Tokens, RunError> {
    let token = |inline: &Option<String>, key: &'static str, file: &Option<std::path::PathBuf>| {
        if let Some(t) = inline {
            return Ok(Some(Arc::from(t.as_str())));
        }
        match file {
            Some(path) => {
                let t = read_secret(key, path)?;
                // An empty token would let "Authorization: Bearer " in.
                if t.is_empty() {
                    return Err(RunError::EmptyToken {
                        key,
                        path: path.clone(),
                    });
                }
                Ok(Some(Arc::from(t)))
            }
            None => Ok::<_, RunError>(None),
        }
    };
    let tokens = http::Tokens {
        operator_name: Some(Arc::from(config.api.token_name.as_str())),
        operator: token(&config.api.token, "api.token_file", &config.api.token_file)?,
        viewer: token(
            &config.api.viewer_token,
            "api.viewer_token_file",
            &config.api.viewer_token_file,
        )?,
    };
    if tokens.operator.is_some() && tokens.operator == tokens.viewer {
        return Err(RunError::SameTokens);
    }
    Ok(tokens)
}
