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
        let selected: Vec<&Measurement<O>> = self
            .measurements
            .iter()
            .filter(|(name, _, _)| only.is_none_or(|o| o.iter().any(|n| n == name)))
            .collect();
        for (name, what, _) in &selected {
            println!("  {name:<10} {what}");
        }

        let mut results = Results::new(runs);
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
        if !results.failures.is_empty() {
            println!("\n== failures ==");
            for f in &results.failures {
                println!("  {f}");
            }
            std::process::exit(1);
        }
    }
}

/// Everything measured so far.
struct Results {
    runs: usize,
    /// Metric full name (`measurement.metric`) -> (unit, value per run; `None` when that run
    /// failed).
    values: BTreeMap<String, (&'static str, Vec<Option<f64>>)>,
    failures: Vec<String>,
}

impl Results {
    fn new(runs: usize) -> Self {
        Self {
            runs,
            values: BTreeMap::new(),
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
        let mut r = Results::new(3);
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
    fn panic_text_reads_both_payload_kinds() {
        let owned = catch_unwind(|| panic!("{}", String::from("boom"))).unwrap_err();
        let literal = catch_unwind(|| std::panic::panic_any("bang")).unwrap_err();
        let other = catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_text(&owned), "boom");
        assert_eq!(panic_text(&literal), "bang");
        assert_eq!(panic_text(&other), "panicked");
    }
}
