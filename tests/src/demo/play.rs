//! Plays the day's plan on the virtual devices, each step at its simulated time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use store_proto::SeqSet;

use super::day::{Action, Plan, ReceiptKind, DAY_START_MS};
use super::devices::{DoorCounter, HidPosScanner, SerialScanner, Till};
use crate::store_day::Feed;

/// The devices the plan plays on.
pub struct Devices {
    /// Store s1's back-room handheld (serial scanner).
    pub handheld: SerialScanner,
    /// Store s1's till scanner (HID POS).
    pub till_scanner: HidPosScanner,
    /// Store s1's till, printing through the ESC/POS tap.
    pub till: Till,
    /// Store s1's door counter (Xovis push).
    pub door: DoorCounter,
    /// Store s2's line feed.
    pub feed: Feed,
}

/// What the devices did so far: what HQ should end up with.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Simulated seconds of the last step played.
    pub at: f64,
    pub steps: u64,
    /// Staff command barcodes (modes, quantities): they change the scans after them and are
    /// not recorded themselves.
    pub commands: u64,
    /// Scans the s1 agent records: handheld items and badges, till scans.
    pub s1_scans: u64,
    pub receipts: u64,
    pub returns: u64,
    pub receipt_bytes: u64,
    pub door_posts: u64,
    /// Posts that counted somebody: each becomes one foot-traffic event.
    pub door_ticks: u64,
    pub entries: u64,
    pub exits: u64,
    /// s2's line-feed lines, and the seqs the agent answered `ok` with.
    pub feed_lines: u64,
    pub feed_acked: SeqSet,
    pub errors: Vec<String>,
}

/// A scan that is a staff command (mode or quantity barcode with the default prefixes).
pub fn is_command(data: &str) -> bool {
    data.starts_with("MODE-")
        || data
            .strip_prefix("QTY")
            .is_some_and(|n| (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Plays `plan` from `anchor` (real instant of 07:00) at `speed` simulated seconds per second,
/// until it ends or `stop` is set. `say` prints a narration line with its clock.
pub fn play(
    plan: &Plan,
    devices: &mut Devices,
    anchor: Instant,
    speed: f64,
    progress: &Mutex<Progress>,
    stop: &AtomicBool,
    say: impl Fn(f64, &str),
) {
    let update = |f: &mut dyn FnMut(&mut Progress)| {
        f(&mut progress.lock().unwrap_or_else(|e| e.into_inner()));
    };
    for step in &plan.steps {
        let due = anchor + Duration::from_secs_f64(step.at / speed);
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
        let result = match &step.action {
            Action::Say(text) => {
                say(step.at, text);
                Ok(())
            }
            Action::Handheld(data) => devices.handheld.scan(data).map(|()| {
                update(&mut |p| {
                    if is_command(data) {
                        p.commands += 1;
                    } else {
                        p.s1_scans += 1;
                    }
                })
            }),
            Action::TillScan(gtin) => devices
                .till_scanner
                .scan_ean13(gtin)
                .map(|()| update(&mut |p| p.s1_scans += 1)),
            Action::Print(receipt) => {
                let job = receipt.escpos(&plan.products);
                devices.till.print(&job).map(|()| {
                    update(&mut |p| {
                        p.receipts += 1;
                        p.returns += u64::from(receipt.kind == ReceiptKind::Return);
                        p.receipt_bytes += job.len() as u64;
                    })
                })
            }
            &Action::Door { entries, exits } => {
                let time_ms = DAY_START_MS + (step.at * 1000.0) as i64;
                devices.door.post(time_ms, entries, exits).map(|()| {
                    update(&mut |p| {
                        p.door_posts += 1;
                        p.door_ticks += u64::from(entries + exits > 0);
                        p.entries += u64::from(entries);
                        p.exits += u64::from(exits);
                    })
                })
            }
            Action::Feed(line) => devices.feed.send(line).map(|seq| {
                update(&mut |p| {
                    p.feed_lines += 1;
                    p.feed_acked.insert(seq);
                })
            }),
        };
        update(&mut |p| {
            p.at = step.at;
            p.steps += 1;
            if let Err(e) = &result {
                p.errors.push(e.clone());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_told_from_scans() {
        for c in ["MODE-RECEIVE", "MODE-COUNT", "QTY12", "QTY999999"] {
            assert!(is_command(c), "{c}");
        }
        for s in ["QTY", "QTY1234567", "QTY1A", "BADGE-EMP1", "4006381333931"] {
            assert!(!is_command(s), "{s}");
        }
    }
}
