//! Test helpers shared by the decoders' tests: a small deterministic random generator and input
//! mutations for the fuzz-style tests (no extra dependency; the same sequence on every run). Real
//! pseudo-terminals for the serial drivers' tests are in `test_pty`.

/// Small deterministic PRNG (xorshift64*, Vigna). The seed must not be 0.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `input` with a few random edits: byte flips, bytes from `alphabet` inserted, ranges
    /// deleted or duplicated, truncation.
    pub(crate) fn mutate(&mut self, input: &[u8], alphabet: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            let len = out.len();
            match self.below(6) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] = self.next() as u8;
                }
                1 => {
                    let i = self.below(len + 1);
                    let b = alphabet[self.below(alphabet.len())];
                    out.insert(i, b);
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    let n = self.below(16.min(len - i) + 1);
                    out.drain(i..i + n);
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    let n = self.below(32.min(len - i) + 1);
                    let copy = out[i..i + n].to_vec();
                    let at = self.below(out.len() + 1);
                    out.splice(at..at, copy);
                }
                4 => out.truncate(self.below(len + 1)),
                _ => {
                    let i = self.below(len + 1);
                    let b = self.next() as u8;
                    out.insert(i, b);
                }
            }
        }
        out
    }

    /// Splits `input` into random chunks (some empty).
    pub(crate) fn chunks<'a>(&mut self, input: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = self.below(rest.len().min(7) + 1);
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
        }
        out
    }
}
