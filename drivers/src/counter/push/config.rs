//! Configuration of the `counter_push` driver.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use crate::counter::reading::Vendor;
use crate::listen::at_least_one;

/// `[[drivers]] type = "counter_push"`: an HTTP endpoint that people counters post their counts
/// to.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterPushConfig {
    /// Id of this driver instance, unique within the agent. Counters whose payload names no
    /// device are recorded under this id.
    pub id: String,
    /// Address to listen on. Loopback by default: to let counters on the store network reach
    /// it, listen on the store-side address on purpose, and set a `token`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Payload format the counters send: `axis` (People Counter live sums), `axis3d` (3D People
    /// Counter export), `xovis`, `irisys`, `hikvision` or `vivotek`.
    pub vendor: Vendor,
    /// Shared secret. When set, every request must carry `Authorization: Bearer <token>` or a
    /// `?token=<token>` query parameter (for counters that only let you type a URL), or it is
    /// answered 401. Must not be empty.
    #[serde(default, deserialize_with = "non_empty_token")]
    pub token: Option<String>,
    /// Largest accepted request body in bytes; a larger one is answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Counting line recorded for counters that do not name their lines.
    #[serde(default = "default_line")]
    pub line: String,
    /// Connections served at once (at least 1). A further one is answered 503 (`Retry-After`)
    /// and closed at once.
    #[serde(default = "default_max_connections", deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// Seconds a request's headers may take to arrive, counted from the connection opening or
    /// the previous response (at least 1). This is also how long an idle keep-alive connection
    /// stays open. Then the connection is closed.
    #[serde(
        default = "default_header_timeout_secs",
        deserialize_with = "at_least_one"
    )]
    pub header_timeout_secs: u64,
    /// Seconds a request's body may take to arrive after its headers (at least 1); then it is
    /// answered 408 and nothing is journaled.
    #[serde(
        default = "default_body_timeout_secs",
        deserialize_with = "at_least_one"
    )]
    pub body_timeout_secs: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8085))
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_line() -> String {
    "main".to_owned()
}

fn default_max_connections() -> usize {
    32
}

fn default_header_timeout_secs() -> u64 {
    10
}

fn default_body_timeout_secs() -> u64 {
    30
}

fn non_empty_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let token = String::deserialize(d)?;
    if token.is_empty() {
        return Err(serde::de::Error::custom(
            "token must not be empty (leave it out to accept requests without one)",
        ));
    }
    Ok(Some(token))
}

/// Shows everything but the token, so configs can be logged.
impl fmt::Debug for CounterPushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterPushConfig")
            .field("id", &self.id)
            .field("listen", &self.listen)
            .field("vendor", &self.vendor)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("line", &self.line)
            .field("max_connections", &self.max_connections)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DriverConfig;

    fn parse(value: serde_json::Value) -> Result<DriverConfig, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn defaults() {
        let c =
            parse(serde_json::json!({"type": "counter_push", "id": "door", "vendor": "axis3d"}))
                .unwrap();
        assert_eq!(c.id(), "door");
        assert_eq!(c.kind(), "counter_push");
        let DriverConfig::CounterPush(c) = c else {
            panic!("wrong variant: {c:?}");
        };
        assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 8085)));
        assert_eq!(c.vendor, Vendor::Axis3d);
        assert_eq!(c.token, None);
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.line, "main");
        assert_eq!(c.max_connections, 32);
        assert_eq!(c.header_timeout_secs, 10);
        assert_eq!(c.body_timeout_secs, 30);
    }

    #[test]
    fn zero_limits_are_refused() {
        for key in [
            "max_connections",
            "header_timeout_secs",
            "body_timeout_secs",
        ] {
            let mut value =
                serde_json::json!({"type": "counter_push", "id": "d", "vendor": "axis"});
            value[key] = 0.into();
            let e = parse(value).unwrap_err();
            assert!(e.to_string().contains("must be at least 1"), "{key}: {e}");
        }
    }

    #[test]
    fn every_vendor_name_parses() {
        for name in ["axis", "axis3d", "xovis", "irisys", "hikvision", "vivotek"] {
            let c = parse(serde_json::json!({"type": "counter_push", "id": "d", "vendor": name}))
                .unwrap();
            let DriverConfig::CounterPush(c) = c else {
                panic!("wrong variant");
            };
            assert_eq!(c.vendor.name(), name);
        }
    }

    #[test]
    fn rejects_typos_unknown_vendors_and_empty_tokens() {
        let e = parse(
            serde_json::json!({"type": "counter_push", "id": "d", "vendor": "axis", "tokn": "x"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("tokn"), "{e}");
        let e = parse(serde_json::json!({"type": "counter_push", "id": "d", "vendor": "acme"}))
            .unwrap_err();
        assert!(e.to_string().contains("acme"), "{e}");
        let e = parse(
            serde_json::json!({"type": "counter_push", "id": "d", "vendor": "axis", "token": ""}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("token must not be empty"), "{e}");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = parse(serde_json::json!({"type": "counter_push", "id": "d", "vendor": "axis", "token": "s3cret"}))
            .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
