//! The fuzz targets: each runs an input through what a node does with such bytes from the
//! network or the disk, and the valid inputs its seeds start from.

use prost::Message as _;
use protobuf::Message as _;
use std::path::Path;
use std::sync::Arc;
use wasmraft::entry::{EntryContext, EntryData, ProposalId, ProposedCommand, ProposedUpgrade, RequestId};
use wasmraft::http::auth::{self, TokenRequest, Verifier};
use wasmraft::membership::MemberBook;
use wasmraft::proto::{client, peer};
use wasmraft::runtime::{Checkpoint, Limits, WasmEngine};
use wasmraft::snapshot::{self, SnapshotDir};
use wasmraft::tls::dev::{Authority, CertSpec};
use wasmraft::tls::names;
use wasmraft_sdk::contract::{Caller, Payload};
use wasmraft_tests::{Rng, meta, wasm_runtime};

// Raft messages, as the peer door parses each message of a batch.

pub fn raft_message(bytes: &[u8]) {
    let _ = raft::eraftpb::Message::parse_from_bytes(bytes);
}

pub fn raft_message_seeds() -> Vec<Vec<u8>> {
    use raft::eraftpb::{Entry, Message, MessageType};
    let mut append = Message::default();
    append.set_msg_type(MessageType::MsgAppend);
    (append.to, append.from, append.term, append.index, append.log_term, append.commit) = (1, 2, 3, 10, 3, 9);
    let mut entry = Entry::default();
    (entry.index, entry.term, entry.data, entry.context) = (11, 3, b"data".to_vec().into(), vec![7; 32].into());
    append.mut_entries().push(entry);
    let mut heartbeat = Message::default();
    heartbeat.set_msg_type(MessageType::MsgHeartbeat);
    (heartbeat.to, heartbeat.from, heartbeat.term, heartbeat.commit) = (1, 2, 3, 9);
    let mut snapshot = Message::default();
    snapshot.set_msg_type(MessageType::MsgSnapshot);
    snapshot.mut_snapshot().mut_metadata().index = 100;
    snapshot.mut_snapshot().mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
    snapshot.mut_snapshot().data = vec![1, 2, 3].into();
    [append, heartbeat, snapshot].iter().map(|m| m.write_to_bytes().unwrap()).collect()
}

// The gRPC messages of both doors (the first byte picks the type), as tonic hands them to
// the services after prost decoded them; a batch's messages are parsed too.

pub fn wire(bytes: &[u8]) {
    let Some((&kind, body)) = bytes.split_first() else { return };
    match kind % 8 {
        0 => {
            if let Ok(batch) = peer::RaftBatch::decode(body) {
                batch.messages.iter().for_each(|m| raft_message(m));
            }
        }
        1 => {
            if let Ok(chunk) = peer::SnapshotChunk::decode(body) {
                raft_message(&chunk.message);
            }
        }
        2 => drop(peer::JoinInfo::decode(body)),
        3 => drop(peer::PrepareModule::decode(body)),
        4 => drop(client::ProposeRequest::decode(body)),
        5 => drop(client::QueryRequest::decode(body)),
        6 => drop(client::MemberChange::decode(body)),
        _ => drop(client::UpgradeRequest::decode(body)),
    }
}

pub fn wire_seeds() -> Vec<Vec<u8>> {
    let tagged = |kind: u8, body: Vec<u8>| [vec![kind], body].concat();
    let messages = raft_message_seeds();
    let batch = peer::RaftBatch { cluster_id: 0xabcd, from: 2, messages: messages.clone(), settings: 42 };
    let chunk = peer::SnapshotChunk {
        cluster_id: 0xabcd,
        from: 2,
        message: messages[2].clone(),
        data: vec![9; 64],
        last: true,
        settings: 42,
        size: 64,
    };
    let join = peer::JoinInfo {
        cluster_id: 1,
        cluster_name: "wasmraft".into(),
        initial_members: vec![1, 2, 3],
        bootstrap_module: vec![0, 0x61, 0x73, 0x6d],
        later_bootstrap_modules: vec![vec![0, 0x61, 0x73, 0x6d, 1]],
        addresses: [(1, "127.0.0.1:7001".to_string())].into(),
        consensus_settings: "{}".into(),
    };
    let change = client::MemberChange {
        change: Some(client::member_change::Change::AddLearner(client::AddLearner {
            id: 4,
            address: "127.0.0.1:7004".into(),
        })),
    };
    vec![
        tagged(0, batch.encode_to_vec()),
        tagged(1, chunk.encode_to_vec()),
        tagged(2, join.encode_to_vec()),
        tagged(3, peer::PrepareModule { cluster_id: 1, from: 2, module: vec![1; 16] }.encode_to_vec()),
        tagged(
            4,
            client::ProposeRequest {
                command: br#"{"put":{}}"#.to_vec(),
                encoding: 1,
                applier: "kv".into(),
                request_id: "r1".into(),
            }
            .encode_to_vec(),
        ),
        tagged(
            5,
            client::QueryRequest {
                query: b"{}".to_vec(),
                encoding: 1,
                consistency: 1,
                max_staleness_ms: 5,
                applier: String::new(),
            }
            .encode_to_vec(),
        ),
        tagged(6, change.encode_to_vec()),
        tagged(
            7,
            client::UpgradeRequest { module: vec![2; 16], allow_downgrade: true, applier: "kv".into() }.encode_to_vec(),
        ),
    ]
}

