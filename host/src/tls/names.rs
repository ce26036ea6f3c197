//! Who a verified certificate speaks for. The chain has been checked by rustls against the
//! door's CA before any of this runs; here only the names inside are read.
//!
//! - A node's certificate names it with a DNS subject alternative name `node-<id>.<cluster>`
//!   (`<cluster>` is `--cluster-name`): a peer is the node its certificate names, whatever
//!   its messages claim, and a node connecting to peer N checks that N's certificate is
//!   valid for that name, as a browser checks a host name.
//! - A client's certificate names its caller with the subject's common name (CN); its
//!   organizations (O, several scopes in one separated by spaces) are its scopes, as
//!   Kubernetes reads a client certificate's groups.
//!   Scopes `wasmraft.read`, `wasmraft.write` and `wasmraft.admin` are the client API's roles.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The DNS name a node's certificate carries.
pub fn node_name(id: u64, cluster: &str) -> String {
    format!("node-{id}.{cluster}")
}

/// The node that a certificate (DER) names in `cluster`, if it names exactly one.
pub fn node_of(cert: &[u8], cluster: &str) -> Option<u64> {
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let names = cert.subject_alternative_name().ok()??;
    let suffix = format!(".{cluster}");
    let mut ids = names.value.general_names.iter().filter_map(|name| match name {
        GeneralName::DNSName(dns) => {
            let id = dns.strip_suffix(suffix.as_str())?.strip_prefix("node-")?;
            // Canonical decimal only: `node-03` is not node 3.
            id.parse::<u64>().ok().filter(|n| *n > 0 && n.to_string() == id)
        }
        _ => None,
    });
    let id = ids.next()?;
    ids.all(|other| other == id).then_some(id)
}

/// A client certificate's caller: its common name and its organizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertCaller {
    pub name: String,
    pub scopes: Vec<String>,
}

/// The caller a client certificate (DER) names; `None` without a common name.
pub fn caller_of(cert: &[u8]) -> Option<CertCaller> {
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let mut scopes: Vec<String> = Vec::new();
    // Several scopes in one O are separated by spaces, as in a token's `scope` claim.
    for scope in subject.iter_organization().filter_map(|o| o.as_str().ok()).flat_map(str::split_whitespace) {
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    Some(CertCaller { name, scopes })
}
