//! The store agent: reads store devices through drivers, journals every event durably, and
//! forwards the events to HQ over MQTT.
//!
//! ```text
//! drivers ─▶ mpsc ─▶ privacy ─▶ journal (group commit + fdatasync) ─▶ uplink (QoS 1 batches) ─▶ broker
//!                       ▲                                       │
//!                       └──── trim up to the collector's mark ◀─┘ (retained .../ack)
//! ```
//! Each stage owns one thing: [`journal`] durability, [`uplink`] MQTT, [`supervisor`] the
//! drivers' lifecycles, [`command`] what HQ asks of the agent. [`run`] wires them together.

pub mod command;
pub mod config;
pub mod journal;
pub mod memory;
pub mod metrics;
pub mod privacy;
pub mod replay;
pub mod run;
pub mod service;
pub mod status;
pub mod supervisor;
pub mod uplink;