// Log entries and their contexts, as the apply thread decodes them from the WAL or a peer.

pub fn entry(bytes: &[u8]) {
    let _ = EntryData::decode(bytes);
    let _ = EntryContext::parse(bytes);
    let _ = EntryContext::stamped(bytes, 1);
    let _ = snapshot::parse_descriptor(bytes);
}

pub fn entry_seeds() -> Vec<Vec<u8>> {
    let caller = Some(Caller { subject: "uss1".into(), scopes: vec!["utm.strategic_coordination".into()] });
    let command = ProposedCommand {
        timestamp_ns: 1_700_000_000_000_000_000,
        caller: caller.clone(),
        entropy: [5; 32],
        payload: Payload::json(br#"{"put":{"key":"a","value":"1"}}"#.to_vec()),
    };
    let upgrade = ProposedUpgrade {
        timestamp_ns: 1,
        caller,
        entropy: [6; 32],
        module: vec![0, 0x61, 0x73, 0x6d],
        allow_downgrade: false,
    };
    let id = ProposalId { node: 1, incarnation: 77, seq: 9 };
    let request = RequestId { id: "b3f1c2d4e5f60718293a4b5c6d7e8f90".into(), window_ns: 300_000_000_000 };
    vec![
        EntryData::Once { applier: Some("kv".into()), request, command: command.clone() }.encode(),
        EntryData::Command(command).encode(),
        EntryData::Upgrade(upgrade).encode(),
        id.to_context(),
        EntryContext::stamped(&id.to_context(), 123).unwrap(),
    ]
}

// Checkpoints and snapshot files, as a node reads them at start or from a peer.

pub fn checkpoint(bytes: &[u8]) {
    let _ = Checkpoint::decode(bytes);
}

/// A checkpoint of a KV state (taken where the apply instance is fresh: after 1,024 entries).
fn a_checkpoint() -> Checkpoint {
    let mut runtime = wasm_runtime("kv", Limits::default());
    let mut rng = Rng(1);
    for i in 1..=1100u64 {
        if i == 10 {
            runtime.request_checkpoint();
        }
        let put = format!(r#"{{"put":{{"key":"k{}","value":"v{i}"}}}}"#, i % 8);
        runtime.apply(meta(i, i * 1000, &mut rng), Payload::json(put.into_bytes())).unwrap().unwrap();
        if let Some(checkpoint) = runtime.take_checkpoint() {
            return checkpoint;
        }
    }
    panic!("no checkpoint within 1,100 entries")
}

pub fn checkpoint_seeds() -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    a_checkpoint().encode(&mut bytes).unwrap();
    let mut empty = Vec::new();
    Checkpoint::default().encode(&mut empty).unwrap();
    vec![bytes, empty]
}

pub fn snapshot(file: &Path, bytes: &[u8]) {
    std::fs::write(file, bytes).unwrap();
    let _ = snapshot::load(file);
}

pub fn snapshot_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = SnapshotDir::open(dir.path().to_path_buf()).unwrap();
    let conf = raft::eraftpb::ConfState { voters: vec![1, 2, 3], ..Default::default() };
    let members = MemberBook::from_addresses([(1, "127.0.0.1:7001".to_string())].into());
    let meta = snapshots.write(&a_checkpoint(), 1, conf, &members, &[[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]]).unwrap();
    vec![std::fs::read(snapshots.path(meta.index, meta.term)).unwrap()]
}

// Bearer tokens, as both client doors verify them.

pub fn token_verifier() -> Verifier {
    let keys = &wasmraft_tests::http::test_keys().keys;
    Verifier::new(std::slice::from_ref(&keys.public_pem), vec!["localhost".into()]).unwrap()
}

