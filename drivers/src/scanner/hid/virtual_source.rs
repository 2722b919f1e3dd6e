//! [`HidSource`] without hardware: input reports fed from a list or through a handle, for tests
//! and demos.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use super::{HidSource, HidSourceError};

/// What the handle sends the source.
#[derive(Debug)]
enum Input {
    Report(Vec<u8>),
    Unplug(String),
}

/// A virtual HID device. Reports come from [`VirtualHidDevice::send_report`] (or the list it was
/// made with), byte-exact as a device would deliver them; it "vanishes" when the handle calls
/// [`VirtualHidDevice::unplug`] or is dropped.
#[derive(Debug)]
pub struct VirtualHidSource {
    name: String,
    rx: Receiver<Input>,
    /// Keeps a list-fed source connected after its list is read (no handle to drop).
    _keep: Option<Sender<Input>>,
    open_error: Option<String>,
}

/// The test's or demo's side of a [`VirtualHidSource`]: plays the scanner.
#[derive(Debug, Clone)]
pub struct VirtualHidDevice {
    tx: Sender<Input>,
}

impl VirtualHidSource {
    /// A virtual device called `name` and the handle that feeds it.
    pub fn new(name: &str) -> (Self, VirtualHidDevice) {
        let (tx, rx) = mpsc::channel();
        let source = VirtualHidSource {
            name: name.to_owned(),
            rx,
            _keep: None,
            open_error: None,
        };
        (source, VirtualHidDevice { tx })
    }

    /// A virtual device that delivers `reports` in order, then stays connected and silent.
    pub fn from_reports(name: &str, reports: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let (mut source, device) = Self::new(name);
        for report in reports {
            device.send_report(report);
        }
        source._keep = Some(device.tx);
        source
    }

    /// A virtual device that delivers `bytes` cut into reports of `report_len` bytes (the last
    /// one shorter if they do not divide evenly), then stays connected and silent.
    pub fn from_bytes(name: &str, bytes: &[u8], report_len: usize) -> Self {
        Self::from_reports(name, bytes.chunks(report_len.max(1)).map(<[u8]>::to_vec))
    }

    /// A virtual device that cannot be opened, for `reason` (a scanner that is not plugged in).
    pub fn unavailable(name: &str, reason: &str) -> Self {
        let (mut source, _device) = Self::new(name);
        source.open_error = Some(reason.to_owned());
        source
    }
}

impl VirtualHidDevice {
    /// Delivers one input report. False when the source is gone (driver stopped).
    pub fn send_report(&self, report: impl Into<Vec<u8>>) -> bool {
        self.tx.send(Input::Report(report.into())).is_ok()
    }

    /// Makes the device vanish after the reports sent so far, with `reason` as the error.
    pub fn unplug(self, reason: &str) {
        let _ = self.tx.send(Input::Unplug(reason.to_owned()));
    }
}

impl HidSource for VirtualHidSource {
    fn open(&mut self) -> Result<String, HidSourceError> {
        match &self.open_error {
            Some(reason) => Err(HidSourceError::Open {
                what: self.name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(format!("{} (virtual)", self.name)),
        }
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, HidSourceError> {
        let gone = |reason: &str| HidSourceError::Gone {
            what: self.name.clone(),
            reason: reason.to_owned(),
        };
        match self.rx.recv_timeout(timeout) {
            Ok(Input::Report(report)) => Ok(Some(report)),
            Ok(Input::Unplug(reason)) => Err(gone(&reason)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(gone("virtual device dropped")),
        }
    }
}
