//! The pure half of a tap: a copy of the print stream in, event bodies out.
//!
//! ```text
//! bytes ─EscPosDecoder─▶ Receipt ─template::parse_receipt─▶ PosTransaction
//! gap (copies dropped) ─▶ DeviceStatus DECODE_ERROR + the receipts around it kept raw
//! ```
//!
//! Rules (each has a test):
//! - Every receipt the decoder produces becomes one `PosTransaction`; one the template cannot
//!   read keeps its text in `raw_text` with the reason in `error` (the template's own rule).
//! - A gap (print data that was forwarded to the printer but never reached the capture) yields
//!   one decode-error `DeviceStatus` naming the byte count. The receipt pending before the gap
//!   and the first receipt after it are incomplete: they are kept as raw text with an error and
//!   no items or total, so nobody applies half a receipt. The decoder starts afresh after a
//!   gap: whatever command was cut in half must not swallow what follows.
//! - Nothing here does I/O or panics, whatever the input.

use std::sync::Arc;

use store_proto::v1::{DeviceState, DeviceStatus, PosTransaction};
use store_proto::Body;

use crate::pos::escpos::{EscPosDecoder, EscPosOptions, Receipt};
use crate::pos::template::{parse_receipt, Template};

/// Reads a copy of one print stream (one till connection, or one serial line) into events.
#[derive(Debug)]
pub struct ReceiptCapture {
    options: EscPosOptions,
    decoder: EscPosDecoder,
    template: Arc<Template>,
    /// Bytes lost just before the receipt now pending; it is incomplete when non-zero.
    lost_before_pending: u64,
}

impl ReceiptCapture {
    pub fn new(template: Arc<Template>, options: EscPosOptions) -> Self {
        ReceiptCapture {
            decoder: EscPosDecoder::new(options.clone()),
            options,
            template,
            lost_before_pending: 0,
        }
    }

    /// Reads bytes as printed; returns the events of the receipts they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Body> {
        let receipts = self.decoder.push(bytes);
        receipts.into_iter().map(|r| self.receipt(r)).collect()
    }

    /// `dropped` bytes were printed but not captured here: reports it and closes the receipt in
    /// progress as incomplete.
    pub fn gap(&mut self, dropped: u64) -> Vec<Body> {
        let mut out = vec![Body::DeviceStatus(DeviceStatus {
            state: DeviceState::DecodeError as i32,
            reason: format!(
                "{dropped} bytes went to the printer without being read (the receipt reader \
                 fell behind or stopped; printing was not affected): the receipts around the \
                 gap are kept as raw text"
            ),
            raw: Vec::new(),
        })];
        // The receipt in progress lost its end (or, when it is empty, the next one may have lost
        // its start: nobody knows where in the gap a receipt began).
        let lost = self.lost_before_pending;
        if let Some(r) = self.decoder.flush_idle() {
            out.push(incomplete(&self.template, &r, lost + dropped));
        }
        self.decoder = EscPosDecoder::new(self.options.clone());
        self.lost_before_pending = dropped;
        out
    }

    /// Ends the receipt in progress because the stream went quiet or closed.
    pub fn flush_idle(&mut self) -> Option<Body> {
        let r = self.decoder.flush_idle()?;
        Some(self.receipt(r))
    }

    /// Whether a receipt is waiting for its cut (or for [`ReceiptCapture::flush_idle`]).
    pub fn has_pending(&self) -> bool {
        self.decoder.has_pending()
    }

    fn receipt(&mut self, r: Receipt) -> Body {
        let lost = std::mem::take(&mut self.lost_before_pending);
        if lost > 0 {
            return incomplete(&self.template, &r, lost);
        }
        Body::PosTransaction(parse_receipt(&self.template, &r))
    }
}

