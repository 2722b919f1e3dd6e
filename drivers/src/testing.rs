//! Test helpers shared by the decoders' tests: a small deterministic random generator and input
//! mutations for the fuzz-style tests (no extra dependency; the same sequence on every run).

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

/// A pseudo-terminal pair for serial drivers' tests: the test plays the device on `master`;
/// the driver opens `path`, the slave side, like a `/dev/ttyUSB0`.
pub(crate) struct Pty {
    pub(crate) master: std::fs::File,
    /// Held open so the slave side (and its raw settings) exists before the driver opens it.
    _slave: std::os::fd::OwnedFd,
    pub(crate) path: String,
}

/// Opens a pty pair in raw mode (no echo, no CR/LF translation), so bytes written before the
/// driver opens the slave reach it unchanged.
pub(crate) fn open_pty() -> Pty {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let mut name = [0 as libc::c_char; 256];
    // SAFETY: termios is plain data, initialised by cfmakeraw over a zeroed value; openpty writes
    // two fds into the ints we own (the name argument is null, so no unsized buffer is written);
    // ttyname_r writes at most `name.len()` bytes into our buffer, NUL-terminated on success;
    // each fd is wrapped in exactly one owner.
    #[allow(unsafe_code)]
    let (master, slave, path) = unsafe {
        let mut raw: libc::termios = std::mem::zeroed();
        libc::cfmakeraw(&mut raw);
        let rc = libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            &raw,
            std::ptr::null(),
        );
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        let master = std::fs::File::from_raw_fd(master);
        let slave = OwnedFd::from_raw_fd(slave);
        let rc = libc::ttyname_r(slave.as_raw_fd(), name.as_mut_ptr(), name.len());
        assert_eq!(
            rc,
            0,
            "ttyname_r: {}",
            std::io::Error::from_raw_os_error(rc)
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (master, slave, path)
    };
    Pty {
        master,
        _slave: slave,
        path,
    }
}
