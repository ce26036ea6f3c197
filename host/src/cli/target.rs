//! Which node a client command asks, and with what credentials (etcdctl's flag names).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

#[derive(Args)]
pub struct Target {
    /// The node's client address (HOST:PORT, its `--client-listen`).
    #[arg(long, env = "WASMRAFT_ENDPOINT", default_value = "127.0.0.1:7101")]
    pub endpoint: String,
    /// How long to wait for the answer, e.g. `10s`, `500ms`.
    #[arg(long, default_value = "10s")]
    pub timeout: humantime::Duration,
    /// Speak TLS, trusting the node's certificate if this CA (PEM) issued it for the
    /// endpoint's host name.
    #[arg(long, env = "WASMRAFT_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Present this client certificate (PEM); its CN is the caller, its O the scopes.
    #[arg(long, env = "WASMRAFT_CERT", value_name = "FILE", requires_all = ["key", "cacert"])]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "WASMRAFT_KEY", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// A bearer token (RS256 JWT) to call with instead of a certificate.
    #[arg(long, env = "WASMRAFT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A connection to a node's client API, and what every call carries.
pub struct Connected {
    pub client: crate::proto::client::client_client::ClientClient<Channel>,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl Connected {
    /// `message` as a call, with the bearer token if one was given.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.token {
            request.metadata_mut().insert("authorization", token.clone());
        }
        request
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl Target {
    pub async fn connect(&self) -> anyhow::Result<Connected> {
        let timeout: Duration = self.timeout.into();
        let scheme = if self.cacert.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", self.endpoint))
            .with_context(|| format!("`{}` is not HOST:PORT", self.endpoint))?
            .connect_timeout(timeout)
            .timeout(timeout);
        if let Some(ca) = &self.cacert {
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            endpoint = endpoint.tls_config(tls).context("the TLS settings are not usable")?;
        }
        let channel = endpoint.connect().await.with_context(|| format!("cannot reach {}", self.endpoint))?;
        let token = match &self.token {
            Some(token) => Some(format!("Bearer {}", token.trim()).parse().context("the token is not ASCII")?),
            None => None,
        };
        Ok(Connected { client: crate::proto::client::client_client::ClientClient::new(channel), token })
    }
}
