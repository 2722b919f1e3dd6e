//! NRF ARTS POSLog XML → [`PosTransaction`]s, one per `RetailTransaction`.
//!
//! What is read (local names; paths relative to each `Transaction`):
//!
//! | POSLog | `PosTransaction` |
//! | --- | --- |
//! | `WorkstationID` | `register_id` |
//! | `SequenceNumber` | `receipt_id` |
//! | `OperatorID` | `operator_id` |
//! | `CurrencyCode` | `currency` (and the number of decimals, from ISO 4217) |
//! | `RetailTransaction/Total[@TotalType="TransactionGrandAmount"]` | `total_minor` |
//! | `RetailTransaction/LineItem/Sale` or `…/Return` | one of `items` |
//! | `…/ItemID`, `…/POSIdentity/POSItemID` | `item_id` (the first); `gtin` (the first valid GTIN, as 14 digits) |
//! | `…/Description` | `description` |
//! | `…/Quantity` | `quantity` (default 1) |
//! | `…/ActualSalesUnitPrice`, else `…/RegularSalesUnitPrice` | `unit_price_minor` (rounded to the minor unit) |
//! | `…/ExtendedAmount` | `extended_minor` (default unit price × quantity) |
//!
//! `RetailStoreID`, `BusinessDayDate` and `EndDateTime` are read past: the agent knows its
//! store, and events carry their own time.
//!
//! Rules (each has a test):
//! - Namespaces: an element counts when it is in the namespace of the root element, in the ARTS
//!   namespace ([`ARTS_NAMESPACE`], with or without its final slash), or in none; the prefix
//!   does not matter. Elements in any other namespace are vendor extensions: they are skipped
//!   with everything inside them. Unknown elements in the ARTS namespace are skipped too.
//! - The root is `POSLog` (holding any number of `Transaction`s) or a lone `Transaction`.
//! - A `Transaction` without a `RetailTransaction` (sign-on, till control, …) sells nothing and
//!   yields no event. `LineItem`s other than `Sale` and `Return` (tenders, taxes, discounts)
//!   are not items.
//! - Voids: a `LineItem` with `VoidFlag="true"` (attribute on `LineItem`, `Sale` or `Return`,
//!   or a `VoidFlag` child element) was cancelled before the total: it is left out. A
//!   transaction with `CancelFlag`, `VoidFlag`, `VoidedFlag` or `TrainingModeFlag` true, or a
//!   `RetailTransaction` whose `TransactionStatus` is `Voided`, `PostVoided`, `Canceled`,
//!   `Cancelled`, `Suspended` or `SuspendedDeleted`, sold nothing: kind VOID (its items are
//!   kept for information, and a missing total is then not an error).
//! - Kind: only `Return` lines → RETURN, with quantities, amounts and total as magnitudes.
//!   `Sale` and `Return` lines together (an exchange) → SALE, the return lines with negative
//!   quantity and extended amount, the total as written.
//! - Amounts are `xs:decimal`: `.` decimals. Extended amounts and totals finer than the
//!   currency's minor unit are an error; unit prices are rounded half away from zero.
//! - Errors: XML that is not well-formed fails the whole document ([`PosLogError`], with the
//!   line and the element path). A transaction that is well-formed but unreadable (no grand
//!   total, an amount that is not a number) still yields an event, with `error` naming the
//!   element and line and `raw_text` holding the transaction's XML.
//! - Input is UTF-8 (a byte-order mark is allowed). Entities other than XML's five predefined
//!   ones and character references are kept as written (`&name;`); a DTD is never expanded.
//! - Nothing panics, whatever the input.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};
use store_proto::v1::PosTransaction;

#[cfg(test)]
mod tests;
mod transaction;

use transaction::{finish, line_of, Line, LineKind, Tx, Value};

/// The ARTS IXRetail namespace of POSLog.
pub const ARTS_NAMESPACE: &str = "http://www.nrf-arts.org/IXRetail/namespace/";

/// Elements nested deeper than this are refused (no real POSLog comes close).
const MAX_DEPTH: usize = 128;

