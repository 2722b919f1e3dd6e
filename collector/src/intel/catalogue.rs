//! The product catalogue HQ maintains (CSV or TOML). Placeholder: being implemented.
/// Catalogue placeholder.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {}
