//! Unit tests of the config: defaults, error texts with line and key, the shipped examples.

use super::mqtt::default_max_packet_bytes;
use super::*;

fn err(text: &str) -> String {
    Config::parse(text, "config/collector.toml")
        .expect_err("config should be rejected")
        .to_string()
}

const MINIMAL: &str = "collector_id = \"hq-1\"\nstate_dir = \"/tmp/x\"\n";

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.collector_id, "hq-1");
    assert!(c.stores.is_empty());
    assert_eq!(c.mqtt.host, "127.0.0.1");
    assert_eq!(c.mqtt.port, 1883);
    assert_eq!(c.mqtt_client_id(), "store-collector-hq-1");
    assert_eq!(c.mqtt.keep_alive_secs, 30);
    assert_eq!(
        (c.mqtt.reconnect_min_ms, c.mqtt.reconnect_max_ms),
        (250, 30_000)
    );
    assert_eq!(c.ack.interval_ms, 200);
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.mqtt.max_packet_bytes, 32 * 1024 * 1024);
    assert_eq!(
        (
            c.ingest.max_seq_ahead,
            c.ingest.max_ranges_per_agent,
            c.ingest.max_stores
        ),
        (100_000_000, 1024, 20_000)
    );
    assert!(c.embedded_broker.is_none());
    let c = Config::parse(&format!("{MINIMAL}[embedded_broker]\n"), "t.toml").unwrap();
    assert_eq!(
        c.embedded_broker.unwrap().listen.to_string(),
        "127.0.0.1:1883"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let text = format!("{MINIMAL}\n[mqtt]\nhost = \"broker\"\n\nport = \"x\"\n");
    assert_eq!(
        err(&text),
        "config/collector.toml:7: mqtt.port: invalid type: string \"x\", expected u16"
    );
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = format!("{MINIMAL}[ack]\ninterval_msec = 5\n");
    let e = err(&text);
    assert!(
        e.starts_with("config/collector.toml:4: ack.interval_msec: unknown field `interval_msec`"),
        "{e}"
    );
}

#[test]
fn inline_and_dotted_tables_name_the_key() {
    let text = format!("{MINIMAL}mqtt = {{ port = 99999 }}\n");
    assert_eq!(
        err(&text),
        "config/collector.toml:3: mqtt.port: invalid value: integer `99999`, expected u16"
    );
    let text = format!("{MINIMAL}api.listen = \"nowhere\"\n");
    let e = err(&text);
    assert!(
        e.starts_with("config/collector.toml:3: api.listen: "),
        "{e}"
    );
}

#[test]
fn missing_keys_are_named() {
    let e = err("state_dir = \"/x\"\n");
    assert_eq!(
        e,
        "config/collector.toml: collector_id: missing field `collector_id`"
    );
}

#[test]
fn commands_section_is_checked() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.commands.max_outstanding_per_agent, 100);
    assert_eq!(c.commands.max_publishes_per_sec, 50);
    assert_eq!(
        (c.commands.keep_commands, c.commands.keep_days),
        (100_000, 30)
    );
    let e = err(&format!("{MINIMAL}[commands]\nmax_publishes_per_sec = 0\n"));
    assert!(
        e.starts_with(
            "config/collector.toml:4: commands.max_publishes_per_sec: must be at least 1"
        ),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[commands]\nkeep_weeks = 2\n"));
    assert!(
        e.starts_with("config/collector.toml:4: commands.keep_weeks: unknown field"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[api]\ntoken_name = \"ops team\"\n"));
    assert!(
        e.starts_with("config/collector.toml:4: api.token_name: "),
        "{e}"
    );
}

#[test]
fn semantic_errors_name_line_and_key() {
    let e = err("state_dir = \"/x\"\n\ncollector_id = \"hq/1\"\n");
    assert!(
        e.starts_with("config/collector.toml:3: collector_id: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}stores = [\"s1\",\n  \"s+2\"]\n"));
    assert!(e.starts_with("config/collector.toml:4: stores.1: "), "{e}");
    let e = err(&format!(
        "{MINIMAL}[mqtt]\nreconnect_min_ms = 500\nreconnect_max_ms = 10\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:5: mqtt.reconnect_max_ms: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[mqtt]\npassword = \"p\"\n"));
    assert!(
        e.starts_with("config/collector.toml:4: mqtt.password: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[mqtt]\nmax_packet_bytes = 1000\n"));
    assert!(
        e.starts_with("config/collector.toml:4: mqtt.max_packet_bytes: "),
        "{e}"
    );
    let e = err(&format!(
        "{MINIMAL}[mqtt]\nmax_packet_bytes = 2000000\n[embedded_broker]\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:4: mqtt.max_packet_bytes: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[ingest]\nmax_ranges_per_agent = 0\n"));
    assert!(
        e.starts_with("config/collector.toml:4: ingest.max_ranges_per_agent: "),
        "{e}"
    );
    let e = err(&format!(
        "{MINIMAL}[api]\ntoken = \"t\"\nviewer_token = \"t\"\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:5: api.viewer_token: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}stores = [\"s 1\"]\n"));
    assert!(e.starts_with("config/collector.toml:3: stores.0: "), "{e}");
}

