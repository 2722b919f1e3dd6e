use super::*;
use crate::pos::fuzz::XorShift;

/// Real streams from python-escpos's `Dummy` printer (see tests/fixtures/pos/README.md).
const SALE_CUT: &[u8] = include_bytes!("../../../tests/fixtures/pos/escpos/sale_cut.bin");
const TWO_RECEIPTS_QR: &[u8] =
    include_bytes!("../../../tests/fixtures/pos/escpos/two_receipts_qr.bin");
const EURO_CODE128_IMAGES: &[u8] =
    include_bytes!("../../../tests/fixtures/pos/escpos/euro_code128_images.bin");

/// All receipts of `input`, the idle flush included.
fn decode_with(options: EscPosOptions, input: &[u8]) -> Vec<Receipt> {
    let mut d = EscPosDecoder::new(options);
    let mut out = d.push(input);
    out.extend(d.flush_idle());
    out
}

fn decode(input: &[u8]) -> Vec<Receipt> {
    decode_with(EscPosOptions::default(), input)
}

fn texts(receipts: &[Receipt]) -> Vec<&str> {
    receipts.iter().map(|r| r.text.as_str()).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Each receipt's raw is a run of the input, after the previous receipt's.
fn assert_raws_in_order(input: &[u8], receipts: &[Receipt]) {
    let mut from = 0;
    for r in receipts {
        let at = find(&input[from..], &r.raw)
            .unwrap_or_else(|| panic!("raw {:02X?} not in input after {from}", r.raw));
        from += at + r.raw.len();
    }
}

#[test]
fn python_escpos_sale_with_logo_barcode_and_cut() {
    let mut d = EscPosDecoder::default();
    let receipts = d.push(SALE_CUT);
    assert_eq!(receipts.len(), 1);
    let r = &receipts[0];
    assert_eq!(
        r.text,
        "DEMO MARKET\n\
         Receipt: 1001\n\
         Register: 3\n\
         Cashier: 42\n\
         Milk 1L          2 x 1.99    3.98\n\
         Bread            1 x 2.49    2.49\n\
         TOTAL EUR                    6.47\n"
    );
    assert_eq!(r.barcodes, ["4006381333931"]);
    assert_eq!(r.ended_by, EndedBy::Cut);
    assert_eq!(r.raw, SALE_CUT);
    assert!(!r.raw_truncated);
    assert_eq!(d.flush_idle(), None);
    assert_eq!(
        d.stats(),
        &EscPosStats {
            receipts: 1,
            ..Default::default()
        }
    );
}

#[test]
fn python_escpos_two_receipts_with_qr_image_drawer_kick_and_partial_cut() {
    let mut d = EscPosDecoder::default();
    let receipts = d.push(TWO_RECEIPTS_QR);
    assert_eq!(
        texts(&receipts),
        [
            "Café crème     1 x 2,50    2,50\nTOTAL                       2,50\n\n\n\n",
            "Receipt: 1003\nTee    1 x 1.00   1.00\nTOTAL 1.00\n",
        ]
    );
    assert!(receipts.iter().all(|r| r.ended_by == EndedBy::Cut));
    assert!(receipts[0].raw.ends_with(b"\x1bp\x0022\x1bd\x06\x1dV\x01"));
    assert_eq!(
        [receipts[0].raw.clone(), receipts[1].raw.clone()].concat(),
        TWO_RECEIPTS_QR
    );
    assert_eq!(d.stats().unknown_commands, 0);
}

#[test]
fn python_escpos_euro_code128_and_three_image_kinds() {
    let mut d = EscPosDecoder::default();
    let receipts = d.push(EURO_CODE128_IMAGES);
    assert_eq!(receipts.len(), 1);
    // python-escpos chose ESC t 15 (ISO 8859-7, 0xA4 = €) for the euro sign.
    assert_eq!(receipts[0].text, "Preis € 9,99\n\nEND\n");
    assert_eq!(receipts[0].barcodes, ["RCPT-1004"]);
    assert_eq!(d.stats().unknown_commands, 0);
}

#[test]
fn output_does_not_depend_on_how_reads_split_the_stream() {
    let whole: Vec<u8> = [SALE_CUT, TWO_RECEIPTS_QR, EURO_CODE128_IMAGES].concat();
    let expected = decode(&whole);
    assert_eq!(expected.len(), 4);
    let mut byte_by_byte = EscPosDecoder::default();
    let mut got = Vec::new();
    for b in &whole {
        got.extend(byte_by_byte.push(std::slice::from_ref(b)));
    }
    got.extend(byte_by_byte.flush_idle());
    assert_eq!(got, expected);
    let mut rng = XorShift(7);
    for _ in 0..50 {
        let mut d = EscPosDecoder::default();
        let mut got = Vec::new();
        for chunk in rng.chunks(&whole) {
            got.extend(d.push(chunk));
        }
        got.extend(d.flush_idle());
        assert_eq!(got, expected);
    }
}

#[test]
fn every_cut_form_ends_a_receipt() {
    for cut in [
        &b"\x1dV\x00"[..],
        b"\x1dV\x01",
        b"\x1dV0",
        b"\x1dV1",
        b"\x1dVA\x05",
        b"\x1dVB\x00",
        b"\x1dVa\x03",
        b"\x1dVg\x03",
        b"\x1bi",
        b"\x1bm",
    ] {
        let input = [b"one\n", cut, b"two\n", cut].concat();
        let receipts = decode(&input);
        assert_eq!(texts(&receipts), ["one\n", "two\n"], "{cut:02X?}");
        assert!(receipts.iter().all(|r| r.ended_by == EndedBy::Cut));
        assert_eq!(receipts[0].raw, [&b"one\n"[..], cut].concat());
    }
}

#[test]
fn init_with_pending_text_starts_a_new_receipt() {
    let input = b"\x1b@first\n\x1b@\x1b@second\n\x1dV\x00";
    let receipts = decode(input);
    assert_eq!(texts(&receipts), ["first\n", "second\n"]);
    assert_eq!(receipts[0].ended_by, EndedBy::Init);
    assert_eq!(receipts[0].raw, b"\x1b@first\n");
    // The ESC @ belongs to the receipt it starts; a second one without text does not split.
    assert_eq!(receipts[1].raw, b"\x1b@\x1b@second\n\x1dV\x00");
    assert_eq!(receipts[1].ended_by, EndedBy::Cut);
}

#[test]
fn idle_flush_ends_a_receipt_without_cut() {
    let mut d = EscPosDecoder::default();
    assert!(d.push(b"\x1b@Total 3.98\nThank you").is_empty());
    assert!(d.has_pending());
    let r = d.flush_idle().unwrap();
    assert_eq!(r.text, "Total 3.98\nThank you\n");
    assert_eq!(r.ended_by, EndedBy::Idle);
    assert!(!d.has_pending());
    assert_eq!(d.flush_idle(), None);
    // Only commands pending: nothing to report.
    assert!(d.push(b"\x1b@\x1bE\x01\n\n").is_empty());
    assert_eq!(d.flush_idle(), None);
    assert_eq!(d.stats().empty_segments, 1);
}

#[test]
fn idle_flush_abandons_a_command_cut_short() {
    let mut d = EscPosDecoder::default();
    // A raster image announcing 255 × 255 bytes, of which only a few arrive.
    assert!(d.push(b"logo\n\x1dv0\x00\xff\x00\xff\x00ABC").is_empty());
    let r = d.flush_idle().unwrap();
    assert_eq!(r.text, "logo\n");
    assert_eq!(d.stats().abandoned_commands, 1);
    // Text after the gap reads normally.
    let receipts = d.push(b"next\n\x1dV\x00");
    assert_eq!(texts(&receipts), ["next\n"]);
}

#[test]
fn image_and_graphics_payloads_are_skipped_exactly() {
    // Payloads full of bytes that would read as text, cuts and inits.
    let trap = b"AB\x1dV\x00\x1b@\n";
    let cases: Vec<Vec<u8>> = vec![
        // GS v 0: 4 bytes × 2 rows.
        [&b"\x1dv0\x00\x04\x00\x02\x00"[..], trap].concat(),
        // ESC * m=33: 3 columns × 3 bytes.
        [&b"\x1b*\x21\x03\x00"[..], trap, b"x"].concat(),
        // ESC * m=0: 9 columns × 1 byte.
        [&b"\x1b*\x00\x09\x00"[..], trap, b"x"].concat(),
        // GS ( L and GS ( k with pL pH.
        [&b"\x1d(L\x09\x00"[..], trap, b"x"].concat(),
        [&b"\x1d(k\x09\x00"[..], trap, b"x"].concat(),
        // GS 8 L with a 32-bit length.
        [&b"\x1d8L\x09\x00\x00\x00"[..], trap, b"x"].concat(),
        // GS * x=1 y=1: 8 bytes.
        [&b"\x1d*\x01\x01"[..], trap].concat(),
        // FS q: two NV images of 1 × 1 (8 bytes each).
        [
            &b"\x1cq\x02\x01\x00\x01\x00"[..],
            trap,
            b"\x01\x00\x01\x00",
            trap,
        ]
        .concat(),
        // ESC &: y=3, characters 'A'..'B', widths 2 and 1 (6 + 3 bytes).
        [&b"\x1b&\x03AB\x02"[..], &trap[..6], b"\x01", b"xy\n"].concat(),
        // ESC D tab stops up to NUL.
        b"\x1bD\x08\x10\x18\x00".to_vec(),
        // ESC ( A beeper with a length.
        b"\x1b(A\x04\x00\x30\x31\x03\x0a".to_vec(),
    ];
    for (i, payload) in cases.iter().enumerate() {
        let input = [&b"before\n"[..], payload, b"after\n\x1dV\x00"].concat();
        let mut d = EscPosDecoder::default();
        let receipts = d.push(&input);
        assert_eq!(texts(&receipts), ["before\nafter\n"], "case {i}");
        assert_eq!(d.stats().unknown_commands, 0, "case {i}");
    }
}

#[test]
fn barcodes_are_collected_not_printed_as_text() {
    let input = b"A\n\x1dk\x02400638133393\x31\x00\x1dkE\x05CODE3\x1dkI\x05{C\x0c\x22\x38\x1dkI\x05{A{B\x41\x1dV\x00";
    let receipts = decode(input);
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].text, "A\n");
    assert_eq!(
        receipts[0].barcodes,
        ["4006381333931", "CODE3", "123456", "A"]
    );
    // A barcode alone is content.
    assert_eq!(
        decode(b"\x1dk\x04CODE39\x00\x1dV\x00")[0].barcodes,
        ["CODE39"]
    );
}

