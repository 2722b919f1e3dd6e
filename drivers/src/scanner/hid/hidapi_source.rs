//! [`HidSource`] on a real device through hidapi (Linux: hidraw, found through sysfs without
//! libudev).

use std::ffi::CString;
use std::time::Duration;

use hidapi::{DeviceInfo, HidApi, HidDevice};

use super::{HidSelector, HidSource, HidSourceError};

/// Largest input report hidraw hands over (HID_MAX_BUFFER_SIZE in the kernel).
const MAX_REPORT: usize = 4096;

/// A HID device selected by hidraw path, or by USB ids plus the collection a driver reads.
pub struct HidApiSource {
    selector: HidSelector,
    usage_page: u16,
    usage: u16,
    device: Option<HidDevice>,
    what: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for HidApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidApiSource")
            .field("selector", &self.selector)
            .field("usage_page", &self.usage_page)
            .field("usage", &self.usage)
            .field("open", &self.device.is_some())
            .finish()
    }
}

impl HidApiSource {
    /// A source for the device `selector` names; by ids, only a collection with `usage_page`
    /// and `usage` matches (a scanner shows several interfaces).
    pub fn new(selector: HidSelector, usage_page: u16, usage: u16) -> Self {
        let what = selector.to_string();
        HidApiSource {
            selector,
            usage_page,
            usage,
            device: None,
            what,
            buf: vec![0; MAX_REPORT],
        }
    }

    fn open_error(&self, e: impl std::fmt::Display) -> HidSourceError {
        HidSourceError::Open {
            what: self.what.clone(),
            reason: e.to_string(),
        }
    }
}

/// "0c2e:0b61 Honeywell 1900G serial X" for logs and the CONNECTED status.
fn describe(info: &DeviceInfo) -> String {
    let mut s = format!("{:04x}:{:04x}", info.vendor_id(), info.product_id());
    for part in [info.manufacturer_string(), info.product_string()]
        .into_iter()
        .flatten()
    {
        s.push(' ');
        s.push_str(part);
    }
    if let Some(serial) = info.serial_number().filter(|s| !s.is_empty()) {
        s.push_str(" serial ");
        s.push_str(serial);
    }
    s
}

impl HidSource for HidApiSource {
    fn open(&mut self) -> Result<String, HidSourceError> {
        let (device, what) = match &self.selector {
            HidSelector::Path(path) => {
                let c_path = CString::new(path.as_str()).map_err(|e| self.open_error(e))?;
                let api = HidApi::new().map_err(|e| self.open_error(e))?;
                let device = api.open_path(&c_path).map_err(|e| self.open_error(e))?;
                let what = match device.get_device_info() {
                    Ok(info) => format!("{path} ({})", describe(&info)),
                    Err(_) => path.clone(),
                };
                (device, what)
            }
            HidSelector::Ids {
                vendor_id,
                product_id,
                serial_number,
            } => {
                let api = HidApi::new().map_err(|e| self.open_error(e))?;
                let info = api
                    .device_list()
                    .find(|d| {
                        d.vendor_id() == *vendor_id
                            && product_id.is_none_or(|p| d.product_id() == p)
                            && serial_number
                                .as_deref()
                                .is_none_or(|s| d.serial_number() == Some(s))
                            && d.usage_page() == self.usage_page
                            && d.usage() == self.usage
                    })
                    .ok_or_else(|| {
                        HidSourceError::NotFound(format!(
                            "{} with usage page 0x{:02X} usage 0x{:02X}",
                            self.what, self.usage_page, self.usage
                        ))
                    })?;
                let path = info.path().to_string_lossy().into_owned();
                let what = format!("{path} ({})", describe(info));
                let device = info.open_device(&api).map_err(|e| self.open_error(e))?;
                (device, what)
            }
            // The drivers hand a report file to FileHidSource; this is only a misuse.
            HidSelector::ReportFile { .. } => {
                return Err(self.open_error("a report file is not a HID device (use FileHidSource)"))
            }
        };
        self.device = Some(device);
        self.what = what.clone();
        Ok(what)
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, HidSourceError> {
        let gone = |reason: String| HidSourceError::Gone {
            what: self.what.clone(),
            reason,
        };
        let device = self
            .device
            .as_ref()
            .ok_or_else(|| gone("not open".to_owned()))?;
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match device.read_timeout(&mut self.buf, ms) {
            // hidapi's "nothing within the timeout"; a real report is never empty.
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(self.buf[..n].to_vec())),
            Err(e) => Err(gone(e.to_string())),
        }
    }
}
