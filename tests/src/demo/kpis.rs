//! The demo's closing report: the day's KPIs per store as HQ computed them (`/v1/kpis`), as a
//! table, and where the day's event history can be read.

use std::net::SocketAddr;

use serde_json::Value;

use super::hq;
use super::text::thousands;

/// The KPI table's lines: one per figure, one column per store.
const ROWS: &[(&str, Figure)] = &[
    ("entries", Figure::Count("entries")),
    ("transactions", Figure::Count("transactions")),
    ("conversion", Figure::Percent("conversion")),
    ("sales", Figure::Money("sales_minor")),
    ("average basket", Figure::MoneyRatio("average_basket_minor")),
    (
        "units / transaction",
        Figure::Ratio("units_per_transaction"),
    ),
    ("returns rate", Figure::Percent("returns_rate")),
    ("voids rate", Figure::Percent("voids_rate")),
    ("stock-out hours", Figure::Hours("stockout_hours")),
    ("understaffed hours", Figure::Hours("understaffed_hours")),
    (
        "alerts raised / acked",
        Figure::Pair("alerts_raised", "alerts_acknowledged"),
    ),
];

/// How one KPI row field reads.
#[derive(Debug, Clone, Copy)]
enum Figure {
    Count(&'static str),
    /// A ratio shown as a percentage.
    Percent(&'static str),
    /// Minor currency units, shown in major units.
    Money(&'static str),
    /// The same, from a ratio (may be null).
    MoneyRatio(&'static str),
    Ratio(&'static str),
    Hours(&'static str),
    Pair(&'static str, &'static str),
}

impl Figure {
    /// The cell for one store's row; `-` where the API says null (a zero denominator) or the
    /// field is missing.
    fn cell(self, row: &Value) -> String {
        let num = |key: &str| row.get(key).and_then(Value::as_f64);
        let count = |key: &str| row.get(key).and_then(Value::as_u64);
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        match self {
            Figure::Count(k) => or_dash(count(k).map(thousands)),
            Figure::Percent(k) => or_dash(num(k).map(|v| format!("{:.1} %", v * 100.0))),
            Figure::Money(k) | Figure::MoneyRatio(k) => or_dash(num(k).map(money)),
            Figure::Ratio(k) => or_dash(num(k).map(|v| format!("{v:.2}"))),
            Figure::Hours(k) => or_dash(num(k).map(|v| format!("{v:.2} h"))),
            Figure::Pair(a, b) => format!(
                "{} / {}",
                or_dash(count(a).map(thousands)),
                or_dash(count(b).map(thousands))
            ),
        }
    }
}

/// Minor units as major units with two decimals and thousands separators: `123456` → `1,234.56`.
fn money(minor: f64) -> String {
    let cents = minor.round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", thousands(cents / 100), cents % 100)
}

/// `YYYY-MM-DD` of a UTC time in ms (the demo's stores keep UTC, the collector's default).
pub fn utc_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil date from days since 1970-01-01, counting in 400-year eras from 0000-03-01 (so the
    // leap day ends a year).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `/v1/kpis` for one store and one local day.
pub fn kpi_path(store: &str, date: &str) -> String {
    format!("/v1/kpis?scope=store&id={store}&granularity=day&from={date}&to={date}")
}

/// Each store's daily KPI row for `date` from HQ (an empty row where HQ has none).
pub fn fetch(
    api: SocketAddr,
    token: &str,
    stores: &[&str],
    date: &str,
) -> Result<Vec<(String, Value)>, String> {
    stores
        .iter()
        .map(|store| {
            let answer = hq::get_json(api, token, &kpi_path(store, date))?;
            let row = answer["rows"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["period"] == date))
                .cloned()
                .unwrap_or(Value::Null);
            Ok(((*store).to_owned(), row))
        })
        .collect()
}

/// The KPI table: a header line with the store ids, then one line per figure.
pub fn table(date: &str, rows: &[(String, Value)]) -> Vec<String> {
    const NAME: usize = 24;
    const CELL: usize = 14;
    let mut lines = vec![format!(
        "KPIs of {date} (HQ's GET /v1/kpis?scope=store&granularity=day):"
    )];
    let mut header = format!("  {:<NAME$}", "");
    for (store, _) in rows {
        header.push_str(&format!("{store:>CELL$}"));
    }
    lines.push(header);
    for (name, figure) in ROWS {
        let mut line = format!("  {name:<NAME$}");
        for (_, row) in rows {
            line.push_str(&format!("{:>CELL$}", figure.cell(row)));
        }
        lines.push(line);
    }
    lines
}

/// Where the day's history is (events of `date`, up to `next` exclusive): the API route, the
/// CSV export and the CLI.
pub fn history_lines(
    api: SocketAddr,
    token: &str,
    store: &str,
    (date, next): (&str, &str),
    config: &std::path::Path,
) -> Vec<String> {
    let auth = format!("-H 'Authorization: Bearer {token}'");
    let window = format!("from={date}T00:00:00Z&to={next}T00:00:00Z");
    vec![
        "History (every event HQ applied, with its device, times and body):".to_owned(),
        format!("  API:  curl {auth} 'http://{api}/v1/history?store={store}&{window}&limit=100'"),
        format!("  CSV:  curl {auth} 'http://{api}/v1/history.csv?store={store}&{window}' > {store}.csv"),
        format!(
            "  CLI:  store-collector history --config {} --store {store} --format csv",
            config.display()
        ),
        "        (the CLI reads the collector's database, or its API while it runs; --keep keeps \
         the demo's directory)"
            .to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_are_civil_utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(super::super::day::DAY_START_MS), "2026-11-21");
    }

    #[test]
    fn money_reads_in_major_units() {
        assert_eq!(money(0.0), "0.00");
        assert_eq!(money(5.0), "0.05");
        assert_eq!(money(123_456.0), "1,234.56");
        assert_eq!(money(-250.4), "-2.50");
    }

    #[test]
    fn the_table_has_a_column_per_store_and_dashes_for_nulls() {
        let s1 = json!({
            "period": "2026-11-21", "entries": 1234, "transactions": 40, "conversion": 0.0324,
            "sales_minor": 123456, "average_basket_minor": 3086.4, "units_per_transaction": 2.1,
            "returns_rate": 0.02, "voids_rate": 0.0, "stockout_hours": 1.25,
            "understaffed_hours": 0.5, "alerts_raised": 3, "alerts_acknowledged": 1,
        });
        let s2 = json!({
            "period": "2026-11-21", "entries": 0, "transactions": 0, "conversion": null,
            "sales_minor": 0, "average_basket_minor": null, "units_per_transaction": null,
            "returns_rate": null, "voids_rate": null, "stockout_hours": 0.0,
            "understaffed_hours": 0.0, "alerts_raised": 0, "alerts_acknowledged": 0,
        });
        let lines = table(
            "2026-11-21",
            &[
                ("s1".into(), s1),
                ("s2".into(), s2),
                ("s3".into(), Value::Null),
            ],
        );
        assert_eq!(lines.len(), 2 + ROWS.len());
        assert!(lines[0].contains("2026-11-21"));
        let cells = |name: &str| -> Vec<String> {
            let line = lines
                .iter()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("no {name} line in {lines:#?}"));
            line.as_bytes()[2 + 24..]
                .chunks(14)
                .map(|c| String::from_utf8_lossy(c).trim().to_owned())
                .collect()
        };
        let header: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(header, ["s1", "s2", "s3"]);
        assert_eq!(cells("entries"), ["1,234", "0", "-"]);
        assert_eq!(cells("conversion"), ["3.2 %", "-", "-"]);
        assert_eq!(cells("sales"), ["1,234.56", "0.00", "-"]);
        assert_eq!(cells("average basket"), ["30.86", "-", "-"]);
        assert_eq!(cells("units / transaction"), ["2.10", "-", "-"]);
        assert_eq!(cells("returns rate"), ["2.0 %", "-", "-"]);
        assert_eq!(cells("voids rate"), ["0.0 %", "-", "-"]);
        assert_eq!(cells("stock-out hours"), ["1.25 h", "0.00 h", "-"]);
        assert_eq!(cells("understaffed hours"), ["0.50 h", "0.00 h", "-"]);
        assert_eq!(cells("alerts raised / acked"), ["3 / 1", "0 / 0", "- / -"]);
        // Every line is as wide as the header: the columns line up.
        assert!(lines[1..].iter().all(|l| l.len() == 2 + 24 + 3 * 14));
    }

    #[test]
    fn history_lines_name_the_route_the_export_and_the_cli() {
        let api: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lines = history_lines(
            api,
            "tok",
            "s1",
            ("2026-11-21", "2026-11-22"),
            std::path::Path::new("/tmp/d/collector.toml"),
        );
        let all = lines.join("\n");
        assert!(all.contains("'http://127.0.0.1:8080/v1/history?store=s1&from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z"));
        assert!(all.contains("http://127.0.0.1:8080/v1/history.csv?store=s1&"));
        assert!(all.contains("Bearer tok"));
        assert!(all.contains(
            "store-collector history --config /tmp/d/collector.toml --store s1 --format csv"
        ));
    }
}
