//! `escpos_serial_tap`: the serial loop, between the till's port and the printer's port.
//!
//! When both ports are open, a `DeviceStatus CONNECTED` naming them is recorded. When either
//! port cannot be opened, or fails or hangs up (cable pulled, USB adapter gone), [`run_serial`]
//! returns an error naming the port, and the agent's supervisor records a `DeviceStatus
//! DISCONNECTED` with that reason and restarts the driver with backoff: a replugged port (best
//! named by a stable `/dev/serial/by-id/` path) is picked up by the restart. What the till
//! printed before the failure is still read into sales (a receipt cut short by the unplug ends
//! there, like one ended by the idle timeout).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use store_proto::v1::DeviceState;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_serial::{SerialPortBuilderExt, SerialStream};
use tracing::{info, warn};

use super::{forward, start_capture, status, EscPosSerialTapConfig, FlowControl};
use crate::scanner::serial::{DataBits, Parity, StopBits};
use crate::{DriverError, Sink};

/// Opens both ports and forwards until one of them fails.
pub async fn run_serial(config: EscPosSerialTapConfig, sink: Sink) -> Result<(), DriverError> {
    let io_err = |source: io::Error| DriverError::Io {
        id: config.id.clone(),
        source,
    };
    let printer = open(&config, &config.printer_path).map_err(io_err)?;
    let till = open(&config, &config.till_path).map_err(io_err)?;
    info!(driver_id = %config.id, till = %config.till_path, printer = %config.printer_path, "ESC/POS serial tap open.");
    let opened = format!(
        "opened till port {} and printer port {} at {} baud",
        config.till_path, config.printer_path, config.baud
    );

    let (mut capture, _capture_task) = start_capture(
        &config.id,
        config.template.template().clone(),
        config.escpos.clone(),
        Duration::from_millis(config.idle_timeout_ms),
        config.capture_queue,
        sink,
        Some(status(DeviceState::Connected, opened)),
    );
    let (till_r, mut till_w) = tokio::io::split(Named::new(till, &config.till_path));
    let (mut printer_r, printer_w) = tokio::io::split(Named::new(printer, &config.printer_path));
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

/// A port whose errors name its path, so the supervisor's status says which cable to check.
struct Named {
    port: SerialStream,
    path: String,
}

impl Named {
    fn new(port: SerialStream, path: &str) -> Self {
        Named {
            port,
            path: path.to_owned(),
        }
    }

    fn name<T>(&self, r: io::Result<T>) -> io::Result<T> {
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path)))
    }
}

impl AsyncRead for Named {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.port).poll_read(cx, buf);
        r.map(|r| self.name(r))
    }
}

impl AsyncWrite for Named {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.port).poll_write(cx, buf);
        r.map(|r| self.name(r))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.port).poll_flush(cx);
        r.map(|r| self.name(r))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.port).poll_shutdown(cx);
        r.map(|r| self.name(r))
    }
}

fn closed(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{path} closed (cable or adapter unplugged?)"),
    )
}

/// Opens one of the two ports with the shared line settings.
fn open(config: &EscPosSerialTapConfig, path: &str) -> io::Result<SerialStream> {
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
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("cannot open {path}: {e}"))
        })
}
