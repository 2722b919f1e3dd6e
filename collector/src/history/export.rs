//! History rows as CSV (RFC 4180: a header row, CRLF line ends, fields quoted when they hold a
//! comma, a quote or a line break, quotes doubled) or JSON Lines (one [`Row::to_json`] per line).

use super::record::Row;
use super::time::format_ms;
use store_proto::Body;

/// `csv` or `jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("format={other:?}: expected csv or jsonl")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    /// What goes before the first row.
    pub fn header(self) -> &'static str {
        match self {
            Format::Csv => CSV_HEADER,
            Format::Jsonl => "",
        }
    }

    /// One row, with its line end.
    pub fn row(self, row: &Row) -> String {
        match self {
            Format::Csv => csv_row(row),
            Format::Jsonl => {
                let mut line = row.to_json().to_string();
                line.push('\n');
                line
            }
        }
    }
}

const CSV_HEADER: &str = "store_id,agent_id,seq,device_id,kind,wall_time,wall_time_ms,arrival_ms,clock_synced,gtin,body\r\n";

/// The GTIN column: a scan's GTIN, or a POS transaction's GTINs joined by spaces.
fn gtins(row: &Row) -> String {
    match &row.event.body {
        Some(Body::Scan(s)) => s.gtin.clone(),
        Some(Body::PosTransaction(t)) => t
            .items
            .iter()
            .map(|i| i.gtin.as_str())
            .filter(|g| !g.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn csv_row(row: &Row) -> String {
    let e = &row.event;
    let fields = [
        row.store.clone(),
        row.agent.clone(),
        e.seq.to_string(),
        e.device_id.clone(),
        row.kind().to_owned(),
        format_ms(e.wall_time_ms),
        e.wall_time_ms.to_string(),
        row.arrival_ms.to_string(),
        e.clock_synced.to_string(),
        gtins(row),
        super::record::body_json(e.body.as_ref()).to_string(),
    ];
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&quote(field));
    }
    line.push_str("\r\n");
    line
}

/// One RFC 4180 field.
pub fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::keys::RowKey;
    use crate::history::record;
    use store_proto::v1::Scan;
    use store_proto::Event;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn a_csv_row_has_the_header_columns() {
        let event = Event {
            seq: 3,
            device_id: "scan,ner".into(),
            wall_time_ms: 0,
            body: Some(Body::Scan(Scan {
                gtin: "00012345678905".into(),
                data: "x\"y".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let key = RowKey {
            store: "s1",
            time_ms: 0,
            agent: "a1",
            seq: 3,
        }
        .time_key();
        let row = record::decode(&key, &record::encode(5, &event)).unwrap();
        let line = Format::Csv.row(&row);
        assert!(line.starts_with(
            "s1,a1,3,\"scan,ner\",scan,1970-01-01T00:00:00.000Z,0,5,false,00012345678905,\"{"
        ));
        assert!(line.ends_with("}\"\r\n"));
        assert!(line.contains("\"\"data\"\":\"\"x\\\"\"y\"\""), "{line}");
        let json: serde_json::Value =
            serde_json::from_str(Format::Jsonl.row(&row).trim_end()).unwrap();
        assert_eq!(json["seq"], 3);
        assert_eq!(CSV_HEADER.split(',').count(), 11);
    }
}
