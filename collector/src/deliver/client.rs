//! One HTTP/1.1 POST per connection, over TCP or TLS, with every part bounded: the whole
//! exchange by the destination's timeout, the response by [`MAX_RESPONSE_BYTES`]. Only the
//! status line matters to the sender, so nothing more is parsed; the connection is closed after
//! each request (`Connection: close`), which keeps a misbehaving receiver from holding state
//! here.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::url::Url;

/// Most response bytes read; the status line must be within them, the rest is ignored.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A destination's HTTP client.
#[derive(Clone)]
pub struct Client {
    url: Url,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// `tls` is required for an `https` URL (see [`store_runtime::tls::client_config`]).
    pub fn new(
        url: Url,
        tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Client {
        Client {
            url,
            tls: tls.map(tokio_rustls::TlsConnector::from),
            timeout,
        }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// POSTs `body` (JSON) with `headers`; returns the response status, or why there is none.
    pub async fn post(&self, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
        tokio::time::timeout(self.timeout, self.exchange(headers, body))
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
    }

    async fn exchange(&self, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
        let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let request = self.request(headers, body);
        match (&self.tls, self.url.tls) {
            (Some(connector), true) => {
                let name =
                    tokio_rustls::rustls::pki_types::ServerName::try_from(self.url.host.clone())
                        .map_err(|e| format!("server name: {e}"))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                exchange_on(stream, &request).await
            }
            (None, true) => Err("https without a TLS configuration".to_owned()),
            (_, false) => exchange_on(tcp, &request).await,
        }
    }

    fn request(&self, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: store-collector/{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.url.path,
            self.url.host_header(),
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<u16, String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    stream.flush().await.map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(status) = status_of(&buf)? {
            return Ok(status);
        }
        if buf.len() >= MAX_RESPONSE_BYTES {
            return Err(format!(
                "no status line in the first {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        let room = (MAX_RESPONSE_BYTES - buf.len()).min(chunk.len());
        let n = stream
            .read(&mut chunk[..room])
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return Err("connection closed before a status line".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The status of `HTTP/1.x NNN ...` once the first line is complete.
fn status_of(buf: &[u8]) -> Result<Option<u16>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[..end]);
    let mut parts = line.split(' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("bad status line {:?}", truncate(&line)));
    }
    code.parse::<u16>()
        .map(Some)
        .map_err(|_| format!("bad status line {:?}", truncate(&line)))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-shot server that answers `answer` after reading the request head.
    async fn serve_once(answer: Vec<u8>) -> (Url, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = vec![0u8; 8192];
            let n = s.read(&mut got).await.unwrap();
            got.truncate(n);
            let _ = s.write_all(&answer).await;
            // Keep the connection open (a receiver that never closes must not hang the sender).
            tokio::time::sleep(Duration::from_secs(5)).await;
            got
        });
        (
            Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap(),
            task,
        )
    }

    #[tokio::test]
    async fn a_2xx_status_is_read() {
        let (url, server) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()).await;
        let client = Client::new(url, None, Duration::from_secs(5));
        let status = client
            .post(&[("X-Test", "1".to_owned())], b"{}")
            .await
            .unwrap();
        assert_eq!(status, 204);
        server.abort();
    }

    #[tokio::test]
    async fn garbage_and_silence_are_errors_not_hangs() {
        let (url, server) = serve_once(vec![b'x'; 100_000]).await;
        let client = Client::new(url, None, Duration::from_secs(5));
        let err = client.post(&[], b"{}").await.unwrap_err();
        assert!(err.contains("no status line"), "{err}");
        server.abort();

        let (url, server) = serve_once(Vec::new()).await;
        let client = Client::new(url, None, Duration::from_millis(300));
        let err = client.post(&[], b"{}").await.unwrap_err();
        assert!(err.contains("no answer within 300 ms"), "{err}");
        server.abort();
    }

    /// A CA and a server certificate for `localhost` signed by it, as PEM files in `dir`, and
    /// the server's rustls config.
    fn pki(dir: &std::path::Path) -> (std::path::PathBuf, Arc<tokio_rustls::rustls::ServerConfig>) {
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        (ca_path, Arc::new(server))
    }

    #[tokio::test]
    async fn https_checks_the_certificate_against_the_configured_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, server) = pki(dir.path());
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let (other_ca, _) = pki(&other);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: not an error here.
                    if let Ok(mut s) = acceptor.accept(tcp).await {
                        let mut buf = vec![0u8; 8192];
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(b"HTTP/1.1 202 Accepted\r\n\r\n").await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        let url = Url::parse(&format!("https://localhost:{port}/hook")).unwrap();
        let client = |ca: &std::path::Path| {
            let tls = store_runtime::tls::client_config(&store_runtime::tls::TlsFiles {
                tls: true,
                ca_file: Some(ca),
                ..Default::default()
            })
            .unwrap();
            Client::new(url.clone(), tls, Duration::from_secs(5))
        };
        assert_eq!(client(&ca).post(&[], b"{}").await, Ok(202));
        let err = client(&other_ca).post(&[], b"{}").await.unwrap_err();
        assert!(err.starts_with("TLS: "), "{err}");
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 500 Oops\r\n").unwrap(), Some(500));
        assert_eq!(status_of(b"HTTP/1.0 200\r\n").unwrap(), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 20").unwrap(), None);
        assert!(status_of(b"SSH-2.0\r\n").is_err());
    }
}
