use super::dev::{Authority, CertSpec};
use super::names::{caller_of, node_of};
use super::*;

fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

#[test]
fn a_node_certificate_names_its_node_and_nothing_else_does() {
    let ca = Authority::new("test").unwrap();
    let node = ca.issue(&CertSpec::node(3, "prod")).unwrap();
    assert_eq!(node_of(&der(&node.cert_pem), "prod"), Some(3));
    assert_eq!(node_of(&der(&node.cert_pem), "staging"), None, "another cluster's node");
    let client = ca.issue(&CertSpec::client("ops", &["wasmraft.admin"])).unwrap();
    assert_eq!(node_of(&der(&client.cert_pem), "prod"), None);
    for names in
        [vec!["node-03.prod".to_string()], vec!["node-0.prod".into()], vec!["node-1.prod".into(), "node-2.prod".into()]]
    {
        let spec = CertSpec { alt_names: names.clone(), ..CertSpec::client("x", &[]) };
        assert_eq!(node_of(&der(&ca.issue(&spec).unwrap().cert_pem), "prod"), None, "{names:?}");
    }
}

#[test]
fn a_client_certificate_names_its_caller_and_scopes() {
    let ca = Authority::new("test").unwrap();
    let client = ca.issue(&CertSpec::client("ops", &["wasmraft.write", "utm.strategic_coordination"])).unwrap();
    let caller = caller_of(&der(&client.cert_pem)).unwrap();
    assert_eq!(caller.name, "ops");
    assert_eq!(caller.scopes, ["wasmraft.write", "utm.strategic_coordination"]);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn credentials_refuse_files_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("test").unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem);
    let node = ca.issue(&CertSpec::node(1, "wasmraft")).unwrap();
    let other = ca.issue(&CertSpec::node(2, "wasmraft")).unwrap();
    let (cert, key) = (write(dir.path(), "n1.pem", &node.cert_pem), write(dir.path(), "n1-key.pem", &node.key_pem));
    let other_key = write(dir.path(), "n2-key.pem", &other.key_pem);
    let files = |cert: &PathBuf, key: &PathBuf, ca: Option<&PathBuf>| TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
        ca: ca.cloned(),
    };
    let error = |files: TlsFiles, door| format!("{:#}", Credentials::load(files, door, "wasmraft").unwrap_err());
    Credentials::load(files(&cert, &key, Some(&ca_file)), Door::Peer { id: 1 }, "wasmraft").unwrap();
    assert!(error(files(&cert, &key, Some(&ca_file)), Door::Peer { id: 2 }).contains("not a certificate of node 2"));
    assert!(error(files(&cert, &other_key, Some(&ca_file)), Door::Peer { id: 1 }).contains("do not go together"));
    assert!(error(files(&cert, &key, None), Door::Peer { id: 1 }).contains("--peer-ca"));
    assert!(error(files(&key, &key, None), Door::Client).contains("holds no certificate"));
    let creds = Credentials::load(files(&cert, &key, None), Door::Client, "wasmraft").unwrap();
    // A reload that fails keeps what is in use.
    let reloads = creds.reloads();
    std::fs::write(&key, "garbage").unwrap();
    assert!(creds.reload().is_err());
    assert!(!reloads.has_changed().unwrap());
    std::fs::write(&key, &node.key_pem).unwrap();
    creds.reload().unwrap();
    assert!(reloads.has_changed().unwrap());
}

#[test]
fn loopback_addresses_are_told_apart() {
    for local in ["127.0.0.1:7001", "localhost:1", "[::1]:80", "127.8.9.1:5"] {
        assert!(is_loopback(local), "{local}");
    }
    for remote in ["0.0.0.0:7001", "10.0.0.1:1", "[::]:80", "example.com:443", "node1:7001"] {
        assert!(!is_loopback(remote), "{remote}");
    }
}
