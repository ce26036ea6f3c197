//! TLS for the node's doors, with rustls (ring; no OpenSSL).
//!
//! - The peer door is mutual TLS 1.3: both sides present a certificate from the cluster's
//!   CA (`--peer-ca`), and a node is known by the name its certificate carries
//!   ([`names`]), not by what its messages claim.
//! - The client doors (gRPC and HTTP) serve TLS 1.2 or 1.3 with `--client-cert`; with
//!   `--client-ca`, a client may present a certificate from that CA, which then says who
//!   it is (else it is anonymous, and a bearer token may say so).
//!
//! Certificate files are read again on SIGHUP ([`Credentials::reload`]): new connections
//! use the new files at once, and the peer transport reconnects its streams with them.

pub mod accept;
pub mod connect;
pub mod dev;
pub mod names;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// A door's certificate, its key and the CA its clients' certificates must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Required on the peer door; optional on the client doors.
    pub ca: Option<PathBuf>,
}

/// Which door the files serve, which decides what is asked of the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Mutual TLS 1.3: a certificate of `node-<id>.<cluster>` from the CA, both ways.
    Peer { id: u64 },
    /// TLS for clients; with a CA, client certificates from it are accepted (not required).
    Client,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the files held when they were last read.
struct Loaded {
    server: Arc<ServerConfig>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Checks a peer's chain against the cluster's CA (the peer door only).
    peer_chain: Option<Arc<WebPkiServerVerifier>>,
}

/// A door's TLS settings, re-read from its files on [`Credentials::reload`].
pub struct Credentials {
    files: TlsFiles,
    door: Door,
    cluster: String,
    current: RwLock<Arc<Loaded>>,
    /// Counts reloads: the peer transport reconnects when it moves.
    reloads: watch::Sender<u64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("files", &self.files).field("door", &self.door).finish()
    }
}

/// The largest certificate, key or CA bundle file read (they are reread at every reload).
const MAX_PEM_BYTES: usize = 16 << 20;

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<u8>> {
    crate::durable::read(path, MAX_PEM_BYTES).with_context(|| format!("cannot read the {what} {}", path.display()))
}

fn load(files: &TlsFiles, door: Door, cluster: &str) -> anyhow::Result<Loaded> {
    let (cert_pem, key_pem) = (read(&files.cert, "certificate")?, read(&files.key, "private key")?);
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    let Some(leaf) = certs.first() else { bail!("{} holds no certificate", files.cert.display()) };
    if let Door::Peer { id } = door {
        let named = names::node_of(leaf, cluster);
        if named != Some(id) {
            bail!(
                "{} is not a certificate of node {id}: a node's certificate must carry the DNS name {} (it names {})",
                files.cert.display(),
                names::node_name(id, cluster),
                named.map_or_else(|| "no node of this cluster".to_string(), |n| format!("node {n}"))
            );
        }
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("{} is not a PEM private key", files.key.display()))?;
    let roots = match &files.ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&read(path, "CA certificate")?) {
                let cert = cert.with_context(|| format!("{} is not PEM", path.display()))?;
                roots.add(cert).with_context(|| format!("{} is not a usable CA certificate", path.display()))?;
            }
            if roots.is_empty() {
                bail!("{} holds no certificate", path.display());
            }
            Some(Arc::new(roots))
        }
        None if matches!(door, Door::Peer { .. }) => bail!("the peer door needs the cluster's CA (--peer-ca)"),
        None => None,
    };
    let verifier: Arc<dyn ClientCertVerifier> = match (&roots, door) {
        (Some(roots), Door::Peer { .. }) => {
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider()).build()?
        }
        (Some(roots), Door::Client) => {
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider()).allow_unauthenticated().build()?
        }
        (None, _) => WebPkiClientVerifier::no_client_auth(),
    };
    let peer_chain = match (&roots, door) {
        (Some(roots), Door::Peer { .. }) => {
            Some(WebPkiServerVerifier::builder_with_provider(roots.clone(), provider()).build()?)
        }
        _ => None,
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match door {
        Door::Peer { .. } => &[&rustls::version::TLS13],
        Door::Client => rustls::DEFAULT_VERSIONS,
    };
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .with_context(|| format!("{} and {} do not go together", files.cert.display(), files.key.display()))?;
    server.alpn_protocols = match door {
        Door::Peer { .. } => vec![b"h2".to_vec()],
        Door::Client => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(Loaded { server: Arc::new(server), certs, key, peer_chain })
}

impl Credentials {
    /// Reads `files` for `door` of a node of `cluster`; an error says which file is wrong.
    pub fn load(files: TlsFiles, door: Door, cluster: &str) -> anyhow::Result<Arc<Credentials>> {
        let loaded = load(&files, door, cluster)?;
        let cluster = cluster.to_string();
        Ok(Arc::new(Credentials {
            files,
            door,
            cluster,
            current: RwLock::new(Arc::new(loaded)),
            reloads: watch::Sender::new(0),
        }))
    }

    /// Reads the files again. On an error the files in use stay in use.
    pub fn reload(&self) -> anyhow::Result<()> {
        let loaded = load(&self.files, self.door, &self.cluster)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        self.reloads.send_modify(|n| *n += 1);
        Ok(())
    }

    fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server side, for the next connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current().server.clone()
    }

    /// Moves at every reload.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// Whether clients may authenticate with a certificate (a client CA is set).
    pub fn verifies_clients(&self) -> bool {
        self.files.ca.is_some()
    }
}

/// Whether `address` (HOST:PORT) is on this machine only: a loopback IP or `localhost`.
pub fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
