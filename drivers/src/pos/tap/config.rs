//! Configuration of the `escpos_tap` and `escpos_serial_tap` drivers.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;

use crate::pos::escpos::EscPosOptions;
use crate::pos::template::{self, Template, TemplateError};
use crate::scanner::serial::config::{
    default_baud, default_data_bits, default_parity, default_stop_bits,
};
use crate::scanner::serial::{DataBits, Parity, StopBits};

/// `[[drivers]] type = "escpos_tap"`: sits between tills and a network receipt printer (raw
/// TCP printing, usually port 9100). Tills print to this address instead of the printer's; every
/// byte is passed on unchanged, and a copy of what the tills print is read into sales.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscPosTapConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// Address the tills print to: the raw printing port on this machine's address on the till
    /// network, e.g. `"192.168.1.10:9100"`, with the tills' printer setting pointed at it. Not
    /// `0.0.0.0`, which would offer the pass-through to the printer on every network the machine
    /// is on (a warning is logged then).
    pub listen: SocketAddr,
    /// The real printer, as `host:port` (for example `"192.168.1.50:9100"`).
    pub printer: String,
    /// How long to wait for the printer to accept a connection. When it does not, the till's
    /// connection is closed (tills retry) and a `disconnected` status is recorded.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Receipt template: a built-in name (`"generic"`, `"de_comma"`) or the path of a template
    /// TOML file. Read when the configuration is loaded, so a broken template is reported then.
    #[serde(default = "default_template")]
    pub template: ReceiptTemplate,
    /// How to read the print stream, e.g. `escpos = { code_page = "cp858" }`.
    #[serde(default = "default_escpos")]
    pub escpos: EscPosOptions,
    /// A receipt that is never cut ends after this many milliseconds without print data (also
    /// when the till closes its connection).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Reads (up to 4 KiB each) waiting for the receipt reader, per till connection. When they
    /// pile up (journal slow), further copies are dropped and counted; printing never waits.
    #[serde(default = "default_capture_queue")]
    pub capture_queue: usize,
}

/// `[[drivers]] type = "escpos_serial_tap"`: sits between a till's serial port and a serial
/// receipt printer, with a port (or USB serial adapter) to each. Every byte is passed on
/// unchanged in both directions, and a copy of what the till prints is read into sales. Both
/// ports use the same line settings, those the till and printer are set to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscPosSerialTapConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events.
    pub id: String,
    /// Serial port cabled to the till (the till prints into it). Prefer a stable name from
    /// `/dev/serial/by-id/`.
    pub till_path: String,
    /// Serial port cabled to the printer.
    pub printer_path: String,
    /// Baud rate of both ports.
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
    /// `"none"`: XON/XOFF bytes pass through like any other (the printer's XOFF reaches the
    /// till); `"hardware"`: RTS/CTS on each port, so a busy printer holds the till back through
    /// the tap; `"software"`: XON/XOFF handled by each port (not passed through).
    #[serde(default = "default_flow_control")]
    pub flow_control: FlowControl,
    /// Receipt template: a built-in name (`"generic"`, `"de_comma"`) or the path of a template
    /// TOML file.
    #[serde(default = "default_template")]
    pub template: ReceiptTemplate,
    /// How to read the print stream, e.g. `escpos = { code_page = "cp858" }`.
    #[serde(default = "default_escpos")]
    pub escpos: EscPosOptions,
    /// A receipt that is never cut ends after this many milliseconds without print data.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Reads waiting for the receipt reader. When they pile up (journal slow), further copies
    /// are dropped and counted; printing never waits.
    #[serde(default = "default_capture_queue")]
    pub capture_queue: usize,
}

/// Flow control on the tap's two serial ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// A compiled receipt template and where it came from. Two are equal when they name the same
/// source with the same text, so editing a template file and reloading restarts the driver.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ReceiptTemplate {
    source: String,
    text: String,
    template: Arc<Template>,
}

/// A `template` setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateSourceError {
    #[error(
        "{0:?} is neither a built-in template ({names}) nor a file path (a path contains `/`)",
        names = builtin_names()
    )]
    Unknown(String),
    #[error("cannot read template file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template file {path}: {source}")]
    Invalid { path: String, source: TemplateError },
}

