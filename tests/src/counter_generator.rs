//! A virtual people counter for tests and demos: posts vendor-shaped payloads to a
//! `counter_push` receiver, following a schedule of (interval, entries, exits).
//!
//! ```text
//! schedule: [(10 s, 3 in, 1 out), (10 s, 0, 0), (5 s, 7, 2)]
//!   Axis  ──▶ baseline live sum, then one live sum per step with the running totals
//!   Xovis ──▶ one live-data package per step: one frame, one COUNT event per person
//! ```
//!
//! Time in the payloads is virtual: it starts at [`PushGenerator::with_start_ms`] (default:
//! now) and moves on by each step's interval, so a demo can replay a day in seconds
//! ([`Pacing::Immediate`]) or run in real time ([`Pacing::RealTime`], the interval is waited
//! before each post). Whatever the pacing, the receiver records exactly the scheduled counts
//! over exactly the scheduled intervals:
//! - **Axis** live sums carry running totals with one-second timestamps: before the schedule
//!   the generator posts a baseline sample (the receiver's tracker counts nothing from the first
//!   sample), and every interval must be a whole number of seconds (the start is rounded down to
//!   a second), or two samples could share a timestamp and the second would be taken for a
//!   duplicate.
//! - **Xovis** packages carry one frame per step, timed at the end of the interval, with
//!   `entries` forward and `exits` backward `COUNT` events of logic 1 (counter ids 1001/1002);
//!   a step without people sends a frame without events.
//!
//! A post answered 503 (the receiver's journal refused, or it is shutting down) or that cannot
//! reach the receiver is sent again after [`PushGenerator::with_retry`]'s delay, as a real
//! counter would; any other answer than 200 stops the run with an error.

use std::time::Duration;

use axum::http::{header, HeaderValue, Method, StatusCode};

use store_drivers::clock;
use store_drivers::counter::http::{self, HttpError, Url};
use store_drivers::counter::vendor::axis::format_timestamp as format_compact;

/// The largest answer read from the receiver.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Which vendor's payloads to send (the receiver's `vendor` must match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// AXIS People Counter live sum (`vendor = "axis"`).
    Axis,
    /// Xovis live data push (`vendor = "xovis"`).
    Xovis,
}

/// One step of a schedule: `interval` after the previous step, so many people went in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub interval: Duration,
    pub entries: u32,
    pub exits: u32,
}

impl Step {
    pub fn new(interval: Duration, entries: u32, exits: u32) -> Step {
        Step {
            interval,
            entries,
            exits,
        }
    }
}

/// How fast a schedule is played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Wait each step's interval before posting it.
    RealTime,
    /// Post each step as soon as the previous one was answered.
    Immediate,
}

/// What a run sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Payloads accepted (200), baseline included.
    pub posts: usize,
    /// Posts sent again after a 503 or a connection failure.
    pub retries: usize,
    pub entries: u64,
    pub exits: u64,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("receiver URL: {0}")]
    Url(String),
    #[error("schedule step {index}: {reason}")]
    Schedule { index: usize, reason: String },
    #[error("receiver answered {status}: {body}")]
    Rejected { status: StatusCode, body: String },
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: usize, last: String },
}

/// A virtual counter posting to one receiver URL. See the module docs.
#[derive(Debug, Clone)]
pub struct PushGenerator {
    url: Url,
    token: Option<String>,
    shape: Shape,
    device: String,
    pacing: Pacing,
    timeout: Duration,
    retry_delay: Duration,
    max_attempts: usize,
    /// Virtual time of the last payload.
    now_ms: i64,
    entries_total: u64,
    exits_total: u64,
    frame: u64,
    baseline_sent: bool,
}

