//! The pure half of `serial_scanner`: bytes read from the port in, scanner inputs out.
//!
//! Used by the driver's read loop and by `store-agent replay-capture`, so a capture replays
//! exactly as the driver records it. The caller says when the input went quiet or ended
//! ([`SerialScanDecoder::finish`]: the driver's idle timeout, a closed port, the end of a
//! capture).

use crate::scanner::record::ScanInput;
use crate::scanner::serial::framing::{FrameDecoder, FrameResult, Framing};

/// Framing of one port's byte stream into scans.
#[derive(Debug)]
pub struct SerialScanDecoder {
    frames: FrameDecoder,
}

impl SerialScanDecoder {
    pub fn new(framing: Framing, max_len: usize) -> Self {
        SerialScanDecoder {
            frames: FrameDecoder::new(framing, max_len),
        }
    }

    /// The inputs of the frames `bytes` complete (or break).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<ScanInput> {
        self.frames.push(bytes).into_iter().map(input).collect()
    }

    /// The input went quiet or ended: a partial frame is ended (a line without terminator is a
    /// scan, an unclosed STX frame an error).
    pub fn finish(&mut self) -> Vec<ScanInput> {
        self.frames.flush_idle().into_iter().map(input).collect()
    }
}

/// A frame is a scan; bytes that formed no frame are kept raw with why.
fn input(frame: FrameResult) -> ScanInput {
    match frame {
        Ok(raw) => ScanInput::Scan {
            raw,
            extra_error: None,
        },
        Err(e) => ScanInput::Error {
            reason: e.to_string(),
            raw: e.bytes().to_vec(),
        },
    }
}
