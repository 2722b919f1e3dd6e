//! Byte layout of the history and audit keys, and its inverse.
//!
//! sled orders keys bytewise, so every number is big-endian and every signed time has its sign
//! bit flipped: byte order is then numeric order, and a range scan is a time-range query. Store
//! and agent ids are `ingest::valid_id` (no NUL), so a NUL after each id ends it without
//! ambiguity and sorts `s1` before `s10`.
//!
//! | key | value |
//! |---|---|
//! | `hist/t/{store}\0{time}{agent}\0{seq}` | the row ([`super::record`]) |
//! | `audit/{time}{id}` | the audit record ([`super::audit`]) |
//!
//! `{time}` is the event's wall time (8 bytes), `{seq}` and `{id}` 8 bytes each.

/// Prefix of the time index (the rows themselves).
pub const TIME_PREFIX: &[u8] = b"hist/t/";
/// Prefix of the audit log.
pub const AUDIT_PREFIX: &[u8] = b"audit/";

/// A time as 8 bytes that sort like the number.
pub fn time_bytes(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`time_bytes`].
pub fn time_from(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Where one event's row lives in the time index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey<'a> {
    pub store: &'a str,
    pub time_ms: i64,
    pub agent: &'a str,
    pub seq: u64,
}

impl RowKey<'_> {
    /// `hist/t/{store}\0{time}{agent}\0{seq}`.
    pub fn time_key(&self) -> Vec<u8> {
        let mut key = store_prefix(self.store);
        key.extend_from_slice(&time_bytes(self.time_ms));
        key.extend_from_slice(&self.position_tail());
        key
    }

    /// `{agent}\0{seq}`: what follows the time in a time key.
    fn position_tail(&self) -> Vec<u8> {
        let mut tail = Vec::with_capacity(self.agent.len() + 9);
        tail.extend_from_slice(self.agent.as_bytes());
        tail.push(0);
        tail.extend_from_slice(&self.seq.to_be_bytes());
        tail
    }
}

/// `hist/t/{store}\0`: the start of a store's time index.
pub fn store_prefix(store: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(TIME_PREFIX.len() + store.len() + 1 + 8 + 32);
    key.extend_from_slice(TIME_PREFIX);
    key.extend_from_slice(store.as_bytes());
    key.push(0);
    key
}

/// `hist/t/{store}\0{time}`: the first key at or after `time_ms` in a store's index.
pub fn store_time_key(store: &str, time_ms: i64) -> Vec<u8> {
    let mut key = store_prefix(store);
    key.extend_from_slice(&time_bytes(time_ms));
    key
}

/// Splits a time key back into its parts; `None` for anything that is not one.
pub fn parse_time_key(key: &[u8]) -> Option<RowKey<'_>> {
    let rest = key.strip_prefix(TIME_PREFIX)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let store = std::str::from_utf8(&rest[..nul]).ok()?;
    let rest = &rest[nul + 1..];
    if rest.len() < 8 + 1 + 8 {
        return None;
    }
    let time_ms = time_from(rest[..8].try_into().ok()?);
    let rest = &rest[8..];
    let (agent, seq) = rest.split_at(rest.len() - 8);
    let agent = std::str::from_utf8(agent.strip_suffix(&[0])?).ok()?;
    let seq = u64::from_be_bytes(seq.try_into().ok()?);
    Some(RowKey {
        store,
        time_ms,
        agent,
        seq,
    })
}

/// `audit/{time}{id}`.
pub fn audit_key(time_ms: i64, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(AUDIT_PREFIX.len() + 16);
    key.extend_from_slice(AUDIT_PREFIX);
    key.extend_from_slice(&time_bytes(time_ms));
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// `audit/{time}`: the first audit key at or after `time_ms`.
pub fn audit_time_key(time_ms: i64) -> Vec<u8> {
    let mut key = AUDIT_PREFIX.to_vec();
    key.extend_from_slice(&time_bytes(time_ms));
    key
}

/// The time of an audit key.
pub fn audit_time(key: &[u8]) -> Option<i64> {
    let rest = key.strip_prefix(AUDIT_PREFIX)?;
    Some(time_from(rest.get(..8)?.try_into().ok()?))
}

/// The smallest key greater than every key starting with `prefix` (for exclusive range ends).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Only for an all-0xFF prefix, which no key here has.
    vec![u8::MAX; prefix.len() + 1]
}

/// Lower-case hex, for cursors (opaque to clients, but readable in a log).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Inverse of [`hex`]; `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bytes_sort_like_the_numbers() {
        let times = [i64::MIN, -5_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(time_bytes(pair[0]) < time_bytes(pair[1]), "{pair:?}");
            assert_eq!(time_from(time_bytes(pair[0])), pair[0]);
        }
    }

    #[test]
    fn time_keys_order_by_store_then_time_then_agent_then_seq() {
        let key = |store, time_ms, agent, seq| {
            RowKey {
                store,
                time_ms,
                agent,
                seq,
            }
            .time_key()
        };
        let ordered = [
            key("s1", -1, "z", 9),
            key("s1", 5, "a", 2),
            key("s1", 5, "a", 10),
            key("s1", 5, "a1", 1),
            key("s1", 6, "a", 1),
            key("s10", 0, "a", 1),
            key("s2", i64::MIN, "a", 1),
        ];
        for pair in ordered.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        // Every key of s1 sorts inside s1's prefix, none of s10's does.
        let (start, end) = (store_prefix("s1"), prefix_end(&store_prefix("s1")));
        assert!(ordered[..5].iter().all(|k| *k >= start && *k < end));
        assert!(ordered[5] >= end);
    }

    #[test]
    fn time_keys_parse_back() {
        let row = RowKey {
            store: "store-17",
            time_ms: 1_764_600_000_123,
            agent: "till.1",
            seq: 0x0100_0000_0000_0001,
        };
        assert_eq!(parse_time_key(&row.time_key()), Some(row.clone()));
        assert_eq!(parse_time_key(b"hist/t/s1"), None);
        assert_eq!(parse_time_key(b"hist/e/s1\0a\0\0\0\0\0\0\0\0\x01"), None);
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(hex(&bytes), "00017f80ff");
        assert_eq!(unhex("00017f80ff").unwrap(), bytes);
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
    }

    #[test]
    fn audit_keys_order_by_time_then_id() {
        assert!(audit_key(-1, 9) < audit_key(0, 0));
        assert!(audit_key(5, 1) < audit_key(5, 2));
        assert_eq!(audit_time(&audit_key(42, 7)), Some(42));
    }
}
