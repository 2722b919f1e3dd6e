//! The pure half of `poslog_folder`: one dropped file's bytes in, the event bodies of its
//! transactions out, or why the whole file is rejected.
//!
//! Used by the driver (which moves a rejected file to `rejected/` with the reason beside it) and
//! by `store-agent replay-capture` (which shows the rejection as a decode-error status), so a
//! capture replays exactly as the driver reads it.

use store_proto::Body;

use crate::pos::poslog::{parse_poslog, PosLogError};

/// One `PosTransaction` body per retail transaction of the file, in document order. A
/// transaction that is well-formed but unreadable is a body with `error` set, not a rejection.
pub fn decode_file(bytes: &[u8]) -> Result<Vec<Body>, PosLogError> {
    Ok(parse_poslog(bytes)?
        .into_iter()
        .map(Body::PosTransaction)
        .collect())
}
