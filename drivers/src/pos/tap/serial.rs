//! `escpos_serial_tap`: the serial loop, between the till's port and the printer's port.
//!
//! When either port cannot be opened, or fails or hangs up (cable pulled, USB adapter gone),
//! [`run_serial`] returns an error and the agent's supervisor restarts the driver with backoff;
//! a printer port that cannot be opened is also recorded as a `disconnected` status.

use std::time::Duration;

use store_proto::v1::DeviceState;
use tokio_serial::{SerialPortBuilderExt, SerialStream};
use tracing::{info, warn};

use super::{forward, send, start_capture, status, EscPosSerialTapConfig, FlowControl};
use crate::scanner::serial::{DataBits, Parity, StopBits};
use crate::{DriverError, Sink};

/// Opens both ports and forwards until one of them fails.
pub async fn run_serial(config: EscPosSerialTapConfig, sink: Sink) -> Result<(), DriverError> {
    let io_err = |source: std::io::Error| DriverError::Io {
        id: config.id.clone(),
        source,
    };
    let printer = match open(&config, &config.printer_path) {
        Ok(p) => p,
        Err(e) => {
            let reason = format!("printer port unusable: {e}");
            let _ = send(&sink, &config.id, status(DeviceState::Disconnected, reason)).await;
            return Err(io_err(e));
        }
    };
    let till = open(&config, &config.till_path).map_err(io_err)?;
    info!(driver_id = %config.id, till = %config.till_path, printer = %config.printer_path, "ESC/POS serial tap open.");

    let (mut capture, _capture_task) = start_capture(
        &config.id,
        config.template.template().clone(),
        config.escpos.clone(),
        Duration::from_millis(config.idle_timeout_ms),
        config.capture_queue,
        sink,
    );
    let (till_r, mut till_w) = tokio::io::split(till);
    let (mut printer_r, printer_w) = tokio::io::split(printer);
    let error = {
        let up = forward(till_r, printer_w, &mut capture);
        let down = tokio::io::copy(&mut printer_r, &mut till_w);
        // A serial line has no end of stream: either side finishing means its port went away.
        tokio::select! {
            r = up => r.err().unwrap_or_else(|| closed(&config.till_path)),
            r = down => r.err().unwrap_or_else(|| closed(&config.printer_path)),
        }
    };
    warn!(driver_id = %config.id, %error, "ESC/POS serial tap stopped.");
    capture.finish().await;
    Err(io_err(error))
}

fn closed(path: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("{path} closed (cable or adapter unplugged?)"),
    )
}

/// Opens one of the two ports with the shared line settings.
fn open(config: &EscPosSerialTapConfig, path: &str) -> std::io::Result<SerialStream> {
    let data_bits = match config.data_bits {
        DataBits::Five => tokio_serial::DataBits::Five,
        DataBits::Six => tokio_serial::DataBits::Six,
        DataBits::Seven => tokio_serial::DataBits::Seven,
        DataBits::Eight => tokio_serial::DataBits::Eight,
    };
    let parity = match config.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let stop_bits = match config.stop_bits {
        StopBits::One => tokio_serial::StopBits::One,
        StopBits::Two => tokio_serial::StopBits::Two,
    };
    let flow_control = match config.flow_control {
        FlowControl::None => tokio_serial::FlowControl::None,
        FlowControl::Software => tokio_serial::FlowControl::Software,
        FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
    };
    tokio_serial::new(path, config.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(flow_control)
        .open_native_async()
        .map_err(|e| {
            let e = std::io::Error::from(e);
            std::io::Error::new(e.kind(), format!("cannot open {path}: {e}"))
        })
}
