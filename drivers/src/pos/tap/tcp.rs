//! `escpos_tap`: the TCP loop. Each till connection gets its own connection to the printer and
//! its own receipt reader, so two tills printing at once never mix their receipts.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use store_proto::v1::DeviceState;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::{forward, send, start_capture, status, EscPosTapConfig};
use crate::listen::Listener;
use crate::{DriverError, Sink};

/// How long the printer may keep talking after the till has finished sending; a printer that
/// never closes its side must not pin the connection forever.
const LINGER: Duration = Duration::from_secs(30);

/// What the tap last knew of the printer, so a status is recorded on changes only (a till
/// retrying every second must not flood the journal).
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Accepts till connections until the listening socket fails.
pub async fn run_tcp(config: EscPosTapConfig, sink: Sink) -> Result<(), DriverError> {
    // No cap of its own (tills are few and a refused print job is lost to the till), but accept
    // errors such as EMFILE are waited out instead of failing the driver.
    let mut listener = Listener::bind(&config.id, config.listen, usize::MAX, b"").await?;
    info!(driver_id = %config.id, addr = %config.listen, printer = %config.printer, "ESC/POS tap listening.");
    let printer_link = Arc::new(AtomicU8::new(UNKNOWN));
    loop {
        let (till, peer, slot) = listener.accept().await?;
        debug!(driver_id = %config.id, %peer, "Till connected.");
        let config = config.clone();
        let sink = sink.clone();
        let link = printer_link.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = serve(till, &config, sink, &link).await {
                debug!(driver_id = %config.id, %peer, error = %e, "Till connection ended.");
            }
        });
    }
}

async fn serve(
    till: TcpStream,
    config: &EscPosTapConfig,
    sink: Sink,
    link: &AtomicU8,
) -> std::io::Result<()> {
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    let printer = match tokio::time::timeout(timeout, TcpStream::connect(&config.printer)).await {
        Ok(Ok(p)) => p,
        failed => {
            // Close the till first: it retries, and its operator sees the printer is off.
            drop(till);
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", config.connect_timeout_ms),
            };
            warn!(driver_id = %config.id, printer = %config.printer, error = %why, "Printer unreachable.");
            if link.swap(DOWN, Ordering::SeqCst) != DOWN {
                let reason = format!("printer {} unreachable: {why}", config.printer);
                let _ = send(&sink, &config.id, status(DeviceState::Disconnected, reason)).await;
            }
            return Ok(());
        }
    };
    if link.swap(UP, Ordering::SeqCst) == DOWN {
        info!(driver_id = %config.id, printer = %config.printer, "Printer reachable again.");
        let reason = format!("printer {} reachable again", config.printer);
        let _ = send(&sink, &config.id, status(DeviceState::Connected, reason)).await;
    }
    // Receipts are small and interactive (status queries): no batching delay.
    let _ = till.set_nodelay(true);
    let _ = printer.set_nodelay(true);
    let (till_r, mut till_w) = till.into_split();
    let (mut printer_r, printer_w) = printer.into_split();

    let (mut capture, _capture_task) = start_capture(
        &config.id,
        config.template.template().clone(),
        config.escpos.clone(),
        Duration::from_millis(config.idle_timeout_ms),
        config.capture_queue,
        sink,
        None,
    );
    let result = {
        let up = forward(till_r, printer_w, &mut capture);
        let down = async {
            tokio::io::copy(&mut printer_r, &mut till_w).await?;
            tokio::io::AsyncWriteExt::shutdown(&mut till_w).await
        };
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => {
                    up_done = true;
                    if let Err(e) = r { break Err(e) }
                }
                r = &mut down, if !down_done => {
                    down_done = true;
                    if let Err(e) = r { break Err(e) }
                }
                () = tokio::time::sleep(LINGER), if up_done && !down_done => break Ok(()),
            }
            if up_done && down_done {
                break Ok(());
            }
        }
    };
    // Both sockets close here (their halves are dropped); the capture flushes the last receipt.
    capture.finish().await;
    result
}
