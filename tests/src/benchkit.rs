//! Collecting and printing benchmark results, shared by the `bench` and `collector_bench`
//! binaries.
//!
//! A binary describes its measurements as a [`Suite`]: each measurement is a function of the
//! binary's options returning named [`Metric`]s, and each ratio divides one metric by another
//! taken in the same run. [`Suite::run`] then runs every selected measurement once per run
//! (interleaved, so a slow phase of the machine does not land on one measurement only), catching
//! panics as failures, and prints:
//!
//! - every metric as it is measured, and the wall time of each measurement;
//! - a table of median, minimum and maximum per metric over the runs that produced it;
//! - the median of the per-run ratios, with the ratio of every run;
//! - the failures, after which the process exits with status 1.
//!
//! [`Suite::collect`] does the same without exiting and returns the [`Report`], which can also
//! render a comparison table in Markdown ([`Report::markdown`]: our metric against one metric
//! per peer column, with the median of the per-run ratios) and everything as JSON
//! ([`Report::to_json`]).
//!
//! The workloads themselves stay in the binaries.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// One number a measurement produced.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub value: f64,
}

/// Shorthand for a [`Metric`].
pub fn metric(name: &'static str, unit: &'static str, value: f64) -> Metric {
    Metric { name, unit, value }
}

/// A measurement over the binary's options `O`; `Err` (or a panic) fails that run of it.
pub type Measure<O> = fn(&O) -> Result<Vec<Metric>, String>;

/// `(name, description, function)`.
pub type Measurement<O> = (&'static str, &'static str, Measure<O>);

/// `(label, numerator, denominator)` over `measurement.metric` names taken in the same run.
pub type Ratio = (&'static str, &'static str, &'static str);

/// A row of a comparison table: `(label, our metric, one metric per peer column)`, metrics as
/// `measurement.metric`; `""` where a peer has no counterpart.
pub type Row = (&'static str, &'static str, &'static [&'static str]);

/// How many decimals a number gets in the printed tables.
///
/// The two binaries have printed numbers differently from the start; each keeps its own way so
/// that results stay comparable with earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decimals {
    /// None from 1000 up and for whole numbers, two otherwise.
    TwoBelowThousand,
    /// None from 100 up, two otherwise (whole numbers too).
    TwoBelowHundred,
}

impl Decimals {
    /// `v` formatted for the tables.
    pub fn format(self, v: f64) -> String {
        let whole = match self {
            Decimals::TwoBelowThousand => v.abs() >= 1000.0 || v.fract() == 0.0,
            Decimals::TwoBelowHundred => v.abs() >= 100.0,
        };
        if whole {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }
}

/// The measurements and ratios of one benchmark binary.
#[derive(Debug)]
pub struct Suite<O: 'static> {
    /// Run in this order in every run.
    pub measurements: &'static [Measurement<O>],
    pub ratios: &'static [Ratio],
    pub decimals: Decimals,
}

impl<O> Suite<O> {
    /// Whether `name` is one of the measurements (for checking `--only`).
    pub fn has(&self, name: &str) -> bool {
        self.measurements.iter().any(|(m, _, _)| *m == name)
    }

    /// The measurement names, comma-separated (for the usage text).
    pub fn names(&self) -> String {
        self.measurements
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Lists the selected measurements (all of them when `only` is `None`), runs each `runs`
    /// times and prints the results; exits with status 1 when any run of any measurement failed.
    pub fn run(&self, opts: &O, runs: usize, only: Option<&[String]>) {
        self.collect(opts, runs, only).exit_on_failures();
    }

    /// Like [`Suite::run`], but returns the results instead of exiting on failures.
    pub fn collect(&self, opts: &O, runs: usize, only: Option<&[String]>) -> Report {
        let selected: Vec<&Measurement<O>> = self
            .measurements
            .iter()
            .filter(|(name, _, _)| only.is_none_or(|o| o.iter().any(|n| n == name)))
            .collect();
        for (name, what, _) in &selected {
            println!("  {name:<10} {what}");
        }

        let mut results = Report::new(runs);
        for run in 0..runs {
            for (name, _, measure) in &selected {
                println!("\n== run {}/{runs}: {name} ==", run + 1);
                let started = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| measure(opts)))
                    .unwrap_or_else(|panic| Err(panic_text(&panic)));
                match outcome {
                    Ok(metrics) => {
                        for m in metrics {
                            println!(
                                "  {:<28} {:>14} {}",
                                m.name,
                                self.decimals.format(m.value),
                                m.unit
                            );
                            results.record(run, name, &m);
                        }
                    }
                    Err(e) => {
                        println!("  FAILED: {e}");
                        results
                            .failures
                            .push(format!("run {} {name}: {e}", run + 1));
                    }
                }
                println!("  ({:.1} s)", started.elapsed().as_secs_f64());
            }
        }

