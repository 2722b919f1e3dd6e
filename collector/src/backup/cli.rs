//! `store-collector backup` and `restore` as the command line runs them.
//!
//! `backup` asks the running collector over its API (it holds sled's lock, so only it can read
//! the database while it runs); when nothing answers and nothing holds the lock, it copies the
//! stopped collector's database itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::http_client;
use super::restore::lock_state;
use super::write::{self, Source};
use super::{BackupError, Manifest};
use crate::config::Config;
use crate::ledger::Db;

/// How long the CLI waits for the collector's answer: the copy is written before it answers.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// By the running collector, over its API.
    Api,
    /// From the stopped collector's directory.
    Directory,
}

/// Takes a backup of the collector `config` describes into `dest` (relative paths are taken
/// from the current directory). `token` is the API's operator token.
pub fn backup(
    config: &Config,
    dest: &Path,
    token: Option<&str>,
) -> Result<(Via, PathBuf, Manifest), BackupError> {
    let dest = if dest.is_absolute() {
        dest.to_owned()
    } else {
        std::env::current_dir()
            .map_err(BackupError::io("."))?
            .join(dest)
    };
    write::check_dest(&dest)?;
    let addr = http_client::reachable(config.api.listen);
    let body = serde_json::json!({ "dest": dest }).to_string();
    match http_client::request(
        addr,
        "POST",
        "/v1/admin/backup",
        token,
        Some(&body),
        ONLINE_TIMEOUT,
    ) {
        Ok(response) => online_answer(addr, response).map(|m| (Via::Api, dest, m)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            offline(config, &dest, addr).map(|m| (Via::Directory, dest, m))
        }
        Err(e) => Err(BackupError::Running(format!(
            "the collector's API at {addr} did not answer properly ({e}); no backup was taken"
        ))),
    }
}

#[derive(Deserialize)]
struct Answer {
    manifest: Manifest,
}

fn online_answer(
    addr: std::net::SocketAddr,
    response: http_client::Response,
) -> Result<Manifest, BackupError> {
    if response.status == 200 {
        let answer: Answer = serde_json::from_str(&response.body).map_err(|e| {
            BackupError::Refused(format!("the collector at {addr} answered 200 but {e}"))
        })?;
        return Ok(answer.manifest);
    }
    let error = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(response.body);
    let hint = match response.status {
        401 | 403 => {
            " (pass the operator token with --token-file or STORE_COLLECTOR_TOKEN, or set \
             [api] token_file)"
        }
        _ => "",
    };
    Err(BackupError::Refused(format!(
        "the collector at {addr} refused the backup ({}): {error}{hint}",
        response.status
    )))
}

fn offline(
    config: &Config,
    dest: &Path,
    addr: std::net::SocketAddr,
) -> Result<Manifest, BackupError> {
    let db_dir = config.state_dir.join(super::manifest::STATE_DIR);
    match lock_state(&config.state_dir) {
        Ok(Some(_lock)) => {} // free: sled takes it below
        Ok(None) => {
            return Err(BackupError::Refused(format!(
                "no collector state at {} and no collector answers on {addr}",
                db_dir.display()
            )))
        }
        Err(BackupError::Running(_)) => {
            return Err(BackupError::Running(format!(
                "{} is held by a running collector, but nothing answers on {addr} \
                 ([api] listen): no backup was taken",
                db_dir.display()
            )))
        }
        Err(e) => return Err(e),
    }
    let read_at_ms = store_runtime::clock::now_ms();
    let entries = {
        let (db, _) = Db::open(&db_dir)?;
        db.entries()?
    };
    write::write(
        dest,
        &entries,
        &Source {
            collector_id: config.collector_id.clone(),
            online: false,
            paused: Duration::ZERO,
            read_at_ms,
        },
    )
}
