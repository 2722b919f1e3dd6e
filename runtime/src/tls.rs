//! TLS to the broker, and the rule that keeps credentials and events off the network in clear.
//!
//! Both binaries connect to the broker with rumqttc over rustls with the *ring* provider (no
//! OpenSSL, no aws-lc: ring's bit of C and assembly builds with the cross toolchains the project
//! already uses). The `[mqtt]` tables of both configs share the same keys, so the same checks and
//! the same loader serve both:
//!
//! - `tls_ca_file`: PEM file with the CA certificate(s) the broker's certificate must chain to.
//!   Without it (`tls = true` alone) the system's CA store is used.
//! - `tls_cert_file` + `tls_key_file`: PEM client certificate (chain) and private key (mutual
//!   TLS: the broker learns who connects from the certificate).
//! - `insecure_plaintext`: the explicit, logged exception to the rule below.
//!
//! The rule ([`check_mqtt_settings`]): a broker that is not on this host (anything but
//! `localhost`, 127.0.0.0/8 or ::1) is reached over TLS, or the operator wrote
//! `insecure_plaintext = true`. A plaintext remote broker would see the password, the events and
//! the commit marks in clear and would let anyone on the path forge them.
//!
//! Invariants: the client config is built once at start-up from the files (a bad path or PEM is a
//! start-up error naming the key and the path, like [`crate::secret`]); the server's name is
//! checked against `mqtt.host` (rumqttc passes the host as the TLS server name, so an IP address
//! host needs the address in the certificate's subject alternative names).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// rustls' client config, re-exported so the binaries need no rustls dependency of their own.
pub use rustls::ClientConfig;

/// Config keys, as error messages name them.
pub const KEY_CA_FILE: &str = "mqtt.tls_ca_file";
pub const KEY_CERT_FILE: &str = "mqtt.tls_cert_file";
pub const KEY_KEY_FILE: &str = "mqtt.tls_key_file";

/// The TLS settings of one `[mqtt]` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// `mqtt.tls`: TLS on, with the system's CA store unless `ca_file` is set.
    pub tls: bool,
    pub ca_file: Option<&'a Path>,
    pub cert_file: Option<&'a Path>,
    pub key_file: Option<&'a Path>,
}

impl TlsFiles<'_> {
    /// Whether the connection uses TLS: `tls = true`, or any TLS file set.
    pub fn enabled(&self) -> bool {
        self.tls || self.ca_file.is_some() || self.cert_file.is_some()
    }
}

/// TLS material that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file named by `key` cannot be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file named by `key` was read but holds nothing usable.
    #[error("{key}: {}: {message}", path.display())]
    Invalid {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    /// `tls = true` without a CA file, and the system has no CA certificates.
    #[error("mqtt.tls: no CA certificates in the system store ({0}); set mqtt.tls_ca_file")]
    NoSystemRoots(String),
    /// rustls refused the provider's defaults (not expected with ring).
    #[error("TLS set-up: {0}")]
    Setup(#[source] rustls::Error),
}

/// A broker setting that [`check_mqtt_settings`] refuses: the `[mqtt]` key to blame and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// Key within `[mqtt]`, e.g. `host`.
    pub key: &'static str,
    pub message: String,
}

/// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1 (also as `[::1]` and as
/// an IPv4-mapped address). Anything else, a private address included, is "the network".
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical().is_loopback())
        .unwrap_or(false)
}

/// The consistency checks of the `[mqtt]` TLS keys and the no-plaintext-off-host rule.
pub fn check_mqtt_settings(
    host: &str,
    files: &TlsFiles<'_>,
    insecure_plaintext: bool,
) -> Result<(), SettingError> {
    match (files.cert_file, files.key_file) {
        (Some(_), None) => {
            return Err(SettingError {
                key: "tls_cert_file",
                message: "is set but mqtt.tls_key_file is not (a client certificate needs its key)"
                    .to_owned(),
            })
        }
        (None, Some(_)) => {
            return Err(SettingError {
                key: "tls_key_file",
                message: "is set but mqtt.tls_cert_file is not".to_owned(),
            })
        }
        _ => {}
    }
    if insecure_plaintext && files.enabled() {
        return Err(SettingError {
            key: "insecure_plaintext",
            message: "cannot be combined with TLS settings (mqtt.tls, mqtt.tls_*_file): choose one"
                .to_owned(),
        });
    }
    if !files.enabled() && !insecure_plaintext && !is_loopback_host(host) {
        return Err(SettingError {
            key: "host",
            message: format!(
                "{host:?} is not on this machine and TLS is off: the broker password, events and \
                 commit marks would cross the network in clear. Set mqtt.tls_ca_file (or \
                 mqtt.tls = true for the system CA store), or insecure_plaintext = true to accept \
                 that risk"
            ),
        });
    }
    Ok(())
}

/// Whether a connection with these settings to `host` is the accepted-but-insecure case that
/// must be logged at every start.
pub fn is_insecure_plaintext(host: &str, files: &TlsFiles<'_>) -> bool {
    !files.enabled() && !is_loopback_host(host)
}

