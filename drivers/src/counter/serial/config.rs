//! Configuration of the `counter_serial` driver.

use serde::Deserialize;

/// `[[drivers]] type = "counter_serial"`: an infrared beam counter (or an adapter board) on a
/// serial port speaking our ASCII line protocol (`IN n`, `OUT n`, `TOTAL in out`; see
/// [`serial_line`](crate::counter::serial_line)), 8N1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSerialConfig {
    /// Id of this driver instance, unique within the agent; also the `device_id` of its events
    /// and the `counter_id` of its counts.
    pub id: String,
    /// Path of the serial device. Prefer a stable name from `/dev/serial/by-id/` (or a udev
    /// symlink) over `/dev/ttyUSB0`, which can change when devices are replugged.
    pub path: String,
    /// Baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Counting line recorded with the counts.
    #[serde(default = "default_line")]
    pub line: String,
}

fn default_baud() -> u32 {
    9600
}

fn default_line() -> String {
    "main".to_owned()
}

#[cfg(test)]
mod tests {
    use crate::DriverConfig;

    #[test]
    fn defaults_and_typos() {
        let c: DriverConfig =
            toml::from_str("type = \"counter_serial\"\nid = \"beam\"\npath = \"/dev/ttyUSB0\"")
                .unwrap();
        assert_eq!((c.id(), c.kind()), ("beam", "counter_serial"));
        let DriverConfig::CounterSerial(c) = c else {
            panic!("wrong variant: {c:?}");
        };
        assert_eq!((c.baud, c.line.as_str()), (9600, "main"));
        let e = toml::from_str::<DriverConfig>(
            "type = \"counter_serial\"\nid = \"b\"\npath = \"/dev/x\"\nbaudrate = 19200",
        )
        .unwrap_err();
        assert!(e.to_string().contains("baudrate"), "{e}");
        assert!(toml::from_str::<DriverConfig>("type = \"counter_serial\"\nid = \"b\"").is_err());
    }
}
