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
    // The committed corpora hold over a thousand inputs each; an empty list means the path is
    // wrong, not that there is nothing to check.
    assert!(
        files.len() > 100,
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