#[test]
fn plaintext_to_a_remote_broker_is_refused() {
    let text = format!("{MINIMAL}[mqtt]\nport = 1883\nhost = \"10.1.2.3\"\n");
    let e = err(&text);
    assert!(e.starts_with("config/collector.toml:5: mqtt.host: "), "{e}");
    assert!(e.contains("insecure_plaintext"), "{e}");
    let c = Config::parse(&format!("{text}insecure_plaintext = true\n"), "t.toml").unwrap();
    assert!(c.mqtt.insecure_plaintext);
    Config::parse(&format!("{text}tls = true\n"), "t.toml").unwrap();
    let e = err(&format!("{text}tls = true\ninsecure_plaintext = true\n"));
    assert!(
        e.starts_with("config/collector.toml:7: mqtt.insecure_plaintext: "),
        "{e}"
    );
    // The embedded broker: mqtt.host is unused, and TLS to it is a mistake.
    let e = err(&format!(
        "{MINIMAL}[mqtt]\ntls_ca_file = \"/ca.pem\"\n[embedded_broker]\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:4: mqtt.tls_ca_file: "),
        "{e}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let e = err(&format!("{MINIMAL}[mqtt]\nport = 1\nport = 2\n"));
    assert!(e.starts_with("config/collector.toml:5: mqtt.port: "), "{e}");
}

#[test]
fn history_section_has_defaults_and_names_bad_keys() {
    let c = Config::parse(MINIMAL, "c.toml").unwrap();
    assert!(c.history.enabled);
    assert_eq!(c.history.max_age_days, 90);
    assert_eq!(c.history.max_bytes, 2 << 30);
    let c = Config::parse(
        &format!("{MINIMAL}[history]\nenabled = false\nmax_bytes = 0\n"),
        "c.toml",
    )
    .unwrap();
    assert!(!c.history.enabled);
    assert_eq!(c.history.max_bytes, 0);
    for (line, key) in [
        ("max_age_days = 99999", "history.max_age_days: "),
        ("audit_max_age_days = 99999", "history.audit_max_age_days: "),
        ("prune_interval_secs = 0", "history.prune_interval_secs: "),
        ("max_age = 3", "history.max_age"),
        ("enabled = \"yes\"", "history.enabled: "),
    ] {
        let e = err(&format!("{MINIMAL}[history]\n{line}\n"));
        assert!(
            e.starts_with(&format!("config/collector.toml:4: {key}")),
            "{e}"
        );
    }
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.collector_id, "hq-1");
    assert_eq!(c.mqtt_client_id(), "store-collector-hq-1");
    // The example shows the defaults: if a default changes, the example must too.
    assert_eq!(c.ingest, default_ingest());
    assert_eq!(c.history, super::history::default_history());
    assert_eq!(c.commands, default_commands());
    assert_eq!(c.api.token_name, "operator");
    assert_eq!(c.mqtt.max_packet_bytes, default_max_packet_bytes());
    let profiles = c.profiles().unwrap();
    assert_eq!(
        profiles.get("any").rules,
        crate::rules::engine::profile::RulesConfig::default()
    );
}

#[test]
fn commented_tls_example_parses_with_the_coded_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let keys: String = text
        .lines()
        .skip_while(|l| *l != "[mqtt]")
        .take_while(|l| *l != "[ack]")
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                k == "tls" || k.starts_with("tls_") || k == "insecure_plaintext"
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(keys.lines().count(), 5, "{keys}");
    let c = Config::parse(&format!("{MINIMAL}[mqtt]\n{keys}"), "example")
        .unwrap_or_else(|e| panic!("{e}\n{keys}"));
    let d = default_mqtt();
    assert_eq!(
        (c.mqtt.tls, c.mqtt.insecure_plaintext),
        (d.tls, d.insecure_plaintext)
    );
    assert!(c.mqtt.tls_ca_file.is_some() && c.mqtt.tls_key_file.is_some());
}

#[test]
fn example_store_profile_parses_when_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let store: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [store."))
        .map(|l| format!("{}\n", l.trim_start_matches("# ")))
        .collect();
    assert!(!store.is_empty());
    let c = Config::parse(&format!("{text}\n{store}"), "example").unwrap_or_else(|e| panic!("{e}"));
    let p = c.profiles().unwrap();
    let s = p.get("store-0001");
    assert_eq!(s.region.as_str(), "north");
    // Europe/Berlin: 09:00Z on 2026-12-01 is 10:00, on 2026-07-01 11:00.
    assert_eq!(s.local_hour(1_796_115_600_000), 10);
    assert_eq!(s.local_hour(1_782_896_400_000), 11);
    assert_eq!(s.rules.staffing.min_staff, 3);
    assert_eq!(p.get("other").rules.staffing.min_staff, 2);
}

