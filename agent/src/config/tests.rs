//! Unit tests of the config: the shipped example (every commented driver too) and the errors.

use super::*;

const MINIMAL: &str = "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = \"/tmp/x\"\n";

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
    let c = AgentConfig::load(&path).unwrap();
    assert_eq!(c.drivers.len(), 1);
    assert_eq!(c.drivers[0].kind(), "line_feed");
}

#[test]
fn every_commented_driver_example_passes_check_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut kinds = Vec::new();
    // Each commented `[[drivers]]` block, uncommented (`# # ` lines stay comments).
    for block in text.split("\n# [[drivers]]\n").skip(1) {
        let body: String = block
            .lines()
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let config = format!("{MINIMAL}[[drivers]]\n{body}");
        let c = AgentConfig::parse(&config, "example").unwrap_or_else(|e| panic!("{e}\n{config}"));
        kinds.push(c.drivers[0].kind());
    }
    for kind in [
        "counter_push",
        "counter_poll",
        "counter_serial",
        "serial_scanner",
        "hid_pos_scanner",
        "wedge_scanner",
        "escpos_tap",
        "escpos_serial_tap",
        "poslog_folder",
    ] {
        assert!(kinds.contains(&kind), "{kind} example missing: {kinds:?}");
    }
}

#[test]
fn defaults_apply() {
    let c = AgentConfig::parse(MINIMAL, "a.toml").unwrap();
    assert_eq!(c.mqtt.port, 1883);
    assert_eq!(c.uplink.max_inflight, 32);
    assert_eq!(c.client_id(), "store-agent-s1-a1");
    assert_eq!(c.privacy, PrivacyConfig::default());
    assert_eq!(c.privacy.ids, IdPolicy::Pseudonymise);
    assert!(!c.privacy.send_raw_receipts);
}

#[test]
fn example_privacy_section_shows_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let c = AgentConfig::parse(&text, "example").unwrap();
    assert_eq!(c.privacy, PrivacyConfig::default());
    assert!(text.contains("\n[privacy]\n"), "documented in the example");
    let text = format!("{MINIMAL}[privacy]\nids = \"pseudonymize\"\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:5: privacy.ids:"), "{e}");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = format!("{MINIMAL}[mqtt]\nhost = \"x\"\nprot = 1\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:6: mqtt"), "{e}");
    assert!(e.contains("prot"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let text = format!("{MINIMAL}[uplink]\nmax_inflight = \"many\"\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:5: uplink.max_inflight:"), "{e}");
}

#[test]
fn unknown_driver_field_is_an_error() {
    let text = format!(
        "{MINIMAL}[[drivers]]\ntype = \"line_feed\"\nid = \"f\"\nlisten = \"127.0.0.1:1\"\nport = 3\n"
    );
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("agent.toml:") && e.contains("port"), "{e}");
}

#[test]
fn plaintext_to_a_remote_broker_is_refused() {
    let text = format!("{MINIMAL}[mqtt]\nport = 1883\nhost = \"hq.example\"\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:6: mqtt.host: "), "{e}");
    assert!(e.contains("insecure_plaintext"), "{e}");
    let c = AgentConfig::parse(&format!("{text}insecure_plaintext = true\n"), "a.toml").unwrap();
    assert!(c.mqtt.insecure_plaintext);
    let c =
        AgentConfig::parse(&format!("{text}tls_ca_file = \"/etc/ca.pem\"\n"), "a.toml").unwrap();
    assert!(c.mqtt.tls_files().enabled());
    for host in ["localhost", "127.0.0.2", "::1"] {
        let text = format!("{MINIMAL}[mqtt]\nhost = \"{host}\"\n");
        AgentConfig::parse(&text, "a.toml").unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    let text = format!("{MINIMAL}[mqtt]\ntls = true\ntls_key_file = \"/k.pem\"\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:6: mqtt.tls_key_file: "), "{e}");
}

#[test]
fn commented_tls_example_passes_check_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    // The commented `[mqtt]` keys, uncommented, on top of the minimal config; the documented
    // defaults are the coded ones.
    let keys: String = text
        .lines()
        .skip_while(|l| *l != "[mqtt]")
        .take_while(|l| *l != "[metrics]")
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                [
                    "host",
                    "port",
                    "tls",
                    "tls_ca_file",
                    "tls_cert_file",
                    "tls_key_file",
                    "insecure_plaintext",
                ]
                .contains(&k)
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        keys.contains("tls_ca_file") && keys.contains("insecure_plaintext"),
        "{keys}"
    );
    let c = AgentConfig::parse(&format!("{MINIMAL}[mqtt]\n{keys}"), "example")
        .unwrap_or_else(|e| panic!("{e}\n{keys}"));
    let d = MqttConfig::default();
    assert_eq!(
        (c.mqtt.tls, c.mqtt.insecure_plaintext),
        (d.tls, d.insecure_plaintext)
    );
    assert!(c.mqtt.tls_cert_file.is_some() && c.mqtt.tls_key_file.is_some());
}

#[test]
fn semantic_errors_name_the_key() {
    let text = "store_id = \"a/b\"\nagent_id = \"a1\"\nstate_dir = \"/tmp\"\n";
    let e = AgentConfig::parse(text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:1: store_id:"), "{e}");
    let text = format!("{MINIMAL}[uplink]\nmax_inflight = 0\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("agent.toml:5: uplink.max_inflight:"), "{e}");
    let text = format!("{MINIMAL}[journal]\nmax_bytes = 1000\nretain_max_bytes = 1000\n");
    let e = AgentConfig::parse(&text, "agent.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("agent.toml:6: journal.retain_max_bytes:"),
        "{e}"
    );
    // Unset, it follows a small budget instead of refusing it; 0 turns retention off.
    let text = format!("{MINIMAL}[journal]\nmax_bytes = 1000\n");
    let c = AgentConfig::parse(&text, "agent.toml").unwrap();
    assert_eq!(c.journal.retain_max_bytes(), 500);
    let text = format!("{MINIMAL}[journal]\nmax_bytes = 1000\nretain_max_bytes = 0\n");
    let c = AgentConfig::parse(&text, "agent.toml").unwrap();
    assert_eq!(c.journal.retain_max_bytes(), 0);
}
