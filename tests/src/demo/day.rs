//! The demo's store day, as a timed plan of what each virtual device does, and the stock the
//! store should hold at closing.
//!
//! It is the day of [`crate::store_day`] (same catalogue entries, same times, same reasons for
//! each alert), played through devices instead of line feeds, with background shopping around
//! it. Times are simulated seconds after 07:00 (Saturday 2026-11-21, UTC); the agents' clocks
//! run on the same simulated time, so each event is stamped with the time the plan gives it.
//!
//! Store s1 (every device virtual, read by the agent's real drivers):
//! - 07:00 the back-room handheld (serial scanner) books the delivery in: `MODE-RECEIVE`, then
//!   `QTY20` + pens, `QTY8` + notebooks, and a quantity + GTIN for each background article.
//! - 07:30 stock count on the same handheld: `MODE-COUNT`, `QTY18` + pens (the count replaces
//!   the 20 received), then `MODE-SALE`.
//! - 08:00 two staff badge in on the handheld (`BADGE-EMP1`, `BADGE-EMP2`).
//! - 08:00-19:00 the door counter (Xovis push) posts every 5 minutes: 5 entries a quarter hour
//!   (20 an hour: 2 staff needed at 25 shoppers per staff-hour, 2 on duty).
//! - 08:07-18:50 shoppers buy background articles: each basket is scanned at the till (HID POS
//!   scanner, one scan per unit), then its receipt is printed through the ESC/POS tap.
//! - 09:01-11:51 one pen sold every 10 minutes: 18 sales take the 18 counted pens to 0, so
//!   pens go LOW (≤ 10) then OUT; s2 holds 60 pens, so HQ suggests a TRANSFER from s2.
//! - 10:00 three notebooks sold: 8 → 5 = their reorder point: LOW.
//! - 12:02-12:37 eight chargers returned at the service desk (return receipts): RETURNS_SPIKE.
//! - 12:45-13:35 HQ is down (the demo kills the collector and its broker); the store carries on.
//! - 14:00-15:00 the afternoon rush: 60 entries a quarter (240 an hour: 10 staff needed, 2 on
//!   duty): UNDERSTAFFED.
//!
//! Store s2 (agent with a line feed only): 60 pens received at 07:00, two staff from 08:00, 5
//! entries a quarter hour.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::store_day::{self, CHARGERS, NOTEBOOKS, PENS};

/// Saturday 2026-11-21 07:00:00 UTC, the start of the plan.
pub const DAY_START_MS: i64 = store_day::DAY_START_MS;
/// Length of the plan in simulated seconds (07:00-19:00).
pub const DAY_SECS: f64 = 12.0 * 3600.0;
/// When HQ goes down and comes back, in simulated seconds after the start (12:45, 13:35).
pub const OUTAGE: (f64, f64) = (345.0 * 60.0, 395.0 * 60.0);

const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;

/// An article of the demo's catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub gtin: String,
    pub name: &'static str,
    pub price_minor: i64,
    pub pack_size: u32,
    pub reorder_point: u32,
    pub max_stock: u32,
    /// Sold in the background baskets (not part of an alert's story).
    pub background: bool,
}

/// Appends the GS1 check digit to 7, 11, 12 or 13 digits.
pub fn with_check_digit(data: &str) -> String {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{data}{}", (10 - sum % 10) % 10)
}

/// The catalogue: the three articles of the scripted alerts, then the background range.
pub fn products() -> Vec<Product> {
    let scripted = [
        (PENS, "Ballpoint pens blue", 250, 12, 10, 60),
        (NOTEBOOKS, "Notebook A5", 390, 6, 5, 30),
        (CHARGERS, "Phone charger", 1999, 1, 0, 10),
    ];
    let background = [
        ("544900000099", "Mineral water 1.5 l", 89, 6, 12),
        ("871234567890", "Rye bread 500 g", 249, 1, 6),
        ("761234567890", "Espresso beans 250 g", 599, 6, 6),
        ("400123456789", "Dark chocolate 100 g", 159, 12, 12),
        ("590987654321", "Tomatoes 500 g", 219, 1, 8),
    ];
    let mut out: Vec<Product> = scripted
        .into_iter()
        .map(|(gtin, name, price_minor, pack_size, rop, max)| Product {
            gtin: gtin.to_owned(),
            name,
            price_minor,
            pack_size,
            reorder_point: rop,
            max_stock: max,
            background: false,
        })
        .collect();
    out.extend(
        background
            .into_iter()
            .map(|(prefix, name, price_minor, pack_size, rop)| Product {
                gtin: with_check_digit(prefix),
                name,
                price_minor,
                pack_size,
                reorder_point: rop,
                max_stock: rop * 8,
                background: true,
            }),
    );
    out
}

