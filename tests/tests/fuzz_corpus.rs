//! The short version of fuzzing, on every CI run: every input of the committed fuzz corpora and
//! every saved crash (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) is run through the
//! same harness the fuzz targets use (`fuzz/src/`), so an invariant that a change breaks on an
//! input the fuzzer once found interesting fails here, on the stable toolchain, without
//! libFuzzer. The long runs are `scripts/fuzz.sh` (README, "Fuzzing").

use std::path::{Path, PathBuf};

// The harness is shared source, not a dependency: the fuzz crate is its own workspace (built by
// cargo-fuzz with its own flags), and only its plain-Rust modules are compiled in here.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.map(|e| e.expect("read corpus entry").path()));
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    // Every committed corpus holds at least its seeds (two to a dozen) and what the fuzzer
    // added to them; an empty list means the path is wrong, not that there is nothing to check.
    assert!(
        files.len() >= 2,
        "{target}: only {} inputs found",
        files.len()
    );
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target}: invariant broken on {}",
            file.display()
        );
    }
    println!("{target}: {} inputs replayed", files.len());
}

#[test]
fn collector_publish_corpus_keeps_its_invariants() {
    replay("collector_publish", harness::collector_publish::run);
}

#[test]
fn agent_ack_corpus_keeps_its_invariants() {
    replay("agent_ack", harness::agent_ack::run);
}

/// One test per decoder target (`fuzz/fuzz_targets/`), named after it.
macro_rules! replays {
    ($($test:ident: $target:literal => $run:path;)*) => {$(
        #[test]
        fn $test() {
            replay($target, $run);
        }
    )*};
}

replays! {
    gs1_corpus_keeps_its_invariants: "gs1" => harness::gs1::run;
    serial_framing_corpus_keeps_its_invariants: "serial_framing" => harness::serial_framing::run;
    hid_pos_corpus_keeps_its_invariants: "hid_pos" => harness::hid_pos::run;
    wedge_corpus_keeps_its_invariants: "wedge" => harness::wedge::run;
    escpos_corpus_keeps_its_invariants: "escpos" => harness::escpos::run;
    receipt_template_corpus_keeps_its_invariants: "receipt_template" => harness::receipt_template::run;
    counter_payload_corpus_keeps_its_invariants: "counter_payload" => harness::counter_payload::run;
    counter_serial_corpus_keeps_its_invariants: "counter_serial" => harness::counter_serial::run;
    poslog_corpus_keeps_its_invariants: "poslog" => harness::poslog::run;
    line_feed_corpus_keeps_its_invariants: "line_feed" => harness::line_feed::run;
    agent_config_corpus_keeps_its_invariants: "agent_config" => harness::config::run_agent;
    collector_config_corpus_keeps_its_invariants: "collector_config" => harness::config::run_collector;
    agent_command_corpus_keeps_its_invariants: "agent_command" => harness::agent_command::run;
    collector_command_corpus_keeps_its_invariants: "collector_command" => harness::collector_command::run;
}
