//! Configuration of the `poslog_folder` driver.

use std::path::PathBuf;

use serde::Deserialize;

/// `[[drivers]] type = "poslog_folder"`: a folder where POS software drops NRF ARTS POSLog XML
/// files. Read files move to `done/` inside it, unreadable ones to `rejected/` (with a
/// `.reason` file beside them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosLogFolderConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// The drop folder. It must exist; `done/` and `rejected/` are created inside it.
    pub path: PathBuf,
    /// How often the folder is listed, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// A file is read once its size and modification time have stayed the same for this many
    /// milliseconds, so a file still being written is not read early. Keep it above the longest
    /// pause of the POS software while it writes a file.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// Larger files are rejected unread (a POSLog file holds a day at most).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
}

fn default_poll_interval_ms() -> u64 {
    1000
}

fn default_settle_ms() -> u64 {
    2000
}

fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: PosLogFolderConfig =
            toml::from_str("id = \"p\"\npath = \"/var/spool/poslog\"").unwrap();
        assert_eq!(c.path, PathBuf::from("/var/spool/poslog"));
        assert_eq!(
            (c.poll_interval_ms, c.settle_ms, c.max_file_bytes),
            (1000, 2000, 64 * 1024 * 1024)
        );
        assert!(toml::from_str::<PosLogFolderConfig>("id = \"p\"").is_err());
        assert!(
            toml::from_str::<PosLogFolderConfig>("id = \"p\"\npath = \"/x\"\nsettle = 1").is_err()
        );
    }
}
