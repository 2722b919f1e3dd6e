//! Privacy by default: what leaves a driver is made fit for HQ *before* the journal sees it, so
//! clear staff ids and customer data never reach the disk or the wire.
//!
//! - **Staff ids** (a POS transaction's `operator_id`, a badge scan's `data`) are replaced by a
//!   pseudonym: `"p:"` followed by the first 16 hex digits (64 bits) of
//!   HMAC-SHA256(key, id). The same key gives the same pseudonym at every store and after every
//!   restart, so HQ still counts shifts per badge and voids per cashier; without the key the
//!   clear id cannot be recovered or confirmed by guessing. A badge scan's `raw` bytes (the
//!   barcode, badge id included) are dropped. Empty ids stay empty.
//! - **Unparsed receipts** (`raw_text` of a POS transaction a template or the POSLog reader could
//!   not read: customer names, loyalty and card numbers) are not sent unless
//!   `[privacy] send_raw_receipts = true`; the event is kept (the transaction happened) with
//!   `error` saying the text was withheld. When sent, number-like runs are masked first
//!   ([`mask_numbers`]). Names cannot be recognised and stay: turn it on only where that is
//!   acceptable.
//!
//! The key comes from `[privacy] key_file` (e.g. a systemd credential), one chain-wide secret of
//! at least 32 characters. Without it the agent creates a random key in
//! `{state_dir}/privacy.key` (owner-only) at first start and warns on every start: pseudonyms are
//! then stable at this store only and differ between stores. `ids = "clear"` turns
//! pseudonymisation off (a warning on every start).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use store_proto::v1::ScanMode;
use store_proto::{Body, Event};
use store_runtime::secret::{read_secret, SecretError};
use tracing::warn;

use crate::config::{IdPolicy, PrivacyConfig};

/// Least length of a configured key (characters): 128 bits of hex at least, 256 recommended.
pub const MIN_KEY_CHARS: usize = 32;
/// The per-store key created when no `key_file` is configured.
pub const GENERATED_KEY_FILE: &str = "privacy.key";
/// Appended to `error` when an unparsed receipt's text is withheld.
pub const WITHHELD: &str = "receipt text not sent ([privacy] send_raw_receipts = false)";

/// Why privacy could not be set up (the agent does not start without it).
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("privacy.key_file: {path} holds {len} characters; at least {MIN_KEY_CHARS} are needed (e.g. `openssl rand -hex 32`)", path = path.display())]
    ShortKey { path: PathBuf, len: usize },
    #[error("privacy: cannot create the per-store key {path}: {source}", path = path.display())]
    Generate {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The privacy rules of one agent, applied to every event before it is journaled.
#[derive(Clone)]
pub struct Privacy {
    /// Keyed HMAC state, cloned per id (None: ids in clear).
    mac: Option<Hmac<Sha256>>,
    send_raw_receipts: bool,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy")
            .field("pseudonymise", &self.mac.is_some())
            .field("send_raw_receipts", &self.send_raw_receipts)
            .finish()
    }
}

impl Privacy {
    /// `key`: pseudonymise ids with it; None: leave them in clear.
    pub fn new(key: Option<&[u8]>, send_raw_receipts: bool) -> Self {
        Self {
            mac: key.map(|k| Hmac::<Sha256>::new_from_slice(k).expect("HMAC takes any key")),
            send_raw_receipts,
        }
    }

    /// From the config: reads `key_file`, or creates the per-store key in `state_dir`.
    pub fn load(cfg: &PrivacyConfig, state_dir: &Path) -> Result<Self, PrivacyError> {
        let key = match (cfg.ids, &cfg.key_file) {
            (IdPolicy::Clear, _) => {
                warn!("[privacy] ids = \"clear\": cashier and badge ids leave the store in clear.");
                None
            }
            (IdPolicy::Pseudonymise, Some(path)) => {
                let key = read_secret("privacy.key_file", path)?;
                if key.chars().count() < MIN_KEY_CHARS {
                    return Err(PrivacyError::ShortKey {
                        path: path.clone(),
                        len: key.chars().count(),
                    });
                }
                Some(key)
            }
            (IdPolicy::Pseudonymise, None) => {
                let path = state_dir.join(GENERATED_KEY_FILE);
                let key = per_store_key(&path)?;
                warn!(
                    key = %path.display(),
                    "No [privacy] key_file: cashier and badge ids are pseudonymised with a key of this store only, so the same person gets different pseudonyms at different stores. Set key_file to one chain-wide key."
                );
                Some(key)
            }
        };
        Ok(Self::new(
            key.as_deref().map(str::as_bytes),
            cfg.send_raw_receipts,
        ))
    }

