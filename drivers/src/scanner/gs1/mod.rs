//! Decoding of what a barcode scanner sends: the AIM symbology identifier, GS1 element strings
//! (GS1-128, GS1 DataBar, GS1 DataMatrix, GS1 QR Code, GS1 DotCode) and the GTINs of EAN/UPC
//! and ITF-14 symbols, into one [`ScanDecode`] that says what was read and whether it is valid.
//!
//! ```text
//! raw bytes ──aim::split──▶ symbology + data
//!   GS1 id (]C1 ]e0 ]d2 ]Q3 ]J1 …), or no id and data starting with GS
//!       ──decode::parse──▶ elements (AI, value) checked against ai_table
//!   EAN/UPC id (]E0 ]E3 ]E4), ITF-14 (]I1) ──gtin──▶ GTIN-14 (+ add-on)
//!   anything else ─────────▶ plain data, valid
//! ```
//!
//! Modules: [`ai_table`] the Application Identifier table, [`check`] the mod-10 check digit,
//! [`date`] YYMMDD dates and the century window, [`decode`] the element-string parser,
//! [`gtin`] GTIN normalisation and UPC-E expansion.
//!
//! Conventions:
//! - FNC1 separators arrive as GS (0x1D); the leading FNC1 is implied by a GS1 AIM id, and a
//!   leading GS is accepted (with or without an id).
//! - Invalid data is not an error of the call: [`ScanDecode::valid`] is false, `error` says
//!   what and where, and what was decoded before the problem is kept.
//! - Without an AIM id the symbology is `"unknown"`; the data is read as GS1 when it starts
//!   with GS, and a string of 8, 12, 13 or 14 digits with a correct check digit is taken as a
//!   GTIN (8 digits as EAN-8: a UPC-E sent unexpanded without an id cannot be told apart).
//! - Nothing here panics, whatever the input.

pub mod ai_table;
pub mod check;
pub mod date;
pub mod decode;
pub mod gtin;

#[cfg(test)]
mod tests;

pub use date::Date;
pub use decode::{Element, Gs1Error, GS};

use super::aim::{self, Content};

/// A decimal AI's value with its decimal point placed (trade measures 310n-369n, amounts
/// 390n-393n, 394n, 395n).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecimalValue {
    pub ai: String,
    /// The AI's data title, which names the unit (`"NET WEIGHT (kg)"`).
    pub title: String,
    /// The number, such as `"1.250"`.
    pub value: String,
    /// ISO 4217 numeric currency code (391n and 393n only).
    pub currency: Option<String>,
}

/// Everything decoded from one scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScanDecode {
    /// The AIM symbology identifier as received (`"]C1"`), if the scanner sent one.
    pub aim: Option<String>,
    /// Short name of the symbology: `"gs1-128"`, `"ean13"`, `"upca"`, `"upce"`, `"ean8"`,
    /// `"code128"`, `"gs1-datamatrix"`, `"qr"`, …; `"unknown"` without an AIM id.
    pub symbology: String,
    /// The data after the AIM id, separators kept as GS (0x1D); non-UTF-8 bytes replaced.
    pub data: String,
    /// Whether the data was read as GS1 element strings.
    pub gs1: bool,
    /// False when GS1 data or an EAN/UPC/ITF-14 number is malformed.
    pub valid: bool,
    /// What is wrong, and where, when `valid` is false.
    pub error: Option<String>,
    /// The AI the error concerns.
    pub error_ai: Option<String>,
    /// 0-based byte offset into `data` where the error is.
    pub error_position: Option<usize>,
    /// GS1 element strings in the order they were read (up to the first error).
    pub elements: Vec<Element>,
    /// GTIN-14: AI (01), or the number of an EAN/UPC or ITF-14 symbol.
    pub gtin: Option<String>,
    /// EAN/UPC 2- or 5-digit add-on.
    pub addon: Option<String>,
    /// AI (02): GTIN of the trade items contained in a logistic unit.
    pub content_gtin: Option<String>,
    /// AI (00): Serial Shipping Container Code.
    pub sscc: Option<String>,
    /// AI (10): batch or lot number.
    pub batch: Option<String>,
    /// AI (21): serial number.
    pub serial: Option<String>,
    /// AI (17): expiration date.
    pub expiry: Option<Date>,
    /// AI (15): best before date.
    pub best_before: Option<Date>,
    /// AI (16): sell by date.
    pub sell_by: Option<Date>,
    /// AI (11): production date.
    pub production_date: Option<Date>,
    /// AI (13): packaging date.
    pub packaging_date: Option<Date>,
    /// AI (37) count of trade items, else AI (30) variable count.
    pub quantity: Option<u64>,
    /// AI (310n): net weight in kilograms, such as `"1.250"`.
    pub net_weight_kg: Option<String>,
    /// Every decimal AI with its decimal point placed.
    pub decimals: Vec<DecimalValue>,
}

/// Decodes raw scanner bytes (AIM id optional). Dates use today's date (UTC) for the century.
pub fn decode_scan(raw: &[u8]) -> ScanDecode {
    decode_scan_at(raw, Date::today_utc())
}