/// A document that is not well-formed POSLog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PosLogError {
    #[error("POSLog line {line}, in {path}: malformed XML: {message}")]
    Xml {
        line: usize,
        path: String,
        message: String,
    },
    #[error("POSLog line {line}: root element is <{found}>, expected <POSLog> or <Transaction>")]
    Root { line: usize, found: String },
    #[error("POSLog document has no root element")]
    Empty,
    #[error("POSLog line {line}, in {path}: elements nested deeper than {max}")]
    TooDeep {
        line: usize,
        path: String,
        max: usize,
    },
}

/// Reads every retail transaction of a POSLog document, in document order.
pub fn parse_poslog(xml: &[u8]) -> Result<Vec<PosTransaction>, PosLogError> {
    let input = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let mut reader = NsReader::from_reader(input);
    reader.config_mut().expand_empty_elements = true;
    let mut p = Parser {
        input,
        path: Vec::new(),
        root: None,
        root_closed: false,
        tx: None,
        capture: None,
        out: Vec::new(),
    };
    loop {
        let at = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => return Err(p.xml_error(reader.error_position() as usize, e.to_string())),
        };
        match event {
            Event::Start(e) => {
                let (ns, local) = reader.resolver().resolve_element(e.name());
                let ns = Ns::of(ns);
                let local = String::from_utf8_lossy(local.as_ref()).into_owned();
                let attrs = p.attributes(&reader, &e, at)?;
                p.start(ns, local, attrs, at)?;
            }
            Event::End(_) => p.end(reader.buffer_position() as usize),
            Event::Text(t) => {
                let text = t.decode().map_err(|e| p.xml_error(at, e.to_string()))?;
                p.text(&text, at)?;
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| p.xml_error(at, e.to_string()))?;
                p.text(&text, at)?;
            }
            Event::GeneralRef(r) => {
                let text = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => String::new(),
                        Err(e) => return Err(p.xml_error(at, e.to_string())),
                    }
                } else {
                    let name = r.decode().map_err(|e| p.xml_error(at, e.to_string()))?;
                    match name.as_ref() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        other => format!("&{other};"),
                    }
                };
                p.text(&text, at)?;
            }
            Event::Eof => break,
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::DocType(_) => {}
        }
    }
    if !p.path.is_empty() {
        return Err(p.xml_error(input.len(), "document ends inside an element".to_string()));
    }
    if p.root.is_none() {
        return Err(PosLogError::Empty);
    }
    Ok(p.out)
}

/// The namespace of an element, as far as telling ARTS from extensions goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ns {
    None,
    Uri(Vec<u8>),
    /// A prefix with no declaration in scope (not namespace-well-formed, but seen in the wild).
    Undeclared(Vec<u8>),
}

impl Ns {
    fn of(r: ResolveResult<'_>) -> Ns {
        match r {
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Bound(ns) => Ns::Uri(ns.into_inner().to_vec()),
            ResolveResult::Unknown(prefix) => Ns::Undeclared(prefix),
        }
    }

    fn is_arts(&self) -> bool {
        match self {
            Ns::Uri(uri) => {
                uri.as_slice() == ARTS_NAMESPACE.as_bytes()
                    || uri.as_slice() == ARTS_NAMESPACE.trim_end_matches('/').as_bytes()
            }
            _ => false,
        }
    }
}

struct Frame {
    name: String,
    /// ARTS element (see the module rules); false for a vendor extension.
    core: bool,
}

/// Where captured element text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Workstation,
    Sequence,
    Operator,
    Currency,
    Total,
    LineSequence,
    LineVoidFlag,
    ItemId,
    Description,
    RegularPrice,
    ActualPrice,
    Extended,
    Quantity,
}

struct Capture {
    depth: usize,
    target: Target,
    /// Byte offset of the element, for error lines.
    at: usize,
    /// `TotalType` of a `Total`.
    total_type: String,
    text: String,
}

struct Parser<'a> {
    input: &'a [u8],
    path: Vec<Frame>,
    /// The root element's namespace, once seen.
    root: Option<Ns>,
    root_closed: bool,
    tx: Option<Tx>,
    capture: Option<Capture>,
    out: Vec<PosTransaction>,
}