pub fn token(verifier: &Verifier, bytes: &[u8]) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let text = String::from_utf8_lossy(bytes);
    let _ = verifier.verify(&text, now);
    let _ = verifier.verify_header(&format!("Bearer {text}"), now);
}

pub fn token_seeds() -> Vec<Vec<u8>> {
    let keys = &wasmraft_tests::http::test_keys().keys;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let scopes = ["wasmraft.admin".to_string(), "utm.strategic_coordination".to_string()];
    let mint = |audience: &str| {
        let request = TokenRequest {
            subject: "uss1",
            scopes: &scopes,
            audience,
            issuer: "t",
            issued_at: now,
            expires_at: now + 3000,
        };
        auth::mint(&keys.private_pem, &request).unwrap().into_bytes()
    };
    // Tokens expire: the committed ones are refused as expired, the made ones verify.
    vec![mint("localhost"), mint("elsewhere")]
}

// Certificates, as the doors read who a verified certificate names.

pub fn certificate(bytes: &[u8]) {
    let _ = names::node_of(bytes, "wasmraft");
    let _ = names::caller_of(bytes);
}

pub fn certificate_seeds() -> Vec<Vec<u8>> {
    let ca = Authority::new("fuzz").unwrap();
    let der = |pem_text: &str| pem::parse(pem_text).unwrap().into_contents();
    vec![
        der(&ca.issue(&CertSpec::node(3, "wasmraft")).unwrap().cert_pem),
        der(&ca.issue(&CertSpec::client("ops", &["wasmraft.admin", "utm.strategic_coordination"])).unwrap().cert_pem),
        der(&ca.cert_pem),
    ]
}

// Modules, as a node loads one offered for upgrade, from a snapshot or from its cache.

pub fn module_engine() -> Arc<WasmEngine> {
    WasmEngine::new(Limits::default(), None).unwrap()
}

pub fn module(engine: &WasmEngine, bytes: &[u8]) {
    let _ = engine.load(bytes);
}

pub fn module_seeds() -> Vec<Vec<u8>> {
    vec![wasmraft_tests::module_bytes("kv")]
}

// The write-ahead log's directory, as a restarting node recovers it.

const LOG_FILE: &str = "0000000000000001.raftlog";

pub fn wal(dir: &Path, bytes: &[u8]) {
    let log = dir.join("log");
    let _ = std::fs::remove_dir_all(&log);
    std::fs::create_dir_all(&log).unwrap();
    std::fs::write(log.join(LOG_FILE), bytes).unwrap();
    let _ = wasmraft::log::RaftLog::open(&log);
}

pub fn wal_seeds() -> Vec<Vec<u8>> {
    use raft::eraftpb::{Entry, HardState};
    let dir = tempfile::tempdir().unwrap();
    let mut log = wasmraft::log::RaftLog::open(dir.path()).unwrap();
    log.bootstrap(&[1, 2, 3]).unwrap();
    let entries: Vec<Entry> = (1..=5u64)
        .map(|index| {
            let mut e = Entry::default();
            (e.index, e.term, e.data, e.context) = (index, 1, vec![index as u8; 40].into(), vec![1; 24].into());
            e
        })
        .collect();
    let hard_state = HardState { term: 1, vote: 1, commit: 4, ..Default::default() };
    let persist = wasmraft::log::Persist { snapshot: None, entries: &entries, hard_state: Some(&hard_state) };
    log.persist(persist, true).unwrap();
    drop(log);
    let file = dir.path().join(LOG_FILE);
    vec![std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))]
}

// HTTP requests, as the DSS modules' `handle` routes, authorizes and parses them (their
// own JSON, ids, times and geometry): the first line is `METHOD PATH` (with its query), the
// rest the body.

fn dss_request(bytes: &[u8], scopes: &[&str]) -> wasmraft_sdk::http::Request {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
    let (method, target) = head.split_once(' ').unwrap_or(("GET", head));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    wasmraft_sdk::http::Request::new(method, path)
        .with_query(query)
        .with_body(body.as_bytes().to_vec())
        .with_caller("uss1", scopes)
        .with_setting("allow-http-base-urls", "true")
}

pub fn http_request(bytes: &[u8]) {
    use wasmraft_sdk::Applier;
    let scopes = ["utm.strategic_coordination", "utm.constraint_management", "utm.availability_arbitration"];
    let _ = scd_applier::Scd::handle(dss_request(bytes, &scopes));
}

