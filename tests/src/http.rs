//! A small HTTP/1.1 client for the tests and benchmarks of the nodes' HTTP front door
//! (keep-alive connections, so that many requests do not cost a connection each), and
//! bearer tokens signed with a key pair the tests make.

use crate::https::Connector;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};
use wasmraft::http::auth::{self, DevKeys, TokenRequest};

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: hyper::HeaderMap,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::trusting(None)
    }
}

impl HttpClient {
    /// A client of `http://` URLs, and of `https://` ones whose certificate the CA of
    /// `ca_pem` issued.
    pub fn trusting(ca_pem: Option<&[u8]>) -> HttpClient {
        HttpClient { client: Client::builder(TokioExecutor::new()).build(Connector::new(ca_pem)) }
    }
}

impl HttpClient {
    /// `method url` with an optional bearer token and body.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        self.send_with(method, url, token, &[], body).await
    }

    /// As [`HttpClient::send`], with more headers.
    pub async fn send_with(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| format!("{method} {url}: {e}"))?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
        Ok(Reply { status, body, headers })
    }

    pub async fn json(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, String> {
        self.send(method, url, token, Some(serde_json::to_vec(body).expect("JSON"))).await
    }
}

/// One key pair per test process, its public key written where nodes can read it.
pub struct TestKeys {
    pub keys: DevKeys,
    pub public_key_file: PathBuf,
}

pub fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // In the target directory, one file per process: a static is never dropped, so a
        // temporary directory would outlive every run. Files of processes gone are removed.
        let dir = crate::appliers_dir().with_file_name("test-keys");
        std::fs::create_dir_all(&dir).expect("the test keys' directory");
        for entry in std::fs::read_dir(&dir).expect("the test keys' directory").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("public-").and_then(|n| n.strip_suffix(".pem"));
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let keys = auth::generate_keys().expect("an RSA key pair");
        let public_key_file = dir.join(format!("public-{}.pem", std::process::id()));
        std::fs::write(&public_key_file, &keys.public_pem).expect("write the public key");
        TestKeys { keys, public_key_file }
    })
}

/// A token for `subject` with `scopes` and audience `localhost`, valid for an hour, signed
/// with `private_pem`.
pub fn token_signed_with(private_pem: &str, subject: &str, scopes: &[&str]) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let request = TokenRequest {
        subject,
        scopes: &scopes,
        audience: "localhost",
        issuer: "wasmraft-tests",
        issued_at: now,
        expires_at: now + 3600,
    };
    auth::mint(private_pem, &request).expect("a token")
}

/// A token signed with the test key pair.
pub fn token(subject: &str, scopes: &[&str]) -> String {
    token_signed_with(&test_keys().keys.private_pem, subject, scopes)
}

/// The `serve` flags that verify tokens of [`test_keys`] for audience `localhost`.
pub fn auth_flags() -> Vec<String> {
    vec!["--jwt-public-key".into(), path_str(&test_keys().public_key_file), "--jwt-audience".into(), "localhost".into()]
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// `secs` since the Unix epoch as RFC 3339 UTC (`2026-11-23T13:00:00Z`), for request bodies.
pub fn rfc3339(secs: u64) -> String {
    auth::at(&(secs as i64))
}

/// Now, in seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}