#[test]
fn malformed_barcode_data_is_read_again_as_text() {
    let mut d = EscPosDecoder::default();
    let receipts = d.push(b"\x1dk\x04RCPT 17\nTotal 1.00\n\x1dV\x00");
    assert_eq!(texts(&receipts), ["RCPT 17\nTotal 1.00\n"]);
    assert!(receipts[0].barcodes.is_empty());
    assert_eq!(d.stats().abandoned_commands, 1);
}

#[test]
fn unknown_commands_lose_nothing_after_them() {
    let mut d = EscPosDecoder::default();
    // ESC x (printable function byte) is dropped whole; GS LF keeps the LF; GS V 7 keeps the 7
    // (as a control byte, dropped) and what follows; ESC * 5 keeps the parameter.
    let receipts = d.push(b"a\x1bxb\x1d\nc\x1dV\x07d\x1b*\x05e\n\x1dV\x00");
    assert_eq!(texts(&receipts), ["ab\ncde\n"]);
    assert_eq!(d.stats().unknown_commands, 4);
    // A cut right after an unknown prefix is still a cut.
    let receipts = decode(b"one\x1b\x1dV\x00two\x1d\x1bi");
    assert_eq!(texts(&receipts), ["one\n", "two\n"]);
}

#[test]
fn lines_tabs_and_positioning() {
    let receipts = decode(
        b"a\r\nb\rc\n\td\x1b$\x10\x00e\x1bd\x03f\x1bd\x03\x1bJ\x10g\x0ch\x07\x00\x7f\n\x1dV\x00",
    );
    assert_eq!(texts(&receipts), ["a\nb\nc\n\td\te\nf\ng\nh\n"]);
}

