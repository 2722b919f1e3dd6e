//! Secrets (broker password, API token) read from files, e.g. systemd credentials, so they
//! never sit in the config file itself.
//!
//! Surrounding whitespace is ignored: editors and `echo` add a trailing newline that was never
//! part of the secret. Both binaries read their secret files at start-up, so a wrong path is a
//! start-up error naming the key that points at it, not a connection that fails later with
//! "bad credentials".

use std::path::{Path, PathBuf};

/// A secret file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{key}: cannot read {}: {source}", path.display())]
pub struct SecretError {
    /// The config key naming the file, e.g. `mqtt.password_file`.
    pub key: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The secret in `path` (named by config key `key`), without surrounding whitespace.
pub fn read_secret(key: &'static str, path: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError {
        key,
        path: path.to_owned(),
        source,
    })?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(read_secret("mqtt.password_file", &path).unwrap(), "s3cret");
        std::fs::write(&path, "  with inner space \r\n").unwrap();
        assert_eq!(
            read_secret("mqtt.password_file", &path).unwrap(),
            "with inner space"
        );
    }

    #[test]
    fn missing_file_names_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let e = read_secret("api.token_file", &path).unwrap_err();
        assert_eq!(e.key, "api.token_file");
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("api.token_file: cannot read {}: ", path.display())),
            "{shown}"
        );
    }

    #[test]
    fn a_directory_is_an_error_not_an_empty_secret() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_secret("mqtt.password_file", dir.path()).unwrap_err();
        assert!(e.to_string().starts_with("mqtt.password_file: "), "{e}");
    }
}