/// The rustls client config for `files` (ring provider, safe default protocol versions), or
/// `None` when TLS is off. Reads the files now.
pub fn client_config(files: &TlsFiles<'_>) -> Result<Option<Arc<ClientConfig>>, TlsError> {
    if !files.enabled() {
        return Ok(None);
    }
    let roots = match files.ca_file {
        Some(path) => ca_roots(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots);
    let config = match (files.cert_file, files.key_file) {
        (Some(cert_path), Some(key_path)) => {
            let chain = certificates(KEY_CERT_FILE, cert_path)?;
            let key = private_key(key_path)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Invalid {
                    key: KEY_KEY_FILE,
                    path: key_path.to_owned(),
                    message: format!(
                        "unusable with the certificate in {}: {e}",
                        cert_path.display()
                    ),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

/// rumqttc's transport for a client config from [`client_config`]: TLS with it, or plain TCP.
pub fn transport(config: Option<Arc<ClientConfig>>) -> Transport {
    match config {
        Some(c) => Transport::tls_with_config(TlsConfiguration::Rustls(c)),
        None => Transport::Tcp,
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(key, path)?;
    let invalid = |message: String| TlsError::Invalid {
        key,
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".to_owned(),
        ));
    }
    Ok(certs)
}

fn ca_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(KEY_CA_FILE, path)? {
        roots.add(cert).map_err(|e| TlsError::Invalid {
            key: KEY_CA_FILE,
            path: path.to_owned(),
            message: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or("none found".to_owned(), |e| e.to_string());
        return Err(TlsError::NoSystemRoots(why));
    }
    Ok(roots)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(KEY_KEY_FILE, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
        key: KEY_KEY_FILE,
        path: path.to_owned(),
        message: format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "192.168.1.5",
            "broker.example",
            "localhost.example",
            "0.0.0.0",
            "::",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn plaintext_off_host_is_refused_unless_insecure() {
        let plain = TlsFiles::default();
        let e = check_mqtt_settings("hq.example", &plain, false).unwrap_err();
        assert_eq!(e.key, "host");
        assert!(e.message.contains("insecure_plaintext = true"), "{e:?}");
        assert!(check_mqtt_settings("hq.example", &plain, true).is_ok());
        assert!(check_mqtt_settings("127.0.0.1", &plain, false).is_ok());
        assert!(is_insecure_plaintext("hq.example", &plain));
        assert!(!is_insecure_plaintext("localhost", &plain));
        let ca = Path::new("/etc/ca.pem");
        let tls = TlsFiles {
            ca_file: Some(ca),
            ..TlsFiles::default()
        };
        assert!(check_mqtt_settings("hq.example", &tls, false).is_ok());
        assert!(!is_insecure_plaintext("hq.example", &tls));
        assert_eq!(
            check_mqtt_settings("hq.example", &tls, true)
                .unwrap_err()
                .key,
            "insecure_plaintext"
        );
        let half = TlsFiles {
            cert_file: Some(ca),
            ..TlsFiles::default()
        };
        assert_eq!(
            check_mqtt_settings("hq.example", &half, false)
                .unwrap_err()
                .key,
            "tls_cert_file"
        );
    }

    /// A CA and a client certificate it signed, as PEM files in `dir`.
    fn write_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["s1/agents/a1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let paths = (dir.join("ca.pem"), dir.join("c.pem"), dir.join("c.key"));
        std::fs::write(&paths.0, ca.pem()).unwrap();
        std::fs::write(&paths.1, cert.pem()).unwrap();
        std::fs::write(&paths.2, key.serialize_pem()).unwrap();
        paths
    }

    #[test]
    fn loads_ca_and_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = write_pki(dir.path());
        let files = TlsFiles {
            tls: false,
            ca_file: Some(&ca),
            cert_file: Some(&cert),
            key_file: Some(&key),
        };
        let config = client_config(&files).unwrap().expect("TLS is on");
        assert!(config.client_auth_cert_resolver.has_certs());
        assert!(matches!(transport(Some(config)), Transport::Tls(_)));
        assert!(client_config(&TlsFiles::default()).unwrap().is_none());
    }

    #[test]
    fn bad_files_name_the_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = write_pki(dir.path());
        let missing = dir.path().join("absent.pem");
        let e = client_config(&TlsFiles {
            ca_file: Some(&missing),
            ..TlsFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with(&format!(
            "mqtt.tls_ca_file: cannot read {}",
            missing.display()
        )));
        // A key where the CA should be: no certificate in it.
        let e = client_config(&TlsFiles {
            ca_file: Some(&key),
            ..TlsFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("mqtt.tls_ca_file: "), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");
        // A certificate where the key should be.
        let e = client_config(&TlsFiles {
            ca_file: Some(&ca),
            cert_file: Some(&cert),
            key_file: Some(&cert),
            ..TlsFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("mqtt.tls_key_file: "), "{e}");
        // A key that is not the certificate's.
        let other = dir.path().join("other.key");
        std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let e = client_config(&TlsFiles {
            ca_file: Some(&ca),
            cert_file: Some(&cert),
            key_file: Some(&other),
            ..TlsFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("mqtt.tls_key_file: "), "{e}");
    }
}