#[test]
fn status_requests_styles_and_drawer_kicks_are_stripped() {
    let input = b"\x10\x04\x01\x10\x04\x07\x01\x10\x05\x02\x10\x14\x01\x00\x05\
        \x1bE\x01\x1b!\x38\x1d!\x11\x1ba\x01\x1b-\x02\x1dB\x01Hi\x1bE\x00\n\
        \x1bp\x00\x19\xfa\x1b3\x18\x1d\x4c\x00\x00\x1dW\x00\x02x\n\x1dV\x00";
    let mut d = EscPosDecoder::default();
    let receipts = d.push(input);
    assert_eq!(texts(&receipts), ["Hi\nx\n"]);
    assert_eq!(d.stats().unknown_commands, 0);
}

#[test]
fn code_tables_switch_and_reset_on_init() {
    let receipts = decode(
        b"\x1bt\x13\xd5 \x1bt\x10\x80 \x1bt\x02\xd5 \x1bt\x28\xa4 \x1bt\x00\x82\n\
          \x1bt\x01\xd5x\n\x1dV\x00\x1bt\x13\x1b@\xd5\n\x1dV\x00",
    );
    assert_eq!(texts(&receipts), ["€ € ı € é\n\u{fffd}x\n", "╒\n"]);
    let options = EscPosOptions {
        code_page: CodePage::Cp1252,
        ..Default::default()
    };
    let receipts = decode_with(options, b"5,00 \x80\n\x1dV\x00");
    assert_eq!(texts(&receipts), ["5,00 €\n"]);
}

