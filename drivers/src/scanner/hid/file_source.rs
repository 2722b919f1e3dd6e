//! [`HidSource`] on a FIFO or a file of raw input reports: a scanner played by another process
//! (a demo, a replay of captured reports) through the same loop, decoder and scan modes as a
//! real device. A tool for demos and replays, not for shops.
//!
//! `device = { report_file = "/run/demo/hidpos.fifo", report_len = 64 }`. The bytes read are cut
//! into reports of `report_len` bytes, as hidraw hands them over (report id first when the
//! device numbers its reports), whatever sizes the writer wrote them in: a HID POS scanner's
//! 64-byte reports (`hid_pos_scanner`, the default there) or 8-byte boot keyboard reports
//! (`wedge_scanner`, the default there).
//!
//! - **FIFO** (`mkfifo`): opened without waiting for a writer; the source is silent until one
//!   writes. When the writer closes its end, the device is gone, as an unplugged scanner would
//!   be: a report cut short by the close is handed over as it is (the decoder reports it with
//!   its bytes), then the driver fails and the agent's supervisor opens the FIFO again with
//!   backoff, ready for the next writer. Keep the FIFO open for as long as the scanner should
//!   look plugged in.
//! - **Regular file**: read from the start. At its end the source stays open and silent and
//!   picks up reports appended later (like `tail -f`), so a capture can be replayed and then
//!   extended; a partial report at the end waits for the rest of its bytes.
//!
//! Anything else (a directory, a device node, a missing path) fails to open, naming the path.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{HidSource, HidSourceError};

/// Largest report accepted (hidraw's HID_MAX_BUFFER_SIZE).
pub const MAX_REPORT_LEN: usize = 4096;

/// How often the end of a regular file is looked at again for appended reports.
const FILE_POLL: Duration = Duration::from_millis(50);

/// Raw input reports from a FIFO or a file. See the module docs.
#[derive(Debug)]
pub struct FileHidSource {
    path: PathBuf,
    report_len: usize,
    file: Option<File>,
    fifo: bool,
    /// Bytes read but not yet handed over (less than two reports' worth).
    pending: Vec<u8>,
}

impl FileHidSource {
    /// A source reading `report_len`-byte reports (1 to `MAX_REPORT_LEN`) from `path`.
    pub fn new(path: impl Into<PathBuf>, report_len: usize) -> Self {
        FileHidSource {
            path: path.into(),
            report_len: report_len.clamp(1, MAX_REPORT_LEN),
            file: None,
            fifo: false,
            pending: Vec::new(),
        }
    }

    fn what(&self) -> String {
        self.path.display().to_string()
    }
}

fn gone(path: &std::path::Path, reason: impl Into<String>) -> HidSourceError {
    HidSourceError::Gone {
        what: path.display().to_string(),
        reason: reason.into(),
    }
}

