//! The collector's side of HQ commands: the JSON body of `POST
//! /v1/stores/{s}/agents/{a}/commands` (`command::request::parse`) and the agents' results on
//! `.../cmd/result`, as the command book records them (`command::book::Answer::from_result`).
//!
//! Input: byte 0 even: the rest is a request body; odd: the rest is a result payload.
//!
//! Asserted besides "no panic": a body over `MAX_BODY_BYTES` is refused; an accepted request
//! has a lifetime of 1 s to 7 days, and the command it becomes is one the agent accepts (its
//! checks, `store_agent::command::validate::check`, do not refuse what HQ let through); a
//! refusal names what is wrong. A result payload that decodes is recorded with its message,
//! detail and ranges bounded, and the record reads back the same from its JSON (how the book
//! stores it).

use prost::Message;
use store_agent::command::validate;
use store_collector::command::book::{
    Answer, MAX_DETAIL_BYTES, MAX_MESSAGE_CHARS, MAX_NOT_RETAINED,
};
use store_collector::command::request::{parse, MAX_BODY_BYTES, MAX_EXPIRES_IN_SECS};
use store_collector::command::results::MAX_RESULT_BYTES;
use store_proto::v1::{Command, CommandResult};

use super::agent_command::{AGENT, NOW_MS, STORE};

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        request(rest);
    } else {
        result(rest);
    }
}

fn request(body: &[u8]) {
    let request = match parse(body) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.0.is_empty());
            return;
        }
    };
    assert!(body.len() <= MAX_BODY_BYTES);
    assert!((1..=MAX_EXPIRES_IN_SECS).contains(&request.expires_in_secs));
    let command = Command {
        id: "c-1".into(),
        store_id: STORE.into(),
        agent_id: AGENT.into(),
        issued_at_ms: NOW_MS,
        expires_at_ms: NOW_MS + 1000 * request.expires_in_secs as i64,
        issued_by: "ops".into(),
        kind: Some(request.kind.to_proto()),
    };
    // Through the wire and the agent's checks, as the agent would see it.
    let payload = command.encode_to_vec();
    let decoded = validate::decode(&payload).expect("the agent reads what HQ sends");
    if let Err(refusal) = validate::check(&decoded, STORE, AGENT, NOW_MS) {
        panic!(
            "HQ accepted {:?} but the agent refuses it: {}",
            request.kind, refusal.message
        );
    }
}

fn result(payload: &[u8]) {
    if payload.len() > MAX_RESULT_BYTES {
        return;
    }
    let Ok(result) = CommandResult::decode(payload) else {
        return;
    };
    let answer = Answer::from_result(&result, NOW_MS);
    assert!(answer.message.chars().count() <= MAX_MESSAGE_CHARS);
    assert!(answer.not_retained.len() <= MAX_NOT_RETAINED);
    if let Some(detail) = &answer.detail {
        let kept = detail.to_string();
        // The detail as parsed may print longer than its text (escapes), but not unboundedly.
        assert!(
            kept.len() <= 6 * MAX_DETAIL_BYTES + 64,
            "{} bytes of detail",
            kept.len()
        );
    }
    let json = serde_json::to_string(&answer).expect("an answer serialises");
    let back: Answer = serde_json::from_str(&json).expect("an answer reads back");
    assert_eq!(
        back, answer,
        "the recorded answer changes through JSON: {json}"
    );
}
