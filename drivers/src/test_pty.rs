//! Real pseudo-terminals for serial-driver tests: the test plays the device on the master side,
//! the driver opens the slave's path, as it would a USB serial adapter. Used by this crate's
//! tests and, through the `test-pty` feature, by the agent's replay tests.

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};

/// A pseudo-terminal pair: the test plays the scanner on `master`; `path` names the slave.
pub struct Pty {
    pub master: File,
    /// Held open so the slave side (and its settings) exists before the driver opens it.
    pub slave: OwnedFd,
    pub path: String,
}

/// Opens a pty pair in raw mode (no echo, no CR/LF translation), so bytes written before the
/// driver opens the slave reach it unchanged.
pub fn open_pty() -> Pty {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let mut name = [0 as libc::c_char; 256];
    // SAFETY: termios is plain data, initialised by cfmakeraw over a zeroed value; openpty
    // writes two fds into the ints we own (the name argument is null, so no unsized buffer is
    // written); ttyname_r writes at most `name.len()` bytes into our buffer, NUL-terminated on
    // success; each fd is wrapped in exactly one owner.
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
        let master = File::from_raw_fd(master);
        let slave = OwnedFd::from_raw_fd(slave);
        let rc = libc::ttyname_r(slave_fd(&slave), name.as_mut_ptr(), name.len());
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
        slave,
        path,
    }
}

fn slave_fd(fd: &OwnedFd) -> libc::c_int {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}
