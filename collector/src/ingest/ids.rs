//! Which store and agent ids the collector accepts from topics.
//!
//! An id becomes a topic level of marks the collector publishes, a key in its database and a
//! label in logs, metrics and the dashboard, so it is held to a short, plain charset: wildcards,
//! separators, control characters and markup never get that far.

/// Longest store or agent id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is a usable store or agent id: 1 to [`MAX_ID_LEN`] characters of `A-Z`, `a-z`,
/// `0-9`, `_`, `.` and `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_plain() {
        for ok in ["s1", "store-0001", "a_b.c-D9", &"x".repeat(MAX_ID_LEN)] {
            assert!(valid_id(ok), "{ok:?}");
        }
        for bad in [
            "",
            "+",
            "#",
            "a/b",
            "a b",
            "ä",
            "<script>",
            "a\0",
            &"x".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