    /// The pseudonym of `id`: `"p:"` + 16 hex digits; empty stays empty; in clear without a key.
    pub fn pseudonym(&self, id: &str) -> String {
        match &self.mac {
            Some(mac) if !id.is_empty() => {
                let mut mac = mac.clone();
                mac.update(id.as_bytes());
                let digest = mac.finalize().into_bytes();
                let mut out = String::with_capacity(18);
                out.push_str("p:");
                for b in &digest[..8] {
                    out.push_str(&format!("{b:02x}"));
                }
                out
            }
            _ => id.to_owned(),
        }
    }

    /// Makes one event fit to leave the store (see the module header).
    pub fn apply(&self, event: &mut Event) {
        match &mut event.body {
            Some(Body::Scan(scan)) if scan.mode == ScanMode::Badge as i32 && self.mac.is_some() => {
                scan.data = self.pseudonym(&scan.data);
                scan.raw.clear();
            }
            Some(Body::PosTransaction(tx)) => {
                if self.mac.is_some() {
                    tx.operator_id = self.pseudonym(&tx.operator_id);
                }
                if !tx.raw_text.is_empty() {
                    if self.send_raw_receipts {
                        tx.raw_text = mask_numbers(&tx.raw_text);
                    } else {
                        tx.raw_text.clear();
                        if tx.error.is_empty() {
                            tx.error = WITHHELD.to_owned();
                        } else {
                            tx.error = format!("{}; {WITHHELD}", tx.error);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reads the per-store key at `path`, creating it (32 random bytes as hex, owner-only) first.
fn per_store_key(path: &Path) -> Result<String, PrivacyError> {
    let err = |source| PrivacyError::Generate {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(err)?;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(err)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        use std::os::unix::fs::OpenOptionsExt;
        // create_new: two agents racing on one state_dir never overwrite a key in use.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                f.write_all(format!("{hex}\n").as_bytes()).map_err(err)?;
                f.sync_all().map_err(err)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(e)),
        }
    }
    let key = read_secret("privacy.key_file", path)?;
    if key.chars().count() < MIN_KEY_CHARS {
        return Err(PrivacyError::ShortKey {
            path: path.to_owned(),
            len: key.chars().count(),
        });
    }
    Ok(key)
}

/// Whether `c` stands for a hidden digit in a masked number ("****1234", "XXXX-1234").
fn is_mask_char(c: char) -> bool {
    matches!(c, '*' | '#' | 'X' | 'x' | '•')
}

/// Replaces every digit of number-like runs with `*`, keeping the text's layout:
/// - card-number-like: 13 or more digits, single spaces or dashes allowed between them;
/// - loyalty-number-like: 8 or more digits in a row;
/// - masked card numbers: 4 or more mask characters (`*`, `#`, `X`, `x`, `•`) followed by
///   digits, e.g. `****1234`, `XXXX XXXX XXXX 1234`.
///
/// Prices, quantities, times and short receipt numbers stay readable. GTINs and dates written as
/// 8+ digits are masked too: the text is for a human diagnosing a template, not for figures.
pub fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let is_part = |c: char| c.is_ascii_digit() || is_mask_char(c);
    let mut i = 0;
    while i < chars.len() {
        if !is_part(chars[i]) {
            i += 1;
            continue;
        }
        // A group: parts joined by single spaces or dashes.
        let start = i;
        let mut end = i; // exclusive
        let mut j = i;
        while j < chars.len() {
            if is_part(chars[j]) {
                j += 1;
                end = j;
            } else if matches!(chars[j], ' ' | '-')
                && j + 1 < chars.len()
                && is_part(chars[j + 1])
                && j > start
            {
                j += 1;
            } else {
                break;
            }
        }
        let group = &chars[start..end];
        let digits = group.iter().filter(|c| c.is_ascii_digit()).count();
        let masks = group.iter().filter(|c| is_mask_char(**c)).count();
        let mut longest = 0;
        let mut run = 0;
        for c in group {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        let ends_in_digit = group.last().is_some_and(char::is_ascii_digit);
        if digits >= 13 || longest >= 8 || (masks >= 4 && digits >= 2 && ends_in_digit) {
            for c in &mut out[start..end] {
                if c.is_ascii_digit() {
                    *c = '*';
                }
            }
        }
        i = end.max(i + 1);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests;