/// As [`decode_scan`], with the date that anchors the century window of two-digit years.
pub fn decode_scan_at(raw: &[u8], today: Date) -> ScanDecode {
    let (symbology, data) = aim::split(raw);
    let mut out = ScanDecode {
        aim: symbology.as_ref().map(|s| s.id.clone()),
        symbology: symbology.as_ref().map_or("unknown", |s| s.name).to_string(),
        data: String::from_utf8_lossy(data).into_owned(),
        gs1: false,
        valid: true,
        error: None,
        error_ai: None,
        error_position: None,
        elements: Vec::new(),
        gtin: None,
        addon: None,
        content_gtin: None,
        sscc: None,
        batch: None,
        serial: None,
        expiry: None,
        best_before: None,
        sell_by: None,
        production_date: None,
        packaging_date: None,
        quantity: None,
        net_weight_kg: None,
        decimals: Vec::new(),
    };
    let content = symbology.as_ref().map(|s| s.content);
    let modifier = raw.get(2).copied().unwrap_or(b'0');
    match content {
        Some(Content::Gs1) => out.read_gs1(data, today),
        None if data.first() == Some(&GS) => out.read_gs1(data, today),
        Some(Content::EanUpc) => out.read_ean_upc(modifier),
        Some(Content::EanAddOn) => out.read_addon(modifier),
        Some(Content::Itf14) => out.read_itf(),
        None => out.guess_gtin(),
        Some(Content::Plain) => {}
    }
    out
}

impl ScanDecode {
    fn fail(&mut self, error: impl ToString) {
        self.valid = false;
        self.error = Some(error.to_string());
    }

    fn read_gs1(&mut self, data: &[u8], today: Date) {
        self.gs1 = true;
        let parsed = decode::parse(data, today);
        if let Some(e) = parsed.error {
            self.error_ai = e.ai().map(str::to_string);
            self.error_position = e.position();
            self.fail(e);
        }
        self.elements = parsed.elements;
        for i in 0..self.elements.len() {
            self.take_element(i, today);
        }
        // (37) counts the trade items in a logistic unit; (30) those of a variable measure item.
        let count = |ai: &str| {
            let e = self.elements.iter().find(|e| e.ai == ai)?;
            e.value.parse().ok()
        };
        self.quantity = count("37").or_else(|| count("30"));
    }

    /// Fills the named fields from element `i`; the first occurrence of an AI wins.
    fn take_element(&mut self, i: usize, today: Date) {
        let e = &self.elements[i];
        let value = || Some(e.value.clone());
        let day = || date::parse_yymmdd(e.value.as_bytes(), today, true).ok();
        match e.ai.as_str() {
            "00" if self.sscc.is_none() => self.sscc = value(),
            "01" if self.gtin.is_none() => self.gtin = value(),
            "02" if self.content_gtin.is_none() => self.content_gtin = value(),
            "10" if self.batch.is_none() => self.batch = value(),
            "11" if self.production_date.is_none() => self.production_date = day(),
            "13" if self.packaging_date.is_none() => self.packaging_date = day(),
            "15" if self.best_before.is_none() => self.best_before = day(),
            "16" if self.sell_by.is_none() => self.sell_by = day(),
            "17" if self.expiry.is_none() => self.expiry = day(),
            "21" if self.serial.is_none() => self.serial = value(),
            _ => {}
        }
        let e = &self.elements[i];
        if let Some((number, currency)) = decode::decimal_value(e) {
            if e.ai.starts_with("310") && self.net_weight_kg.is_none() {
                self.net_weight_kg = Some(number.clone());
            }
            let title = ai_table::lookup(e.ai.as_bytes()).map_or("", |d| d.title);
            self.decimals.push(DecimalValue {
                ai: e.ai.clone(),
                title: title.to_string(),
                value: number,
                currency,
            });
        }
    }

    fn read_ean_upc(&mut self, modifier: u8) {
        let data = self.data.clone();
        if let Some(name) = gtin::symbol_name(modifier, data.len()) {
            self.symbology = name.to_string();
        }
        match gtin::from_ean_upc(modifier, &data) {
            Ok(r) => {
                self.gtin = Some(r.gtin14);
                self.addon = r.addon;
            }
            Err(e) => self.fail(e),
        }
    }

    fn read_addon(&mut self, modifier: u8) {
        let want = if modifier == b'1' { 2 } else { 5 };
        self.symbology = format!("ean-addon{want}");
        let data = self.data.clone();
        if data.len() == want && data.bytes().all(|b| b.is_ascii_digit()) {
            self.addon = Some(data);
        } else {
            self.fail(format!("EAN/UPC add-on must be {want} digits"));
        }
    }

    fn read_itf(&mut self) {
        if self.data.len() != 14 {
            // ITF with a check digit, but not the 14 digits of a GTIN.
            self.symbology = "itf".to_string();
            return;
        }
        match gtin::to_gtin14("ITF-14", &self.data) {
            Ok(g) => self.gtin = Some(g),
            Err(e) => self.fail(e),
        }
    }

    fn guess_gtin(&mut self) {
        let kind = match self.data.len() {
            8 => "EAN-8",
            12 => "UPC-A",
            13 => "EAN-13",
            14 => "GTIN-14",
            _ => return,
        };
        self.gtin = gtin::to_gtin14(kind, &self.data).ok();
    }
}
