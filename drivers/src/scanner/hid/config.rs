//! Configuration of the `hid_pos_scanner` and `wedge_scanner` drivers.

use serde::Deserialize;

use crate::scanner::hid::hidpos::{self, LengthConvention};
use crate::scanner::hid::wedge::{self, KeyboardLayout, Terminator};
use crate::scanner::mode::{ModeConfig, ScanMode};

/// Which HID device a driver reads: `device = { path = "/dev/hidraw3" }`, or by USB ids
/// `device = { vendor_id = 0x0c2e, product_id = 0x0b61, serial_number = "17012B0E7C" }`
/// (`product_id` and `serial_number` optional; write the ids in hex as `lsusb` shows them).
///
/// By ids, the driver takes the first device that matches and has the collection its kind
/// reads (HID POS: usage page 0x8C usage 0x02; wedge: usage page 0x01 usage 0x06, keyboard);
/// with two identical scanners, give `serial_number` or a path. A path is taken as given
/// (prefer a stable udev symlink: hidraw numbers change when devices are replugged).
///
/// For demos and replays without a scanner, `device = { report_file = "/run/demo/hidpos.fifo" }`
/// reads raw input reports from a FIFO or a file instead, `report_len` bytes each (default:
/// 64 for `hid_pos_scanner`, 8 for `wedge_scanner`); see [`super::FileHidSource`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "SelectorFields")]
pub enum HidSelector {
    /// A hidraw device node.
    Path(String),
    /// USB vendor id, and optionally product id and serial number.
    Ids {
        vendor_id: u16,
        product_id: Option<u16>,
        serial_number: Option<String>,
    },
    /// A FIFO or file of raw input reports (demos and replays), and the size of one report
    /// (`None`: the driver kind's report size).
    ReportFile {
        path: String,
        report_len: Option<usize>,
    },
}

impl std::fmt::Display for HidSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HidSelector::Path(path) => write!(f, "{path}"),
            HidSelector::Ids {
                vendor_id,
                product_id,
                serial_number,
            } => {
                write!(f, "{vendor_id:04x}:")?;
                match product_id {
                    Some(p) => write!(f, "{p:04x}")?,
                    None => write!(f, "*")?,
                }
                if let Some(s) = serial_number {
                    write!(f, " serial {s}")?;
                }
                Ok(())
            }
            HidSelector::ReportFile { path, .. } => write!(f, "report file {path}"),
        }
    }
}

/// The `device` table as written, checked into a [`HidSelector`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectorFields {
    path: Option<String>,
    vendor_id: Option<u16>,
    product_id: Option<u16>,
    serial_number: Option<String>,
    report_file: Option<String>,
    report_len: Option<usize>,
}

impl TryFrom<SelectorFields> for HidSelector {
    type Error = String;

    fn try_from(f: SelectorFields) -> Result<Self, String> {
        if let Some(path) = f.report_file {
            if f.path.is_some() || f.vendor_id.is_some() {
                return Err("device: give report_file alone, not with path or vendor_id".into());
            }
            if f.product_id.is_some() || f.serial_number.is_some() {
                return Err(format!(
                    "device: product_id and serial_number need vendor_id, not report_file ({path})"
                ));
            }
            if path.is_empty() {
                return Err("device: report_file is empty".into());
            }
            if let Some(len) = f.report_len {
                if !(1..=super::file_source::MAX_REPORT_LEN).contains(&len) {
                    return Err(format!(
                        "device: report_len must be 1 to {}, not {len}",
                        super::file_source::MAX_REPORT_LEN
                    ));
                }
            }
            return Ok(HidSelector::ReportFile {
                path,
                report_len: f.report_len,
            });
        }
        if f.report_len.is_some() {
            return Err("device: report_len goes with report_file".into());
        }
        match (f.path, f.vendor_id) {
            (Some(_), Some(_)) => Err("device: give either path or vendor_id, not both".into()),
            (Some(path), None) if f.product_id.is_some() || f.serial_number.is_some() => Err(
                format!("device: product_id and serial_number need vendor_id, not path ({path})"),
            ),
            (Some(path), None) if path.is_empty() => Err("device: path is empty".into()),
            (Some(path), None) => Ok(HidSelector::Path(path)),
            (None, Some(vendor_id)) => Ok(HidSelector::Ids {
                vendor_id,
                product_id: f.product_id,
                serial_number: f.serial_number,
            }),
            (None, None) => Err("device: give path or vendor_id".into()),
        }
    }
}

