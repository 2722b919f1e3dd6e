//! Serial scanner framing (`scanner::serial::framing::FrameDecoder`), behind it the decode of
//! each frame into a scan (`scanner::serial::SerialScanDecoder`).
//!
//! Input: byte 0 picks the framing (CR, CR LF, LF, STX/ETX: modulo 4), byte 1 is `max_len`,
//! byte 2 a split point; the rest is the byte stream from the port.
//!
//! Asserted besides "no panic": the frames and errors do not depend on how reads split the
//! stream (all at once, split at the chosen point, one byte per read); no frame is empty or
//! longer than `max_len`, and no error keeps more than `max_len` bytes (stray bytes are cut in
//! chunks of `max_len` too); every payload is a run of the input, and together they hold no
//! more bytes than the input; the scan decoder yields one input per frame or error.

use store_drivers::scanner::serial::framing::{FrameDecoder, FrameResult, Framing};
use store_drivers::scanner::serial::SerialScanDecoder;

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let [f, max, split, stream @ ..] = data else {
        return;
    };
    let framing = [Framing::Cr, Framing::CrLf, Framing::Lf, Framing::StxEtx][usize::from(f % 4)];
    let max_len = usize::from(*max);
    let at = usize::from(*split) % (stream.len() + 1);

    let whole = frames(framing, max_len, &[stream]);
    let (a, b) = stream.split_at(at);
    assert_eq!(whole, frames(framing, max_len, &[a, b]), "split at {at}");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, frames(framing, max_len, &bytes), "one byte per read");

    let mut total = 0;
    for result in &whole {
        let payload: &[u8] = match result {
            Ok(frame) => {
                assert!(!frame.is_empty(), "empty frame");
                frame
            }
            Err(e) => e.bytes(),
        };
        assert!(
            payload.len() <= max_len.max(1),
            "{} bytes kept, max_len {max_len}: {result:?}",
            payload.len()
        );
        assert!(
            payload.is_empty() || stream.windows(payload.len()).any(|w| w == payload),
            "payload {payload:?} is not a run of the input"
        );
        total += payload.len();
    }
    assert!(
        total <= stream.len(),
        "{total} payload bytes from {}",
        stream.len()
    );

    let mut scans = SerialScanDecoder::new(framing, max_len);
    let mut inputs = scans.feed(stream);
    inputs.extend(scans.finish());
    assert_eq!(
        inputs.len(),
        whole.len(),
        "one scan input per frame or error"
    );
}

fn frames(framing: Framing, max_len: usize, reads: &[&[u8]]) -> Vec<FrameResult> {
    let mut d = FrameDecoder::new(framing, max_len);
    let mut out = Vec::new();
    for r in reads {
        out.extend(d.push(r));
    }
    out.extend(d.flush_idle());
    out
}
