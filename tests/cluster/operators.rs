//! What an operator expects of a node: gRPC health probes that need no credentials and
//! follow readiness, reflection for callers who may read, and logs a collector can parse.

use prost::Message as _;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use wasmraft::proto::client::StatusRequest;
use wasmraft::tls::dev::{Authority, CertSpec, Issued, ca_file, key_file};
use wasmraft_tests::cluster::{Access, Cluster, Code, Status};

const CLIENT: &str = "wasmraft.v1.Client";

/// A channel to node `id`'s client door over TLS, trusting the cluster's CA, presenting
/// `identity` (none: anonymous).
async fn channel(cluster: &Cluster, id: u64, identity: Option<&Issued>) -> Channel {
    let certs = cluster.certs_dir().expect("a TLS cluster");
    let ca = std::fs::read(ca_file(certs)).expect("the CA");
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some(issued) = identity {
        tls = tls.identity(Identity::from_pem(&issued.cert_pem, &issued.key_pem));
    }
    let endpoint = Access { tls: Some(tls), ..cluster.endpoint(id) }.endpoint().timeout(Duration::from_secs(5));
    endpoint.connect().await.expect("a TLS connection (client certificates are optional at TLS)")
}

/// A client certificate from the cluster's CA with `scopes`.
fn issue(cluster: &Cluster, name: &str, scopes: &[&str]) -> Issued {
    let certs = cluster.certs_dir().expect("a TLS cluster");
    let read = |path| std::fs::read_to_string(path).expect("a CA file");
    let ca = Authority::load(&read(ca_file(certs)), &read(key_file(certs, "ca"))).expect("the CA");
    ca.issue(&CertSpec::client(name, scopes)).expect("a certificate")
}

async fn check(health: &mut HealthClient<Channel>, service: &str) -> Result<ServingStatus, Status> {
    let response = health.check(HealthCheckRequest { service: service.into() }).await?.into_inner();
    Ok(response.status())
}

/// Waits until both the server ("") and the client API report `wanted`.
async fn until_both(health: &mut HealthClient<Channel>, wanted: ServingStatus, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = (check(health, "").await.expect("health answers"), check(health, CLIENT).await.expect("health"));
        if seen == (wanted, wanted) {
            return;
        }
        assert!(Instant::now() < deadline, "health reports {seen:?}, not {wanted:?}, after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_need_no_credentials_and_follow_readiness() {
    let mut cluster = Cluster::start_tls(3, "kv", false, &[]);
    cluster.leader(Duration::from_secs(15)).await;
    let probed = 1;
    let anonymous = channel(&cluster, probed, None).await;
    let mut health = HealthClient::new(anonymous.clone());
    until_both(&mut health, ServingStatus::Serving, Duration::from_secs(5)).await;
    let unknown = check(&mut health, "wasmraft.peer.v1.Peer").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "only the server and the client API are reported");
    // The door still asks everyone else for credentials, on the same connection.
    let mut client = cluster.endpoint(probed).client(anonymous);
    let refused = client.status(StatusRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // Alone, the node knows no leader (or leads nobody): not ready, and health says so.
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != probed).collect();
    for &id in &others {
        cluster.kill(id);
    }
    until_both(&mut health, ServingStatus::NotServing, Duration::from_secs(10)).await;
    for &id in &others {
        cluster.spawn(id);
    }
    until_both(&mut health, ServingStatus::Serving, Duration::from_secs(15)).await;
}

/// The services node `id` lists through reflection, as `identity`.
async fn list_services(cluster: &Cluster, id: u64, identity: Option<&Issued>) -> Result<Vec<String>, Status> {
    let mut reflection = ServerReflectionClient::new(channel(cluster, id, identity).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection.server_reflection_info(tokio_stream::iter([request])).await?.into_inner();
    match answers.message().await?.and_then(|answer| answer.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list.service.into_iter().map(|s| s.name).collect()),
        other => panic!("not a list of services: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_describes_the_client_api_to_readers_only() {
    let cluster = Cluster::start_tls(1, "kv", false, &[]);
    cluster.leader(Duration::from_secs(15)).await;
    let reader = issue(&cluster, "auditor", &["wasmraft.read"]);
    let services = list_services(&cluster, 1, Some(&reader)).await.expect("a reader may reflect");
    assert!(services.iter().any(|s| s == CLIENT), "{services:?}");
    assert!(services.iter().any(|s| s == "grpc.health.v1.Health"), "{services:?}");
    assert!(!services.iter().any(|s| s.starts_with("wasmraft.peer")), "the peer API is not described: {services:?}");

    // `grpcurl describe`: the file that defines the client API, with its methods.
    let mut reflection = ServerReflectionClient::new(channel(&cluster, 1, Some(&reader)).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(CLIENT.into())),
    };
    let mut answers = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().and_then(|answer| answer.message_response)
    else {
        panic!("no file descriptor for {CLIENT}");
    };
    let file = prost_types::FileDescriptorProto::decode(&files.file_descriptor_proto[0][..]).unwrap();
    assert_eq!(file.package(), "wasmraft.v1");
    let service = file.service.iter().find(|s| s.name() == "Client").expect("the Client service");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    for method in ["Propose", "Query", "Status", "Upgrade", "ChangeMembers", "TransferLeader"] {
        assert!(methods.contains(&method), "{method} in {methods:?}");
    }

    let anonymous = list_services(&cluster, 1, None).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let outsider = issue(&cluster, "outsider", &["utm.strategic_coordination"]);
    let outsider = list_services(&cluster, 1, Some(&outsider)).await.unwrap_err();
    assert_eq!(outsider.code(), Code::PermissionDenied, "{outsider:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_name_the_node() {
    let mut cluster = Cluster::start(1, &["--log-format", "json"]);
    cluster.leader(Duration::from_secs(15)).await;
    cluster.stop(1);
    let log = cluster.log_of(1);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    for line in &lines {
        assert_eq!(line["span"]["node"], 1, "a line that does not name its node: {line}");
        assert!(line["level"].is_string() && line["message"].is_string(), "{line}");
    }
    let leading = lines.iter().find(|l| l["message"] == "became leader").unwrap_or_else(|| panic!("{log}"));
    assert!(leading["term"].as_u64().is_some_and(|term| term >= 1), "{leading}");
    assert!(leading["index"].as_u64().is_some(), "{leading}");
    assert!(lines.iter().any(|l| l["message"] == "shutting down"), "stopped gracefully, and said so");
}
