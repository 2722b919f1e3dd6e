use std::time::Duration;

use store_drivers::Record;
use store_proto::v1::{PosTransaction, Scan, ScanMode};
use store_proto::{Body, Event};
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::config::JournalConfig;
use crate::journal::{run_writer, Journal};

const KEY: &str = "0123456789abcdef0123456789abcdef-chain-key";
const OTHER: &str = "fedcba9876543210fedcba9876543210-other-key";

fn badge(id: &str) -> Event {
    Event {
        device_id: "scanner-1".into(),
        body: Some(Body::Scan(Scan {
            data: id.into(),
            raw: format!("BADGE-{id}").into_bytes(),
            mode: ScanMode::Badge as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn sale(operator: &str, raw_text: &str) -> Event {
    Event {
        device_id: "till-1".into(),
        body: Some(Body::PosTransaction(PosTransaction {
            register_id: "1".into(),
            operator_id: operator.into(),
            raw_text: raw_text.into(),
            error: if raw_text.is_empty() {
                String::new()
            } else {
                "no total line".into()
            },
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn applied(p: &Privacy, mut e: Event) -> Event {
    p.apply(&mut e);
    e
}

fn badge_of(e: &Event) -> (&str, &[u8]) {
    match &e.body {
        Some(Body::Scan(s)) => (&s.data, &s.raw),
        b => panic!("{b:?}"),
    }
}

fn tx_of(e: &Event) -> &PosTransaction {
    match &e.body {
        Some(Body::PosTransaction(t)) => t,
        b => panic!("{b:?}"),
    }
}

/// Two agents (stores) configured with the same key file.
fn with_key(dir: &Path, key: &str, send_raw_receipts: bool) -> Privacy {
    let file = dir.join(format!("key-{}", key.len() + key.as_bytes()[0] as usize));
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let cfg = PrivacyConfig {
        key_file: Some(file),
        send_raw_receipts,
        ..PrivacyConfig::default()
    };
    Privacy::load(&cfg, &dir.join("state")).unwrap()
}

#[test]
fn pseudonyms_are_stable_per_key_and_never_the_clear_id() {
    let dir = tempfile::tempdir().unwrap();
    let store_a = with_key(dir.path(), KEY, false);
    let store_b = with_key(dir.path(), KEY, false);
    let other = with_key(dir.path(), OTHER, false);
    let a = applied(&store_a, badge("1042"));
    let b = applied(&store_b, badge("1042"));
    let (pa, raw) = badge_of(&a);
    assert_eq!(
        pa,
        badge_of(&b).0,
        "same key: same pseudonym at every store"
    );
    assert!(raw.is_empty(), "the badge barcode's raw bytes are dropped");
    assert_eq!(pa.len(), 18);
    assert!(
        pa.starts_with("p:") && pa[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{pa}"
    );
    assert!(!pa.contains("1042"));
    assert_ne!(
        pa,
        badge_of(&applied(&other, badge("1042"))).0,
        "another key"
    );
    assert_ne!(
        pa,
        badge_of(&applied(&store_a, badge("1043"))).0,
        "another badge"
    );

    let t = applied(&store_a, sale("cashier-7", ""));
    let op = &tx_of(&t).operator_id;
    assert_eq!(op, &store_b.pseudonym("cashier-7"));
    assert!(op.starts_with("p:") && !op.contains("cashier-7"), "{op}");
    assert_eq!(
        tx_of(&applied(&store_a, sale("", ""))).operator_id,
        "",
        "no id stays no id"
    );
}

#[test]
fn without_a_key_file_a_per_store_key_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let first = Privacy::load(&PrivacyConfig::default(), &state).unwrap();
    let path = state.join(GENERATED_KEY_FILE);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = Privacy::load(&PrivacyConfig::default(), &state).unwrap();
    assert_eq!(
        first.pseudonym("EMP-1"),
        again.pseudonym("EMP-1"),
        "stable across restarts"
    );
    assert!(first.pseudonym("EMP-1").starts_with("p:"));
    let elsewhere = Privacy::load(&PrivacyConfig::default(), &dir.path().join("other")).unwrap();
    assert_ne!(
        first.pseudonym("EMP-1"),
        elsewhere.pseudonym("EMP-1"),
        "per store"
    );
}

#[test]
fn a_short_or_missing_key_file_is_a_start_up_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "secret\n").unwrap();
    for file in [short, dir.path().join("absent")] {
        let cfg = PrivacyConfig {
            key_file: Some(file),
            ..PrivacyConfig::default()
        };
        let e = Privacy::load(&cfg, dir.path()).unwrap_err().to_string();
        assert!(e.starts_with("privacy.key_file"), "{e}");
    }
}

#[test]
fn clear_ids_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PrivacyConfig {
        ids: IdPolicy::Clear,
        ..PrivacyConfig::default()
    };
    let p = Privacy::load(&cfg, dir.path()).unwrap();
    assert_eq!(badge_of(&applied(&p, badge("1042"))).0, "1042");
    assert!(
        !dir.path().join(GENERATED_KEY_FILE).exists(),
        "no key needed"
    );
}

const RECEIPT: &str = "ACME Store\nMember: Jane Doe 4006381333931\nLoyalty 12345678\n\
Visa 4111 1111 1111 1111\nCard ****1234  XXXX-XXXX-XXXX-9876\nQty 2 x 3.99  7.98\n\
Receipt 4711 12:30\n";

#[test]
fn unparsed_receipt_text_is_dropped_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_key(dir.path(), KEY, false);
    let t = applied(&p, sale("c1", RECEIPT));
    let tx = tx_of(&t);
    assert_eq!(tx.raw_text, "");
    assert_eq!(tx.error, format!("no total line; {WITHHELD}"));
}

#[test]
fn unparsed_receipt_text_is_masked_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_key(dir.path(), KEY, true);
    let t = applied(&p, sale("c1", RECEIPT));
    let tx = tx_of(&t);
    assert_eq!(tx.error, "no total line");
    assert_eq!(
        tx.raw_text,
        "ACME Store\nMember: Jane Doe *************\nLoyalty ********\n\
Visa **** **** **** ****\nCard ********  XXXX-XXXX-XXXX-****\nQty 2 x 3.99  7.98\n\
Receipt 4711 12:30\n"
    );
}

#[test]
fn masking_edge_cases() {
    assert_eq!(mask_numbers("1234567"), "1234567", "7 digits stay");
    assert_eq!(mask_numbers("4111-1111-1111-1111"), "****-****-****-****");
    assert_eq!(mask_numbers("12 34 56"), "12 34 56");
    assert_eq!(mask_numbers("a  4111111111111111."), "a  ****************.");
    assert_eq!(
        mask_numbers("••••  1234"),
        "••••  1234",
        "two spaces end a group"
    );
    assert_eq!(mask_numbers("•••• 1234"), "•••• ****");
    assert_eq!(mask_numbers("Box 2"), "Box 2");
    assert_eq!(mask_numbers(""), "");
}

/// What reaches the disk: the journal's files never contain the clear ids.
#[tokio::test]
async fn clear_ids_never_reach_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (journal, reader, _) = Journal::open(&state, JournalConfig::default()).unwrap();
    let (sink, records) = mpsc::channel(8);
    let (_inputs_tx, inputs) = mpsc::unbounded_channel();
    let privacy = with_key(dir.path(), KEY, false);
    let expected = privacy.pseudonym("cashier-clear-7");
    let writer = tokio::spawn(run_writer(journal, records, inputs, privacy));
    for event in [badge("badge-clear-1042"), sale("cashier-clear-7", RECEIPT)] {
        let (tx, rx) = oneshot::channel();
        sink.send(Record {
            event,
            reply: Some(tx),
        })
        .await
        .unwrap();
        rx.await.unwrap().unwrap();
    }
    let held = reader.get(2).expect("the sale is journaled");
    assert_eq!(tx_of(&held).operator_id, expected);
    drop(sink);
    let journal = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    drop(journal);
    drop(reader);
    let mut files = vec![state];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for clear in ["badge-clear-1042", "cashier-clear-7", "Jane Doe", "4111"] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{clear} in {}",
                path.display()
            );
        }
    }
}