        results.print_medians(self.decimals);
        results.print_ratios(self.ratios);
        results.ratios = self.ratios.to_vec();
        results
    }
}

/// Everything measured.
#[derive(Debug)]
pub struct Report {
    runs: usize,
    /// Metric full name (`measurement.metric`) -> (unit, value per run; `None` when that run
    /// failed).
    values: BTreeMap<String, (&'static str, Vec<Option<f64>>)>,
    ratios: Vec<Ratio>,
    failures: Vec<String>,
}

/// Median, minimum and maximum of a metric over the runs that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Runs that produced the metric.
    pub n: usize,
}

impl Report {
    /// The failures (`run N measurement: why`).
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Prints the failures and exits with status 1 if there are any.
    pub fn exit_on_failures(&self) {
        if !self.failures.is_empty() {
            println!("\n== failures ==");
            for f in &self.failures {
                println!("  {f}");
            }
            std::process::exit(1);
        }
    }

    /// The summary and unit of `measurement.metric`, if any run produced it.
    pub fn summary(&self, name: &str) -> Option<(Summary, &'static str)> {
        let (unit, values) = self.values.get(name)?;
        let mut v: Vec<f64> = values.iter().flatten().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some((
            Summary {
                median: median(&v),
                min: v[0],
                max: v[v.len() - 1],
                n: v.len(),
            },
            unit,
        ))
    }

    /// `num / den` per run where both were measured, and their median.
    pub fn ratio(&self, num: &str, den: &str) -> Option<(f64, Vec<f64>)> {
        let (_, n) = self.values.get(num)?;
        let (_, d) = self.values.get(den)?;
        let per_run = per_run_ratios(n, d);
        let mut sorted = per_run.clone();
        sorted.sort_by(f64::total_cmp);
        (!sorted.is_empty()).then(|| (median(&sorted), per_run))
    }

    /// The comparison table: one line per row, `median [min-max]` for ours and each peer
    /// column, and after each peer the median of the per-run ratios ours/peer.
    pub fn markdown(&self, columns: &[&str], rows: &[Row], decimals: Decimals) -> String {
        let cell = |name: &str| match self.summary(name) {
            None => "-".to_owned(),
            Some((s, _)) => {
                let mut c = if s.min == s.max {
                    decimals.format(s.median)
                } else {
                    format!(
                        "{} [{}-{}]",
                        decimals.format(s.median),
                        decimals.format(s.min),
                        decimals.format(s.max)
                    )
                };
                if s.n < self.runs {
                    c.push_str(&format!(" ({} of {} runs)", s.n, self.runs));
                }
                c
            }
        };
        let mut out = String::from("| measure | unit | ours |");
        let mut rule = String::from("|---|---|---|");
        for c in columns {
            out.push_str(&format!(" {c} | ours/{c} |"));
            rule.push_str("---|---|");
        }
        out.push('\n');
        out.push_str(&rule);
        out.push('\n');
        for (label, ours, peers) in rows {
            let unit = self
                .summary(ours)
                .or_else(|| peers.iter().find_map(|p| self.summary(p)))
                .map_or("", |(_, u)| u);
            if self.summary(ours).is_none() && peers.iter().all(|p| self.summary(p).is_none()) {
                continue;
            }
            out.push_str(&format!("| {label} | {unit} | {} |", cell(ours)));
            for i in 0..columns.len() {
                let peer = peers.get(i).copied().unwrap_or("");
                if peer.is_empty() {
                    out.push_str(" - | - |");
                    continue;
                }
                let ratio = self
                    .ratio(ours, peer)
                    .map_or("-".to_owned(), |(m, _)| format!("{m:.2}"));
                out.push_str(&format!(" {} | {ratio} |", cell(peer)));
            }
            out.push('\n');
        }
        out
    }

