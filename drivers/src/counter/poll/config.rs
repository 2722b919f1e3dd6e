//! Configuration of the `counter_poll` driver.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::counter::http::Url;

/// `[[drivers]] type = "counter_poll"`: a people counter the agent asks for its running totals
/// (AXIS People Counter `live-sum.json`) every `interval_secs`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawPollConfig")]
pub struct CounterPollConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// The live-sum URL, plain HTTP on the store network.
    pub url: Url,
    /// Seconds between two polls (at least 1). The counts of one interval become one event.
    pub interval_secs: u64,
    /// Milliseconds a poll may take, connecting included, before the counter counts as
    /// unreachable (at least 1).
    pub timeout_ms: u64,
    /// How the agent proves who it is to the counter.
    pub auth: PollAuth,
    /// Counting line recorded with the counts (the live sum does not name lines).
    pub line: String,
}

/// Credentials sent with each poll.
#[derive(Clone, PartialEq, Eq)]
pub enum PollAuth {
    None,
    /// `Authorization: Basic` (RFC 7617). Axis cameras default to digest authentication: switch
    /// the camera to basic (plain HTTP on a closed store network) or give the counter an
    /// anonymous viewer.
    Basic {
        username: String,
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// The config as written; checked into a [`CounterPollConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPollConfig {
    /// See [`CounterPollConfig::id`].
    id: String,
    /// See [`CounterPollConfig::url`].
    #[serde(deserialize_with = "url")]
    url: Url,
    /// See [`CounterPollConfig::interval_secs`].
    #[serde(default = "default_interval_secs")]
    interval_secs: u64,
    /// See [`CounterPollConfig::timeout_ms`].
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// User name for basic authentication; needs `password`.
    #[serde(default)]
    username: Option<String>,
    /// Password for basic authentication; needs `username`.
    #[serde(default)]
    password: Option<String>,
    /// Bearer token, instead of a user name and password.
    #[serde(default)]
    token: Option<String>,
    /// See [`CounterPollConfig::line`].
    #[serde(default = "default_line")]
    line: String,
}

fn default_interval_secs() -> u64 {
    60
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_line() -> String {
    "main".to_owned()
}

fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = String::deserialize(d)?;
    Url::parse(&text).map_err(serde::de::Error::custom)
}

impl TryFrom<RawPollConfig> for CounterPollConfig {
    type Error = String;

    fn try_from(raw: RawPollConfig) -> Result<Self, String> {
        if raw.interval_secs == 0 {
            return Err("interval_secs must be at least 1".into());
        }
        if raw.timeout_ms == 0 {
            return Err("timeout_ms must be at least 1".into());
        }
        let auth = match (raw.username, raw.password, raw.token) {
            (None, None, None) => PollAuth::None,
            (Some(username), Some(password), None) => {
                if username.contains(':') {
                    return Err("username must not contain `:` (basic authentication)".into());
                }
                PollAuth::Basic { username, password }
            }
            (None, None, Some(token)) if !token.is_empty() => PollAuth::Bearer(token),
            (None, None, Some(_)) => {
                return Err(
                    "token must not be empty (leave it out to poll without credentials)".into(),
                )
            }
            (Some(_), None, _) => return Err("username needs a password".into()),
            (None, Some(_), _) => return Err("password needs a username".into()),
            (Some(_), Some(_), Some(_)) => {
                return Err("give either username and password, or token, not both".into())
            }
        };
        Ok(CounterPollConfig {
            id: raw.id,
            url: raw.url,
            interval_secs: raw.interval_secs,
            timeout_ms: raw.timeout_ms,
            auth,
            line: raw.line,
        })
    }
}

/// Shows everything but the secrets, so configs can be logged.
impl fmt::Debug for CounterPollConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            PollAuth::None => "none".to_owned(),
            PollAuth::Basic { username, .. } => format!("basic {username}:<redacted>"),
            PollAuth::Bearer(_) => "bearer <redacted>".to_owned(),
        };
        f.debug_struct("CounterPollConfig")
            .field("id", &self.id)
            .field("url", &self.url.as_str())
            .field("interval_secs", &self.interval_secs)
            .field("timeout_ms", &self.timeout_ms)
            .field("auth", &auth)
            .field("line", &self.line)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DriverConfig;

    fn parse(extra: &str) -> Result<DriverConfig, toml::de::Error> {
        toml::from_str(&format!(
            "type = \"counter_poll\"\nid = \"door\"\nurl = \"http://10.0.0.5/local/pc/live-sum.json\"\n{extra}"
        ))
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!((c.id(), c.kind()), ("door", "counter_poll"));
        let DriverConfig::CounterPoll(c) = c else {
            panic!("wrong variant: {c:?}");
        };
        assert_eq!(c.url.as_str(), "http://10.0.0.5/local/pc/live-sum.json");
        assert_eq!((c.interval_secs, c.timeout_ms), (60, 5000));
        assert!(c.auth == PollAuth::None);
        assert_eq!(c.line, "main");
    }

    #[test]
    fn credentials() {
        let DriverConfig::CounterPoll(c) =
            parse("username = \"viewer\"\npassword = \"s3cret\"").unwrap()
        else {
            panic!("wrong variant");
        };
        assert!(
            c.auth
                == PollAuth::Basic {
                    username: "viewer".into(),
                    password: "s3cret".into()
                }
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("viewer"),
            "{shown}"
        );
        let DriverConfig::CounterPoll(c) = parse("token = \"t0k\"").unwrap() else {
            panic!("wrong variant");
        };
        assert!(c.auth == PollAuth::Bearer("t0k".into()));
        assert!(!format!("{c:?}").contains("t0k"));
    }

    #[test]
    fn bad_configs_say_why() {
        for (extra, why) in [
            ("interval_secs = 0", "interval_secs must be at least 1"),
            ("timeout_ms = 0", "timeout_ms must be at least 1"),
            ("username = \"u\"", "username needs a password"),
            ("password = \"p\"", "password needs a username"),
            (
                "username = \"u\"\npassword = \"p\"\ntoken = \"t\"",
                "not both",
            ),
            ("token = \"\"", "token must not be empty"),
            ("intervall_secs = 5", "intervall_secs"),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.contains(why), "{extra}: {e}");
        }
        let e = toml::from_str::<DriverConfig>(
            "type = \"counter_poll\"\nid = \"d\"\nurl = \"https://cam/\"",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plain http"), "{e}");
    }
}
