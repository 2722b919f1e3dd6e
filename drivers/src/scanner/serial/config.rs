//! Configuration of the `serial_scanner` driver.

use crate::scanner::mode::{ModeConfig, ScanMode};
use crate::scanner::serial::framing::Framing;
use serde::Deserialize;

/// `[[drivers]] type = "serial_scanner"`: a barcode scanner on a serial port (RS-232, or USB in
/// "COM emulation" mode, which shows up as `/dev/ttyACM*` or `/dev/ttyUSB*`).
///
/// The line settings must match the scanner's; most scanners ship as 9600 8N1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialScannerConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// Path of the serial device. Prefer a stable name from `/dev/serial/by-id/` (or a udev
    /// symlink) over `/dev/ttyACM0`, which can change when devices are replugged.
    pub path: String,
    /// Baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Data bits per character: 5, 6, 7 or 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: DataBits,
    /// Parity: `"none"`, `"even"` or `"odd"`.
    #[serde(default = "default_parity")]
    pub parity: Parity,
    /// Stop bits: 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: StopBits,
    /// How the scanner ends each scan: `"cr"`, `"lf"`, `"cr_lf"` (also accepts a lone CR or LF)
    /// or `"stx_etx"` (STX, data, ETX).
    #[serde(default = "default_framing")]
    pub framing: Framing,
    /// Longest accepted scan in bytes; a longer one is recorded as a decode error with its first
    /// `max_len` bytes.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// After this many milliseconds without input, a partial scan is ended: a line without its
    /// terminator becomes a scan (for scanners configured without a suffix), an unclosed STX
    /// frame or stray bytes become a decode error. Keep it above the scanner's gap between
    /// characters: 0 ends a scan at every read.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// What scans from this scanner are for, until staff scan a mode barcode: `"sale"`,
    /// `"stock_count"`, `"receiving"`, `"shrink"`, `"transfer_out"` or `"transfer_in"`.
    #[serde(default = "default_mode")]
    pub mode: ScanMode,
    /// Staff command barcodes (mode, quantity, badge, shift): `[drivers.modes]`.
    #[serde(default)]
    pub modes: ModeConfig,
}

/// Data bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u8")]
pub enum DataBits {
    Five,
    Six,
    Seven,
    Eight,
}

impl TryFrom<u8> for DataBits {
    type Error = String;

    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            5 => Ok(DataBits::Five),
            6 => Ok(DataBits::Six),
            7 => Ok(DataBits::Seven),
            8 => Ok(DataBits::Eight),
            _ => Err(format!("data_bits must be 5, 6, 7 or 8, not {n}")),
        }
    }
}

/// Parity bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Stop bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u8")]
pub enum StopBits {
    One,
    Two,
}

impl TryFrom<u8> for StopBits {
    type Error = String;

    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            1 => Ok(StopBits::One),
            2 => Ok(StopBits::Two),
            _ => Err(format!("stop_bits must be 1 or 2, not {n}")),
        }
    }
}

pub(crate) fn default_baud() -> u32 {
    9600
}

pub(crate) fn default_data_bits() -> DataBits {
    DataBits::Eight
}

pub(crate) fn default_parity() -> Parity {
    Parity::None
}

pub(crate) fn default_stop_bits() -> StopBits {
    StopBits::One
}

fn default_framing() -> Framing {
    Framing::CrLf
}

fn default_max_len() -> usize {
    4096
}

fn default_idle_timeout_ms() -> u64 {
    200
}

fn default_mode() -> ScanMode {
    ScanMode::Sale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_9600_8n1_cr_lf_sale() {
        let c: SerialScannerConfig =
            toml::from_str("id = \"s1\"\npath = \"/dev/ttyACM0\"").unwrap();
        assert_eq!(
            c,
            SerialScannerConfig {
                id: "s1".into(),
                path: "/dev/ttyACM0".into(),
                baud: 9600,
                data_bits: DataBits::Eight,
                parity: Parity::None,
                stop_bits: StopBits::One,
                framing: Framing::CrLf,
                max_len: 4096,
                idle_timeout_ms: 200,
                mode: ScanMode::Sale,
                modes: ModeConfig::default(),
            }
        );
    }

    #[test]
    fn every_field_parses() {
        let c: SerialScannerConfig = toml::from_str(
            r#"
            id = "s2"
            path = "/dev/ttyUSB0"
            baud = 115200
            data_bits = 7
            parity = "even"
            stop_bits = 2
            framing = "stx_etx"
            max_len = 512
            idle_timeout_ms = 50
            mode = "transfer_in"
            [modes]
            quantity_prefix = "Q"
            "#,
        )
        .unwrap();
        assert_eq!(c.baud, 115_200);
        assert_eq!(c.data_bits, DataBits::Seven);
        assert_eq!(c.parity, Parity::Even);
        assert_eq!(c.stop_bits, StopBits::Two);
        assert_eq!(c.framing, Framing::StxEtx);
        assert_eq!((c.max_len, c.idle_timeout_ms), (512, 50));
        assert_eq!(c.mode, ScanMode::TransferIn);
        assert_eq!(c.modes.quantity_prefix, "Q");
    }

    #[test]
    fn bad_values_and_unknown_fields_are_rejected() {
        for bad in [
            "stop_bits = 3",
            "data_bits = 9",
            "parity = \"mark\"",
            "framing = \"crlf\"",
            "mode = \"badge\"",
            "speed = 9600",
        ] {
            let text = format!("id = \"s\"\npath = \"/dev/ttyS0\"\n{bad}");
            assert!(
                toml::from_str::<SerialScannerConfig>(&text).is_err(),
                "{bad}"
            );
        }
        assert!(toml::from_str::<SerialScannerConfig>("id = \"s\"").is_err());
    }
}