impl PushGenerator {
    /// A generator posting `shape` payloads to `url` (such as `http://127.0.0.1:8085/counter`).
    pub fn new(url: &str, shape: Shape) -> Result<PushGenerator, GeneratorError> {
        let url = Url::parse(url).map_err(GeneratorError::Url)?;
        let mut g = PushGenerator {
            url,
            token: None,
            shape,
            device: "VIRTUAL-0001".into(),
            pacing: Pacing::RealTime,
            timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(1),
            max_attempts: 5,
            now_ms: 0,
            entries_total: 0,
            exits_total: 0,
            frame: 0,
            baseline_sent: false,
        };
        g = g.with_start_ms(clock::wall_ms());
        Ok(g)
    }

    /// The receiver's token, sent as `Authorization: Bearer`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Virtual time of the start of the schedule (epoch ms).
    pub fn with_start_ms(mut self, start_ms: i64) -> Self {
        self.now_ms = match self.shape {
            Shape::Axis => start_ms.div_euclid(1000) * 1000,
            Shape::Xovis => start_ms,
        };
        self
    }

    /// The device's serial number (Axis) or counting logic name (Xovis).
    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = device.into();
        self
    }

    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Delay before a post is sent again, and how many attempts a post gets in all.
    pub fn with_retry(mut self, delay: Duration, max_attempts: usize) -> Self {
        self.retry_delay = delay;
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Time limit of one post.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks a schedule against the shape's limits before anything is sent.
    pub fn check(&self, schedule: &[Step]) -> Result<(), GeneratorError> {
        for (index, step) in schedule.iter().enumerate() {
            if self.shape == Shape::Axis
                && (step.interval.is_zero() || step.interval.subsec_nanos() != 0)
            {
                return Err(GeneratorError::Schedule {
                    index,
                    reason: format!(
                        "interval {:?}: Axis live sums need whole seconds (at least 1 s)",
                        step.interval
                    ),
                });
            }
        }
        Ok(())
    }

    /// The payload before the schedule, if the shape needs one (Axis: the baseline totals).
    pub fn baseline_payload(&self) -> Option<Vec<u8>> {
        match self.shape {
            Shape::Axis => Some(self.axis_payload()),
            Shape::Xovis => None,
        }
    }

    /// The payload of one step; moves the virtual clock (and running totals) on.
    pub fn step_payload(&mut self, step: &Step) -> Vec<u8> {
        let interval_ms = i64::try_from(step.interval.as_millis()).unwrap_or(i64::MAX);
        self.now_ms = self.now_ms.saturating_add(interval_ms);
        self.entries_total += u64::from(step.entries);
        self.exits_total += u64::from(step.exits);
        match self.shape {
            Shape::Axis => self.axis_payload(),
            Shape::Xovis => self.xovis_payload(step),
        }
    }

    fn axis_payload(&self) -> Vec<u8> {
        serde_json::json!({
            "serial": self.device,
            "name": "Virtual counter",
            "timestamp": format_compact(self.now_ms),
            "in": self.entries_total,
            "out": self.exits_total,
        })
        .to_string()
        .into_bytes()
    }

    fn xovis_payload(&mut self, step: &Step) -> Vec<u8> {
        self.frame += 1;
        let event = |counter_id: u32| {
            serde_json::json!({
                "category": "COUNT",
                "type": "COUNT_INCREMENT",
                "attributes": {"counter_id": counter_id, "logic_name": self.device},
            })
        };
        let events: Vec<_> = std::iter::repeat_n(1001, step.entries as usize)
            .chain(std::iter::repeat_n(1002, step.exits as usize))
            .map(event)
            .collect();
        serde_json::json!({
            "live_data": {
                "package_info": {"version": "5.0", "id": self.frame, "agent_id": 1},
                "frames": [{"framenumber": self.frame, "time": self.now_ms, "events": events}],
            }
        })
        .to_string()
        .into_bytes()
    }

    /// Plays a schedule: the baseline (once per generator, if the shape has one), then one post
    /// per step.
    pub async fn run(&mut self, schedule: &[Step]) -> Result<Sent, GeneratorError> {
        self.check(schedule)?;
        let mut sent = Sent::default();
        if !self.baseline_sent {
            if let Some(payload) = self.baseline_payload() {
                self.post(payload, &mut sent).await?;
            }
            self.baseline_sent = true;
        }
        for step in schedule {
            if self.pacing == Pacing::RealTime {
                tokio::time::sleep(step.interval).await;
            }
            let payload = self.step_payload(step);
            self.post(payload, &mut sent).await?;
            sent.entries += u64::from(step.entries);
            sent.exits += u64::from(step.exits);
        }
        Ok(sent)
    }

    async fn post(&self, payload: Vec<u8>, sent: &mut Sent) -> Result<(), GeneratorError> {
        let mut headers = vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )];
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                GeneratorError::Url("token has characters not allowed in a header".into())
            })?;
            headers.push((header::AUTHORIZATION, value));
        }
        let mut last = String::new();
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                sent.retries += 1;
                tokio::time::sleep(self.retry_delay).await;
            }
            let answer = http::exchange(
                Method::POST,
                &self.url,
                &headers,
                payload.clone(),
                self.timeout,
                MAX_ANSWER_BYTES,
            )
            .await;
            match answer {
                Ok(a) if a.status == StatusCode::OK => {
                    sent.posts += 1;
                    return Ok(());
                }
                Ok(a) if a.status == StatusCode::SERVICE_UNAVAILABLE => {
                    last = format!("503: {}", String::from_utf8_lossy(&a.body).trim());
                }
                Ok(a) => {
                    return Err(GeneratorError::Rejected {
                        status: a.status,
                        body: String::from_utf8_lossy(&a.body).trim().to_owned(),
                    })
                }
                Err(e @ (HttpError::Connect { .. } | HttpError::Timeout { .. })) => {
                    last = e.to_string();
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(GeneratorError::GaveUp {
            attempts: self.max_attempts,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use store_proto::v1::FootTraffic;
    use store_proto::Body;
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;
    use store_drivers::counter::push::{serve, CounterPushConfig};
    use store_drivers::counter::Vendor;
    use store_drivers::{Record, RecordError};

    const PATIENCE: Duration = Duration::from_secs(10);
    /// 2024-03-01 10:00:00 UTC.
    const T0: i64 = 1_709_287_200_000;

    /// Starts a real `counter_push` receiver; its journal stand-in answers `refuse_first`
    /// records 503-worthy refusals, then stores everything, handing each stored event to the
    /// test.
    async fn receiver(
        vendor: Vendor,
        refuse_first: usize,
    ) -> (String, mpsc::UnboundedReceiver<FootTraffic>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sink, mut journal) = mpsc::channel::<Record>(64);
        let config = CounterPushConfig {
            id: "door-push".into(),
            listen: addr,
            vendor,
            token: Some("s3cret".into()),
            max_body_bytes: 1 << 20,
            line: "front".into(),
            max_connections: 32,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
        };
        tokio::spawn(serve(listener, config, sink));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut seq = 0;
            while let Some(r) = journal.recv().await {
                seq += 1;
                let outcome = if seq <= refuse_first {
                    Err(RecordError::Journal("budget full".into()))
                } else {
                    match r.event.body {
                        Some(Body::FootTraffic(t)) => {
                            let _ = tx.send(t);
                        }
                        other => panic!("unexpected event {other:?}"),
                    }
                    Ok(seq as u64)
                };
                let _ = r.reply.expect("push asks for a reply").send(outcome);
            }
        });
        (format!("http://{addr}/counter"), rx)
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<FootTraffic>) -> Vec<(String, i64, i64, u32, u32)> {
        let mut out = Vec::new();
        while let Ok(t) = rx.try_recv() {
            out.push((
                t.line,
                t.interval_start_ms - T0,
                t.interval_end_ms - T0,
                t.entries,
                t.exits,
            ));
        }
        out
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test]
    async fn axis_schedule_arrives_as_exactly_the_scheduled_counts() {
        let (url, mut stored) = receiver(Vendor::Axis, 0).await;
        let mut g = PushGenerator::new(&url, Shape::Axis)
            .unwrap()
            .with_token("s3cret")
            .with_start_ms(T0 + 400)
            .with_pacing(Pacing::Immediate);
        let sent = tokio::time::timeout(
            PATIENCE,
            g.run(&[
                Step::new(secs(10), 3, 1),
                Step::new(secs(10), 0, 0),
                Step::new(secs(5), 7, 2),
            ]),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            sent,
            Sent {
                posts: 4,
                retries: 0,
                entries: 10,
                exits: 3
            }
        );
        // Each post is answered only once its events are stored: all are in by now.
        assert_eq!(
            drain(&mut stored),
            vec![
                ("front".into(), 0, 10_000, 3, 1),
                ("front".into(), 20_000, 25_000, 7, 2),
            ]
        );
        // A second run carries on from the same totals, without a new baseline.
        g.run(&[Step::new(secs(60), 1, 0)]).await.unwrap();
        assert_eq!(
            drain(&mut stored),
            vec![("front".into(), 25_000, 85_000, 1, 0)]
        );
    }

    #[tokio::test]
    async fn xovis_schedule_and_retries_after_a_refusal() {
        // The journal refuses the first event: the receiver answers 503 and the generator posts
        // the same package again.
        let (url, mut stored) = receiver(Vendor::Xovis, 1).await;
        let mut g = PushGenerator::new(&url, Shape::Xovis)
            .unwrap()
            .with_token("s3cret")
            .with_device("Entrance")
            .with_start_ms(T0)
            .with_pacing(Pacing::Immediate)
            .with_retry(Duration::from_millis(10), 3);
        let sent = g
            .run(&[
                Step::new(Duration::from_millis(1500), 2, 1),
                Step::new(secs(1), 0, 0),
                Step::new(secs(1), 0, 3),
            ])
            .await
            .unwrap();
        assert_eq!((sent.posts, sent.retries), (3, 1));
        assert_eq!(
            drain(&mut stored),
            vec![
                ("Entrance".into(), 1_500, 1_500, 2, 1),
                ("Entrance".into(), 3_500, 3_500, 0, 3),
            ]
        );
    }

    #[tokio::test]
    async fn wrong_token_and_bad_schedules_are_errors() {
        let (url, mut stored) = receiver(Vendor::Axis, 0).await;
        let mut g = PushGenerator::new(&url, Shape::Axis)
            .unwrap()
            .with_token("guess")
            .with_pacing(Pacing::Immediate);
        match g.run(&[Step::new(secs(1), 1, 0)]).await {
            Err(GeneratorError::Rejected { status, .. }) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED)
            }
            other => panic!("expected a 401, got {other:?}"),
        }
        let e = g
            .run(&[
                Step::new(secs(1), 1, 0),
                Step::new(Duration::from_millis(500), 1, 0),
            ])
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("schedule step 1:"), "{e}");
        assert!(drain(&mut stored).is_empty());
        assert!(matches!(
            PushGenerator::new("ftp://x/", Shape::Xovis),
            Err(GeneratorError::Url(_))
        ));
    }

    #[tokio::test]
    async fn an_absent_receiver_is_retried_then_given_up() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = port.local_addr().unwrap();
        drop(port);
        let mut g = PushGenerator::new(&format!("http://{addr}/"), Shape::Xovis)
            .unwrap()
            .with_pacing(Pacing::Immediate)
            .with_retry(Duration::from_millis(5), 3);
        match g.run(&[Step::new(secs(1), 1, 0)]).await {
            Err(GeneratorError::GaveUp { attempts: 3, last }) => {
                assert!(last.contains("cannot connect"), "{last}")
            }
            other => panic!("{other:?}"),
        }
    }
}
