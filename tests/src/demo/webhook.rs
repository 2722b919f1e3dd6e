//! A webhook destination inside the demo: a small HTTP receiver on 127.0.0.1 that checks each
//! delivery's HMAC signature the way a real receiver must (HMAC-SHA256 under the shared secret
//! of "{timestamp}.{raw body}"), and the `[[deliver.webhook]]` table that points HQ at it.
//!
//! It is deliberately plain (std sockets, one thread, one request per connection): the demo
//! only needs to show that deliveries arrive signed, not to be a server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Largest request body read; the collector's deliveries are a few KiB.
const MAX_BODY: usize = 256 * 1024;
/// Most header lines read from one request.
const MAX_HEADERS: usize = 64;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-Store-Edge-Idempotency-Key`.
    pub key: String,
    /// The alert kind (or `signal`), from the body.
    pub kind: String,
    pub store_id: String,
    pub signature_valid: bool,
}

/// The running receiver; stops its thread on drop.
pub struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Delivery>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Listens on a free 127.0.0.1 port and checks signatures under `secret`.
    pub fn start(secret: &str) -> Result<Receiver, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("webhook receiver: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, secret) = (Arc::clone(&seen), Arc::clone(&stop), secret.to_owned());
        std::thread::Builder::new()
            .name("demo-webhook".into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Some(d) = serve(stream, secret.as_bytes()) {
                                seen2.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Receiver { addr, seen, stop })
    }

    /// The URL to configure.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The collector's `[[deliver.webhook]]` table for `receiver`, its secret in `secret_file`.
pub fn collector_toml(receiver: &Receiver, secret_file: &Path) -> String {
    format!(
        "\n[[deliver.webhook]]\nname = \"demo-inbox\"\nurl = {:?}\nsecret_file = {:?}\nretry_min_ms = 200\nretry_max_ms = 2000\n",
        receiver.url(),
        secret_file.display().to_string()
    )
}

/// Reads one request, answers it, and returns what it carried (`None` for what is not a
/// delivery: a bad request gets a 400 and is forgotten).
fn serve(mut stream: TcpStream, secret: &[u8]) -> Option<Delivery> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let parsed = read_request(&stream, secret);
    let status = match &parsed {
        Some(d) if d.signature_valid => "204 No Content",
        Some(_) => "401 Unauthorized",
        None => "400 Bad Request",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    parsed
}

fn read_request(stream: &TcpStream, secret: &[u8]) -> Option<Delivery> {
    let mut reader = BufReader::new(stream.take(MAX_BODY as u64 + 16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST ") {
        return None;
    }
    let (mut length, mut key, mut timestamp, mut signature) =
        (0usize, String::new(), String::new(), String::new());
    for _ in 0..MAX_HEADERS {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        let value = value.trim().to_owned();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "x-store-edge-idempotency-key" => key = value,
            "x-store-edge-timestamp" => timestamp = value,
            "x-store-edge-signature" => signature = value,
            _ => {}
        }
    }
    if length > MAX_BODY {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let kind = doc["alert"]["kind"]
        .as_str()
        .or(doc["type"].as_str())
        .unwrap_or("")
        .to_owned();
    let store_id = doc["alert"]["store_id"]
        .as_str()
        .or(doc["signal"]["store_id"].as_str())
        .unwrap_or("")
        .to_owned();
    Some(Delivery {
        key,
        kind,
        store_id,
        signature_valid: signature_valid(secret, &timestamp, &body, &signature),
    })
}

/// Whether `signature` is `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">` (compared in
/// constant time by `verify_slice`).
fn signature_valid(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_check_accepts_the_right_key_only() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"17.{}");
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(signature_valid(b"k", "17", b"{}", &format!("sha256={sig}")));
        assert!(!signature_valid(
            b"x",
            "17",
            b"{}",
            &format!("sha256={sig}")
        ));
        assert!(!signature_valid(
            b"k",
            "18",
            b"{}",
            &format!("sha256={sig}")
        ));
        assert!(!signature_valid(b"k", "17", b"{}", &sig));
    }
}
