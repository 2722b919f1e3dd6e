//! The product catalogue HQ maintains: what each GTIN is, how it is packed, and how its reorder
//! point is found.
//!
//! One file, CSV or TOML (chosen by the extension, `.csv` or `.toml`). Per GTIN:
//!
//! - `gtin`: GTIN-8, -12, -13 or -14; normalised to 14 digits (left-padded with zeros) and its
//!   check digit verified (GS1 General Specifications: weights 3,1,3,… from the rightmost data
//!   digit, check = (10 − sum mod 10) mod 10);
//! - `name` (required on the chain-wide entry);
//! - `pack_size`: units per case as ordered from the supplier (default 1);
//! - either `reorder_point` (units, fixed), or `lead_time_days` and/or `service_level`, in which
//!   case the reorder point is derived from observed demand (see [`super::stock`]); giving both a
//!   fixed reorder point and a lead time or service level in one entry is an error, because it is
//!   not clear which one was meant;
//! - `max_stock`: the level an order fills up to (optional).
//!
//! Per-store overrides replace single fields for one store. In CSV they are rows with a `store`
//! column (an empty `store` is the chain-wide row, which must exist for every GTIN); in TOML they
//! are `[item.stores.{store}]` tables under an `[[item]]`. An override may switch the policy: one
//! that sets `reorder_point` gives that store a fixed reorder point even when the chain-wide
//! entry derives it, and one that sets `lead_time_days` or `service_level` (without a
//! `reorder_point`) switches that store to the derived reorder point.
//!
//! CSV: the first line that is neither blank nor a `#` comment is the header; columns may come in
//! any order, `gtin` is required, unknown columns are errors. Fields may be double-quoted (`""`
//! inside quotes is a quote); a quoted field cannot span lines. A UTF-8 byte-order mark is
//! skipped (spreadsheets write one).
//!
//! Errors name the file, the line and the field. A file with any error is rejected as a whole: a
//! catalogue that is half loaded would silently drop items (and their alerts), while rejecting it
//! keeps the last good catalogue in force on a reload until the file is fixed.
//!
//! Layout: [`gtin`] (normalisation, check digit), `lookup` (the loaded catalogue and per-store
//! resolution), one parser per format (`csv_file`, `toml_file`), `error`. This module only picks
//! the parser by extension.

use std::path::Path;

pub use self::error::CatalogueError;
pub use self::gtin::{check_digit, normalize_gtin, pad_gtin, GtinError};
pub use self::lookup::{Catalogue, ResolvedItem};

mod csv_file;
mod error;
pub mod gtin;
mod lookup;
mod toml_file;

impl Catalogue {
    /// Loads a `.csv` or `.toml` catalogue. Any error rejects the whole file.
    pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Io {
            path: path.to_owned(),
            source,
        })?;
        match ext.as_deref() {
            Some("csv") => Catalogue::parse_csv(path, &text),
            Some("toml") => Catalogue::parse_toml(path, &text),
            _ => Err(CatalogueError::Format {
                path: path.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
