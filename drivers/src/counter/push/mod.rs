//! `counter_push` driver: an HTTP endpoint that people counters post their counts to.
//!
//! Counters are set up (in their own web pages) to POST to `http://<agent>:<port>/` or
//! `http://<agent>:<port>/counter` (both paths do the same; some devices insist on a path). The
//! body is decoded with the decoder of the configured `vendor` (see [`crate::counter`]), and each
//! resulting [`FootTraffic`] becomes one event, recorded under the
//! driver's id as `device_id`.
//!
//! Answers:
//! - **200** `stored <n>` once *every* event of the request is durable in the journal. Only then
//!   may the counter forget what it sent. A payload may produce no event (a first running total,
//!   a duplicate, metadata that is not a count); that is still a 200.
//! - **400** with the decoder's message when the payload cannot be decoded. The body is not
//!   dropped: it is journaled first as a `DeviceStatus` event (state `DECODE_ERROR`, the message
//!   as reason, the first 4 KiB of the body as raw), and the 400 comes once that is durable.
//! - **401** without the configured token (`Authorization: Bearer <token>` or `?token=`);
//!   nothing is journaled, so strangers cannot fill the journal.
//! - **413** when the body is larger than `max_body_bytes`; recorded as a `DeviceStatus` event
//!   too (without the body), so HQ sees why a counter's data is missing.
//! - **503** when the journal refused an event (or the agent is shutting down): the counter
//!   should send the payload again later.
//! - **408** when the body does not arrive within `body_timeout_secs` of the headers; nothing is
//!   journaled.
//! - **503** `busy` (with `Retry-After`) at once, without reading the request, when
//!   `max_connections` connections are open already.
//! - 404 for other paths, 405 for other methods.
//!
//! A connection whose request headers do not arrive within `header_timeout_secs` (of its opening
//! or of the previous response, so this bounds idle keep-alive connections too) is closed. The
//! listener's other bounds are described in [`crate::listen`].
//!
//! Running totals (Axis live sums, Irisys registers) go through per-counter
//! [`Trackers`], held in memory. Such payloads are handled
//! one at a time per driver, and a tracker moves past a sample only once the event made from it
//! is durable: a payload answered 503 and sent again is counted again, not taken for a
//! duplicate. For interval counts, a 503 after some of the request's events were stored means
//! the retry repeats those (at least once, never lost).

mod config;
pub mod decode;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;

pub use config::CounterPushConfig;
pub use decode::{PayloadDecoder, PushReplay, Rejected};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use store_proto::v1::{self, FootTraffic};
use store_proto::{Body, Event};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};
use tracing::{debug, info, warn};

use crate::counter::reading::Decoded;
use crate::counter::tracker::Trackers;
use crate::listen::{Listener, ListenerStats, LogLimiter, LOG_EVERY};
use crate::{clock, DriverError, Record, RecordError, Sink};

/// Written to a connection beyond `max_connections` before closing it; the request is not read.
pub const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 27\r\n\
Retry-After: 5\r\n\
Connection: close\r\n\
\r\n\
busy: too many connections\n";

/// Listens until the listening socket fails or the journal goes away.
pub async fn run(config: CounterPushConfig, sink: Sink) -> Result<(), DriverError> {
    let listener = Listener::bind(&config.id, config.listen, config.max_connections, BUSY).await?;
    info!(
        driver_id = %config.id,
        addr = %config.listen,
        vendor = config.vendor.name(),
        max_connections = config.max_connections,
        "Counter push listening."
    );
    serve_listener(listener, config, sink).await
}

/// Serves on a bound listener (tests bind port 0 and pass the listener in).
pub async fn serve(
    listener: TcpListener,
    config: CounterPushConfig,
    sink: Sink,
) -> Result<(), DriverError> {
    let listener = Listener::new(&config.id, listener, config.max_connections, BUSY);
    serve_listener(listener, config, sink).await
}

async fn serve_listener(
    mut listener: Listener,
    config: CounterPushConfig,
    sink: Sink,
) -> Result<(), DriverError> {
    let id = config.id.clone();
    let watch = sink.clone();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_timeout_secs));
    let limits = Arc::new(Limits {
        stats: listener.stats().clone(),
        timeout_log: LogLimiter::new(LOG_EVERY),
    });
    let service = TowerToHyperService::new(router(config, sink, limits.clone()));
    loop {
        let (stream, peer, slot) = tokio::select! {
            accepted = listener.accept() => accepted?,
            // The journal is gone when the agent shuts down: stop taking requests we cannot store.
            () = watch.closed() => return Err(DriverError::SinkClosed { id }),
        };
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        let limits = limits.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match connection.await {
                Err(e) if e.is_timeout() => limits.timed_out(&id, "request headers"),
                Err(e) => {
                    debug!(driver_id = %id, %peer, error = %e, "Counter push connection failed.")
                }
                Ok(()) => {}
            }
        });
    }
}

/// The listener's counters and the rate limit of timeout logs, shared by the connections.
struct Limits {
    stats: Arc<ListenerStats>,
    timeout_log: LogLimiter,
}

impl Limits {
    fn timed_out(&self, driver_id: &str, what: &str) {
        let total = self.stats.timed_out.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(not_logged) = self.timeout_log.allow() {
            warn!(
                %driver_id,
                waited_for = what,
                not_logged,
                timed_out_total = total,
                "Closed a counter push connection: timeout."
            );
        }
    }
}