fn builtin_names() -> String {
    let names: Vec<&str> = template::BUILTIN.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

impl ReceiptTemplate {
    /// Loads a built-in template by name, or a template file by path.
    pub fn load(source: &str) -> Result<ReceiptTemplate, TemplateSourceError> {
        let text = match template::builtin(source) {
            Some(text) => text.to_owned(),
            None if source.contains('/') => {
                std::fs::read_to_string(source).map_err(|e| TemplateSourceError::Read {
                    path: source.to_owned(),
                    source: e,
                })?
            }
            None => return Err(TemplateSourceError::Unknown(source.to_owned())),
        };
        let template = Template::from_toml(&text).map_err(|e| TemplateSourceError::Invalid {
            path: source.to_owned(),
            source: e,
        })?;
        Ok(ReceiptTemplate {
            source: source.to_owned(),
            text,
            template: Arc::new(template),
        })
    }

    pub fn template(&self) -> &Arc<Template> {
        &self.template
    }

    /// The built-in name or file path it was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl PartialEq for ReceiptTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.text == other.text
    }
}

impl TryFrom<String> for ReceiptTemplate {
    type Error = TemplateSourceError;

    fn try_from(source: String) -> Result<Self, Self::Error> {
        ReceiptTemplate::load(&source)
    }
}

fn default_connect_timeout_ms() -> u64 {
    3000
}

fn default_template() -> ReceiptTemplate {
    ReceiptTemplate::load("generic").expect("the built-in generic template compiles")
}

fn default_escpos() -> EscPosOptions {
    EscPosOptions::default()
}

fn default_idle_timeout_ms() -> u64 {
    2000
}

fn default_capture_queue() -> usize {
    256
}

fn default_flow_control() -> FlowControl {
    FlowControl::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pos::escpos::CodePage;

    #[test]
    fn tcp_defaults() {
        let c: EscPosTapConfig =
            toml::from_str("id = \"t\"\nlisten = \"127.0.0.1:9100\"\nprinter = \"10.0.0.5:9100\"")
                .unwrap();
        assert_eq!(c.connect_timeout_ms, 3000);
        assert_eq!(c.template.source(), "generic");
        assert_eq!(c.template.template().name(), "generic");
        assert_eq!(c.escpos, EscPosOptions::default());
        assert_eq!((c.idle_timeout_ms, c.capture_queue), (2000, 256));
    }

    #[test]
    fn serial_fields_parse() {
        let c: EscPosSerialTapConfig = toml::from_str(
            r#"
            id = "t"
            till_path = "/dev/ttyS0"
            printer_path = "/dev/ttyUSB0"
            baud = 19200
            parity = "even"
            flow_control = "hardware"
            template = "de_comma"
            escpos = { code_page = "cp858" }
            "#,
        )
        .unwrap();
        assert_eq!(c.baud, 19200);
        assert_eq!(c.parity, Parity::Even);
        assert_eq!(c.flow_control, FlowControl::Hardware);
        assert_eq!(c.template.template().name(), "de_comma");
        assert_eq!(c.escpos.code_page, CodePage::Cp858);
    }

    #[test]
    fn template_errors_name_the_source() {
        let base = "id = \"t\"\nlisten = \"127.0.0.1:9100\"\nprinter = \"p:9100\"\n";
        let e = toml::from_str::<EscPosTapConfig>(&format!("{base}template = \"genric\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("genric") && e.contains("generic, de_comma"),
            "{e}"
        );
        let e = toml::from_str::<EscPosTapConfig>(&format!(
            "{base}template = \"/nonexistent/store-edge.toml\""
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent/store-edge.toml"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "name = \"bad\"\nitems = []\ntotal = '(?P<total>x)'\n",
        )
        .unwrap();
        let e =
            toml::from_str::<EscPosTapConfig>(&format!("{base}template = \"{}\"", path.display()))
                .unwrap_err()
                .to_string();
        assert!(e.contains("bad.toml") && e.contains("items"), "{e}");
        assert!(toml::from_str::<EscPosTapConfig>(&format!("{base}colour = 1")).is_err());
    }

    #[test]
    fn a_changed_template_file_makes_a_different_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let path = path.to_str().unwrap();
        std::fs::write(path, template::builtin("generic").unwrap()).unwrap();
        let a = ReceiptTemplate::load(path).unwrap();
        assert_eq!(a, ReceiptTemplate::load(path).unwrap());
        std::fs::write(path, template::builtin("de_comma").unwrap()).unwrap();
        assert_ne!(a, ReceiptTemplate::load(path).unwrap());
    }
}