/// `[[drivers]] type = "hid_pos_scanner"`: a USB scanner in "HID POS" mode (usage page 0x8C,
/// Bar Code Scanner), as Honeywell, Zebra, Datalogic and Access-IS scanners offer. Unlike a
/// keyboard wedge it sends the AIM symbology id and GS separators reliably, and its scans do
/// not reach the console.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidPosScannerConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// Which scanner: `{ path = "/dev/hidraw3" }` or `{ vendor_id = 0x0c2e, product_id = … }`.
    pub device: HidSelector,
    /// What the report's length byte counts: `"auto"` (decided per report), `"data_only"`
    /// (Honeywell, Access-IS) or `"includes_aim"`.
    #[serde(default = "default_length_convention")]
    pub length_convention: LengthConvention,
    /// Longest accepted scan in bytes; a longer one is recorded as a decode error with its first
    /// `max_len` bytes.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// A scan whose reports still announce more data after this many milliseconds without a
    /// report is recorded as a decode error with what arrived. 0 waits forever.
    #[serde(default = "default_pos_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// What scans from this scanner are for, until staff scan a mode barcode: `"sale"`,
    /// `"stock_count"`, `"receiving"`, `"shrink"`, `"transfer_out"` or `"transfer_in"`.
    #[serde(default = "default_mode")]
    pub mode: ScanMode,
    /// Staff command barcodes (mode, quantity, badge, shift): `[drivers.modes]`.
    #[serde(default)]
    pub modes: ModeConfig,
}

/// `[[drivers]] type = "wedge_scanner"`: a scanner that types its scans as a USB keyboard,
/// read from its hidraw node. On Linux the keystrokes also reach the console or desktop unless
/// the scanner's input device is grabbed or disabled: a scanner set to HID POS mode
/// (`hid_pos_scanner`) avoids that.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WedgeScannerConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// Which scanner: `{ path = "/dev/hidraw3" }` or `{ vendor_id = 0x0c2e, product_id = … }`.
    pub device: HidSelector,
    /// The keyboard layout the scanner is set to type in: `"us"` or `"de"`.
    #[serde(default = "default_layout")]
    pub layout: KeyboardLayout,
    /// Keys that end a scan: any of `"enter"`, `"tab"`, `"keypad_enter"`.
    #[serde(default = "default_terminators")]
    pub terminators: Vec<Terminator>,
    /// Longest accepted scan in bytes; a longer one is recorded as a decode error with its first
    /// `max_len` bytes.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// After this many milliseconds without a report, typed text not yet ended by a terminator
    /// becomes a scan (for scanners set up without a suffix). 0 waits for the terminator.
    #[serde(default = "default_wedge_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// What scans from this scanner are for, until staff scan a mode barcode: `"sale"`,
    /// `"stock_count"`, `"receiving"`, `"shrink"`, `"transfer_out"` or `"transfer_in"`.
    #[serde(default = "default_mode")]
    pub mode: ScanMode,
    /// Staff command barcodes (mode, quantity, badge, shift): `[drivers.modes]`.
    #[serde(default)]
    pub modes: ModeConfig,
}

fn default_length_convention() -> LengthConvention {
    LengthConvention::Auto
}

fn default_max_len() -> usize {
    hidpos::DEFAULT_MAX_LEN.min(wedge::DEFAULT_MAX_LEN)
}

fn default_pos_idle_timeout_ms() -> u64 {
    500
}

fn default_wedge_idle_timeout_ms() -> u64 {
    200
}

fn default_mode() -> ScanMode {
    ScanMode::Sale
}

fn default_layout() -> KeyboardLayout {
    KeyboardLayout::Us
}

