//! The ESC/POS segmenter of the receipt printer taps (`pos::escpos::EscPosDecoder`): what a
//! till sends its printer in, one receipt per cut out.
//!
//! Input: byte 0 picks the power-on code page (modulo 6), byte 1 `max_text_bytes / 4`, byte 2
//! `max_raw_bytes / 16`, byte 3 a split point; the rest is the byte stream.
//!
//! Asserted besides "no panic": the receipts (text, raw bytes, barcodes, why each ended) do not
//! depend on how reads split the stream (all at once, split at the chosen point, one byte per
//! read); every receipt's text ends with a newline, has content (a non-space character or a
//! barcode) and stays within `max_text_bytes` (plus that newline; a character that alone is
//! longer than the bound still passes); `raw` keeps at most `max_raw_bytes` bytes, is marked
//! truncated exactly when it had to, and the raws are runs of the input in input order.

use store_drivers::pos::escpos::{CodePage, EscPosDecoder, EscPosOptions, Receipt};

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let [cp, text, raw, split, stream @ ..] = data else {
        return;
    };
    let code_page = [
        CodePage::Cp437,
        CodePage::Cp850,
        CodePage::Cp858,
        CodePage::Cp1252,
        CodePage::Iso8859_7,
        CodePage::Iso8859_15,
    ][usize::from(cp % 6)];
    let options = EscPosOptions {
        code_page,
        max_text_bytes: usize::from(*text) * 4,
        max_raw_bytes: usize::from(*raw) * 16,
    };
    let at = usize::from(*split) % (stream.len() + 1);

    let whole = receipts(&options, &[stream]);
    let (a, b) = stream.split_at(at);
    assert_eq!(whole, receipts(&options, &[a, b]), "split at {at}");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, receipts(&options, &bytes), "one byte per read");

    let mut from = 0;
    for r in &whole {
        assert!(r.text.ends_with('\n'), "text without final newline: {r:?}");
        assert!(
            !r.barcodes.is_empty() || r.text.chars().any(|c| !c.is_whitespace()),
            "a receipt without content: {r:?}"
        );
        assert!(
            r.text.len() <= options.max_text_bytes.max(4) + 1,
            "{} text bytes, max_text_bytes {}",
            r.text.len(),
            options.max_text_bytes
        );
        assert!(r.raw.len() <= options.max_raw_bytes, "raw over the bound");
        if !r.raw_truncated {
            assert!(!r.raw.is_empty(), "a receipt from no bytes");
        } else {
            assert_eq!(
                r.raw.len(),
                options.max_raw_bytes,
                "truncated below the bound"
            );
        }
        if !r.raw.is_empty() {
            let found = stream[from..]
                .windows(r.raw.len())
                .position(|w| w == r.raw.as_slice());
            let Some(found) = found else {
                panic!("raw {:?} is not a run of the input after {from}", r.raw);
            };
            from += found + r.raw.len();
        }
    }
}

fn receipts(options: &EscPosOptions, reads: &[&[u8]]) -> Vec<Receipt> {
    let mut d = EscPosDecoder::new(options.clone());
    let mut out = Vec::new();
    for r in reads {
        out.extend(d.push(r));
    }
    out.extend(d.flush_idle());
    out
}
