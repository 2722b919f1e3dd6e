//! Why a catalogue file was rejected: the file, the line and the field.

use std::path::PathBuf;

/// Why a catalogue file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: unknown catalogue format: the name must end in .csv or .toml", path.display())]
    Format { path: PathBuf },
    #[error("{}:{line}: {field}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// 1-based line of the offending value (or of its row or table).
        line: usize,
        /// Column or key name.
        field: String,
        message: String,
    },
}
