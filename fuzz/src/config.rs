//! The agent's and the collector's config loaders (`AgentConfig::parse`, `Config::parse`):
//! TOML text in, a checked config or an error that says where out. Two targets share this
//! module: `agent_config` and `collector_config`.
//!
//! Input: the file's bytes (lossy UTF-8: a file that is not UTF-8 fails to read before this).
//!
//! Asserted besides "no panic": the parse is deterministic; an error names the file; the line
//! it names, if any, is a line of the file; an error without a line names a key; the rendered
//! message starts with the file and, when there is one, its line.

use store_runtime::locate::KeyError;

/// The file name errors must carry.
pub const FILE: &str = "fuzzed.toml";

/// `agent_config`: one fuzz input.
pub fn run_agent(data: &[u8]) {
    use store_agent::config::{AgentConfig, ConfigError};
    let text = String::from_utf8_lossy(data);
    match (
        AgentConfig::parse(&text, FILE),
        AgentConfig::parse(&text, FILE),
    ) {
        (Ok(_), Ok(_)) => {}
        (Err(ConfigError::Invalid(e)), Err(ConfigError::Invalid(e2))) => {
            assert_eq!(e, e2, "not deterministic");
            check(&text, &e);
        }
        (a, b) => panic!("not deterministic, or a read error without reading: {a:?} / {b:?}"),
    }
}

/// `collector_config`: one fuzz input.
pub fn run_collector(data: &[u8]) {
    use store_collector::config::{Config, ConfigError};
    let text = String::from_utf8_lossy(data);
    match (Config::parse(&text, FILE), Config::parse(&text, FILE)) {
        (Ok(_), Ok(_)) => {}
        (Err(ConfigError::Invalid(e)), Err(ConfigError::Invalid(e2))) => {
            assert_eq!(e, e2, "not deterministic");
            check(&text, &e);
        }
        (a, b) => panic!("not deterministic, or a read error without reading: {a:?} / {b:?}"),
    }
}

fn check(text: &str, e: &KeyError) {
    let rendered = e.to_string();
    assert_eq!(e.file, FILE, "{rendered}");
    assert!(!e.message.is_empty(), "{rendered}");
    let lines = text.split('\n').count();
    match e.line {
        Some(line) => {
            assert!(
                (1..=lines).contains(&line),
                "line {line} of {lines}: {rendered}"
            );
            assert!(
                rendered.starts_with(&format!("{FILE}:{line}: ")),
                "{rendered}"
            );
        }
        None => {
            assert!(!e.key.is_empty(), "neither line nor key: {rendered}");
            assert!(rendered.starts_with(&format!("{FILE}: ")), "{rendered}");
        }
    }
}
