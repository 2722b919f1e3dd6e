//! The fault suite of store-edge: each case starts real processes, injects one kind of fault
//! under load and accounts for every confirmed event (see `store_tests::faults` for the cases and
//! the definitions of confirmed, applied, reported, lost and double-applied).
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p store-tests --bin faults -- [--full] [--only a,b] [--seed N]
//!     [--json PATH] [--list]
//! ```
//!
//! Without `--full` it runs the reduced suite CI runs (5 agent kills, a 5 s broker outage, ...);
//! `--full` runs the documented one (50 kills, 60 s outage, ...). Prints a Markdown table, writes
//! the same as JSON (`--json`, default `target/faults.json`), and exits with 1 when a case
//! failed: lost or double-applied events, another violation, or a panic (a timeout, a crashed
//! process; its test directory is then kept). The bridge peer's loss is shown, not failed on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use store_tests::faults::{Outcome, Params, CASES};

struct Opts {
    full: bool,
    only: Option<Vec<String>>,
    seed: u64,
    json: PathBuf,
    list: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        full: false,
        only: None,
        seed: rand::random(),
        json: PathBuf::from("target/faults.json"),
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--full" => opts.full = true,
            "--list" => opts.list = true,
            "--only" => {
                let names: Vec<String> = value()?.split(',').map(str::to_string).collect();
                for n in &names {
                    if !CASES.iter().any(|c| c.name == n) {
                        return Err(format!("unknown case {n:?} (see --list)"));
                    }
                }
                opts.only = Some(names);
            }
            "--seed" => {
                let v = value()?;
                opts.seed = v
                    .parse()
                    .map_err(|_| format!("--seed needs a u64, got {v:?}"))?;
            }
            "--json" => opts.json = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Ok(s) = std::env::var("STORE_TESTS_SEED") {
        opts.seed = s
            .parse()
            .map_err(|_| format!("STORE_TESTS_SEED must be a u64, got {s:?}"))?;
    }
    Ok(opts)
}

#[derive(Serialize)]
struct Row {
    case: &'static str,
    what: &'static str,
    judged: bool,
    seconds: f64,
    passed: bool,
    /// The panic message when the case did not get to its accounting.
    error: Option<String>,
    outcome: Option<Outcome>,
}

#[derive(Serialize)]
struct Doc<'a> {
    suite: &'static str,
    seed: u64,
    rows: &'a [Row],
    passed: bool,
}

/// A stable per-case seed, so `--only x --seed N` replays case x of a full run with seed N.
fn case_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("faults: {e}");
            std::process::exit(2);
        }
    };
    if opts.list {
        for c in CASES {
            println!("{:<18} {}", c.name, c.what);
        }
        return;
    }
    let params = if opts.full {
        Params::full()
    } else {
        Params::reduced()
    };
    let suite = if opts.full { "full" } else { "reduced" };
    println!(
        "fault suite ({suite}), seed {} (replay with --seed {})",
        opts.seed, opts.seed
    );
    let mut rows = Vec::new();
    for case in CASES {
        if opts
            .only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == case.name))
        {
            continue;
        }
        if !opts.full && !case.ci && opts.only.is_none() {
            println!(
                "\n=== {} — skipped in the reduced run: fails today on a known bug (README, \
                 \"Fault suite\"); run it with --full or --only {}",
                case.name, case.name
            );
            continue;
        }
        println!("\n=== {} — {}", case.name, case.what);
        let mut rng = StdRng::seed_from_u64(case_seed(opts.seed, case.name));
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (case.run)(&params, &mut rng)));
        let seconds = start.elapsed().as_secs_f64();
        let row = match result {
            Ok(o) => Row {
                case: case.name,
                what: case.what,
                judged: case.judged,
                seconds,
                passed: !case.judged || o.passed(),
                error: None,
                outcome: Some(o),
            },
            Err(panic) => Row {
                case: case.name,
                what: case.what,
                judged: case.judged,
                seconds,
                passed: false,
                error: Some(panic_message(&panic)),
                outcome: None,
            },
        };
        if let Some(o) = &row.outcome {
            for v in &o.violations {
                println!("  violation: {v}");
            }
        }
        if let Some(e) = &row.error {
            println!("  FAILED: {e}");
        }
        rows.push(row);
    }
    let passed = rows.iter().all(|r| r.passed);
    println!("\n{}", table(&rows));
    let doc = Doc {
        suite,
        seed: opts.seed,
        rows: &rows,
        passed,
    };
    if let Some(dir) = opts.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(
        &opts.json,
        serde_json::to_string_pretty(&doc).expect("serialise"),
    ) {
        Ok(()) => println!("JSON: {}", opts.json.display()),
        Err(e) => eprintln!("cannot write {}: {e}", opts.json.display()),
    }
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    println!(
        "{} ({} cases, {total:.0} s, seed {})",
        if passed { "ALL PASSED" } else { "FAILED" },
        rows.len(),
        opts.seed
    );
    if !passed {
        std::process::exit(1);
    }
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| case | confirmed | applied | reported | lost | double-applied | figures | time | result |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---|\n",
    );
    for r in rows {
        let result = match (&r.outcome, r.judged, r.passed) {
            (None, _, _) => "FAIL (error)".to_string(),
            (Some(_), false, _) => "reference".to_string(),
            (Some(_), true, true) => "pass".to_string(),
            (Some(o), true, false) => format!("FAIL ({} violations)", o.violations.len()),
        };
        match &r.outcome {
            Some(o) => {
                let figures: Vec<String> =
                    o.extras.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {:.0} s | {result} |\n",
                    r.case,
                    o.confirmed,
                    o.applied,
                    o.reported,
                    o.lost,
                    o.double_applied,
                    figures.join("; "),
                    r.seconds
                ));
            }
            None => s.push_str(&format!(
                "| {} | - | - | - | - | - | {} | {:.0} s | {result} |\n",
                r.case,
                r.error
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .replace('|', "/"),
                r.seconds
            )),
        }
    }
    s
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic".to_string()
    }
}
