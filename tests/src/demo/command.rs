//! One HQ command round trip during the demo day: the operator asks store s1's agent for a
//! status report through HQ's API, and the demo follows the command from `sent` to `answered`.
//!
//! Polled from the demo's main loop (no thread of its own): [`RoundTrip::poll`] returns a line
//! to print when the command changes state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http;

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A command sent from the API and followed until it is finished.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub id: String,
    pub store_id: String,
    pub agent_id: String,
    sent_at: Instant,
    /// `answered` or `expired` once finished.
    pub state: String,
    /// The summary's line, once finished.
    pub outcome: Option<String>,
    ok: bool,
}

impl RoundTrip {
    /// `POST /v1/stores/{store}/agents/{agent}/commands` with `{"kind":"status_report"}`.
    pub fn send(
        api: SocketAddr,
        token: &str,
        store: &str,
        agent: &str,
        expires_in_secs: u64,
    ) -> Result<Self, String> {
        let path = format!("/v1/stores/{store}/agents/{agent}/commands");
        let auth = format!("Bearer {token}");
        let r = http::request(
            api,
            "POST",
            &path,
            &[("Authorization", &auth)],
            Some(&format!(
                r#"{{"kind":"status_report","expires_in_secs":{expires_in_secs}}}"#
            )),
            HTTP_TIMEOUT,
        )?;
        if r.status != 202 {
            return Err(format!("POST {path}: {} {}", r.status, r.body));
        }
        let rec: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
        Ok(RoundTrip {
            id: rec["id"].as_str().unwrap_or_default().to_owned(),
            store_id: store.to_owned(),
            agent_id: agent.to_owned(),
            sent_at: Instant::now(),
            state: rec["state"].as_str().unwrap_or_default().to_owned(),
            outcome: None,
            ok: false,
        })
    }

    /// Whether the agent answered with `ok`.
    pub fn succeeded(&self) -> bool {
        self.ok
    }

    /// Whether the command is answered or expired.
    pub fn finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// Looks at the command once; a line to print when it has just been answered or expired.
    pub fn poll(&mut self, api: SocketAddr, token: &str) -> Option<String> {
        if self.finished() {
            return None;
        }
        let rec = http::get_json(api, token, &format!("/v1/commands/{}", self.id)).ok()?;
        let state = rec["state"].as_str().unwrap_or_default().to_owned();
        if state == self.state && state != "answered" && state != "expired" {
            return None;
        }
        self.state = state.clone();
        let took = self.sent_at.elapsed().as_secs_f64();
        let line = match state.as_str() {
            "answered" => {
                let r = &rec["result"];
                self.ok = r["ok"] == true;
                let journal = &r["detail"]["journal"];
                let detail = if journal.is_object() {
                    format!(
                        " (agent journal head seq {})",
                        journal["head_seq"].as_u64().unwrap_or(0)
                    )
                } else {
                    String::new()
                };
                format!(
                    "status_report to {}/{}: sent -> answered in {took:.1} s, ok={} \"{}\"{detail}",
                    self.store_id,
                    self.agent_id,
                    r["ok"].as_bool().unwrap_or(false),
                    r["message"].as_str().unwrap_or_default(),
                )
            }
            "expired" => format!(
                "status_report to {}/{}: expired unanswered after {took:.1} s",
                self.store_id, self.agent_id
            ),
            _ => return None,
        };
        self.outcome = Some(line.clone());
        Some(line)
    }
}
