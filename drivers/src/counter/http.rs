//! A small HTTP/1.1 client for plain HTTP on the store network: the counter poller's GETs and the
//! push generator's POSTs (`store_tests::counter_generator`).
//!
//! One connection per request (`Connection: close`): polls are seconds apart, and a fresh
//! connection never trips over a camera that silently dropped an idle keep-alive socket. The
//! whole exchange (connect, request, response body) runs under one timeout, and the body is
//! read up to a size limit, so a hung or chatty device cannot stall or bloat the driver.
//! No TLS: counters on the store LAN speak plain HTTP.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: cannot connect: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url}: {message}")]
    Protocol { url: String, message: String },
    #[error("{url}: response body larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// A checked `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    uri: Uri,
    host: String,
    port: u16,
}

impl Url {
    /// Parses an `http://host[:port]/path?query` URL; anything else is an error saying why.
    pub fn parse(text: &str) -> Result<Url, String> {
        if !text.contains("://") {
            return Err(format!("{text:?}: needs http:// in front"));
        }
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "{text:?}: scheme {other}:// is not supported (plain http:// only)"
                ))
            }
            None => return Err(format!("{text:?}: needs http:// in front")),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?}: no host"))?
            // An IPv6 literal comes bracketed; connecting needs the bare address.
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(format!(
                "{text:?}: put credentials in the config's username/password, not in the URL"
            ));
        }
        let port = uri.port_u16().unwrap_or(80);
        Ok(Url { uri, host, port })
    }

    pub fn as_str(&self) -> String {
        self.uri.to_string()
    }

    /// The same host with another path and query (such as `/?token=x`).
    pub fn with_path(&self, path_and_query: &str) -> Result<Url, String> {
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or_default();
        Url::parse(&format!("http://{authority}{path_and_query}"))
    }
}

/// A finished exchange: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Sends one request and reads the whole answer (at most `max_body` bytes), all within `timeout`.
pub async fn exchange(
    method: Method,
    url: &Url,
    headers: &[(header::HeaderName, HeaderValue)],
    body: Vec<u8>,
    timeout: Duration,
    max_body: usize,
) -> Result<Answer, HttpError> {
    let shown = url.as_str();
    match tokio::time::timeout(timeout, attempt(method, url, headers, body, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout {
            url: shown,
            timeout,
        }),
    }
}

async fn attempt(
    method: Method,
    url: &Url,
    headers: &[(header::HeaderName, HeaderValue)],
    body: Vec<u8>,
    max_body: usize,
) -> Result<Answer, HttpError> {
    let shown = || url.as_str();
    let protocol = |message: String| HttpError::Protocol {
        url: shown(),
        message,
    };
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|source| HttpError::Connect {
            url: shown(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| protocol(format!("handshake failed: {e}")))?;
    // The connection future does the I/O; it ends when the exchange is over (or is dropped with
    // this function's future at the timeout, which closes the socket).
    let connection = async move {
        let _ = connection.await;
    };
    let exchange = async {
        let path = url
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let authority = url
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority)
            .header(header::CONNECTION, "close")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| protocol(format!("bad request: {e}")))?;
        for (name, value) in headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| protocol(format!("request failed: {e}")))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLarge {
                        url: shown(),
                        limit: max_body,
                    }
                } else {
                    protocol(format!("reading the answer failed: {e}"))
                }
            })?
            .to_bytes();
        Ok(Answer { status, body })
    };
    let (_, answer) = tokio::join!(connection, exchange);
    answer
}

/// `Basic` credentials (RFC 7617): base64 of `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4); only needed for one header, so not worth a crate.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        // RFC 7617 §2's example.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn urls_are_checked() {
        let u = Url::parse("http://192.168.1.20/local/pc/live-sum.json?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("192.168.1.20", 80));
        let u = Url::parse("http://[::1]:8080/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(
            u.with_path("/counter?token=t").unwrap().as_str(),
            "http://[::1]:8080/counter?token=t"
        );
        for (bad, why) in [
            ("https://cam/", "plain http"),
            ("cam/live.json", "http://"),
            ("http://root:pass@cam/", "username/password"),
            ("http:// bad", "not a URL"),
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