    /// Every metric (per run, median, min, max), the suite's ratios, the comparison rows and
    /// the failures, with `context` (machine, date, options) as given.
    pub fn to_json(
        &self,
        columns: &[&str],
        rows: &[Row],
        context: serde_json::Value,
    ) -> serde_json::Value {
        use serde_json::json;
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .values
            .iter()
            .map(|(name, (unit, runs))| {
                let s = self.summary(name).map(|(s, _)| s);
                (
                    name.clone(),
                    json!({
                        "unit": unit,
                        "runs": runs,
                        "median": s.map(|s| s.median),
                        "min": s.map(|s| s.min),
                        "max": s.map(|s| s.max),
                    }),
                )
            })
            .collect();
        let ratios: Vec<_> = self
            .ratios
            .iter()
            .filter_map(|(label, num, den)| {
                let (m, per_run) = self.ratio(num, den)?;
                Some(json!({"label": label, "numerator": num, "denominator": den,
                            "median": m, "per_run": per_run}))
            })
            .collect();
        let rows: Vec<_> = rows
            .iter()
            .map(|(label, ours, peers)| {
                let peers: Vec<_> = columns
                    .iter()
                    .zip(peers.iter().chain(std::iter::repeat(&"")))
                    .map(|(col, peer)| {
                        let r = self.ratio(ours, peer);
                        json!({"column": col, "metric": peer,
                               "ratio_median": r.as_ref().map(|r| r.0),
                               "ratio_per_run": r.map(|r| r.1)})
                    })
                    .collect();
                json!({"label": label, "ours": ours, "peers": peers})
            })
            .collect();
        json!({
            "context": context,
            "runs": self.runs,
            "metrics": metrics,
            "ratios": ratios,
            "comparison": rows,
            "failures": self.failures,
        })
    }
    fn new(runs: usize) -> Self {
        Self {
            runs,
            values: BTreeMap::new(),
            ratios: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn record(&mut self, run: usize, measurement: &str, m: &Metric) {
        let entry = self
            .values
            .entry(format!("{measurement}.{}", m.name))
            .or_insert((m.unit, vec![None; self.runs]));
        entry.1[run] = Some(m.value);
    }

    fn print_medians(&self, decimals: Decimals) {
        let runs = self.runs;
        println!("\n== medians over {runs} run(s) ==");
        println!(
            "{:<38} {:>14} {:>14} {:>14}  unit",
            "metric", "median", "min", "max"
        );
        for (name, (unit, values)) in &self.values {
            let mut v: Vec<f64> = values.iter().flatten().copied().collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            println!(
                "{:<38} {:>14} {:>14} {:>14}  {unit}{}",
                name,
                decimals.format(median(&v)),
                decimals.format(v[0]),
                decimals.format(v[v.len() - 1]),
                if v.len() < runs {
                    format!(" ({} of {runs} runs)", v.len())
                } else {
                    String::new()
                }
            );
        }
    }

    fn print_ratios(&self, ratios: &[Ratio]) {
        let mut printed_header = false;
        for (label, num, den) in ratios {
            let (Some((_, n)), Some((_, d))) = (self.values.get(*num), self.values.get(*den))
            else {
                continue;
            };
            let mut per_run = per_run_ratios(n, d);
            if per_run.is_empty() {
                continue;
            }
            if !printed_header {
                println!("\n== ratios (per run, then median) ==");
                printed_header = true;
            }
            per_run.sort_by(f64::total_cmp);
            println!(
                "{label}: {:.3} (runs: {})",
                median(&per_run),
                per_run
                    .iter()
                    .map(|r| format!("{r:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// `num / den` of every run where both were measured and `den` is positive.
fn per_run_ratios(num: &[Option<f64>], den: &[Option<f64>]) -> Vec<f64> {
    num.iter()
        .zip(den)
        .filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect()
}

/// Median of sorted, non-empty values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile `p` (0-100) of sorted, non-empty values: the smallest value with at
/// least `p` percent of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    // 0.999 * 1000 is 999.0000000000001 in floating point: without the tolerance, p99.9 of 1000
    // values would be the largest instead of the 999th.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The message of a caught panic, so a failed run reports why.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_each_binarys_format() {
        let cases = [
            (0.0, "0", "0.00"),
            (1.0, "1", "1.00"),
            (21.32, "21.32", "21.32"),
            (101.0, "101", "101"),
            (289.24, "289.24", "289"),
            (1234.5, "1234", "1234"),
            (-0.5, "-0.50", "-0.50"),
        ];
        for (v, thousand, hundred) in cases {
            assert_eq!(Decimals::TwoBelowThousand.format(v), thousand, "{v}");
            assert_eq!(Decimals::TwoBelowHundred.format(v), hundred, "{v}");
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        assert_eq!(median(&[5.0]), 5.0);
    }

    #[test]
    fn failed_runs_leave_gaps_that_ratios_skip() {
        let mut r = Report::new(3);
        r.record(0, "a", &metric("x", "u", 10.0));
        r.record(2, "a", &metric("x", "u", 30.0));
        for run in 0..3 {
            r.record(run, "b", &metric("y", "u", [5.0, 1.0, 0.0][run]));
        }
        assert_eq!(
            r.values["a.x"],
            ("u", vec![Some(10.0), None, Some(30.0)]),
            "run 2 failed, so its slot stays empty"
        );
        // Run 2 has no numerator, run 3 a zero denominator: only run 1 gives a ratio.
        assert_eq!(
            per_run_ratios(&r.values["a.x"].1, &r.values["b.y"].1),
            [2.0]
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 99.9), 999.0);
        assert_eq!(percentile(&v, 100.0), 1000.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        // Few values: p999 of 10 values is the largest, never past the end.
        let few: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&few, 99.9), 10.0);
        assert_eq!(percentile(&few, 50.0), 5.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn markdown_rows_show_range_and_ratio_per_peer() {
        let mut r = Report::new(2);
        for (run, (ours, peer)) in [(10.0, 5.0), (30.0, 10.0)].into_iter().enumerate() {
            r.record(run, "e2e", &metric("eps", "events/s", ours));
            r.record(run, "peer", &metric("eps", "events/s", peer));
        }
        r.record(0, "only", &metric("x", "ms", 1.5));
        let rows: &[Row] = &[
            ("throughput", "e2e.eps", &["peer.eps", ""]),
            ("ours only", "only.x", &[]),
            ("never measured", "nope.x", &["nope.y"]),
        ];
        let md = r.markdown(&["A", "B"], rows, Decimals::TwoBelowThousand);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| measure | unit | ours | A | ours/A | B | ours/B |"
        );
        // Per-run ratios 2 and 3: median 2.5 (not 20/7.5).
        assert_eq!(
            lines[2],
            "| throughput | events/s | 20 [10-30] | 7.50 [5-10] | 2.50 | - | - |"
        );
        assert_eq!(
            lines[3],
            "| ours only | ms | 1.50 (1 of 2 runs) | - | - | - | - |"
        );
        assert_eq!(lines.len(), 4, "a row nobody measured is left out:\n{md}");
        let json = r.to_json(&["A", "B"], rows, serde_json::json!({"k": 1}));
        assert_eq!(json["metrics"]["e2e.eps"]["median"], 20.0);
        assert_eq!(json["comparison"][0]["peers"][0]["ratio_median"], 2.5);
        assert_eq!(json["context"]["k"], 1);
    }

    #[test]
    fn panic_text_reads_both_payload_kinds() {
        let owned = catch_unwind(|| panic!("{}", String::from("boom"))).unwrap_err();
        let literal = catch_unwind(|| std::panic::panic_any("bang")).unwrap_err();
        let other = catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_text(&owned), "boom");
        assert_eq!(panic_text(&literal), "bang");
        assert_eq!(panic_text(&other), "panicked");
    }
}
