//! What the host trusts when it speaks TLS for a job: the system's roots
//! plus the certificate authorities the operator adds (`--net-ca`). A
//! job cannot weaken it (a guest's `rejectUnauthorized: false` changes
//! nothing): the host verifies every certificate and the name it was
//! asked for.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, RootCertStore};

/// The roots the host verifies servers' certificates against; cheap to
/// clone (the system's roots are read once, on first use).
#[derive(Clone, Default)]
pub struct Trust {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    extra: Vec<CertificateDer<'static>>,
    files: Vec<PathBuf>,
    config: OnceLock<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("extra_ca_files", &self.inner.files)
            .finish()
    }
}

impl Trust {
    /// The system's roots plus every certificate in the PEM files
    /// `files`; an unreadable file, or one with no certificate, is an
    /// error naming it.
    pub fn with_files(files: &[PathBuf]) -> Result<Trust> {
        let mut extra = Vec::new();
        for f in files {
            let certs = read_pem(f)?;
            extra.extend(certs);
        }
        Ok(Trust {
            inner: Arc::new(Inner {
                extra,
                files: files.to_vec(),
                config: OnceLock::new(),
            }),
        })
    }

    /// The operator's extra CA files.
    pub fn files(&self) -> &[PathBuf] {
        &self.inner.files
    }

    /// The client configuration: the system's roots (those it can parse)
    /// and the operator's.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.inner
            .config
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
                for cert in &self.inner.extra {
                    let _ = roots.add(cert.clone());
                }
                // ring, not aws-lc: no C toolchain beyond cc for the host's
                // build; it offers no post-quantum key exchange (which is
                // why rustls marks it deprecated), only the classic ones.
                #[allow(deprecated)]
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default TLS versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone()
    }
}

/// The certificates in one PEM file.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the CA file {} (--net-ca)", path.display()))?;
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(&bytes) {
        certs.push(c.with_context(|| {
            format!(
                "the CA file {} (--net-ca) is not PEM certificates",
                path.display()
            )
        })?);
    }
    if certs.is_empty() {
        bail!(
            "the CA file {} (--net-ca) holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// The name a TLS client sends and verifies for `host` (a name or an
/// address, as the job wrote it).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.trim_end_matches('.').to_string())
        .map_err(|e| format!("'{host}' is not a name TLS can verify: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = Trust::with_files(std::slice::from_ref(&missing))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("missing.pem"), "{e:#}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Trust::with_files(&[empty]).err().unwrap();
        assert!(
            format!("{e:#}").contains("holds no PEM certificate"),
            "{e:#}"
        );
    }

    #[test]
    fn names_and_addresses_are_server_names() {
        assert!(matches!(
            server_name("api.example.com."),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("bad name").is_err());
    }
}