/// The catalogue as HQ loads it (CSV, see `config/catalogue.example.csv`).
pub fn catalogue_csv(products: &[Product]) -> String {
    let mut csv = String::from(
        "gtin,name,pack_size,reorder_point,lead_time_days,service_level,max_stock,store\n",
    );
    for p in products {
        csv.push_str(&format!(
            "{},{},{},{},,,{},\n",
            p.gtin, p.name, p.pack_size, p.reorder_point, p.max_stock
        ));
    }
    csv
}

/// Sale or return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Sale,
    Return,
}

/// One printed receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub id: u32,
    pub register: u32,
    pub kind: ReceiptKind,
    /// (product index, quantity)
    pub lines: Vec<(usize, u32)>,
}

fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

impl Receipt {
    /// The text as printed, in the layout of the drivers' built-in `gtin` receipt template.
    pub fn text(&self, products: &[Product]) -> String {
        let sign = match self.kind {
            ReceiptKind::Sale => 1,
            ReceiptKind::Return => -1,
        };
        let mut t = String::new();
        if self.kind == ReceiptKind::Return {
            t.push_str("RETURN\n");
        }
        t.push_str(&format!(
            "Receipt: {}\nRegister: {}\nCashier: 7\n",
            self.id, self.register
        ));
        let mut total = 0;
        for &(p, q) in &self.lines {
            let p = &products[p];
            let amount = sign * p.price_minor * i64::from(q);
            total += amount;
            t.push_str(&format!(
                "{} {}  {q} x {}  {}\n",
                p.gtin,
                p.name,
                money(p.price_minor),
                money(amount)
            ));
        }
        t.push_str(&format!("TOTAL EUR  {}\n", money(total)));
        t
    }

    /// The ESC/POS byte stream a till sends its printer: init, a centred double-size header,
    /// the text, bold total, feed and partial cut.
    pub fn escpos(&self, products: &[Product]) -> Vec<u8> {
        let mut b = vec![0x1B, b'@', 0x1B, b'a', 1, 0x1D, b'!', 0x11];
        b.extend_from_slice(b"DEMO MARKET\n");
        b.extend_from_slice(&[0x1D, b'!', 0, 0x1B, b'a', 0]);
        let text = self.text(products);
        for line in text.lines() {
            let bold = line.starts_with("TOTAL");
            if bold {
                b.extend_from_slice(&[0x1B, b'E', 1]);
            }
            b.extend_from_slice(line.as_bytes());
            b.push(b'\n');
            if bold {
                b.extend_from_slice(&[0x1B, b'E', 0]);
            }
        }
        b.extend_from_slice(b"Thank you!\n");
        b.extend_from_slice(&[0x1B, b'd', 3, 0x1D, b'V', 0x42, 0]);
        b
    }
}

/// What a device does at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A line for the person watching.
    Say(String),
    /// The back-room handheld (serial scanner) reads a barcode.
    Handheld(String),
    /// The till's HID POS scanner reads an EAN-13.
    TillScan(String),
    /// The till prints a receipt through the ESC/POS tap.
    Print(Receipt),
    /// The s1 door counter posts what it counted since its last post.
    Door { entries: u32, exits: u32 },
    /// A line-feed event for store s2.
    Feed(String),
}

/// One action at a simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Simulated seconds after 07:00.
    pub at: f64,
    pub action: Action,
}

/// The plan and what it adds up to.
#[derive(Debug, Clone)]
pub struct Plan {
    pub products: Vec<Product>,
    pub steps: Vec<Step>,
    /// Stock per product index at closing, as the store's own books have it.
    pub closing_stock: BTreeMap<usize, f64>,
}