pub fn rid_request(bytes: &[u8]) {
    use wasmraft_sdk::Applier;
    let scopes = [
        "dss.read.identification_service_areas",
        "dss.write.identification_service_areas",
        "rid.display_provider",
        "rid.service_provider",
    ];
    let _ = rid_applier::Rid::handle(dss_request(bytes, &scopes));
}

pub fn rid_request_seeds() -> Vec<Vec<u8>> {
    let vertices = r#"[{"lat": 46.52, "lng": 6.56}, {"lat": 46.52, "lng": 6.57}, {"lat": 46.53, "lng": 6.57}]"#;
    let v1 = format!(
        r#"{{"spatial_volume": {{"footprint": {{"vertices": {vertices}}}, "altitude_lo": 0.0, "altitude_hi": 120.0}}, "time_start": "2030-01-01T00:00:00Z", "time_end": "2030-01-01T01:00:00Z"}}"#
    );
    let altitude = |v: u32| format!(r#"{{"value": {v}, "reference": "W84", "units": "M"}}"#);
    let time = |t: &str| format!(r#"{{"value": "{t}", "format": "RFC3339"}}"#);
    let v2 = |area: &str| {
        format!(
            r#"{{"volume": {{{area}, "altitude_lower": {}, "altitude_upper": {}}}, "time_start": {}, "time_end": {}}}"#,
            altitude(0),
            altitude(120),
            time("2030-01-01T00:00:00Z"),
            time("2030-01-01T01:00:00Z")
        )
    };
    let polygon = v2(&format!(r#""outline_polygon": {{"vertices": {vertices}}}"#));
    let circle =
        v2(r#""outline_circle": {"center": {"lat": 46.52, "lng": 6.56}, "radius": {"value": 300, "units": "M"}}"#);
    let id = "4a1b2c3d-0000-4000-8000-000000000001";
    let area = "46.52,6.56,46.52,6.57,46.53,6.57";
    vec![
        format!("PUT /v1/dss/identification_service_areas/{id}\n{{\"extents\": {v1}, \"flights_url\": \"https://sp1.test/flights\"}}"),
        format!("PUT /rid/v2/dss/identification_service_areas/{id}/1\n{{\"extents\": {polygon}, \"uss_base_url\": \"https://sp2.test\"}}"),
        format!("PUT /rid/v2/dss/subscriptions/{id}\n{{\"extents\": {circle}, \"uss_base_url\": \"https://dp2.test\"}}"),
        format!(
            "PUT /v1/dss/subscriptions/{id}\n{{\"extents\": {v1}, \"callbacks\": {{\"identification_service_area_url\": \"https://dp1.test/isa\"}}}}"
        ),
        format!("GET /v1/dss/identification_service_areas?area={area}&earliest_time=2030-01-01T00:00:00Z\n"),
        format!("GET /rid/v2/dss/subscriptions?area={area}\n"),
        format!("DELETE /rid/v2/dss/identification_service_areas/{id}/1\n"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

pub fn http_request_seeds() -> Vec<Vec<u8>> {
    let volume = r#"{"volume": {"outline_polygon": {"vertices": [{"lat": 46.52, "lng": 6.56}, {"lat": 46.52, "lng": 6.57}, {"lat": 46.53, "lng": 6.57}]}, "altitude_lower": {"value": 100, "reference": "W84", "units": "M"}, "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}}, "time_start": {"value": "2030-01-01T00:00:00Z", "format": "RFC3339"}, "time_end": {"value": "2030-01-01T01:00:00Z", "format": "RFC3339"}}"#;
    let id = "4a1b2c3d-0000-4000-8000-000000000001";
    vec![
        format!(r#"PUT /dss/v1/operational_intent_references/{id}
{{"extents": [{volume}], "state": "Accepted", "uss_base_url": "http://uss1.test", "new_subscription": {{"uss_base_url": "http://uss1.test", "notify_for_constraints": true}}, "key": ["ovn-1"]}}"#),
        format!("POST /dss/v1/operational_intent_references/query\n{{\"area_of_interest\": {volume}}}"),
        format!(r#"PUT /dss/v1/subscriptions/{id}
{{"extents": {volume}, "uss_base_url": "http://uss1.test", "notify_for_operational_intents": true}}"#),
        format!(r#"PUT /dss/v1/constraint_references/{id}
{{"extents": [{volume}], "uss_base_url": "http://uss1.test"}}"#),
        "PUT /dss/v1/uss_availability/uss1\n{\"old_version\": \"\", \"availability\": \"Down\"}".to_string(),
        format!("DELETE /dss/v1/operational_intent_references/{id}/ovn-1\n"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}
