//! `check-config` of both binaries: the example configs shipped in `config/` and the configs the
//! harness writes are valid; a misspelt key or a wrong type is rejected with a message that names
//! the file, the line and the key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use store_tests::{bins, AgentConfig, CollectorConfig, TestEnv};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn check_config(bin: &Path, file: &Path) -> Output {
    Command::new(bin)
        .arg("check-config")
        .arg(file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("run {} check-config: {e}", bin.display()))
}

fn text(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_accepts(bin: &Path, file: &Path) {
    assert!(
        file.is_file(),
        "{} is missing (every example config is checked by this test)",
        file.display()
    );
    let out = check_config(bin, file);
    assert!(
        out.status.success(),
        "{} check-config {} should succeed:\n{}",
        bin.display(),
        file.display(),
        text(&out)
    );
}

/// One broken line in an otherwise valid config.
struct Edit<'a> {
    /// File name stem.
    name: &'a str,
    /// The line (a section header) after which `target` is searched.
    after: &'a str,
    /// Start of the line to replace.
    target: &'a str,
    replacement: &'a str,
    /// The key the error must name.
    key: &'a str,
}

/// Checks that `config` passes, then that it fails with `edit` applied, naming the file, the
/// edited line's number and the key.
fn assert_rejects_edit(bin: &Path, dir: &Path, config: &str, edit: Edit<'_>) {
    let Edit {
        name,
        after,
        target,
        replacement,
        key,
    } = edit;
    let good = dir.join(format!("{name}.good.toml"));
    std::fs::write(&good, config).unwrap();
    assert_accepts(bin, &good);

    let mut lines: Vec<String> = config.lines().map(str::to_string).collect();
    let section = lines
        .iter()
        .position(|l| l.trim() == after)
        .unwrap_or_else(|| panic!("no {after} in config"));
    let idx = section
        + 1
        + lines[section + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with(target))
            .unwrap_or_else(|| panic!("no {target} after {after}"));
    lines[idx] = replacement.to_string();
    let line_no = idx + 1;
    let bad = dir.join(format!("{name}.toml"));
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();

    let out = check_config(bin, &bad);
    let all = text(&out);
    assert!(
        !out.status.success(),
        "check-config accepted {name} (line {line_no}: {replacement}):\n{all}"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&bad.display().to_string()),
        "the error does not name the file {}:\n{all}",
        bad.display()
    );
    assert!(
        mentions_line(&said, line_no),
        "the error does not name line {line_no}:\n{all}"
    );
    assert!(
        said.contains(key),
        "the error does not name the key `{key}`:\n{all}"
    );
}

/// "line 12", "Line 12" or "file.toml:12".
fn mentions_line(text: &str, n: usize) -> bool {
    let lower = text.to_lowercase();
    lower.contains(&format!("line {n}"))
        || lower.contains(&format!("line: {n}"))
        || lower.contains(&format!(".toml:{n}"))
}

#[test]
fn example_configs_are_valid() {
    let root = repo_root();
    assert_accepts(&bins::agent(), &root.join("config/agent.example.toml"));
    assert_accepts(
        &bins::collector(),
        &root.join("config/collector.example.toml"),
    );
}

#[test]
fn agent_rejects_unknown_keys_and_wrong_types() {
    let env = TestEnv::new("agent_config");
    let bin = bins::agent();
    let cfg = AgentConfig::new(&env.subdir("agent"), 1883).to_toml();
    assert_rejects_edit(
        &bin,
        env.path(),
        &cfg,
        Edit {
            name: "agent-unknown-key",
            after: "[uplink]",
            target: "max_inflight",
            replacement: "max_inflihgt = 32",
            key: "max_inflihgt",
        },
    );
    assert_rejects_edit(
        &bin,
        env.path(),
        &cfg,
        Edit {
            name: "agent-unknown-top-level-key",
            after: "# Written by the store-edge test harness.",
            target: "agent_id",
            replacement: "agent_idd = \"agent-1\"",
            key: "agent_idd",
        },
    );
    assert_rejects_edit(
        &bin,
        env.path(),
        &cfg,
        Edit {
            name: "agent-wrong-type",
            after: "[mqtt]",
            target: "keep_alive_secs",
            replacement: "keep_alive_secs = \"five\"",
            key: "keep_alive_secs",
        },
    );
}

#[test]
fn collector_rejects_unknown_keys_and_wrong_types() {
    let env = TestEnv::new("collector_config");
    let bin = bins::collector();
    let cfg = CollectorConfig::new(&env.subdir("collector"), 1883).to_toml();
    assert_rejects_edit(
        &bin,
        env.path(),
        &cfg,
        Edit {
            name: "collector-unknown-key",
            after: "[ack]",
            target: "interval_ms",
            replacement: "intervall_ms = 100",
            key: "intervall_ms",
        },
    );
    assert_rejects_edit(
        &bin,
        env.path(),
        &cfg,
        Edit {
            name: "collector-wrong-type",
            after: "[mqtt]",
            target: "port",
            replacement: "port = \"1883\"",
            key: "port",
        },
    );
}

/// A broker off this machine without TLS is refused by both binaries' `check-config`, naming the
/// file, the line and `mqtt.host`; `insecure_plaintext = true` accepts it (with a warning), and
/// so does TLS.
#[test]
fn plaintext_to_a_remote_broker_is_refused() {
    let env = TestEnv::new("plaintext_remote");
    for (bin, name, cfg) in [
        (
            bins::agent(),
            "agent",
            AgentConfig::new(&env.subdir("agent"), 1883).to_toml(),
        ),
        (
            bins::collector(),
            "collector",
            CollectorConfig::new(&env.subdir("collector"), 1883).to_toml(),
        ),
    ] {
        for host in ["10.20.30.40", "mqtt.hq.example"] {
            assert_rejects_edit(
                &bin,
                env.path(),
                &cfg,
                Edit {
                    name: &format!("{name}-plaintext-{host}"),
                    after: "[mqtt]",
                    target: "host",
                    replacement: &format!("host = \"{host}\""),
                    key: "mqtt.host",
                },
            );
            let insecure = cfg
                .replace("host = \"127.0.0.1\"", &format!("host = \"{host}\""))
                .replace("[mqtt]\n", "[mqtt]\ninsecure_plaintext = true\n");
            assert!(insecure.contains(host) && insecure.contains("insecure_plaintext"));
            let file = env.path().join(format!("{name}-insecure-{host}.toml"));
            std::fs::write(&file, &insecure).unwrap();
            assert_accepts(&bin, &file);
            let out = check_config(&bin, &file);
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("insecure_plaintext"),
                "check-config should warn about insecure_plaintext:\n{}",
                text(&out)
            );
        }
        // TLS with a CA file that exists is accepted; a missing CA file names the key.
        let pki = store_tests::pki::Pki::new(&env.subdir(&format!("{name}-pki")), "hq");
        let tls = cfg
            .replace("host = \"127.0.0.1\"", "host = \"mqtt.hq.example\"")
            .replace(
                "[mqtt]\n",
                &format!("[mqtt]\n{}", store_tests::stack::tls_keys(&pki, None)),
            );
        let file = env.path().join(format!("{name}-tls.toml"));
        std::fs::write(&file, &tls).unwrap();
        assert_accepts(&bin, &file);
        let missing = tls.replace(&pki.ca_file.display().to_string(), "/nonexistent/ca.pem");
        let file = env.path().join(format!("{name}-tls-missing-ca.toml"));
        std::fs::write(&file, &missing).unwrap();
        let out = check_config(&bin, &file);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("mqtt.tls_ca_file"),
            "{}",
            text(&out)
        );
    }
}
