//! The client side of the peer door: connections to other nodes, with this node's
//! certificate, checked to be the node they should be.

use super::names::{node_name, node_of};
use super::{Credentials, provider};
use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Checks a peer's certificate: the chain against the cluster's CA, and the name against
/// the node this connection is for (`expected`), or against any node of the cluster when
/// the caller does not know which it reaches (joining through an address).
#[derive(Debug)]
struct NodeVerifier {
    chain: Arc<WebPkiServerVerifier>,
    cluster: String,
    expected: Option<u64>,
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let general = |why: String| rustls::Error::General(why);
        let named = node_of(end_entity, &self.cluster)
            .ok_or_else(|| general(format!("the certificate names no node of cluster {}", self.cluster)))?;
        if self.expected.is_some_and(|expected| expected != named) {
            return Err(general(format!(
                "the certificate is node {named}'s, not node {}'s",
                self.expected.unwrap_or_default()
            )));
        }
        let name = ServerName::try_from(node_name(named, &self.cluster)).map_err(|e| general(e.to_string()))?;
        self.chain.verify_server_cert(end_entity, intermediates, &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

fn endpoint(address: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2)))
}

/// A channel to the node at `address` (node `expected`, if known), over mutual TLS with
/// `tls`, or in the clear without.
pub async fn connect_node(
    tls: Option<&Credentials>,
    address: &str,
    expected: Option<u64>,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = endpoint(address)?;
    let Some(tls) = tls else { return endpoint.connect().await };
    let config = Arc::new(tls.node_client_config(expected));
    let sni = ServerName::try_from(match expected {
        Some(id) => node_name(id, &tls.cluster),
        None => tls.cluster.clone(),
    })
    .unwrap_or_else(|_| ServerName::try_from("wasmraft").expect("a valid name"));
    let address = address.to_string();
    let connector = tower::service_fn(move |_: Uri| {
        let (config, sni, address) = (config.clone(), sni.clone(), address.clone());
        async move {
            let tcp = TcpStream::connect(&address).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config).connect(sni, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    endpoint.connect_with_connector(connector).await
}

impl Credentials {
    /// rustls's client side for connecting to node `expected` (any node when `None`).
    fn node_client_config(&self, expected: Option<u64>) -> rustls::ClientConfig {
        let loaded = self.current();
        let chain = loaded.peer_chain.clone().expect("the peer door's credentials have a CA");
        let verifier = NodeVerifier { chain, cluster: self.cluster.clone(), expected };
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(loaded.certs.clone(), loaded.key.clone_key())
            .expect("the key was checked against the certificate when the files were read");
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }
}