fn router(config: CounterPushConfig, sink: Sink, limits: Arc<Limits>) -> Router {
    let limit = config.max_body_bytes;
    let shared = Arc::new(Shared {
        limits,
        payloads: PayloadDecoder::new(config.vendor, config.id.clone(), config.line.clone()),
        config,
        sink,
        trackers: Mutex::new(Trackers::new()),
    });
    Router::new()
        .route("/", post(receive))
        .route("/counter", post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

struct Shared {
    config: CounterPushConfig,
    limits: Arc<Limits>,
    /// The pure half: decoding and labelling, shared with `replay-capture`.
    payloads: PayloadDecoder,
    sink: Sink,
    /// Locked for the whole of a running-totals request, journal wait included, so that two
    /// requests never compute differences from the same baseline.
    trackers: Mutex<Trackers>,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Compares without stopping at the first difference, so response times do not reveal how much
/// of a guessed token was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let driver_id = &shared.config.id;
    if !shared.authorized(request.headers(), request.uri()) {
        warn!(%driver_id, "Rejected counter push without a valid token.");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong token\n",
        )
            .into_response();
    }
    let limit = shared.config.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refuse a declared oversize body before reading any of it.
    if declared.is_some_and(|n| n > limit as u64) {
        return shared.too_large().await;
    }
    let patience = Duration::from_secs(shared.config.body_timeout_secs);
    let Ok(read) = tokio::time::timeout(patience, Bytes::from_request(request, &())).await else {
        shared.limits.timed_out(driver_id, "request body");
        return (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "request body not received in time\n",
        )
            .into_response();
    };
    let body = match read {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return shared.too_large().await;
        }
        Err(rejection) => {
            // The client went away or sent a broken body: nothing to keep.
            debug!(%driver_id, error = %rejection, "Could not read counter push body.");
            return rejection.into_response();
        }
    };
    match shared.payloads.decode(&body) {
        Ok(decoded) => shared.store(decoded).await,
        Err(Rejected { reason, raw }) => {
            warn!(%driver_id, error = %reason, bytes = body.len(), "Rejected counter payload.");
            shared.report(reason, raw, StatusCode::BAD_REQUEST).await
        }
    }
}

impl Shared {
    fn authorized(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let Some(expected) = &self.config.token else {
            return true;
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .any(|(_, token)| same_secret(token.trim().as_bytes(), expected.as_bytes()));
        bearer
            || Query::<TokenQuery>::try_from_uri(uri)
                .ok()
                .and_then(|q| q.0.token)
                .is_some_and(|token| same_secret(token.as_bytes(), expected.as_bytes()))
    }

    async fn too_large(&self) -> Response {
        let limit = self.config.max_body_bytes;
        let reason = format!("request body larger than max_body_bytes ({limit})");
        warn!(driver_id = %self.config.id, %reason, "Rejected counter payload.");
        self.report(reason, Vec::new(), StatusCode::PAYLOAD_TOO_LARGE)
            .await
    }

    /// Journals a `DeviceStatus` about rejected input, then answers `status` with the reason (or
    /// 503 if even that could not be stored, so the device sends again).
    async fn report(&self, reason: String, raw: Vec<u8>, status: StatusCode) -> Response {
        let body = Body::DeviceStatus(v1::DeviceStatus {
            state: v1::DeviceState::DecodeError as i32,
            reason: reason.clone(),
            raw,
        });
        match self.journal(vec![body]).await.pop() {
            Some(Ok(_)) => text(status, format!("{reason}\n")),
            Some(Err(e)) => self.refused(&e),
            None => self.refused(&RecordError::ShuttingDown),
        }
    }

    fn refused(&self, e: &RecordError) -> Response {
        warn!(driver_id = %self.config.id, error = %e, "Journal refused counter events.");
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not stored: {e}; send again later\n"),
        )
    }

    async fn store(&self, decoded: Decoded) -> Response {
        // Labelled already by the payload decoder.
        let Decoded {
            device,
            traffic,
            totals,
        } = decoded;
        let outcomes = if totals.is_empty() {
            self.journal(traffic.into_iter().map(Body::FootTraffic).collect())
                .await
        } else {
            let mut trackers = self.trackers.lock().await;
            let plan = trackers.plan(&totals);
            let direct = traffic.len();
            let all: Vec<FootTraffic> = traffic.into_iter().chain(plan.traffic.clone()).collect();
            let outcomes = self
                .journal(all.into_iter().map(Body::FootTraffic).collect())
                .await;
            let stored = outcomes[direct..].iter().take_while(|r| r.is_ok()).count();
            trackers.commit(plan, stored);
            outcomes
        };
        if let Some(Err(e)) = outcomes.iter().find(|r| r.is_err()) {
            return self.refused(e);
        }
        debug!(
            driver_id = %self.config.id,
            %device,
            events = outcomes.len(),
            "Counter payload stored."
        );
        text(StatusCode::OK, format!("stored {}\n", outcomes.len()))
    }

    /// Sends events to the journal and waits until each is durable or refused; one outcome per
    /// event, in order. All are sent before any answer is awaited, so the journal can make them
    /// durable in one group.
    async fn journal(&self, bodies: Vec<Body>) -> Vec<Result<u64, RecordError>> {
        let mut pending = Vec::with_capacity(bodies.len());
        for body in bodies {
            let mut event = Event {
                device_id: self.config.id.clone(),
                body: Some(body),
                ..Default::default()
            };
            clock::stamp(&mut event);
            let (reply, rx) = oneshot::channel();
            let record = Record {
                event,
                reply: Some(reply),
            };
            // A closed sink hands the record back and it is dropped with its reply sender: the
            // receiver then reports the agent shutting down, below.
            let _ = self.sink.send(record).await;
            pending.push(rx);
        }
        let mut outcomes = Vec::with_capacity(pending.len());
        for rx in pending {
            outcomes.push(rx.await.unwrap_or(Err(RecordError::ShuttingDown)));
        }
        outcomes
    }
}