#[test]
fn command_only_stretches_yield_nothing() {
    let mut d = EscPosDecoder::default();
    let receipts =
        d.push(b"\x1dV\x00\x1b@\x1bd\x05 \n\n\x1dV\x01\x1dv0\x00\x01\x00\x01\x00\xff\x1dV\x00");
    assert!(receipts.is_empty());
    assert_eq!(d.stats().empty_segments, 3);
    assert_eq!(d.stats().receipts, 0);
}

#[test]
fn long_text_is_split_at_the_limit() {
    let options = EscPosOptions {
        max_text_bytes: 8,
        ..Default::default()
    };
    let input = b"0123456789abcdefghij\n\x1dV\x00";
    let receipts = decode_with(options, input);
    assert_eq!(texts(&receipts), ["01234567\n", "89abcdef\n", "ghij\n"]);
    assert_eq!(receipts[0].ended_by, EndedBy::Limit);
    assert_eq!(receipts[0].raw, b"01234567");
    assert_eq!(receipts[1].raw, b"89abcdef");
    assert_eq!(receipts[2].ended_by, EndedBy::Cut);
    assert_eq!(
        receipts
            .iter()
            .flat_map(|r| r.raw.clone())
            .collect::<Vec<_>>(),
        input
    );
}

#[test]
fn raw_bytes_past_the_limit_are_not_kept() {
    let options = EscPosOptions {
        max_raw_bytes: 16,
        ..Default::default()
    };
    let receipts = decode_with(options, SALE_CUT);
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].raw, &SALE_CUT[..16]);
    assert!(receipts[0].raw_truncated);
    assert!(receipts[0].text.starts_with("DEMO MARKET\n"));
    // An ESC @ that splits carries its bytes into the next receipt even past the limit.
    let options = EscPosOptions {
        max_raw_bytes: 3,
        ..Default::default()
    };
    let receipts = decode_with(options, b"abcdef\x1b@gh\x1dV\x00");
    assert_eq!(receipts[0].raw, b"abc");
    assert!(receipts[0].raw_truncated);
    assert_eq!(receipts[1].raw, b"\x1b@g");
    assert!(receipts[1].raw_truncated);
}

#[test]
fn options_read_from_toml() {
    let o: EscPosOptions = toml::from_str("code_page = \"cp858\"").unwrap();
    assert_eq!(o.code_page, CodePage::Cp858);
    assert_eq!(o.max_text_bytes, 64 * 1024);
    assert_eq!(
        o,
        EscPosOptions {
            code_page: CodePage::Cp858,
            ..Default::default()
        }
    );
    let o: EscPosOptions = toml::from_str("").unwrap();
    assert_eq!(o, EscPosOptions::default());
    assert!(toml::from_str::<EscPosOptions>("codepage = \"cp437\"").is_err());
    assert!(toml::from_str::<EscPosOptions>("code_page = \"cp999\"").is_err());
}

