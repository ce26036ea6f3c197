//! `wasmraft dev-certs`: a certificate authority and certificates for a local cluster, as
//! `dev-keys` makes a token key pair. Not for production: its CA key sits beside the
//! certificates. The tests use [`Authority`] to make the certificates they need, bad ones
//! included (expired, from another CA, of a node that is not a member).

use super::names::node_name;
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long dev certificates are valid.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

fn key_pem(key: &KeyPair) -> String {
    pem_of("PRIVATE KEY", key.serialized_der())
}

/// What a certificate says.
pub struct CertSpec {
    pub common_name: String,
    /// The subject's organization: the caller's scopes, space-separated (see [`super::names`]).
    pub organization: Option<String>,
    /// DNS names and IP addresses.
    pub alt_names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl CertSpec {
    /// Node `id` of `cluster`, also valid for `localhost` and the loopback addresses so that
    /// it can serve the client doors of a local cluster.
    pub fn node(id: u64, cluster: &str) -> CertSpec {
        let alt_names = vec![node_name(id, cluster), "localhost".into(), "127.0.0.1".into(), "::1".into()];
        CertSpec { common_name: node_name(id, cluster), organization: None, alt_names, ..CertSpec::valid_now() }
    }

    /// A client called `name` holding `scopes`.
    pub fn client(name: &str, scopes: &[&str]) -> CertSpec {
        let organization = (!scopes.is_empty()).then(|| scopes.join(" "));
        CertSpec { common_name: name.into(), organization, alt_names: Vec::new(), ..CertSpec::valid_now() }
    }

    fn valid_now() -> CertSpec {
        let now = SystemTime::now();
        CertSpec {
            common_name: String::new(),
            organization: None,
            alt_names: Vec::new(),
            not_before: now - Duration::from_secs(3600),
            not_after: now + VALIDITY,
        }
    }

    fn params(&self) -> anyhow::Result<CertificateParams> {
        let mut params = CertificateParams::new(self.alt_names.clone())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, self.common_name.as_str());
        if let Some(o) = &self.organization {
            params.distinguished_name.push(DnType::OrganizationName, o.as_str());
        }
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // One certificate serves a node both ways: as the server peers connect to, and as
        // the client it connects to them with.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        Ok(params)
    }
}

/// A certificate authority that issues certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    key_pem: String,
}

impl Authority {
    /// A new CA called `name`.
    pub fn new(name: &str) -> anyhow::Result<Authority> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
        params.not_after = (SystemTime::now() + VALIDITY).into();
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let (cert_pem, key_pem) = (pem_of("CERTIFICATE", cert.der()), key_pem(&key));
        Ok(Authority { issuer: Issuer::new(params, key), cert_pem, key_pem })
    }

    /// The CA that `cert_pem` and `key_pem` hold.
    pub fn load(cert_pem: &str, key_pem: &str) -> anyhow::Result<Authority> {
        let key = KeyPair::try_from(pem::parse(key_pem)?.contents())?;
        let der = pem::parse(cert_pem)?.into_contents();
        let issuer = Issuer::from_ca_cert_der(&der.into(), key)?;
        Ok(Authority { issuer, cert_pem: cert_pem.into(), key_pem: key_pem.into() })
    }

    pub fn issue(&self, spec: &CertSpec) -> anyhow::Result<Issued> {
        let key = KeyPair::generate()?;
        let cert = spec.params()?.signed_by(&key, &self.issuer)?;
        Ok(Issued { cert_pem: pem_of("CERTIFICATE", cert.der()), key_pem: key_pem(&key) })
    }
}

/// The files of a dev-certs directory.
pub fn ca_file(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}
pub fn cert_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pem"))
}
pub fn key_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-key.pem"))
}
/// The name of node `id`'s files in a dev-certs directory.
pub fn node_files(id: u64) -> String {
    format!("node-{id}")
}
/// The client certificate `dev-certs` makes, with every role.
pub const ADMIN: &str = "admin";

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Makes (or completes) a dev-certs directory for `nodes` of `cluster`: the CA (kept if the
/// directory has one, so that certificates for added nodes share it), a certificate per
/// node, and `admin` (every role). Returns the files written.
pub fn make_dir(dir: &Path, cluster: &str, nodes: &[u64]) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (ca_cert, ca_key) = (ca_file(dir), key_file(dir, "ca"));
    let mut written = Vec::new();
    let ca = if ca_cert.exists() {
        let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
        Authority::load(&read(&ca_cert)?, &read(&ca_key)?)
            .with_context(|| format!("{} does not hold a usable CA", dir.display()))?
    } else {
        let ca = Authority::new(&format!("wasmraft dev CA ({cluster})"))?;
        std::fs::write(&ca_cert, &ca.cert_pem)?;
        write_private(&ca_key, &ca.key_pem)?;
        written.extend([ca_cert, ca_key]);
        ca
    };
    let mut issue = |name: String, spec: CertSpec| -> anyhow::Result<()> {
        let issued = ca.issue(&spec)?;
        let (cert, key) = (cert_file(dir, &name), key_file(dir, &name));
        std::fs::write(&cert, issued.cert_pem)?;
        write_private(&key, &issued.key_pem)?;
        written.extend([cert, key]);
        Ok(())
    };
    for &id in nodes {
        issue(node_files(id), CertSpec::node(id, cluster))?;
    }
    issue(ADMIN.into(), CertSpec::client(ADMIN, &["wasmraft.admin"]))?;
    Ok(written)
}