fn feed_door(at: f64, entries: u32) -> String {
    let ms = |s: f64| DAY_START_MS + (s * 1000.0) as i64;
    json!({"type": "foot_traffic", "device_id": "door-1", "counter_id": "door-1", "line": "main",
           "entries": entries, "exits": entries.saturating_sub(1),
           "interval_start_ms": ms(at), "interval_end_ms": ms(at + 15.0 * MIN)})
    .to_string()
}

/// The day. `busy` multiplies the background baskets (1.0: one every 10 minutes).
pub fn plan(busy: f64) -> Plan {
    let products = products();
    let index = |gtin: &str| products.iter().position(|p| p.gtin == gtin).unwrap();
    let (pens, notebooks, chargers) = (index(PENS), index(NOTEBOOKS), index(CHARGERS));
    let mut steps = Vec::new();
    let mut at = |at: f64, action: Action| steps.push(Step { at, action });
    let mut stock: BTreeMap<usize, f64> = BTreeMap::new();
    let mut receipt_id = 1000;

    // Background baskets first: the morning delivery is sized from what they will sell.
    let mut rng = StdRng::seed_from_u64(0x5707_e0d6);
    let range: Vec<usize> = (0..products.len())
        .filter(|&i| products[i].background)
        .collect();
    let mut sold: BTreeMap<usize, u32> = BTreeMap::new();
    let mut baskets = Vec::new();
    let every = 10.0 * MIN / busy.max(0.01);
    let mut t = HOUR + 7.0 * MIN;
    while t < 11.0 * HOUR + 50.0 * MIN {
        let n = rng.random_range(1..=2);
        let mut lines: Vec<(usize, u32)> = Vec::new();
        while lines.len() < n {
            let p = range[rng.random_range(0..range.len())];
            if lines.iter().all(|&(q, _)| q != p) {
                lines.push((p, rng.random_range(1..=3)));
            }
        }
        for &(p, q) in &lines {
            *sold.entry(p).or_default() += q;
        }
        baskets.push((t, lines));
        t += every;
    }

    // 07:00 receiving in the back room.
    at(
        0.0,
        Action::Say(
            "back room: the morning delivery is booked in on the handheld (serial scanner)".into(),
        ),
    );
    at(0.0, Action::Handheld("MODE-RECEIVE".into()));
    let mut receive = |t: f64, p: usize, qty: u32, out: &mut Vec<Step>| {
        out.push(Step {
            at: t,
            action: Action::Handheld(format!("QTY{qty}")),
        });
        out.push(Step {
            at: t + 2.0,
            action: Action::Handheld(products[p].gtin.clone()),
        });
        *stock.entry(p).or_default() += f64::from(qty);
    };
    let mut morning = Vec::new();
    receive(10.0, pens, 20, &mut morning);
    receive(20.0, notebooks, 8, &mut morning);
    for (k, &p) in range.iter().enumerate() {
        let pack = products[p].pack_size;
        let want = sold.get(&p).copied().unwrap_or(0) + products[p].reorder_point + 2 * pack;
        receive(
            30.0 + 10.0 * k as f64,
            p,
            want.div_ceil(pack) * pack,
            &mut morning,
        );
    }
    steps.extend(morning);

    // 07:30 stock count of the pens: 18 on the shelf.
    let mut at = |at: f64, action: Action| steps.push(Step { at, action });
    at(
        30.0 * MIN,
        Action::Say("stock count: 18 pens on the shelf (MODE-COUNT, QTY18, pens)".into()),
    );
    at(30.0 * MIN, Action::Handheld("MODE-COUNT".into()));
    at(30.0 * MIN + 5.0, Action::Handheld("QTY18".into()));
    at(30.0 * MIN + 7.0, Action::Handheld(PENS.into()));
    at(30.0 * MIN + 20.0, Action::Handheld("MODE-SALE".into()));
    stock.insert(pens, 18.0);

    // 08:00 staff badge in; the store opens.
    at(
        HOUR,
        Action::Say("the store opens: two staff badge in on the handheld".into()),
    );
    at(HOUR, Action::Handheld("BADGE-EMP1".into()));
    at(HOUR + 5.0, Action::Handheld("BADGE-EMP2".into()));

    // Store s2: its delivery, its staff, its door.
    at(
        0.0,
        Action::Feed(
            json!({"type": "scan", "device_id": "scanner-1", "data": PENS,
        "gtin": PENS, "mode": "receiving", "quantity": 60})
            .to_string(),
        ),
    );
    for badge in ["EMP-1", "EMP-2"] {
        at(
            HOUR,
            Action::Feed(
                json!({"type": "scan", "device_id": "scanner-1", "data": badge,
            "mode": "badge"})
                .to_string(),
            ),
        );
    }
    for quarter in 0..44 {
        at(
            HOUR + f64::from(quarter) * 15.0 * MIN,
            Action::Feed(feed_door(HOUR + f64::from(quarter) * 15.0 * MIN, 5)),
        );
    }

    // The s1 door counter: every 5 minutes, 5 entries a quarter (60 in the rush hour).
    let mut inside = 0u32;
    for quarter in 0..44 {
        let start = HOUR + f64::from(quarter) * 15.0 * MIN;
        let rush = (7.0 * HOUR..8.0 * HOUR).contains(&start);
        if start == 7.0 * HOUR {
            at(
                start,
                Action::Say("the afternoon rush: 60 people a quarter hour through the door".into()),
            );
        }
        for (k, entries) in [2u32, 2, 1].into_iter().enumerate() {
            let entries = if rush { 20 } else { entries };
            // Most people leave within a few minutes; the shop empties at closing.
            let exits = (inside * 3).div_ceil(4).min(inside);
            inside = inside + entries - exits;
            at(
                start + (4.0 + 5.0 * k as f64) * MIN,
                Action::Door { entries, exits },
            );
        }
    }
    at(
        12.0 * HOUR - 30.0,
        Action::Door {
            entries: 0,
            exits: inside,
        },
    );

    // Till scans and receipts.
    let mut sell = |t: f64,
                    register: u32,
                    kind: ReceiptKind,
                    lines: Vec<(usize, u32)>,
                    steps: &mut Vec<Step>| {
        receipt_id += 1;
        let mut s = t;
        for &(p, q) in &lines {
            let sign = if kind == ReceiptKind::Sale { -1.0 } else { 1.0 };
            *stock.entry(p).or_default() += sign * f64::from(q);
            if kind == ReceiptKind::Sale {
                for _ in 0..q {
                    steps.push(Step {
                        at: s,
                        action: Action::TillScan(products[p].gtin.clone()),
                    });
                    s += 4.0;
                }
            }
        }
        steps.push(Step {
            at: s + 20.0,
            action: Action::Print(Receipt {
                id: receipt_id,
                register,
                kind,
                lines,
            }),
        });
    };
    for (t, lines) in baskets {
        sell(t, 1, ReceiptKind::Sale, lines, &mut steps);
    }
    steps.push(Step {
        at: 2.0 * HOUR,
        action: Action::Say(
            "pens sell one every 10 minutes: 18 on the shelf, reorder point 10".into(),
        ),
    });
    for i in 0..18 {
        sell(
            2.0 * HOUR + f64::from(i) * 10.0 * MIN + MIN,
            1,
            ReceiptKind::Sale,
            vec![(pens, 1)],
            &mut steps,
        );
    }
    sell(
        3.0 * HOUR,
        1,
        ReceiptKind::Sale,
        vec![(notebooks, 3)],
        &mut steps,
    );
    steps.push(Step {
        at: 5.0 * HOUR,
        action: Action::Say("service desk: a run of phone charger returns".into()),
    });
    for i in 0..8 {
        sell(
            5.0 * HOUR + f64::from(i) * 5.0 * MIN + 2.0 * MIN,
            2,
            ReceiptKind::Return,
            vec![(chargers, 1)],
            &mut steps,
        );
    }
    steps.push(Step {
        at: DAY_SECS,
        action: Action::Say("the last customers leave".into()),
    });

    steps.sort_by(|a, b| a.at.total_cmp(&b.at));
    Plan {
        products,
        steps,
        closing_stock: stock,
    }
}