fn default_terminators() -> Vec<Terminator> {
    wedge::DEFAULT_TERMINATORS.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hid_pos_defaults() {
        let c: HidPosScannerConfig =
            toml::from_str("id = \"h\"\ndevice = { vendor_id = 0x0c2e, product_id = 0x0b61 }")
                .unwrap();
        assert_eq!(
            c,
            HidPosScannerConfig {
                id: "h".into(),
                device: HidSelector::Ids {
                    vendor_id: 0x0c2e,
                    product_id: Some(0x0b61),
                    serial_number: None
                },
                length_convention: LengthConvention::Auto,
                max_len: 8192,
                idle_timeout_ms: 500,
                mode: ScanMode::Sale,
                modes: ModeConfig::default(),
            }
        );
        assert_eq!(c.device.to_string(), "0c2e:0b61");
    }

    #[test]
    fn wedge_every_field() {
        let c: WedgeScannerConfig = toml::from_str(
            r#"
            id = "w"
            device = { path = "/dev/hidraw2" }
            layout = "de"
            terminators = ["tab"]
            max_len = 100
            idle_timeout_ms = 0
            mode = "stock_count"
            [modes]
            badge_prefix = "EMP"
            "#,
        )
        .unwrap();
        assert_eq!(c.device, HidSelector::Path("/dev/hidraw2".into()));
        assert_eq!(c.layout, KeyboardLayout::De);
        assert_eq!(c.terminators, [Terminator::Tab]);
        assert_eq!((c.max_len, c.idle_timeout_ms), (100, 0));
        assert_eq!(c.mode, ScanMode::StockCount);
        assert_eq!(c.modes.badge_prefix, "EMP");
        let d: WedgeScannerConfig =
            toml::from_str("id = \"w\"\ndevice = { vendor_id = 1 }").unwrap();
        assert_eq!(d.terminators, [Terminator::Enter, Terminator::KeypadEnter]);
        assert_eq!(d.idle_timeout_ms, 200);
    }

    #[test]
    fn report_file_selector() {
        let c: HidPosScannerConfig =
            toml::from_str("id = \"h\"\ndevice = { report_file = \"/run/demo/hid.fifo\" }")
                .unwrap();
        assert_eq!(
            c.device,
            HidSelector::ReportFile {
                path: "/run/demo/hid.fifo".into(),
                report_len: None
            }
        );
        assert_eq!(c.device.to_string(), "report file /run/demo/hid.fifo");
        let w: WedgeScannerConfig = toml::from_str(
            "id = \"w\"\ndevice = { report_file = \"/tmp/keys.bin\", report_len = 9 }",
        )
        .unwrap();
        assert_eq!(
            w.device,
            HidSelector::ReportFile {
                path: "/tmp/keys.bin".into(),
                report_len: Some(9)
            }
        );
    }

    #[test]
    fn bad_selectors_are_rejected_with_a_reason() {
        for (device, why) in [
            ("{}", "give path or vendor_id"),
            ("{ path = \"/dev/hidraw0\", vendor_id = 1 }", "not both"),
            (
                "{ path = \"/dev/hidraw0\", product_id = 1 }",
                "need vendor_id",
            ),
            ("{ path = \"\" }", "empty"),
            ("{ product_id = 1 }", "give path or vendor_id"),
            ("{ vendor_id = 70000 }", ""),
            ("{ vid = 1 }", "unknown field"),
            (
                "{ report_file = \"/f\", path = \"/g\" }",
                "report_file alone",
            ),
            (
                "{ report_file = \"/f\", vendor_id = 1 }",
                "report_file alone",
            ),
            (
                "{ report_file = \"/f\", serial_number = \"x\" }",
                "need vendor_id",
            ),
            ("{ report_file = \"\" }", "report_file is empty"),
            (
                "{ report_file = \"/f\", report_len = 0 }",
                "report_len must be 1 to 4096",
            ),
            ("{ report_file = \"/f\", report_len = 5000 }", "not 5000"),
            (
                "{ path = \"/dev/hidraw0\", report_len = 64 }",
                "goes with report_file",
            ),
        ] {
            let text = format!("id = \"h\"\ndevice = {device}");
            let e = toml::from_str::<HidPosScannerConfig>(&text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{device}: {e}");
        }
        assert!(toml::from_str::<HidPosScannerConfig>("id = \"h\"").is_err());
        assert!(toml::from_str::<WedgeScannerConfig>(
            "id = \"w\"\ndevice = { vendor_id = 1 }\nlayout = \"fr\""
        )
        .is_err());
    }
}