impl HidSource for FileHidSource {
    fn open(&mut self) -> Result<String, HidSourceError> {
        let open_error = |reason: String| HidSourceError::Open {
            what: self.what(),
            reason,
        };
        let kind = std::fs::metadata(&self.path)
            .map_err(|e| open_error(e.to_string()))?
            .file_type();
        let fifo = kind.is_fifo();
        if !fifo && !kind.is_file() {
            return Err(open_error("not a FIFO or a regular file".to_owned()));
        }
        let mut options = OpenOptions::new();
        options.read(true);
        if fifo {
            // Without O_NONBLOCK, open(2) on a FIFO waits for a writer, and the reader thread
            // could not notice meanwhile that the driver was stopped.
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options
            .open(&self.path)
            .map_err(|e| open_error(e.to_string()))?;
        self.file = Some(file);
        self.fifo = fifo;
        self.pending.clear();
        Ok(format!(
            "{} ({}, {}-byte reports)",
            self.what(),
            if fifo { "FIFO" } else { "file" },
            self.report_len
        ))
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, HidSourceError> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if self.pending.len() >= self.report_len {
                return Ok(Some(self.pending.drain(..self.report_len).collect()));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let path = &self.path;
            let Some(file) = self.file.as_mut() else {
                return Err(gone(path, "not open"));
            };
            if self.fifo && !wait_readable(file, remaining).map_err(|e| gone(path, e))? {
                return Ok(None);
            }
            match file.read(&mut buf) {
                Ok(0) if self.fifo => {
                    if !self.pending.is_empty() {
                        return Ok(Some(std::mem::take(&mut self.pending)));
                    }
                    return Err(gone(path, "the writer closed the FIFO"));
                }
                Ok(0) => {
                    // End of a regular file: wait for reports appended later.
                    if remaining.is_zero() {
                        return Ok(None);
                    }
                    std::thread::sleep(remaining.min(FILE_POLL));
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                // A wake-up without data (another reader took it, or a signal): look again.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    if remaining.is_zero() {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(gone(path, e.to_string())),
            }
        }
    }
}

/// Waits at most `timeout` until `file` has data or its writer went away (both make a read
/// return at once). False on timeout.
fn wait_readable(file: &File, timeout: Duration) -> Result<bool, String> {
    let mut pollfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up, so a short remainder still waits instead of spinning.
    let ms = timeout
        .as_nanos()
        .div_ceil(1_000_000)
        .min(libc::c_int::MAX as u128) as libc::c_int;
    // SAFETY: one pollfd that we own, valid for the duration of the call; the fd belongs to
    // `file`, which outlives the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::poll(&mut pollfd, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(format!("poll: {e}"))
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;

    /// Makes a FIFO at `path` (mode 0600).
    pub(crate) fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that lives across the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
    }

    /// Opens the writing end of a FIFO whose reader is already open.
    pub(crate) fn fifo_writer(path: &Path) -> File {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    const SHORT: Duration = Duration::from_millis(20);

    #[test]
    fn regular_file_is_cut_into_reports_and_followed_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.bin");
        let bytes: Vec<u8> = (0..10u8).collect();
        std::fs::write(&path, &bytes[..9]).unwrap();
        let mut source = FileHidSource::new(&path, 4);
        let what = source.open().unwrap();
        assert_eq!(what, format!("{} (file, 4-byte reports)", path.display()));
        assert_eq!(source.read_report(SHORT).unwrap(), Some(vec![0, 1, 2, 3]));
        assert_eq!(source.read_report(SHORT).unwrap(), Some(vec![4, 5, 6, 7]));
        // One byte of the third report: it waits for the rest.
        assert_eq!(source.read_report(SHORT).unwrap(), None);
        let mut append = OpenOptions::new().append(true).open(&path).unwrap();
        append.write_all(&[9, 10, 11, 12]).unwrap();
        assert_eq!(source.read_report(SHORT).unwrap(), Some(vec![8, 9, 10, 11]));
        assert_eq!(source.read_report(Duration::ZERO).unwrap(), None);
    }

    #[test]
    fn fifo_waits_for_a_writer_joins_split_writes_and_ends_with_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scanner.fifo");
        mkfifo(&path);
        let mut source = FileHidSource::new(&path, 64);
        // Opening does not wait for a writer; reading without one is silence, not an error.
        assert!(source.open().unwrap().ends_with("(FIFO, 64-byte reports)"));
        let started = Instant::now();
        assert_eq!(source.read_report(Duration::from_millis(50)).unwrap(), None);
        assert!(started.elapsed() >= Duration::from_millis(45));

        let mut writer = fifo_writer(&path);
        let report: Vec<u8> = (0..64u8).collect();
        writer.write_all(&report[..10]).unwrap();
        assert_eq!(source.read_report(SHORT).unwrap(), None);
        writer.write_all(&report[10..]).unwrap();
        writer.write_all(&report[..5]).unwrap();
        assert_eq!(source.read_report(SHORT).unwrap(), Some(report.clone()));
        // The writer goes away mid-report: the short report, then the device is gone.
        drop(writer);
        assert_eq!(
            source.read_report(SHORT).unwrap(),
            Some(report[..5].to_vec())
        );
        let e = source.read_report(SHORT).unwrap_err();
        assert_eq!(
            e,
            HidSourceError::Gone {
                what: path.display().to_string(),
                reason: "the writer closed the FIFO".into()
            }
        );
        // Opened again, it waits for the next writer.
        source.open().unwrap();
        assert_eq!(source.read_report(SHORT).unwrap(), None);
        let mut writer = fifo_writer(&path);
        writer.write_all(&report).unwrap();
        assert_eq!(source.read_report(SHORT).unwrap(), Some(report));
    }

    #[test]
    fn what_cannot_be_read_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.fifo");
        let e = FileHidSource::new(&missing, 64).open().unwrap_err();
        assert!(matches!(e, HidSourceError::Open { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.fifo"), "{e}");
        let e = FileHidSource::new(dir.path(), 64).open().unwrap_err();
        assert!(
            e.to_string().contains("not a FIFO or a regular file"),
            "{e}"
        );
        let mut never_opened = FileHidSource::new(&missing, 64);
        assert!(never_opened.read_report(Duration::ZERO).is_err());
    }
}
