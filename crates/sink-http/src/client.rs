//! The HTTP client every sink uses: rustls with certificate and host name verification on,
//! extra trust roots from a CA file, an explicit `insecure` switch (logged as a warning),
//! a connect timeout and a whole-request timeout, and no automatic redirects (a destination
//! that redirects a POST is misconfigured, and a redirect could carry the credential away).

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// How the client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Longest wait for a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request, answer included.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate and host name (test setups only; logged as a warning).
    pub insecure: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            ca_file: None,
            insecure: false,
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The CA file cannot be read.
    #[error("cannot read the CA file {path}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("the CA file {path} holds no PEM certificate")]
    CaPem {
        /// The file.
        path: PathBuf,
        /// The parser's complaint, when it had one.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The TLS stack refused the settings.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// A client for the destination named `hop` (used in the `insecure` warning).
pub fn client(options: &ClientOptions, hop: &str) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &options.ca_file {
        for cert in ca_certificates(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if options.insecure {
        tracing::warn!(
            hop,
            "TLS verification is OFF (insecure): any certificate is accepted; never use this in production"
        );
        builder = builder
            .tls_danger_accept_invalid_certs(true)
            .tls_danger_accept_invalid_hostnames(true);
    }
    builder.build().map_err(BuildError::Client)
}

fn ca_certificates(path: &PathBuf) -> Result<Vec<reqwest::Certificate>, BuildError> {
    let pem = std::fs::read(path).map_err(|source| BuildError::CaFile {
        path: path.clone(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| BuildError::CaPem {
        path: path.clone(),
        source: Some(e),
    })?;
    if certs.is_empty() {
        return Err(BuildError::CaPem {
            path: path.clone(),
            source: None,
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let file = std::env::temp_dir().join(format!("docket-ca-{}", std::process::id()));
        std::fs::write(&file, "not a certificate").unwrap();
        let options = ClientOptions {
            ca_file: Some(file.clone()),
            ..ClientOptions::default()
        };
        assert!(matches!(
            client(&options, "test"),
            Err(BuildError::CaPem { .. })
        ));
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            client(&options, "test"),
            Err(BuildError::CaFile { .. })
        ));
        assert!(client(&ClientOptions::default(), "test").is_ok());
    }
}