/// "HH:MM" of a simulated second after 07:00.
pub fn clock(at: f64) -> String {
    let minutes = 7 * 60 + (at.max(0.0) / 60.0) as u64;
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// "HH:MM" of an epoch time in ms (UTC, as the demo's stores keep it), with the day's offset
/// in front when it is not on the demo's day ("+1d 13:21"): HQ stamps what it decides with its
/// own clock when it has no event time to go by.
pub fn clock_ms(ms: i64) -> String {
    const DAY_MS: i64 = 86_400_000;
    let since_midnight = ms - (DAY_START_MS - 7 * 3_600_000);
    let day = since_midnight.div_euclid(DAY_MS);
    let minutes = since_midnight.rem_euclid(DAY_MS) / 60_000;
    let hhmm = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    match day {
        0 => hhmm,
        d => format!("{d:+}d {hhmm}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_and_catalogue() {
        assert_eq!(with_check_digit("400638133393"), PENS);
        assert_eq!(with_check_digit("544900000099"), "5449000000996");
        let products = products();
        let csv = catalogue_csv(&products);
        assert_eq!(csv.lines().count(), products.len() + 1);
        assert!(
            csv.contains("4006381333931,Ballpoint pens blue,12,10,,,60,\n"),
            "{csv}"
        );
    }

    #[test]
    fn the_plan_tells_the_story_of_the_store_day() {
        for busy in [0.5, 1.0, 3.0] {
            let plan = plan(busy);
            let p = &plan.products;
            assert!(plan.steps.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(plan.steps.iter().all(|s| (0.0..=DAY_SECS).contains(&s.at)));
            let idx = |g: &str| p.iter().position(|x| x.gtin == g).unwrap();
            // The scripted conditions, exactly as in the line-feed store day.
            assert_eq!(plan.closing_stock[&idx(PENS)], 0.0);
            assert_eq!(plan.closing_stock[&idx(NOTEBOOKS)], 5.0);
            assert_eq!(plan.closing_stock[&idx(CHARGERS)], 8.0);
            // Background articles never come near their reorder point: no other alert.
            for (i, product) in p.iter().enumerate().filter(|(_, x)| x.background) {
                let left = plan.closing_stock[&i];
                assert!(
                    left > f64::from(product.reorder_point),
                    "{} {left}",
                    product.name
                );
            }
            // Nobody leaves who did not come in, and everyone leaves.
            let (mut entries, mut exits) = (0, 0);
            for s in &plan.steps {
                if let Action::Door {
                    entries: e,
                    exits: x,
                } = s.action
                {
                    entries += e;
                    exits += x;
                    assert!(exits <= entries);
                }
            }
            assert_eq!(entries, exits);
            let returns = plan
                .steps
                .iter()
                .filter(|s| matches!(&s.action, Action::Print(r) if r.kind == ReceiptKind::Return))
                .count();
            assert_eq!(returns, 8);
        }
    }

    #[test]
    fn receipts_print_the_gtin_layout_with_a_cut() {
        let products = products();
        let r = Receipt {
            id: 1001,
            register: 1,
            kind: ReceiptKind::Sale,
            lines: vec![(0, 2), (3, 1)],
        };
        assert_eq!(
            r.text(&products),
            "Receipt: 1001\nRegister: 1\nCashier: 7\n\
             4006381333931 Ballpoint pens blue  2 x 2.50  5.00\n\
             5449000000996 Mineral water 1.5 l  1 x 0.89  0.89\n\
             TOTAL EUR  5.89\n"
        );
        let back = Receipt {
            id: 7,
            register: 2,
            kind: ReceiptKind::Return,
            lines: vec![(2, 1)],
        };
        assert!(back.text(&products).starts_with("RETURN\n"));
        assert!(back.text(&products).ends_with("TOTAL EUR  -19.99\n"));
        let bytes = r.escpos(&products);
        assert!(bytes.starts_with(&[0x1B, b'@']));
        assert!(bytes.ends_with(&[0x1D, b'V', 0x42, 0]));
        assert_eq!(clock(0.0), "07:00");
        assert_eq!(clock(OUTAGE.0), "12:45");
        assert_eq!(clock(OUTAGE.1), "13:35");
        assert_eq!(clock_ms(DAY_START_MS + 7 * 3_600_000), "14:00");
        assert_eq!(
            clock_ms(DAY_START_MS + 30 * 3_600_000 + 60_000),
            "+1d 13:01"
        );
        assert_eq!(clock_ms(DAY_START_MS - 8 * 3_600_000), "-1d 23:00");
    }
}