#[test]
fn code128_data_is_resolved() {
    assert_eq!(barcode_text(73, b"{BABC-12"), "ABC-12");
    assert_eq!(barcode_text(73, b"{C\x01\x17\x63"), "012399");
    assert_eq!(barcode_text(73, b"{A{1AB{1CD{{"), "AB\u{1d}CD{");
    assert_eq!(barcode_text(73, b"{C\xc8"), "\u{fffd}");
    assert_eq!(barcode_text(67, b"4006381333931"), "4006381333931");
    assert_eq!(barcode_text(67, b"40\x0163"), "40\u{fffd}63");
}

fn check_invariants(input: &[u8], options: &EscPosOptions, rng: &mut XorShift) {
    let whole = decode_with(options.clone(), input);
    for r in &whole {
        assert!(r.text.ends_with('\n'), "{input:02X?}");
        assert!(r.text.len() <= options.max_text_bytes + 1, "{input:02X?}");
        assert!(r.raw.len() <= options.max_raw_bytes, "{input:02X?}");
        assert!(
            r.text.chars().any(|c| !c.is_whitespace()) || !r.barcodes.is_empty(),
            "{input:02X?}"
        );
    }
    assert_raws_in_order(input, &whole);
    let mut d = EscPosDecoder::new(options.clone());
    let mut split = Vec::new();
    for chunk in rng.chunks(input) {
        split.extend(d.push(chunk));
    }
    split.extend(d.flush_idle());
    assert_eq!(split, whole, "{input:02X?}");
}

#[test]
fn never_panics_and_keeps_its_rules_on_mutated_input() {
    let seeds: Vec<Vec<u8>> = vec![
        SALE_CUT.to_vec(),
        TWO_RECEIPTS_QR.to_vec(),
        EURO_CODE128_IMAGES.to_vec(),
        b"\x1b@a\r\nb\x1dk\x02123\x00\x1dkI\x03{C\x05\x1b&\x02AA\x01xy\x1cq\x01\x01\x00\x01\x00".to_vec(),
        b"x\x1b$\x01\x00\x1bt\x13\xd5\x1d(k\x03\x001A\x00\x1d8L\x02\x00\x00\x00ab\x1bD\x01\x02\x00\x1bi".to_vec(),
    ];
    const ALPHABET: &[u8] =
        b"\x1b\x1d\x1c\x10\x00\x0a\x0d@VvkdtpiE!(*&qDL8\x01\x02\x30\x41\x42\x49\xff";
    let options = [
        EscPosOptions::default(),
        EscPosOptions {
            max_text_bytes: 16,
            max_raw_bytes: 24,
            ..Default::default()
        },
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let input = rng.mutate(seed, ALPHABET);
        check_invariants(&input, &options[round % 2], &mut rng);
    }
    // Pure noise, too.
    for _ in 0..300 {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(3) == 0 {
                    ALPHABET[rng.below(ALPHABET.len())]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        check_invariants(&input, &options[0], &mut rng);
    }
}

/// Found by the `escpos` fuzz target: a byte read again after an unknown command (`GS V` with
/// a bad mode: the mode byte is text) that overflows `max_text_bytes` starts the next receipt,
/// and must take its raw byte along; the next receipt had text but no raw bytes at all.
#[test]
fn a_split_at_a_byte_read_again_moves_its_raw_along() {
    let options = EscPosOptions {
        code_page: CodePage::Cp437,
        max_text_bytes: 8,
        max_raw_bytes: 768,
    };
    for input in [
        &b"\x1b@Milk  1A.99\nTOTAL  1.99\n\x1dV\xd0"[..],
        b"\x1b@Milk  1.99\nTOTAL  1.99\n\x1dV\x00N  1.99\n\x1dV\x9b",
    ] {
        let receipts = decode_with(options.clone(), input);
        assert!(receipts.len() >= 2, "{receipts:?}");
        for r in &receipts {
            assert!(!r.raw.is_empty(), "text without its bytes: {r:?}");
        }
        let last = receipts.last().unwrap();
        assert_eq!(last.raw, [*input.last().unwrap()], "{last:?}");
        assert_raws_in_order(input, &receipts);
    }
}
