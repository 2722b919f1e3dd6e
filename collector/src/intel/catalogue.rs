//! The product catalogue HQ maintains (CSV or TOML). Placeholder: being implemented.
/// Catalogue placeholder.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {}

/// Why a catalogue file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CatalogueError(pub String);

impl Catalogue {
    /// Placeholder loader.
    pub fn load(_path: &std::path::Path) -> Result<Catalogue, CatalogueError> {
        Ok(Catalogue::default())
    }
}
