//! Pseudo-terminals standing in for serial devices (scanners, beam counters): the test or demo
//! plays the device on the master side, the agent's real serial driver opens the slave path as
//! it would open `/dev/ttyUSB0`.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A pty pair in raw mode (no echo, no CR/LF translation).
#[derive(Debug)]
pub struct Pty {
    /// Write here what the device sends; dropping it "unplugs" the device (the driver's reads
    /// fail with a hang-up).
    pub master: File,
    /// Held open so the slave keeps its raw settings until the driver opens it.
    _slave: OwnedFd,
    path: String,
}

impl Pty {
    /// Opens a pair. Both fds are close-on-exec: a child process (the agent, a broker) that
    /// inherited the master would keep an "unplugged" terminal alive.
    pub fn open() -> Result<Pty, String> {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let mut name = [0 as libc::c_char; 256];
        // SAFETY: termios is plain data, set by cfmakeraw over a zeroed value; openpty writes two
        // fds into ints we own (null name argument: nothing unsized is written); fcntl only sets
        // a flag on fds we own; ttyname_r writes at most `name.len()` bytes into our buffer,
        // NUL-terminated on success; each fd gets exactly one owner.
        #[allow(unsafe_code)]
        unsafe {
            let mut raw: libc::termios = std::mem::zeroed();
            libc::cfmakeraw(&mut raw);
            let rc = libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                &raw,
                std::ptr::null(),
            );
            if rc != 0 {
                return Err(format!("openpty: {}", std::io::Error::last_os_error()));
            }
            let master = File::from_raw_fd(master);
            let slave = OwnedFd::from_raw_fd(slave);
            for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
                if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) != 0 {
                    return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
                }
            }
            let rc = libc::ttyname_r(slave.as_raw_fd(), name.as_mut_ptr(), name.len());
            if rc != 0 {
                return Err(format!(
                    "ttyname_r: {}",
                    std::io::Error::from_raw_os_error(rc)
                ));
            }
            let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
            Ok(Pty {
                master,
                _slave: slave,
                path,
            })
        }
    }

    /// The slave's path (`/dev/pts/N`), what the driver opens.
    pub fn path(&self) -> &str {
        &self.path
    }
}