/// Attributes of interest, by local name (unprefixed or ARTS ones only).
#[derive(Default)]
struct Attrs {
    flags_true: Vec<String>,
    total_type: String,
    status: String,
}

fn is_true(value: &str) -> bool {
    matches!(value.trim(), "true" | "1" | "True" | "TRUE")
}

impl<'a> Parser<'a> {
    fn path_string(&self) -> String {
        if self.path.is_empty() {
            return "/".to_string();
        }
        self.path.iter().fold(String::new(), |mut s, f| {
            s.push('/');
            s.push_str(&f.name);
            s
        })
    }

    fn xml_error(&self, at: usize, message: String) -> PosLogError {
        PosLogError::Xml {
            line: line_of(self.input, at),
            path: self.path_string(),
            message,
        }
    }

    fn attributes(
        &self,
        reader: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        at: usize,
    ) -> Result<Attrs, PosLogError> {
        let mut attrs = Attrs::default();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.xml_error(at, err.to_string()))?;
            let (ns, local) = reader.resolver().resolve_attribute(attr.key);
            let ns = Ns::of(ns);
            if !(ns == Ns::None || ns.is_arts() || Some(&ns) == self.root.as_ref()) {
                continue;
            }
            let value = attr
                .decoded_and_normalized_value(XmlVersion::Implicit1_0, reader.decoder())
                .map_err(|err| self.xml_error(at, err.to_string()))?;
            match local.as_ref() {
                b"TotalType" => attrs.total_type = value.trim().to_string(),
                b"TransactionStatus" => attrs.status = value.trim().to_string(),
                name @ (b"CancelFlag" | b"VoidFlag" | b"VoidedFlag" | b"TrainingModeFlag")
                    if is_true(&value) =>
                {
                    attrs
                        .flags_true
                        .push(String::from_utf8_lossy(name).into_owned());
                }
                _ => {}
            }
        }
        Ok(attrs)
    }

    fn start(&mut self, ns: Ns, name: String, attrs: Attrs, at: usize) -> Result<(), PosLogError> {
        if self.path.is_empty() {
            if self.root_closed {
                return Err(self.xml_error(at, "more than one root element".to_string()));
            }
            if name != "POSLog" && name != "Transaction" {
                return Err(PosLogError::Root {
                    line: line_of(self.input, at),
                    found: name,
                });
            }
            self.root = Some(ns.clone());
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(PosLogError::TooDeep {
                line: line_of(self.input, at),
                path: self.path_string(),
                max: MAX_DEPTH,
            });
        }
        let parent_core = self.path.last().is_none_or(|f| f.core);
        let core =
            parent_core && (ns == Ns::None || ns.is_arts() || Some(&ns) == self.root.as_ref());
        self.path.push(Frame { name, core });
        if !core {
            return Ok(());
        }
        let depth = self.path.len();
        // A transaction: the root, or a child of the POSLog root.
        if self.tx.is_none() {
            let is_tx = self.path[depth - 1].name == "Transaction"
                && (depth == 1 || (depth == 2 && self.path[0].name == "POSLog"));
            if is_tx {
                self.tx = Some(Tx {
                    at,
                    depth,
                    void: !attrs.flags_true.is_empty(),
                    ..Default::default()
                });
            }
            return Ok(());
        }
        let Some(tx) = self.tx.as_mut() else {
            return Ok(());
        };
        let rel: Vec<&str> = self.path[tx.depth..]
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let target = match rel.as_slice() {
            ["WorkstationID"] => Some(Target::Workstation),
            ["SequenceNumber"] => Some(Target::Sequence),
            ["OperatorID"] => Some(Target::Operator),
            ["CurrencyCode"] => Some(Target::Currency),
            ["RetailTransaction"] => {
                tx.retail = true;
                let status = attrs.status.to_ascii_lowercase();
                if matches!(
                    status.as_str(),
                    "voided"
                        | "postvoided"
                        | "canceled"
                        | "cancelled"
                        | "suspended"
                        | "suspendeddeleted"
                ) || !attrs.flags_true.is_empty()
                {
                    tx.void = true;
                }
                None
            }
            ["RetailTransaction", "LineItem"] => {
                tx.line = Some(Line {
                    at,
                    voided: !attrs.flags_true.is_empty(),
                    ..Default::default()
                });
                None
            }
            ["RetailTransaction", "LineItem", "SequenceNumber"] => Some(Target::LineSequence),
            ["RetailTransaction", "LineItem", "VoidFlag"] => Some(Target::LineVoidFlag),
            ["RetailTransaction", "LineItem", kind @ ("Sale" | "Return")] => {
                if let Some(line) = tx.line.as_mut() {
                    if line.kind.is_none() {
                        line.kind = Some(if *kind == "Sale" {
                            LineKind::Sale
                        } else {
                            LineKind::Return
                        });
                    }
                    line.voided |= !attrs.flags_true.is_empty();
                }
                None
            }
            ["RetailTransaction", "LineItem", "Sale" | "Return", field] => match *field {
                "ItemID" => Some(Target::ItemId),
                "Description" => Some(Target::Description),
                "RegularSalesUnitPrice" => Some(Target::RegularPrice),
                "ActualSalesUnitPrice" => Some(Target::ActualPrice),
                "ExtendedAmount" => Some(Target::Extended),
                "Quantity" => Some(Target::Quantity),
                _ => None,
            },
            ["RetailTransaction", "LineItem", "Sale" | "Return", "POSIdentity", "POSItemID"] => {
                Some(Target::ItemId)
            }
            ["RetailTransaction", "Total"] => Some(Target::Total),
            _ => None,
        };
        if let Some(target) = target {
            self.capture = Some(Capture {
                depth,
                target,
                at,
                total_type: attrs.total_type,
                text: String::new(),
            });
        }
        Ok(())
    }

    fn text(&mut self, text: &str, at: usize) -> Result<(), PosLogError> {
        if self.path.is_empty() {
            if !text.trim().is_empty() {
                return Err(self.xml_error(at, "text outside the root element".to_string()));
            }
            return Ok(());
        }
        if let Some(c) = self.capture.as_mut() {
            if c.depth == self.path.len() {
                c.text.push_str(text);
            }
        }
        Ok(())
    }

    fn end(&mut self, after: usize) {
        let depth = self.path.len();
        if self.capture.as_ref().is_some_and(|c| c.depth == depth) {
            if let Some(c) = self.capture.take() {
                self.store(c);
            }
        }
        let frame = self.path.pop();
        if self.path.is_empty() {
            self.root_closed = true;
        }
        let Some(frame) = frame else { return };
        if !frame.core {
            return;
        }
        let Some(tx) = self.tx.as_mut() else { return };
        if depth == tx.depth {
            if let Some(tx) = self.tx.take() {
                if tx.retail {
                    let raw = &self.input[tx.at.min(after)..after.min(self.input.len())];
                    let event = finish(self.input, tx, raw);
                    self.out.push(event);
                }
            }
        } else if depth == tx.depth + 2 && frame.name == "LineItem" {
            if let Some(line) = tx.line.take() {
                tx.lines.push(line);
            }
        }
    }

    fn store(&mut self, c: Capture) {
        let Some(tx) = self.tx.as_mut() else { return };
        let text = c.text.trim().to_string();
        let value = Value { text, at: c.at };
        match c.target {
            Target::Workstation => tx.workstation = value.text,
            Target::Sequence => tx.sequence = value.text,
            Target::Operator => tx.operator = value.text,
            Target::Currency => tx.currency = value.text,
            Target::Total => {
                if c.total_type == "TransactionGrandAmount" && tx.grand_total.is_none() {
                    tx.grand_total = Some(value);
                }
            }
            target => {
                let Some(line) = tx.line.as_mut() else { return };
                match target {
                    Target::LineSequence => line.sequence = value.text,
                    Target::LineVoidFlag => line.voided |= is_true(&value.text),
                    Target::ItemId if !value.text.is_empty() => line.item_ids.push(value.text),
                    Target::Description => line.description = value.text,
                    Target::RegularPrice => line.regular_price = Some(value),
                    Target::ActualPrice => line.actual_price = Some(value),
                    Target::Extended => line.extended = Some(value),
                    Target::Quantity => line.quantity = Some(value),
                    _ => {}
                }
            }
        }
    }
}
