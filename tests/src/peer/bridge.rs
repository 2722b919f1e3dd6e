//! The peer's broker configs: the store's Mosquitto (persistence, bridged to HQ) and HQ's.
//!
//! Both keep every QoS 1 message they accept (`max_queued_messages 0`, no in-flight limit), like
//! the harness's broker (see [`crate::mosquitto`]), so neither drops what the other is owed. The
//! bridge uses a persistent session (`cleansession false`), so what it has not forwarded survives
//! a restart of either side. The two settings compared differ only in when the store's broker
//! writes its database: [`Durability`].

use std::path::Path;

/// When the store's broker saves its in-memory database to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `autosave_interval 1`: every second (a crash loses up to a second of PUBACKed events).
    EverySecond,
    /// `autosave_interval 1` with `autosave_on_changes true`: after every change, the most
    /// durable setting Mosquitto has (each save rewrites the whole database).
    EveryChange,
}

impl Durability {
    /// Short name used in measurement names.
    pub fn name(self) -> &'static str {
        match self {
            Durability::EverySecond => "autosave 1 s",
            Durability::EveryChange => "autosave on changes",
        }
    }

    fn lines(self) -> &'static str {
        match self {
            Durability::EverySecond => "autosave_interval 1\n",
            Durability::EveryChange => "autosave_interval 1\nautosave_on_changes true\n",
        }
    }
}

/// The store's broker: a `127.0.0.1:port` listener, persistence in `persistence_dir`, and a
/// bridge forwarding `bench/#` at QoS 1 to `127.0.0.1:central_port`.
pub fn local_config(
    port: u16,
    persistence_dir: &Path,
    log_file: &Path,
    central_port: u16,
    durability: Durability,
) -> String {
    let mut c = format!(
        "# Written by the store-edge bench: the store's broker, bridged to HQ.\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence true\n\
         persistence_location {}/\n\
         {}\
         max_queued_messages 0\n\
         max_inflight_messages 0\n\
         log_dest file {}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         connection_messages true\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n\
         \n\
         connection hq\n\
         address 127.0.0.1:{central_port}\n\
         clientid bench-store-1-bridge\n\
         cleansession false\n\
         bridge_protocol_version mqttv311\n\
         topic bench/# out 1\n",
        persistence_dir.display(),
        durability.lines(),
        log_file.display(),
    );
    if crate::mosquitto::is_root() {
        c.push_str("user root\n");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(c: &str) -> Vec<&str> {
        c.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn bridge_forwards_at_qos1_with_a_persistent_session() {
        let c = local_config(
            1883,
            Path::new("/t/p"),
            Path::new("/t/l.log"),
            1999,
            Durability::EverySecond,
        );
        let k = keys(&c);
        for line in [
            "listener 1883 127.0.0.1",
            "persistence true",
            "persistence_location /t/p/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "connection hq",
            "address 127.0.0.1:1999",
            "cleansession false",
            "topic bench/# out 1",
        ] {
            assert!(k.contains(&line), "{line:?} missing in:\n{c}");
        }
        assert!(!c.contains("autosave_on_changes"), "{c}");
        // The bridge's keys must follow its `connection` line, or Mosquitto rejects them.
        let conn = c.find("connection hq").unwrap();
        assert!(c.find("topic bench/#").unwrap() > conn);
        assert!(c.find("persistence true").unwrap() < conn);
    }

    #[test]
    fn every_change_saves_on_changes() {
        let c = local_config(
            1,
            Path::new("/p"),
            Path::new("/l"),
            2,
            Durability::EveryChange,
        );
        let k = keys(&c);
        assert!(k.contains(&"autosave_interval 1"));
        assert!(k.contains(&"autosave_on_changes true"));
        let conn = c.find("connection hq").unwrap();
        assert!(c.find("autosave_on_changes").unwrap() < conn);
    }
}
