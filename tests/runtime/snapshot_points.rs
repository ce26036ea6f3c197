//! The apply thread's snapshots: what a snapshot carries besides the checkpoint (the module
//! bytes, the membership) must be as of the checkpoint's index, even when the checkpoint
//! was captured in the middle of a batch of entries that goes on to change them.

use raft::eraftpb::{ConfState, Entry};
use std::sync::Arc;
use wasmraft::apply::{Applier, SnapshotJob};
use wasmraft::entry::{EntryData, ProposedCommand, ProposedUpgrade};
use wasmraft::inbox::ApplyTask;
use wasmraft::membership::MemberBook;
use wasmraft::proposals::Proposals;
use wasmraft::runtime::{RESET_INTERVAL, Runtime, WasmBackend};
use wasmraft::snapshot::SnapshotDir;
use wasmraft::snapshot::writer::Schedule;
use wasmraft::status::StatusBoard;
use wasmraft_sdk::contract::{Encoding, Payload};
use wasmraft_tests::{engine, module_bytes};

fn entry(index: u64, data: EntryData) -> Entry {
    Entry { index, term: 1, data: data.encode().into(), ..Default::default() }
}

fn put(index: u64) -> Entry {
    let command = serde_json::json!({ "put": { "key": format!("k{index}"), "value": "v" } });
    let payload = Payload { encoding: Encoding::Json, bytes: serde_json::to_vec(&command).unwrap() };
    entry(index, EntryData::Command(ProposedCommand { timestamp_ns: index, caller: None, entropy: [0; 32], payload }))
}

#[test]
fn a_snapshot_captured_before_an_upgrade_in_the_same_batch_carries_the_old_module() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine();
    let (kv, kv2) = (module_bytes("kv"), module_bytes("kv2"));
    let runtime = Runtime::new(Box::new(WasmBackend::new(engine.clone(), engine.load(&kv).unwrap())));
    let (events, _events_rx) = crossbeam_channel::unbounded();
    let (writer, jobs) = crossbeam_channel::unbounded::<SnapshotJob>();
    let applier = Applier {
        runtime,
        engine: engine.clone(),
        modules: vec![Arc::new(kv.clone())],
        conf_state: ConfState { voters: vec![1], ..Default::default() },
        members: MemberBook::default(),
        data_dir: tmp.path().to_path_buf(),
        proposals: Arc::new(Proposals::new(1).unwrap()),
        events,
        snapshots: Arc::new(SnapshotDir::open(tmp.path().join("snap")).unwrap()),
        writer,
        status: Arc::new(StatusBoard::default()),
        schedule: Schedule::new(10, 0, Default::default()),
        metrics: Default::default(),
        setup_changed: true,
    };
    let (tasks, tasks_rx) = crossbeam_channel::unbounded();
    let thread = std::thread::spawn(move || applier.run(tasks_rx));
    // Up to just before a block boundary: a checkpoint is asked for, to be captured where
    // the next block starts.
    tasks.send(ApplyTask::Entries((1..RESET_INTERVAL).map(put).collect())).unwrap();
    // One batch: the boundary entry (the capture point), then an upgrade, then more.
    let upgrade = ProposedUpgrade {
        timestamp_ns: RESET_INTERVAL + 1,
        caller: None,
        entropy: [0; 32],
        module: kv2,
        allow_downgrade: false,
    };
    let batch =
        vec![put(RESET_INTERVAL), entry(RESET_INTERVAL + 1, EntryData::Upgrade(upgrade)), put(RESET_INTERVAL + 2)];
    tasks.send(ApplyTask::Entries(batch)).unwrap();
    drop(tasks);
    thread.join().unwrap();
    let job = jobs
        .try_iter()
        .find(|j| j.checkpoint.applied.index == RESET_INTERVAL - 1)
        .expect("a checkpoint at the boundary");
    assert_eq!(job.checkpoint.appliers[0].system.module.version, "1.0.0");
    assert!(
        *job.modules[0] == kv,
        "the snapshot's module bytes must be the module active at its index (1.0.0), not kv2"
    );
}
