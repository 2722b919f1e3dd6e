//! Pushing alerts and signals to people and systems: signed JSON webhooks (an ERP inbox, a chat
//! bridge) and Prometheus Alertmanager.
//!
//! The path of one alert change:
//! 1. the rules runtime commits the change; in the same sled batch, [`outbox::Outbox::enqueue`]
//!    writes one entry per destination whose filter ([`filter`]) takes it, with its idempotency
//!    key and request body ([`payload`], [`alertmanager`]);
//! 2. after the commit, the destination's sender task ([`sender`]) is woken, POSTs the oldest
//!    entry with the signature headers ([`sign`]) over its own HTTP client ([`client`], [`url`]),
//!    and removes it on a 2xx answer; otherwise it retries the same entry with backoff;
//! 3. for Alertmanager, [`resend`] also repeats the active alerts periodically, from the engine's
//!    current alerts, because Alertmanager forgets alerts that are not repeated.
//!
//! Delivery is at least once: a crash between a 2xx and the removal sends the entry again, with
//! the same `X-Store-Edge-Idempotency-Key`.

pub mod alertmanager;
pub mod client;
pub mod filter;
pub mod outbox;
pub mod payload;
pub mod resend;
pub mod sender;
pub mod sign;
pub mod url;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use store_runtime::backoff::Backoff;
use store_runtime::secret::{read_secret, SecretError};
use store_runtime::tls::{TlsError, TlsFiles};
use tokio::task::JoinHandle;

use self::client::Client;
pub use self::outbox::Outbox;
use self::outbox::{Destination, Format};
use self::sender::Link;
use self::sign::Signer;
use crate::config::{DeliverConfig, SendConfig};
use crate::rules::Runtime;

/// Why delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("deliver destination {name}: secret_file {}: the file is empty", path.display())]
    EmptySecret {
        name: String,
        path: std::path::PathBuf,
    },
    #[error("deliver destination {name}: {source}")]
    Tls {
        name: String,
        #[source]
        source: TlsError,
    },
    #[error("deliver destination {name}: {message}")]
    Url { name: String, message: String },
}

/// Reads every destination's secret and CA files and builds its link, as [`start`] would:
/// `check-config` calls it so a bad path fails the check, not the start.
pub fn check(config: &DeliverConfig) -> Result<(), DeliverError> {
    links(config).map(|_| ())
}

/// Each destination's name, link and (Alertmanager) resend period.
fn links(config: &DeliverConfig) -> Result<Vec<(String, Link, Option<Duration>)>, DeliverError> {
    let mut links = Vec::new();
    for w in &config.webhook {
        let secret = secret(&w.name, "deliver.webhook.secret_file", &w.secret_file)?;
        links.push((
            w.name.clone(),
            link(&w.name, &w.url, &w.send(), Some(secret), "")?,
            None,
        ));
    }
    for a in &config.alertmanager {
        let signer = match &a.secret_file {
            Some(path) => Some(secret(&a.name, "deliver.alertmanager.secret_file", path)?),
            None => None,
        };
        let l = link(&a.name, &a.url, &a.send(), signer, "/api/v2/alerts")?;
        links.push((a.name.clone(), l, Some(Duration::from_millis(a.resend_ms))));
    }
    Ok(links)
}

/// Starts one sender per destination (and a resend task per Alertmanager). Reads the secret and
/// CA files now, so a bad path stops the start-up with the key that names it.
pub fn start(
    config: &DeliverConfig,
    outbox: &Arc<Outbox>,
    rules: &Arc<Runtime>,
) -> Result<Vec<JoinHandle<()>>, DeliverError> {
    let mut tasks = Vec::new();
    for (name, link, resend_every) in links(config)? {
        let d: Arc<Destination> = outbox
            .destinations()
            .iter()
            .find(|d| d.name == name)
            .expect("the outbox has every configured destination")
            .clone();
        let send = sending(config, &name);
        let backoff = Backoff::from_millis(send.retry_min_ms, send.retry_max_ms);
        if let (Some(every), Format::Alertmanager { generator_url }) = (resend_every, &d.format) {
            tasks.push(tokio::spawn(resend::run(
                rules.clone(),
                d.clone(),
                link.clone(),
                generator_url.clone(),
                every,
            )));
        }
        tasks.push(tokio::spawn(sender::run(outbox.clone(), d, link, backoff)));
    }
    Ok(tasks)
}

fn sending(config: &DeliverConfig, name: &str) -> SendConfig {
    config
        .webhook
        .iter()
        .find(|w| w.name == name)
        .map(|w| w.send())
        .or_else(|| {
            config
                .alertmanager
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.send())
        })
        .expect("a configured destination")
}

fn secret(name: &str, key: &'static str, path: &Path) -> Result<Signer, DeliverError> {
    let s = read_secret(key, path)?;
    if s.is_empty() {
        return Err(DeliverError::EmptySecret {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(Signer::new(s.as_bytes()))
}

fn link(
    name: &str,
    url: &str,
    send: &SendConfig,
    signer: Option<Signer>,
    suffix: &str,
) -> Result<Link, DeliverError> {
    let parsed = url::Url::parse(url).map_err(|message| DeliverError::Url {
        name: name.to_owned(),
        message,
    })?;
    if !parsed.tls && !store_runtime::tls::is_loopback_host(&parsed.host) {
        tracing::warn!(destination = %name, host = %parsed.host, "insecure_plaintext = true: deliveries and their signatures cross the network in clear.");
    }
    let parsed = if suffix.is_empty() {
        parsed
    } else {
        parsed.join(suffix)
    };
    let tls = if parsed.tls {
        store_runtime::tls::client_config(&TlsFiles {
            tls: true,
            ca_file: send.tls_ca_file.as_deref(),
            cert_file: None,
            key_file: None,
        })
        .map_err(|source| DeliverError::Tls {
            name: name.to_owned(),
            source,
        })?
    } else {
        None
    };
    Ok(Link {
        client: Client::new(parsed, tls, Duration::from_millis(send.timeout_ms)),
        signer,
    })
}

#[cfg(test)]
mod tests;
