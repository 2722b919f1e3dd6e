//! The request signature: `X-Store-Edge-Signature: sha256=<hex>` where `<hex>` is the
//! HMAC-SHA256, under the destination's secret, of `"{timestamp}.{body}"`, and `{timestamp}` is
//! the `X-Store-Edge-Timestamp` header (Unix seconds). Signing the timestamp with the body lets
//! a receiver refuse replays older than a few minutes; the signature alone proves the sender
//! holds the secret.

use ring::hmac;

/// A destination's signing key.
#[derive(Clone)]
pub struct Signer(hmac::Key);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        Signer(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The `X-Store-Edge-Signature` value for `body` sent at `timestamp` (Unix seconds).
    pub fn header(&self, timestamp: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("sha256={}", hex(ctx.sign().as_ref()))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed apart from this code:
    /// `printf '%s' '1700000000.{"idempotency_key":"s1-1:LOW:OPEN"}' | openssl dgst -sha256 -hmac 'test-secret'`
    const EXPECTED: &str = "2c9b0934bd4a02594e29c57b11800235e5bd6881be4b606490257e78e360cd87";

    #[test]
    fn matches_an_independently_computed_vector() {
        let signer = Signer::new(b"test-secret");
        let body = br#"{"idempotency_key":"s1-1:LOW:OPEN"}"#;
        assert_eq!(
            signer.header(1_700_000_000, body),
            format!("sha256={EXPECTED}")
        );
        assert_ne!(
            signer.header(1_700_000_001, body),
            format!("sha256={EXPECTED}"),
            "the timestamp is signed too"
        );
        assert!(!format!("{signer:?}").contains("test"));
    }
}