/// A receipt with bytes missing: its header fields as read, its text, no items, no total.
fn incomplete(template: &Template, r: &Receipt, lost: u64) -> Body {
    let parsed = parse_receipt(template, r);
    Body::PosTransaction(PosTransaction {
        register_id: parsed.register_id,
        receipt_id: parsed.receipt_id,
        kind: parsed.kind,
        operator_id: parsed.operator_id,
        raw_text: r.text.clone(),
        error: format!(
            "incomplete receipt: {lost} bytes of the print stream around it were not read"
        ),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pos::fuzz::XorShift;
    use store_proto::v1::TransactionKind;

    fn generic() -> Arc<Template> {
        let t = Template::from_toml(crate::pos::template::builtin("generic").unwrap()).unwrap();
        Arc::new(t)
    }

    fn capture() -> ReceiptCapture {
        ReceiptCapture::new(generic(), EscPosOptions::default())
    }

    const SALE: &[u8] =
        b"\x1b@Receipt: 7\nMilk 1L          2 x 1.99    3.98\nTOTAL EUR   3.98\n\x1dV\x00";

    fn tx(b: &Body) -> &PosTransaction {
        match b {
            Body::PosTransaction(t) => t,
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn receipts_become_transactions_and_misfits_stay_raw() {
        let mut c = capture();
        let out = c.push(SALE);
        assert_eq!(out.len(), 1);
        let t = tx(&out[0]);
        assert_eq!((t.receipt_id.as_str(), t.total_minor), ("7", 398));
        assert_eq!(t.kind, TransactionKind::Sale as i32);
        assert_eq!(t.error, "");

        let out = c.push(b"Hello there\n\x1bi");
        let t = tx(&out[0]);
        assert!(t.error.contains("total"), "{}", t.error);
        assert_eq!(t.raw_text, "Hello there\n");

        assert!(c.push(b"Receipt: 8\nBread  2.49\n").is_empty());
        assert!(c.has_pending());
        let t = c.flush_idle().unwrap();
        assert!(tx(&t).error.contains("total"), "{t:?}");
        assert!(!c.has_pending());
    }

    #[test]
    fn a_gap_is_reported_and_the_receipts_around_it_kept_raw() {
        let mut c = capture();
        assert!(c.push(&SALE[..30]).is_empty());
        let out = c.gap(40);
        assert_eq!(out.len(), 2);
        match &out[0] {
            Body::DeviceStatus(s) => {
                assert_eq!(s.state, DeviceState::DecodeError as i32);
                assert!(s.reason.starts_with("40 bytes"), "{}", s.reason);
            }
            other => panic!("{other:?}"),
        }
        let before = tx(&out[1]);
        assert_eq!(before.receipt_id, "7");
        assert!(before.items.is_empty() && before.total_minor == 0);
        assert!(
            before.error.starts_with("incomplete receipt"),
            "{}",
            before.error
        );
        assert!(before.raw_text.starts_with("Receipt: 7"));

        // The tail of a receipt: it reads fine, but its start is missing.
        let out = c.push(b"Bread   2.49\nTOTAL EUR   2.49\n\x1dV\x01");
        let after = tx(&out[0]);
        assert!(
            after.error.starts_with("incomplete receipt: 40"),
            "{after:?}"
        );
        assert!(after.items.is_empty());
        // The one after that is whole again.
        let out = c.push(SALE);
        assert_eq!(tx(&out[0]).error, "");
        assert_eq!(tx(&out[0]).total_minor, 398);
    }

    #[test]
    fn a_gap_inside_an_image_does_not_swallow_the_next_receipt() {
        let mut c = capture();
        // GS v 0 with a 64 KiB raster announced; only a few bytes of it arrive.
        assert!(c.push(b"\x1dv0\x00\xff\x00\xff\x00\x01\x02").is_empty());
        let out = c.gap(1000);
        assert_eq!(out.len(), 1, "nothing was pending: {out:?}");
        let out = c.push(SALE);
        assert_eq!(out.len(), 1);
        assert!(tx(&out[0]).error.starts_with("incomplete"));
        assert_eq!(tx(&c.push(SALE)[0]).error, "");
    }

    #[test]
    fn never_panics_on_mutated_streams_and_gaps() {
        let mut rng = XorShift(0x7A9_5EED);
        let alphabet = [
            0x1b, 0x1d, 0x10, 0x1c, b'@', b'V', b'i', b'\n', 0x00, b'v', b'k',
        ];
        // Compiling the template's patterns is the slow part: once for all runs.
        let template = generic();
        for _ in 0..2000 {
            let input = rng.mutate(SALE, &alphabet);
            let mut c = ReceiptCapture::new(template.clone(), EscPosOptions::default());
            for chunk in rng.chunks(&input) {
                let _ = c.push(chunk);
                if rng.below(8) == 0 {
                    let _ = c.gap(rng.below(100) as u64 + 1);
                }
            }
            let _ = c.flush_idle();
        }
    }
}
