//! `[privacy]`: what of staff and customers leaves the store: ids in clear or pseudonymised
//! (and with which key), the text of unreadable receipts or not.
//!
//! The pseudonymising itself is in the `privacy` module; this is only its configuration.

use std::path::PathBuf;

use serde::Deserialize;

/// `[privacy]`: what of staff and customers leaves the store (see `privacy`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Cashier ids (POS `operator_id`) and staff badge ids: `"pseudonymise"` (default: replaced
    /// by `p:` + 16 hex digits of HMAC-SHA256 with the key, before they are journaled) or
    /// `"clear"`.
    #[serde(default)]
    pub ids: IdPolicy,
    /// File holding the pseudonymisation key (e.g. a systemd credential), at least 32
    /// characters, the same at every store of the chain so pseudonyms match across stores.
    /// Unset: a random key of this store only is created in `{state_dir}/privacy.key`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Send the text of receipts a template could not read (with card- and loyalty-number-like
    /// digits masked). Default false: such a receipt is sent without its text.
    #[serde(default)]
    pub send_raw_receipts: bool,
}

/// How staff ids leave the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdPolicy {
    /// Replaced by a keyed pseudonym.
    #[default]
    Pseudonymise,
    /// In clear.
    Clear,
}