#[test]
fn example_deliver_block_parses_with_the_coded_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| *l != "# [[deliver.webhook]]")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = Config::parse(&format!("{MINIMAL}{block}"), "example")
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
    let (w, a) = (&c.deliver.webhook[0], &c.deliver.alertmanager[0]);
    assert_eq!((w.name.as_str(), a.name.as_str()), ("erp", "it-oncall"));
    assert_eq!(w.kinds, ["LOW", "OUT", "TRANSFER"]);
    // The example shows the defaults.
    let d = Config::parse(
        &format!(
            "{MINIMAL}[[deliver.webhook]]\nname = \"x\"\nurl = \"http://127.0.0.1/\"\nsecret_file = \"k\"\n"
        ),
        "t",
    )
    .unwrap();
    let d = &d.deliver.webhook[0];
    assert_eq!(w.send(), d.send());
    assert_eq!(a.send(), d.send());
    assert_eq!(a.resend_ms, 60_000);
    assert_eq!(w.min_severity.as_deref(), Some("info"));
}

#[test]
fn deliver_errors_name_line_and_key() {
    let hook = |body: &str| {
        format!("{MINIMAL}[[deliver.webhook]]\nname = \"erp\"\nsecret_file = \"k\"\n{body}")
    };
    assert_eq!(
        err(&hook("url = \"http://erp.example.com/in\"\n")),
        "config/collector.toml:6: deliver.webhook.0.url: plain http to erp.example.com crosses the \
         network in clear: use https, or set insecure_plaintext = true"
    );
    let ok = hook("url = \"http://erp.example.com/in\"\ninsecure_plaintext = true\n");
    assert!(Config::parse(&ok, "t").is_ok());
    let e = err(&hook(
        "url = \"https://erp/\"\nkinds = [\"LOW\", \"EMPTY\"]\n",
    ));
    assert!(
        e.starts_with("config/collector.toml:7: deliver.webhook.0.kinds: unknown alert kind \"EMPTY\" (known: LOW, OUT,"),
        "{e}"
    );
    let e = err(&hook("url = \"https://erp/\"\nmin_severity = \"high\"\n"));
    assert!(
        e.starts_with("config/collector.toml:7: deliver.webhook.0.min_severity:"),
        "{e}"
    );
    let e = err(&hook("url = \"https://erp/\"\nretry_max_ms = 10\n"));
    assert!(
        e.starts_with("config/collector.toml:7: deliver.webhook.0.retry_max_ms: 10 is less"),
        "{e}"
    );
    let e = err(&hook("url = \"ftp://erp/\"\n"));
    assert!(
        e.starts_with("config/collector.toml:6: deliver.webhook.0.url:"),
        "{e}"
    );
    let e = err(&hook("url = \"https://erp/\"\nsecret = \"inline\"\n"));
    assert!(
        e.starts_with("config/collector.toml:7: deliver.webhook.0.secret: unknown field"),
        "{e}"
    );
    let e = err(&format!(
        "{}[[deliver.alertmanager]]\nname = \"erp\"\nurl = \"http://127.0.0.1:9093\"\n",
        hook("url = \"https://erp/\"\n")
    ));
    assert!(
        e.contains("deliver.alertmanager.0.name: \"erp\" is used twice"),
        "{e}"
    );
    let e = err(&format!(
        "{MINIMAL}[[deliver.webhook]]\nname = \"erp\"\nurl = \"https://erp/\"\n"
    ));
    assert!(e.contains("secret_file"), "{e}");
}

#[test]
fn store_timezone_errors_name_line_and_key() {
    let e = err(&format!(
        "{MINIMAL}[store.s1]\nregion = \"north\"\ntimezone = \"Europe/Berlln\"\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:5: store.s1.timezone: "),
        "{e}"
    );
    assert!(e.contains("Europe/Berlln"), "{e}");
    let e = err(&format!(
        "{MINIMAL}[store.s1]\ntimezone = \"Europe/Berlin\"\nutc_offset_minutes = 60\n"
    ));
    assert!(
        e.starts_with("config/collector.toml:4: store.s1.timezone: "),
        "{e}"
    );
}

#[test]
fn example_postgres_block_parses_with_the_coded_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| *l != "# [postgres]")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c =
        Config::parse(&format!("{MINIMAL}{block}"), "example").unwrap_or_else(|e| panic!("{e}"));
    let pg = c.postgres.expect("[postgres] given");
    assert_eq!(
        pg,
        crate::config::PostgresConfig {
            password_file: Some("/etc/store-edge/postgres.password".into()),
            ..crate::config::PostgresConfig::with_defaults()
        }
    );
    // Off unless configured; an empty table takes every default.
    assert_eq!(Config::parse(MINIMAL, "x").unwrap().postgres, None);
    let c = Config::parse(&format!("{MINIMAL}[postgres]\n"), "x").unwrap();
    assert_eq!(
        c.postgres,
        Some(crate::config::PostgresConfig::with_defaults())
    );
}

#[test]
fn bad_postgres_keys_name_the_key() {
    for (body, key) in [
        ("batch_events = 0", "postgres.batch_events"),
        ("max_backlog_bytes = 10", "postgres.max_backlog_bytes"),
        ("host = \"\"", "postgres.host"),
        ("portt = 1", "portt"),
    ] {
        let err = Config::parse(&format!("{MINIMAL}[postgres]\n{body}\n"), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.toml:") && err.contains(key),
            "{body}: {err}"
        );
    }
}
