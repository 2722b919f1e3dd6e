//! The PostgreSQL sink against a real PostgreSQL (a temporary cluster from the Debian package's
//! `initdb`, on a free loopback port, run as the `postgres` user when the test runs as root) and
//! a real Mosquitto: migrations, exactly once across SIGKILLs of the collector and a restart of
//! PostgreSQL, the same hourly KPIs as the API, and (with `STORE_PGSINK_BENCH=1`) the sink's
//! throughput. Skipped with a note when PostgreSQL or Mosquitto is not installed
//! (`scripts/test.sh` installs both).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, QoS};
use serde_json::Value;
use store_collector::config::PostgresConfig;
use store_collector::pgsink::{migrations, writer, Feed, FeedEntry, FeedEvent};
use store_proto::v1::{FootTraffic, PosTransaction, Scan, TransactionKind};
use store_proto::{Body, Event as StoreEvent, EventBatch};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// The role `initdb` makes the superuser, and the collector's login.
const ROLE: &str = "store_collector";
const DBNAME: &str = "store_edge";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// Sends `signal` (e.g. `-KILL`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `timeout` for `child` to exit; SIGKILLs it past that.
fn reap(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(dir: &Path) -> (Guard, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
        ),
    )
    .unwrap();
    let child = Command::new(MOSQUITTO)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let guard = Guard(child);
    wait_for_port(port);
    (guard, port)
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/{version}/bin`).
fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn id_of(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("id output")
}

/// A temporary PostgreSQL cluster. PostgreSQL refuses to run as root, so under root (CI) it runs
/// as the `postgres` user the package creates; otherwise as the caller.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl Postgres {
    /// `initdb` in `dir` (None: PostgreSQL is not installed).
    fn init(dir: &Path) -> Option<Postgres> {
        let bin = pg_bin()?;
        let owner =
            (id_of(&["-u"]) == 0).then(|| (id_of(&["-u", "postgres"]), id_of(&["-g", "postgres"])));
        let data = dir.join("pgdata");
        let sockets = dir.join("pgsock");
        std::fs::create_dir_all(&sockets).unwrap();
        if let Some((uid, gid)) = owner {
            use std::os::unix::fs::PermissionsExt;
            // The postgres user must reach its directories inside the test's.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::create_dir_all(&data).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&sockets, Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = owner {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Postgres {
            bin,
            data,
            sockets,
            log: dir.join("postgres.log"),
            port: free_port(),
            owner,
            child: None,
        })
    }

    /// Starts the server and waits until it accepts connections.
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.sockets)
            // Loopback only; fsync off: the test kills processes, it does not cut power.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        self.child = Some(cmd.spawn().expect("start postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "PostgreSQL did not start; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT: open transactions are rolled back), waits for the exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-INT");
            reap(&mut child, Duration::from_secs(20));
        }
    }

    fn sink_config(&self) -> PostgresConfig {
        PostgresConfig {
            port: self.port,
            ..PostgresConfig::with_defaults()
        }
    }

    async fn client(&self, dbname: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(ROLE)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(10))
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    async fn create_db(&self) {
        self.client("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {DBNAME}"))
            .await
            .unwrap();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown: the server takes its backends down with it.
            signal(child.id(), "-QUIT");
            reap(&mut child, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- postgres log ---\n{log}");
        }
    }
}

/// PostgreSQL and Mosquitto, or a note saying why the test is skipped.
fn prerequisites(need_mosquitto: bool) -> bool {
    if pg_bin().is_none() {
        eprintln!("SKIPPED: PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)");
        return false;
    }
    if need_mosquitto && !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_versioned_and_idempotent() {
    if !prerequisites(false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pg = Postgres::init(dir.path()).unwrap();
    pg.start();
    pg.create_db().await;
    let mut client = pg.client(DBNAME).await;
    let all: Vec<i32> = migrations::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(migrations::migrate(&mut client).await.unwrap(), all);
    // Run again: nothing to do, nothing run twice.
    assert!(migrations::migrate(&mut client).await.unwrap().is_empty());
    let rows = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let recorded: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(recorded, all);
    for table in [
        "events",
        "alert_states",
        "signals",
        "kpi_hourly",
        "sink_progress",
        "kpi_hourly_ratios",
    ] {
        client
            .query(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // A schema from a newer collector is refused, not written with older assumptions.
    client
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')",
            &[&(migrations::latest() + 1)],
        )
        .await
        .unwrap();
    let err = migrations::migrate(&mut client).await.unwrap_err();
    assert!(
        matches!(err, migrations::MigrateError::Newer { .. }),
        "{err}"
    );
}

struct Collector {
    child: Guard,
    api: SocketAddr,
    log: PathBuf,
}

impl Drop for Collector {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!(
                "--- store-collector log ({}) ---\n{log}",
                self.log.display()
            );
        }
    }
}

fn start_collector(config: &Path, api_port: u16) -> Collector {
    let log = config.with_extension("log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_store-collector"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start store-collector");
    let collector = Collector {
        child: Guard(child),
        api: SocketAddr::from(([127, 0, 0, 1], api_port)),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some((200, _)) = http_get(collector.api, "/healthz") {
            return collector;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("collector API did not come up");
}

fn kill_collector(mut collector: Collector, sig: &str) {
    signal(collector.child.0.id(), sig);
    reap(&mut collector.child.0, Duration::from_secs(20));
}

/// Minimal HTTP/1.1 GET: (status, body).
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn applied_total(api: SocketAddr) -> Option<u64> {
    let (_, body) = http_get(api, "/v1/stats")?;
    serde_json::from_str::<Value>(&body).ok()?["applied_total"].as_u64()
}

/// One sample of `/metrics` (`name` without labels).
fn metric(api: SocketAddr, name: &str) -> Option<f64> {
    let (_, body) = http_get(api, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `secs`.
async fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const PER_BATCH: u64 = 50;

/// Event `seq` of a store: a sale, a people-counter interval or a scan, at `wall_ms`.
fn event(seq: u64, wall_ms: i64) -> StoreEvent {
    let body = match seq % 4 {
        0 => Body::FootTraffic(FootTraffic {
            entries: 3,
            exits: 2,
            interval_start_ms: wall_ms,
            interval_end_ms: wall_ms + 60_000,
            ..Default::default()
        }),
        1 => Body::PosTransaction(PosTransaction {
            register_id: "r1".into(),
            receipt_id: format!("rc{seq}"),
            kind: TransactionKind::Sale as i32,
            total_minor: 1000 + (seq % 7) as i64,
            ..Default::default()
        }),
        _ => Body::Scan(Scan {
            data: "04012345678901".into(),
            ..Default::default()
        }),
    };
    StoreEvent {
        seq,
        device_id: "d1".into(),
        wall_time_ms: wall_ms,
        clock_synced: true,
        body: Some(body),
        ..Default::default()
    }
}

/// Publishes `batches` batches of `store`/`agent`, events spread over the last three hours.
async fn publish(client: &AsyncClient, store: &str, agent: &str, batches: u64, now_ms: i64) {
    let total = batches * PER_BATCH;
    let span = 3 * 3_600_000i64;
    for b in 0..batches {
        let first = b * PER_BATCH + 1;
        let events = (first..first + PER_BATCH)
            .map(|seq| event(seq, now_ms - span + span * seq as i64 / total as i64))
            .collect();
        let payload = EventBatch {
            store_id: store.into(),
            agent_id: agent.into(),
            events,
            sent_wall_time_ms: now_ms,
            ..Default::default()
        }
        .encode_to_vec();
        client
            .publish(
                format!("stores/{store}/agents/{agent}/events"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
    }
}

/// A publisher whose event loop runs on its own task, counting PUBACKs: the broker holds a batch
/// for the collector's persistent session once it acknowledged it.
async fn publisher(port: u16) -> (AsyncClient, Arc<std::sync::atomic::AtomicU64>) {
    let mut opts = MqttOptions::new("pg-test-agent", "127.0.0.1", port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = acked.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    (client, acked)
}

/// Date label `YYYY-MM-DD` of a UTC day.
fn date(ms: i64) -> String {
    store_collector::history::time::format_ms(ms)[..10].to_owned()
}

/// Every hourly counter `kpi_hourly` stores, by the API's name (hours where the table keeps
/// minutes).
const KPI_FIELDS: [&str; 13] = [
    "entries",
    "transactions",
    "returns",
    "voids",
    "sales_minor",
    "returns_minor",
    "units",
    "stockout_hours",
    "understaffed_hours",
    "overstaffed_hours",
    "alerts_raised",
    "alerts_acknowledged",
    "alerts_resolved",
];

/// An hour's counters in [`KPI_FIELDS`] order, as text so that rows compare exactly.
type KpiRow = Vec<String>;

/// Hourly KPI rows of `store` from the API, hours with any non-zero counter: period → counters.
fn api_kpis(api: SocketAddr, store: &str, now_ms: i64) -> BTreeMap<String, KpiRow> {
    let path = format!(
        "/v1/kpis?scope=store&id={store}&granularity=hour&from={}&to={}",
        date(now_ms - 86_400_000),
        date(now_ms)
    );
    let (status, body) = http_get(api, &path).expect("kpis");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let row = KPI_FIELDS
                .iter()
                .map(|k| format!("{:.6}", r[*k].as_f64().unwrap_or(0.0)))
                .collect();
            (r["period"].as_str().unwrap().to_owned(), row)
        })
        .filter(|(_, row)| !all_zero(row))
        .collect()
}

fn all_zero(row: &KpiRow) -> bool {
    row.iter().all(|v| v.parse::<f64>() == Ok(0.0))
}

/// Events flow agent batches → Mosquitto → collector → PostgreSQL while the collector is
/// SIGKILLed several times and PostgreSQL is shut down and started again: ingest goes on during
/// the outage, and PostgreSQL ends up with every applied event exactly once and the API's KPIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_once_across_collector_kills_and_a_postgres_restart() {
    if !prerequisites(true) {
        return;
    }
    const BATCHES: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, mqtt_port) = start_mosquitto(dir.path());
    let mut pg = Postgres::init(dir.path()).unwrap();
    pg.start();
    pg.create_db().await;
    let api_port = free_port();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "collector_id = \"hq-1\"\nstate_dir = \"{}\"\n[mqtt]\nport = {mqtt_port}\n[ack]\ninterval_ms = 50\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n[postgres]\nport = {}\nuser = \"{ROLE}\"\ndbname = \"{DBNAME}\"\nbatch_events = 700\ntimeout_secs = 5\nretry_max_ms = 500\n",
            dir.path().join("state-dir").display(),
            pg.port
        ),
    )
    .unwrap();
    let now_ms = store_collector::clock::now_ms();
    // The first run only creates the collector's persistent session: nothing published is lost.
    let collector = start_collector(&config, api_port);
    let (agent, acked) = publisher(mqtt_port).await;
    kill_collector(collector, "-TERM");

    // Store s1's events, with the collector SIGKILLed at arbitrary moments as it works.
    publish(&agent, "s1", "a1", BATCHES, now_ms).await;
    wait_until("the broker to hold s1's batches", 20, || {
        acked.load(std::sync::atomic::Ordering::Relaxed) == BATCHES
    })
    .await;
    for delay_ms in [150, 400, 50, 700] {
        let collector = start_collector(&config, api_port);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        eprintln!(
            "SIGKILL after {delay_ms} ms: applied {:?}, sink lag {:?}",
            applied_total(collector.api),
            metric(collector.api, "store_collector_pgsink_lag_entries")
        );
        kill_collector(collector, "-KILL");
    }

    // PostgreSQL goes away; store s2's events are applied all the same.
    let collector = start_collector(&config, api_port);
    pg.stop();
    publish(&agent, "s2", "a2", BATCHES, now_ms).await;
    let total = 2 * BATCHES * PER_BATCH;
    wait_until("every event applied while PostgreSQL is down", 40, || {
        applied_total(collector.api) == Some(total)
    })
    .await;
    let lag = metric(collector.api, "store_collector_pgsink_lag_entries").unwrap();
    assert!(lag > 0.0, "PostgreSQL is down, yet the sink reports no lag");
    assert_eq!(
        metric(collector.api, "store_collector_pgsink_connected"),
        Some(0.0)
    );
    // PostgreSQL is back; the collector is killed once more while the sink catches up.
    pg.start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill_collector(collector, "-KILL");
    let collector = start_collector(&config, api_port);
    wait_until("the sink to catch up", 40, || {
        metric(collector.api, "store_collector_pgsink_lag_entries") == Some(0.0)
            && metric(collector.api, "store_collector_pgsink_connected") == Some(1.0)
    })
    .await;
    assert_eq!(applied_total(collector.api), Some(total));
    assert_eq!(
        metric(collector.api, "store_collector_pgsink_lost_events_total"),
        Some(0.0)
    );

    let client = pg.client(DBNAME).await;
    for (store, agent) in [("s1", "a1"), ("s2", "a2")] {
        // The primary key rules out duplicates; count, min and max rule out gaps.
        let row = client
            .query_one(
                "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM events WHERE store = $1 AND agent = $2",
                &[&store, &agent],
            )
            .await
            .unwrap();
        let (count, min, max, distinct): (i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let n = (BATCHES * PER_BATCH) as i64;
        assert_eq!((count, min, max, distinct), (n, 1, n, n), "{store}/{agent}");
    }
    let kinds = client
        .query(
            "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind",
            &[],
        )
        .await
        .unwrap();
    let kinds: Vec<(String, i64)> = kinds.iter().map(|r| (r.get(0), r.get(1))).collect();
    let quarter = (total / 4) as i64;
    assert_eq!(
        kinds,
        [
            ("foot_traffic".to_owned(), quarter),
            ("pos_transaction".to_owned(), quarter),
            ("scan".to_owned(), 2 * quarter)
        ]
    );
    for store in ["s1", "s2"] {
        let rows = client
            .query(
                "SELECT to_char(hour_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00+00:00\"'),
                        entries::float8, transactions::float8, returns::float8, voids::float8,
                        sales_minor::float8, returns_minor::float8, units,
                        stockout_minutes / 60.0::float8, understaffed_minutes / 60.0::float8,
                        overstaffed_minutes / 60.0::float8, alerts_raised::float8,
                        alerts_acknowledged::float8, alerts_resolved::float8
                 FROM kpi_hourly WHERE store = $1 ORDER BY hour_start",
                &[&store],
            )
            .await
            .unwrap();
        let in_pg: BTreeMap<String, KpiRow> = rows
            .iter()
            .map(|r| {
                let row = (1..=KPI_FIELDS.len())
                    .map(|i| format!("{:.6}", r.get::<_, f64>(i)))
                    .collect();
                (r.get(0), row)
            })
            .filter(|(_, row)| !all_zero(row))
            .collect();
        let from_api = api_kpis(collector.api, store, now_ms);
        assert!(from_api.len() >= 3, "{store}: {from_api:?}");
        assert_eq!(in_pg, from_api, "{store}: kpi_hourly differs from the API");
    }
    kill_collector(collector, "-TERM");
    if std::env::var_os("STORE_PGSINK_KEEP").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
}

/// A feed of `n` events (groups of 500 from 10 stores) in a fresh sled database at `path`, all
/// committed.
fn prepared_feed(path: &Path, n: u64, now_ms: i64) -> Arc<Feed> {
    let db = sled::Config::new().path(path).open().unwrap();
    let tree = db.open_tree("feed").unwrap();
    let feed = Arc::new(Feed::open(tree.clone(), 1 << 40).unwrap());
    let mut seq = 0u64;
    while seq < n {
        let mut entry = FeedEntry {
            created_ms: now_ms,
            ..FeedEntry::default()
        };
        for _ in 0..500.min(n - seq) {
            seq += 1;
            entry.events.push(FeedEvent {
                store: format!("s{}", seq % 10),
                agent: "a1".into(),
                arrival_ms: now_ms,
                event: Some(event(seq, now_ms - (seq % 3_600_000) as i64)),
            });
        }
        let mut batch = sled::Batch::default();
        for (k, v) in feed.enqueue(&entry) {
            match v {
                Some(v) => batch.insert(k.as_bytes(), v),
                None => batch.remove(k.as_bytes()),
            }
        }
        tree.apply_batch(batch).unwrap();
    }
    feed.committed();
    feed
}

/// Runs the writer until `feed` has no lag (at most `secs`); returns how long it took.
async fn drain(config: PostgresConfig, feed: &Arc<Feed>, secs: u64) -> Duration {
    let started = Instant::now();
    let task = tokio::spawn(writer::run(config, None, feed.clone()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    while feed.lag_entries() > 0 {
        if Instant::now() > deadline {
            task.abort();
            panic!("the sink did not catch up in {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    task.abort();
    took
}

/// A second feed carrying events PostgreSQL already holds (a collector whose state was wiped,
/// refilled by its agents) fails the fast COPY on the key; the batch goes in again skipping
/// the known rows, and the sink moves on instead of stalling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_postgres_already_holds_add_nothing_and_do_not_stall() {
    if !prerequisites(false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pg = Postgres::init(dir.path()).unwrap();
    pg.start();
    pg.create_db().await;
    let now_ms = store_collector::clock::now_ms();
    let config = || PostgresConfig {
        dbname: DBNAME.into(),
        batch_events: 1000,
        ..pg.sink_config()
    };
    let first = prepared_feed(&dir.path().join("first"), 3000, now_ms);
    drain(config(), &first, 30).await;
    // The same 3000 events and 1000 more, under a new feed id.
    let second = prepared_feed(&dir.path().join("second"), 4000, now_ms);
    assert_ne!(first.id(), second.id());
    drain(config(), &second, 30).await;
    let client = pg.client(DBNAME).await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT (store, agent, seq)) FROM events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (4000, 4000));
    let marks = client
        .query("SELECT mark FROM sink_progress ORDER BY mark", &[])
        .await
        .unwrap();
    let marks: Vec<i64> = marks.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        marks,
        [6, 8],
        "one progress row per feed, each at its last entry"
    );
    assert_eq!(
        second
            .stats
            .events_written
            .load(std::sync::atomic::Ordering::Relaxed),
        1000,
        "only the new events count as written"
    );
}

/// Throughput of the writer from a prepared feed (`STORE_PGSINK_BENCH=1`; events with
/// `STORE_PGSINK_BENCH_EVENTS`, default 500000), against plain COPY of the same rows into a
/// table without a key as the baseline. Run with `--release --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_throughput() {
    if std::env::var_os("STORE_PGSINK_BENCH").is_none() {
        eprintln!("SKIPPED: set STORE_PGSINK_BENCH=1 to measure the sink's throughput");
        return;
    }
    if !prerequisites(false) {
        return;
    }
    let events: u64 = std::env::var("STORE_PGSINK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let dir = tempfile::tempdir().unwrap();
    let mut pg = Postgres::init(dir.path()).unwrap();
    pg.start();
    let now_ms = store_collector::clock::now_ms();
    let mut sink_rates = Vec::new();
    let mut copy_rates = Vec::new();
    for run in 0..3 {
        let dbname = format!("bench{run}");
        pg.client("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {dbname}"))
            .await
            .unwrap();
        // A feed like ingest makes it: groups of 500 events from 10 stores.
        let feed = prepared_feed(&dir.path().join(format!("sled{run}")), events, now_ms);
        let config = PostgresConfig {
            dbname: dbname.clone(),
            ..pg.sink_config()
        };
        let sink_secs = drain(config, &feed, 600).await.as_secs_f64();
        let client = pg.client(&dbname).await;
        let n: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n as u64, events);
        // Baseline: the same rows, rendered beforehand, COPYed straight into a table without
        // a key, in one transaction.
        client
            .batch_execute("CREATE TABLE plain (LIKE events)")
            .await
            .unwrap();
        let mut text = Vec::new();
        let mut entry = FeedEntry::default();
        for seq in 1..=events {
            entry.events.push(FeedEvent {
                store: format!("s{}", seq % 10),
                agent: "a1".into(),
                arrival_ms: now_ms,
                event: Some(event(seq, now_ms - (seq % 3_600_000) as i64)),
            });
        }
        store_collector::pgsink::rows::events_copy(&entry, &mut text);
        let started = Instant::now();
        {
            use futures_util::SinkExt;
            let sink = client
                .copy_in(&format!(
                    "COPY plain ({}) FROM STDIN",
                    store_collector::pgsink::rows::EVENT_COLUMNS
                ))
                .await
                .unwrap();
            futures_util::pin_mut!(sink);
            for chunk in text.chunks(1 << 20) {
                sink.send(std::io::Cursor::new(chunk.to_vec()))
                    .await
                    .unwrap();
            }
            sink.finish().await.unwrap();
        }
        let copy_secs = started.elapsed().as_secs_f64();
        let (sink_rate, copy_rate) = (events as f64 / sink_secs, events as f64 / copy_secs);
        eprintln!(
            "run {run}: sink {events} events in {sink_secs:.2} s = {sink_rate:.0} events/s; plain COPY {copy_secs:.2} s = {copy_rate:.0} events/s"
        );
        sink_rates.push(sink_rate);
        copy_rates.push(copy_rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (sink, copy) = (median(&mut sink_rates), median(&mut copy_rates));
    eprintln!(
        "median of 3: sink {sink:.0} events/s, plain COPY {copy:.0} events/s, ratio {:.2}",
        sink / copy
    );
}
