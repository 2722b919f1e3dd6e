//! The TOML catalogue format: `[[item]]` tables with `[item.stores.{store}]` overrides.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::error::CatalogueError;
use super::gtin::normalize_gtin;
use super::lookup::{validate, Catalogue, Entry, Fields};

impl Catalogue {
    /// Parses TOML text; `path` only names the file in errors.
    pub fn parse_toml(path: &Path, text: &str) -> Result<Catalogue, CatalogueError> {
        let err = |line: usize, field: &str, message: String| CatalogueError::Invalid {
            path: path.to_owned(),
            line,
            field: field.to_owned(),
            message,
        };
        let file: TomlFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            err(line, "toml", e.message().trim().to_owned())
        })?;
        let mut items = HashMap::new();
        let mut first_line = HashMap::new();
        for item in &file.item {
            let span = item.span();
            let item = item.get_ref();
            let gtin_line = line_of(text, item.gtin.span().start);
            let gtin = normalize_gtin(item.gtin.get_ref())
                .map_err(|e| err(gtin_line, "gtin", e.to_string()))?;
            if let Some(first) = first_line.insert(gtin.clone(), gtin_line) {
                return Err(err(
                    gtin_line,
                    "gtin",
                    format!("{gtin} already has an [[item]] on line {first}"),
                ));
            }
            let chain = Fields {
                name: item.name.clone(),
                pack_size: item.pack_size,
                reorder_point: item.reorder_point,
                lead_time_days: item.lead_time_days,
                service_level: item.service_level,
                max_stock: item.max_stock,
            };
            validate(&chain, true)
                .map_err(|(f, m)| err(field_line(text, span.clone(), f), f, m))?;
            let mut stores = HashMap::new();
            for (store, over) in &item.stores {
                let fields = over.get_ref().to_fields();
                let span = over.span();
                validate(&fields, false)
                    .and_then(|()| validate(&chain.overlaid(&fields), true))
                    .map_err(|(f, m)| {
                        err(
                            field_line(text, span.clone(), f),
                            &format!("stores.{store}.{f}"),
                            m,
                        )
                    })?;
                stores.insert(store.clone(), fields);
            }
            items.insert(gtin, Entry { chain, stores });
        }
        Ok(Catalogue::with_items(items))
    }
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Line of `key = …` in the table that starts at `span` (up to the next `[` header), or the
/// table's first line when the key is not written there. (The span of a table given by a
/// `[header]` covers only the header, so the body is found by reading on.)
fn field_line(text: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    let start = span.start.min(text.len());
    let mut offset = start;
    for (i, l) in text[start..].split_inclusive('\n').enumerate() {
        let t = l.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return line_of(text, offset);
        }
        offset += l.len();
    }
    line_of(text, start)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    item: Vec<toml::Spanned<TomlItem>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlItem {
    gtin: toml::Spanned<String>,
    name: Option<String>,
    pack_size: Option<u32>,
    reorder_point: Option<f64>,
    lead_time_days: Option<f64>,
    service_level: Option<f64>,
    max_stock: Option<f64>,
    #[serde(default)]
    stores: BTreeMap<String, toml::Spanned<TomlFields>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFields {
    name: Option<String>,
    pack_size: Option<u32>,
    reorder_point: Option<f64>,
    lead_time_days: Option<f64>,
    service_level: Option<f64>,
    max_stock: Option<f64>,
}

impl TomlFields {
    fn to_fields(&self) -> Fields {
        Fields {
            name: self.name.clone(),
            pack_size: self.pack_size,
            reorder_point: self.reorder_point,
            lead_time_days: self.lead_time_days,
            service_level: self.service_level,
            max_stock: self.max_stock,
        }
    }
}
