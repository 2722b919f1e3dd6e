//! The CSV catalogue format (see the [`super`] docs for the columns and quoting).

use std::collections::HashMap;
use std::path::Path;

use super::error::CatalogueError;
use super::gtin::normalize_gtin;
use super::lookup::{validate, Catalogue, Entry, Fields};

const CSV_COLUMNS: [&str; 8] = [
    "gtin",
    "name",
    "pack_size",
    "reorder_point",
    "lead_time_days",
    "service_level",
    "max_stock",
    "store",
];

impl Catalogue {
    /// Parses CSV text; `path` only names the file in errors.
    pub fn parse_csv(path: &Path, text: &str) -> Result<Catalogue, CatalogueError> {
        let err = |line: usize, field: &str, message: String| CatalogueError::Invalid {
            path: path.to_owned(),
            line,
            field: field.to_owned(),
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut header: Option<Vec<String>> = None;
        let mut chain: HashMap<String, (usize, Fields)> = HashMap::new();
        let mut stores: Vec<(usize, String, String, Fields)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
                continue;
            }
            let cells = split_csv_line(raw).map_err(|m| err(line, "csv", m))?;
            let Some(cols) = &header else {
                let cols: Vec<String> = cells.iter().map(|c| c.to_ascii_lowercase()).collect();
                for c in &cols {
                    if !CSV_COLUMNS.contains(&c.as_str()) {
                        return Err(err(
                            line,
                            c,
                            format!("unknown column (known: {})", CSV_COLUMNS.join(", ")),
                        ));
                    }
                    if cols.iter().filter(|x| *x == c).count() > 1 {
                        return Err(err(line, c, "column appears twice".to_owned()));
                    }
                }
                if !cols.iter().any(|c| c == "gtin") {
                    return Err(err(
                        line,
                        "gtin",
                        "the header has no gtin column".to_owned(),
                    ));
                }
                header = Some(cols);
                continue;
            };
            if cells.len() != cols.len() {
                return Err(err(
                    line,
                    "csv",
                    format!("{} fields, the header has {}", cells.len(), cols.len()),
                ));
            }
            let cell = |name: &str| -> Option<&str> {
                cols.iter()
                    .position(|c| c == name)
                    .map(|i| cells[i].as_str())
                    .filter(|v| !v.is_empty())
            };
            let gtin = normalize_gtin(cell("gtin").unwrap_or(""))
                .map_err(|e| err(line, "gtin", e.to_string()))?;
            let mut fields = Fields {
                name: cell("name").map(str::to_owned),
                ..Fields::default()
            };
            if let Some(v) = cell("pack_size") {
                fields.pack_size =
                    Some(v.parse::<u32>().map_err(|_| {
                        err(line, "pack_size", format!("{v:?} is not a whole number"))
                    })?);
            }
            for (name, slot) in [
                ("reorder_point", &mut fields.reorder_point),
                ("lead_time_days", &mut fields.lead_time_days),
                ("service_level", &mut fields.service_level),
                ("max_stock", &mut fields.max_stock),
            ] {
                if let Some(v) = cell(name) {
                    *slot = Some(
                        v.parse::<f64>()
                            .map_err(|_| err(line, name, format!("{v:?} is not a number")))?,
                    );
                }
            }
            let store = cell("store").map(str::to_owned);
            validate(&fields, store.is_none()).map_err(|(f, m)| err(line, f, m))?;
            match store {
                None => {
                    if let Some((first, _)) = chain.get(&gtin) {
                        return Err(err(
                            line,
                            "gtin",
                            format!("{gtin} already has a chain-wide row on line {first}"),
                        ));
                    }
                    chain.insert(gtin, (line, fields));
                }
                Some(s) => stores.push((line, gtin, s, fields)),
            }
        }
        let mut items: HashMap<String, Entry> = chain
            .into_iter()
            .map(|(g, (_, chain))| {
                (
                    g,
                    Entry {
                        chain,
                        stores: HashMap::new(),
                    },
                )
            })
            .collect();
        for (line, gtin, store, fields) in stores {
            let Some(entry) = items.get_mut(&gtin) else {
                return Err(err(
                    line,
                    "store",
                    format!("override for {gtin} but no chain-wide row (empty store) for it"),
                ));
            };
            if entry.stores.contains_key(&store) {
                return Err(err(
                    line,
                    "store",
                    format!("{gtin} has a second override for store {store:?}"),
                ));
            }
            let merged = entry.chain.overlaid(&fields);
            validate(&merged, true).map_err(|(f, m)| err(line, f, m))?;
            entry.stores.insert(store, fields);
        }
        Ok(Catalogue::with_items(items))
    }
}

/// Splits one CSV line (RFC 4180 quoting, no embedded line breaks); unquoted cells are trimmed.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut cell = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                    None => return Err("unterminated quoted field".to_owned()),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    cells.push(cell);
                    return Ok(cells);
                }
                Some(',') => cells.push(cell),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        cells.push(cell.trim().to_owned());
                        return Ok(cells);
                    }
                    Some(',') => break,
                    Some('"') => return Err("quote inside an unquoted field".to_owned()),
                    Some(c) => cell.push(c),
                }
            }
            cells.push(cell.trim().to_owned());
        }
    }
}
