//! `store-runtime`: the plumbing both binaries (`store-agent` and `store-collector`) need and
//! neither should own.
//!
//! Each piece exists once so that a promise made to operators holds the same way on both sides:
//!
//! - [`locate`]: config errors name `file:line: key: message` (the README's `check-config`
//!   promise), one algorithm for both TOML files;
//! - [`backoff`]: capped exponential reconnect backoff with full jitter, so thousands of stores
//!   that lost HQ at once do not come back in step;
//! - [`clock`]: the wall clock as Unix milliseconds;
//! - [`secret`]: reading a password or token from a file (e.g. a systemd credential) with an
//!   error that names the config key and the path;
//! - [`tls`]: TLS to the broker (rustls with ring) from the `[mqtt]` keys both configs share,
//!   and the rule that a broker off this machine is not reached in plaintext by accident;
//! - [`log_directives`]: the plain `target=level` shape of a log filter sent from HQ;
//! - [`log_limit`]: one log line per key and minute about rejected input, with the count of the
//!   rest, so a hostile sender cannot flood the log;
//! - [`mqtt_poll`]: the task that polls rumqttc's event loop and never makes a request itself
//!   (rumqtt#1025); each binary plugs in its own handling;
//! - [`probe`]: a long reconnect wait cut short as soon as the broker's port accepts again.
//!
//! Dependency direction: `store-proto ← store-runtime ← store-agent, store-collector`. Nothing
//! here knows about events, journals or the rules engine.

pub mod backoff;
pub mod clock;
pub mod locate;
pub mod log_directives;
pub mod log_limit;
pub mod mqtt_poll;
pub mod probe;
pub mod secret;
pub mod sled_durable;
pub mod tls;
