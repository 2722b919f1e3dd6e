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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

/// Distinguishes loaded catalogues, so the stock rules know when to re-check every position.
static GENERATION: AtomicU64 = AtomicU64::new(1);

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

/// Why a string is not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("{0:?} is not a GTIN: only digits are allowed")]
    NotDigits(String),
    #[error("{0:?} is not a GTIN: it has {1} digits (8, 12, 13 or 14 expected)")]
    Length(String, usize),
    #[error("{0:?} is not a GTIN: the check digit should be {1}")]
    CheckDigit(String, u32),
}

/// Normalises a GTIN-8/12/13/14 to 14 digits and verifies its check digit.
pub fn normalize_gtin(s: &str) -> Result<String, GtinError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinError::NotDigits(s.to_owned()));
    }
    if ![8, 12, 13, 14].contains(&s.len()) {
        return Err(GtinError::Length(s.to_owned(), s.len()));
    }
    let padded = format!("{s:0>14}");
    let expected = check_digit(&padded[..13]);
    if padded.as_bytes()[13] - b'0' != expected as u8 {
        return Err(GtinError::CheckDigit(s.to_owned(), expected));
    }
    Ok(padded)
}

/// GS1 mod-10 check digit of `data` (the digits before the check digit).
pub fn check_digit(data: &str) -> u32 {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

/// Pads an 8–14 digit string to 14 digits without checking it (for GTINs that a driver already
/// validated). `None` when it is not 8–14 digits.
pub fn pad_gtin(s: &str) -> Option<String> {
    let s = s.trim();
    ((8..=14).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{s:0>14}"))
}

/// The fields one catalogue row or table sets (`None` = not set there).
#[derive(Debug, Clone, Default, PartialEq)]
struct Fields {
    name: Option<String>,
    pack_size: Option<u32>,
    reorder_point: Option<f64>,
    lead_time_days: Option<f64>,
    service_level: Option<f64>,
    max_stock: Option<f64>,
}

impl Fields {
    /// `self` with the fields `over` sets replacing ours.
    fn overlaid(&self, over: &Fields) -> Fields {
        let derived = over.reorder_point.is_none()
            && (over.lead_time_days.is_some() || over.service_level.is_some());
        let fixed = over.reorder_point.is_some();
        Fields {
            name: over.name.clone().or_else(|| self.name.clone()),
            pack_size: over.pack_size.or(self.pack_size),
            reorder_point: if derived {
                None
            } else {
                over.reorder_point.or(self.reorder_point)
            },
            lead_time_days: over
                .lead_time_days
                .or(self.lead_time_days)
                .filter(|_| !fixed),
            service_level: over.service_level.or(self.service_level).filter(|_| !fixed),
            max_stock: over.max_stock.or(self.max_stock),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Entry {
    chain: Fields,
    stores: HashMap<String, Fields>,
}

/// One GTIN as it applies to one store (chain-wide entry with the store's overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedItem {
    /// 14 digits.
    pub gtin: String,
    pub name: String,
    /// Units per case; at least 1.
    pub pack_size: u32,
    /// Fixed reorder point; `None` means derive it from demand.
    pub reorder_point: Option<f64>,
    /// Supplier lead time; `None` means the rules' default.
    pub lead_time_days: Option<f64>,
    /// Cycle service level; `None` means the rules' default.
    pub service_level: Option<f64>,
    pub max_stock: Option<f64>,
}

/// The catalogue: chain-wide entries with per-store overrides, by 14-digit GTIN.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    items: HashMap<String, Entry>,
    /// 0 for the empty default catalogue, unique per loaded catalogue otherwise.
    generation: u64,
}

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

    fn with_items(items: HashMap<String, Entry>) -> Catalogue {
        Catalogue {
            items,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The item as it applies to `store`; `gtin` must be normalised (14 digits).
    pub fn item(&self, store: &str, gtin: &str) -> Option<ResolvedItem> {
        let entry = self.items.get(gtin)?;
        let fields = match entry.stores.get(store) {
            Some(over) => entry.chain.overlaid(over),
            None => entry.chain.clone(),
        };
        Some(ResolvedItem {
            gtin: gtin.to_owned(),
            name: fields.name.unwrap_or_default(),
            pack_size: fields.pack_size.unwrap_or(1).max(1),
            reorder_point: fields.reorder_point,
            lead_time_days: fields.lead_time_days,
            service_level: fields.service_level,
            max_stock: fields.max_stock,
        })
    }

    /// Number of GTINs.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Changes whenever a catalogue is loaded (0 for the empty default one).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

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

/// Checks one set of fields; `complete` when they are what a store ends up with (chain-wide row,
/// or chain-wide row with an override laid over it). Returns (field, message).
fn validate(f: &Fields, complete: bool) -> Result<(), (&'static str, String)> {
    if complete && f.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(("name", "required".to_owned()));
    }
    if f.pack_size == Some(0) {
        return Err(("pack_size", "must be at least 1".to_owned()));
    }
    let finite = |name: &'static str, v: Option<f64>, min: f64, strict: bool| match v {
        Some(x) if !x.is_finite() || x < min || (strict && x == min) => Err((
            name,
            format!(
                "{x} is out of range (must be {} {min})",
                if strict { ">" } else { ">=" }
            ),
        )),
        _ => Ok(()),
    };
    finite("reorder_point", f.reorder_point, 0.0, false)?;
    finite("lead_time_days", f.lead_time_days, 0.0, true)?;
    finite("max_stock", f.max_stock, 0.0, true)?;
    if let Some(sl) = f.service_level {
        if !(0.5..1.0).contains(&sl) {
            return Err((
                "service_level",
                format!("{sl} is out of range (0.5 ≤ service level < 1, e.g. 0.95)"),
            ));
        }
    }
    if f.reorder_point.is_some() && (f.lead_time_days.is_some() || f.service_level.is_some()) {
        return Err((
            "reorder_point",
            "give either a fixed reorder_point or lead_time_days/service_level, not both"
                .to_owned(),
        ));
    }
    if let (Some(rop), Some(max)) = (f.reorder_point, f.max_stock) {
        if max < rop {
            return Err((
                "max_stock",
                format!("{max} is below the reorder point {rop}"),
            ));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse_csv(Path::new("cat.csv"), text)
    }
    fn toml_(text: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse_toml(Path::new("cat.toml"), text)
    }
    fn invalid(e: CatalogueError) -> (usize, String, String) {
        match e {
            CatalogueError::Invalid {
                line,
                field,
                message,
                ..
            } => (line, field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn gtin_normalisation_and_check_digit() {
        // 4006381333931 is a well-known valid EAN-13; 96385074 a valid EAN-8;
        // 036000291452 a valid UPC-A.
        assert_eq!(normalize_gtin("4006381333931").unwrap(), "04006381333931");
        assert_eq!(normalize_gtin("96385074").unwrap(), "00000096385074");
        assert_eq!(normalize_gtin("036000291452").unwrap(), "00036000291452");
        assert_eq!(
            normalize_gtin("4006381333932"),
            Err(GtinError::CheckDigit("4006381333932".into(), 1))
        );
        assert!(matches!(
            normalize_gtin("12345"),
            Err(GtinError::Length(_, 5))
        ));
        assert!(matches!(
            normalize_gtin("40063813339x1"),
            Err(GtinError::NotDigits(_))
        ));
        assert_eq!(pad_gtin("96385074").as_deref(), Some("00000096385074"));
        assert_eq!(pad_gtin("1234567"), None);
    }

    const CSV: &str = "\u{feff}# chain catalogue\n\
        gtin,name,pack_size,reorder_point,lead_time_days,service_level,max_stock,store\n\
        4006381333931,\"Pens, blue\",12,50,,,200,\n\
        96385074,Milk 1l,6,,2,0.95,120,\n\
        \n\
        4006381333931,,,,3,0.9,,s1\n\
        96385074,,,30,,,,s2\n";

    #[test]
    fn csv_parses_with_quotes_overrides_and_resolution() {
        let c = csv(CSV).unwrap();
        assert_eq!(c.len(), 2);
        let pens = c.item("s9", "04006381333931").unwrap();
        assert_eq!(pens.name, "Pens, blue");
        assert_eq!(
            (pens.pack_size, pens.reorder_point, pens.max_stock),
            (12, Some(50.0), Some(200.0))
        );
        // s1 overrides lead time and service level: it switches to a derived reorder point.
        let pens1 = c.item("s1", "04006381333931").unwrap();
        assert_eq!(pens1.reorder_point, None);
        assert_eq!(
            (pens1.lead_time_days, pens1.service_level, pens1.max_stock),
            (Some(3.0), Some(0.9), Some(200.0))
        );
        let milk2 = c.item("s2", "00000096385074").unwrap();
        assert_eq!(milk2.reorder_point, Some(30.0));
        assert_eq!(
            milk2.lead_time_days, None,
            "the fixed override replaces the policy"
        );
        assert!(c.item("s1", "00000000000000").is_none());
        assert_ne!(c.generation(), Catalogue::default().generation());
    }

    #[test]
    fn csv_errors_name_line_and_field_and_reject_the_file() {
        let bad_check = CSV.replace("96385074,Milk", "96385075,Milk");
        let (line, field, msg) = invalid(csv(&bad_check).unwrap_err());
        assert_eq!((line, field.as_str()), (4, "gtin"), "{msg}");
        assert!(msg.contains("check digit should be 4"), "{msg}");

        let bad_num = CSV.replace(",0.95,120,", ",0.95,12o,");
        let (line, field, _) = invalid(csv(&bad_num).unwrap_err());
        assert_eq!((line, field.as_str()), (4, "max_stock"));

        let (line, field, _) = invalid(csv("gtin,colour\n").unwrap_err());
        assert_eq!((line, field.as_str()), (1, "colour"));

        let both = "gtin,name,reorder_point,lead_time_days\n96385074,Milk,10,2\n";
        let (line, field, _) = invalid(csv(both).unwrap_err());
        assert_eq!((line, field.as_str()), (2, "reorder_point"));

        let orphan = "gtin,name,store\n96385074,,s1\n";
        let (line, field, _) = invalid(csv(orphan).unwrap_err());
        assert_eq!((line, field.as_str()), (2, "store"));

        let dup = "gtin,name\n96385074,Milk\n00000096385074,Milk again\n";
        let (line, field, msg) = invalid(csv(dup).unwrap_err());
        assert_eq!((line, field.as_str()), (3, "gtin"), "{msg}");

        let sl = "gtin,name,service_level\n96385074,Milk,95\n";
        let (_, field, _) = invalid(csv(sl).unwrap_err());
        assert_eq!(field, "service_level");

        let quote = "gtin,name\n96385074,\"Milk\n";
        let (line, field, _) = invalid(csv(quote).unwrap_err());
        assert_eq!((line, field.as_str()), (2, "csv"));

        let e = csv(&bad_check).unwrap_err().to_string();
        assert!(e.starts_with("cat.csv:4: gtin: "), "{e}");
    }

    const TOML: &str = r#"
[[item]]
gtin = "4006381333931"
name = "Pens, blue"
pack_size = 12
reorder_point = 50
max_stock = 200

[item.stores.s1]
lead_time_days = 3
service_level = 0.9

[[item]]
gtin = "96385074"
name = "Milk 1l"
pack_size = 6
lead_time_days = 2
max_stock = 120
"#;

    #[test]
    fn toml_parses_with_overrides() {
        let c = toml_(TOML).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.item("s2", "04006381333931").unwrap().reorder_point,
            Some(50.0)
        );
        let s1 = c.item("s1", "04006381333931").unwrap();
        assert_eq!((s1.reorder_point, s1.service_level), (None, Some(0.9)));
        let milk = c.item("s1", "00000096385074").unwrap();
        assert_eq!((milk.pack_size, milk.service_level), (6, None));
    }

    #[test]
    fn toml_errors_name_line_and_field() {
        let bad = TOML.replace("\"96385074\"", "\"96385075\"");
        let (line, field, _) = invalid(toml_(&bad).unwrap_err());
        assert_eq!((line, field.as_str()), (14, "gtin"));

        let bad = TOML.replace("service_level = 0.9", "service_level = 1.5");
        let (line, field, _) = invalid(toml_(&bad).unwrap_err());
        assert_eq!((line, field.as_str()), (11, "stores.s1.service_level"));

        let bad = TOML.replace("max_stock = 120", "max_stock = -1");
        let (line, field, _) = invalid(toml_(&bad).unwrap_err());
        assert_eq!((line, field.as_str()), (18, "max_stock"));

        let bad = TOML.replace("pack_size = 6", "pack_sise = 6");
        let (line, field, msg) = invalid(toml_(&bad).unwrap_err());
        assert_eq!(field, "toml");
        assert!(msg.contains("pack_sise"), "{msg}");
        assert!((13..=18).contains(&line), "{line}");
    }

    #[test]
    fn load_picks_the_format_by_extension_and_examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let csv = Catalogue::load(&dir.join("catalogue.example.csv")).unwrap();
        let toml = Catalogue::load(&dir.join("catalogue.example.toml")).unwrap();
        assert!(!csv.is_empty());
        assert_eq!(
            csv.len(),
            toml.len(),
            "the two examples describe one catalogue"
        );
        for store in ["s1", "s2", "s3"] {
            for gtin in csv.items.keys() {
                assert_eq!(
                    csv.item(store, gtin),
                    toml.item(store, gtin),
                    "{store} {gtin}"
                );
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("cat.json");
        std::fs::write(&p, "{}").unwrap();
        assert!(matches!(
            Catalogue::load(&p),
            Err(CatalogueError::Format { .. })
        ));
        assert!(matches!(
            Catalogue::load(&tmp.path().join("missing.csv")),
            Err(CatalogueError::Io { .. })
        ));
    }
}
