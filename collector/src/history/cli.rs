//! `store-collector history`: a store's history as CSV or JSON Lines, from the database when the
//! collector is stopped, or from the running collector's API when it holds the database.
//!
//! sled locks its database for one process, so the lock is what tells the two cases apart: the
//! database is opened first, and only a lock held elsewhere sends the command to the API
//! (`[api] listen`, with the configured operator or viewer token). Both paths produce the same
//! bytes: the API's export and this command share [`super::export`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::export::Format;
use super::query::{self, Query};
use crate::config::Config;
use crate::ledger::{Db, DbError};

/// What the command was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub store: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub kind: Option<String>,
    pub format: Format,
}

/// Where the rows came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Database,
    Api,
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("no state database at {0} (has this collector ever run?)")]
    NoDatabase(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error("collector API at {addr}: {message}")]
    Api { addr: SocketAddr, message: String },
    #[error("writing the output: {0}")]
    Write(std::io::Error),
}

/// Writes the rows of `request` to `out`.
pub fn export(config: &Config, request: &Request, out: &mut dyn Write) -> Result<Source, CliError> {
    if !crate::ingest::valid_id(&request.store) {
        return Err(CliError::Usage(format!(
            "--store {:?} is not a valid store id",
            request.store
        )));
    }
    let time = |name: &str, t: &Option<String>| {
        t.as_deref()
            .map(super::time::parse_time)
            .transpose()
            .map_err(|e| CliError::Usage(format!("--{name}: {e}")))
    };
    let query = Query {
        store: request.store.clone(),
        from_ms: time("from", &request.from)?,
        to_ms: time("to", &request.to)?,
        kind: request.kind.clone(),
        limit: query::MAX_LIMIT,
        ..Query::default()
    };
    let dir = config.state_dir.join("state");
    if !dir.join("db").exists() {
        return Err(CliError::NoDatabase(dir.display().to_string()));
    }
    match Db::open(&dir) {
        Ok((db, _)) => {
            from_database(&db, query, request.format, out)?;
            Ok(Source::Database)
        }
        Err(DbError::Sled { source, .. }) if is_lock_error(&source) => {
            from_api(config, request, out)?;
            Ok(Source::Api)
        }
        Err(e) => Err(e.into()),
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn from_database(
    db: &Db,
    mut query: Query,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    out.write_all(format.header().as_bytes())
        .map_err(CliError::Write)?;
    loop {
        let page = query::page(db.tree(), &query, query::MAX_SCAN)?;
        for row in &page.rows {
            out.write_all(format.row(row).as_bytes())
                .map_err(CliError::Write)?;
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return out.flush().map_err(CliError::Write),
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token the command sends: the operator's or the viewer's, inline or from its file.
fn token(config: &Config) -> Result<Option<String>, CliError> {
    let api = &config.api;
    for (inline, key, file) in [
        (
            &api.viewer_token,
            "api.viewer_token_file",
            &api.viewer_token_file,
        ),
        (&api.token, "api.token_file", &api.token_file),
    ] {
        if let Some(t) = inline {
            return Ok(Some(t.clone()));
        }
        if let Some(path) = file {
            return store_runtime::secret::read_secret(key, path)
                .map(Some)
                .map_err(|e| CliError::Usage(e.to_string()));
        }
    }
    Ok(None)
}

/// One plain HTTP/1.0 GET of `/v1/history`'s export from the running collector (the API is
/// plain HTTP on a loopback or private address; the response body is copied to `out`).
fn from_api(config: &Config, request: &Request, out: &mut dyn Write) -> Result<(), CliError> {
    let mut addr = config.api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let fail = |message: String| CliError::Api { addr, message };
    let mut path = format!("/v1/history.csv?store={}", encode(&request.store));
    if request.format == Format::Jsonl {
        path = format!("/v1/history?format=jsonl&store={}", encode(&request.store));
    }
    for (name, value) in [
        ("from", &request.from),
        ("to", &request.to),
        ("kind", &request.kind),
    ] {
        if let Some(v) = value {
            path.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| fail(e.to_string()))?;
    let mut head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(t) = token(config)? {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    // Bounded: a status line or header longer than this is not from the collector.
    (&mut reader)
        .take(8192)
        .read_line(&mut status)
        .map_err(|e| fail(e.to_string()))?;
    loop {
        let mut line = String::new();
        let n = (&mut reader)
            .take(8192)
            .read_line(&mut line)
            .map_err(|e| fail(e.to_string()))?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    if status.split_whitespace().nth(1) != Some("200") {
        let mut body = String::new();
        let _ = reader.take(4096).read_to_string(&mut body);
        return Err(fail(format!("{} {}", status.trim(), body.trim())));
    }
    std::io::copy(&mut reader, out).map_err(|e| fail(e.to_string()))?;
    out.flush().map_err(CliError::Write)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::http::{routes, ApiState, Tokens};
    use crate::ledger::{Changes, Live};
    use crate::rules::engine::BatchInfo;
    use crate::rules::Runtime;

    fn config(dir: &std::path::Path, listen: SocketAddr) -> Config {
        Config::parse(
            &format!(
                "collector_id = \"hq-1\"\nstate_dir = {:?}\n[api]\nlisten = \"{listen}\"\nviewer_token = \"v-secret\"\n",
                dir.display().to_string()
            ),
            "t.toml",
        )
        .unwrap()
    }

    async fn record(rules: &Runtime, seqs: std::ops::RangeInclusive<u64>) {
        rules
            .apply_group(|group| {
                let info = BatchInfo {
                    store: "s1",
                    agent: "a1",
                    historical: false,
                    sent_ms: 0,
                };
                for seq in seqs {
                    let event = store_proto::Event {
                        seq,
                        device_id: "till,1".into(),
                        wall_time_ms: seq as i64 * 1000,
                        body: Some(store_proto::Body::FootTraffic(Default::default())),
                        ..Default::default()
                    };
                    group.apply(info, &event);
                }
                Changes::default()
            })
            .await
            .unwrap();
    }

    fn request(format: Format) -> Request {
        Request {
            store: "s1".into(),
            from: Some("2000".into()),
            to: Some("1970-01-01T00:00:05Z".into()),
            kind: None,
            format,
        }
    }

    /// The same bytes from the database (collector stopped) and from the API (collector running,
    /// holding the database's lock).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_the_database_when_free_and_the_api_when_locked() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = config(dir.path(), listener.local_addr().unwrap());
        let missing = export(&config, &request(Format::Csv), &mut Vec::new());
        assert!(
            matches!(missing, Err(CliError::NoDatabase(_))),
            "{missing:?}"
        );
        {
            let (db, _) = Db::open(&config.state_dir.join("state")).unwrap();
            let (outputs, _) = tokio::sync::mpsc::unbounded_channel();
            let rules = Runtime::open(&config, Arc::new(db), outputs).unwrap();
            record(&rules, 1..=6).await;
        }
        let offline = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let source = export(&config, &request(Format::Csv), &mut out).unwrap();
                (source, String::from_utf8(out).unwrap())
            })
            .await
            .unwrap()
        };
        assert_eq!(offline.0, Source::Database);
        let lines: Vec<&str> = offline.1.split("\r\n").collect();
        assert_eq!(lines.len(), 1 + 3 + 1, "{}", offline.1);
        assert!(lines[1].starts_with("s1,a1,2,\"till,1\",foot_traffic,"));

        // Now "running": this process holds the database, and serves the API.
        let (db, state) = Db::open(&config.state_dir.join("state")).unwrap();
        let (outputs, _) = tokio::sync::mpsc::unbounded_channel();
        let db = Arc::new(db);
        let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
        let (commands, _) = crate::command::Commands::open(db, &config).unwrap();
        let api = ApiState {
            commands,
            backups: Arc::new(crate::backup::Backups::new("hq-1", &config.state_dir)),
            shared: Arc::new(Mutex::new(Live {
                state,
                ..Default::default()
            })),
            rules,
            tokens: Tokens {
                operator: None,
                viewer: Some(Arc::from("v-secret")),
                ..Default::default()
            },
        };
        let server = tokio::spawn(async move {
            axum::serve(listener, routes(api)).await.unwrap();
        });
        let online = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let source = export(&config, &request(Format::Csv), &mut out).unwrap();
            let mut jsonl = Vec::new();
            export(&config, &request(Format::Jsonl), &mut jsonl).unwrap();
            (source, String::from_utf8(out).unwrap(), jsonl)
        })
        .await
        .unwrap();
        server.abort();
        assert_eq!(online.0, Source::Api);
        assert_eq!(online.1, offline.1);
        assert_eq!(String::from_utf8(online.2).unwrap().lines().count(), 3);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("2025-12-01T14:00:00+01:00"),
            "2025-12-01T14%3A00%3A00%2B01%3A00"
        );
        assert_eq!(encode("a&b=c d"), "a%26b%3Dc%20d");
    }
}
