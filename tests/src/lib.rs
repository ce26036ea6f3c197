//! Helpers for the cross-crate tests: the appliers built to wasm by `cargo xtask appliers`,
//! engines, entry metadata, and components synthesized from WIT to play broken modules.

pub mod apply_bench;
pub mod bench;
pub mod busy_cell;
pub mod cluster;
pub mod delay;
pub mod dss_http;
pub mod dss_scenario;
pub mod http;
pub mod https;
pub mod kv_load;
pub mod load;
pub mod metrics;
pub mod netns;
pub mod rid_scenario;

use std::path::PathBuf;
use std::sync::Arc;
use wasmraft::runtime::{Limits, Runtime, WasmBackend, WasmEngine};
use wasmraft_sdk::contract::{Caller, Meta};

/// Where `cargo xtask appliers` puts the components.
pub fn appliers_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("appliers")
}

/// libfaketime, Debian's `faketime` package (`cargo xtask test` installs it): preloaded into
/// a node, it shifts the wall clock the node reads.
pub fn faketime_lib() -> PathBuf {
    const PLACES: [&str; 3] = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    let found = PLACES.iter().map(PathBuf::from).find(|p| p.exists());
    found.expect("libfaketime is not installed: `apt-get install faketime` (cargo xtask test does)")
}

/// The bytes of a built applier, by its directory under `appliers/`, e.g. `module_bytes("kv")`.
pub fn module_bytes(name: &str) -> Vec<u8> {
    let path = appliers_dir().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build the appliers first: `cargo xtask appliers`", path.display()))
}

/// `bytes` (a component) grown to `size` with a custom section, which the runtime ignores:
/// a large module, or the same applier under another content hash.
pub fn padded(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
    let name = b"padding";
    let payload = size.saturating_sub(bytes.len() + name.len() + 12);
    let mut section_len = (1 + name.len() + payload) as u64;
    bytes.push(0); // custom section id
    loop {
        let byte = (section_len & 0x7f) as u8;
        section_len >>= 7;
        if section_len == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.push(name.len() as u8);
    bytes.extend(name);
    bytes.resize(bytes.len() + payload, 0x5a);
    bytes
}

pub fn engine() -> Arc<WasmEngine> {
    engine_with(Limits::default())
}

pub fn engine_with(limits: Limits) -> Arc<WasmEngine> {
    WasmEngine::new(limits, None).expect("engine")
}

/// A backend running a built applier on an engine of its own (as another node would).
pub fn wasm_backend(name: &str, limits: Limits) -> Box<WasmBackend> {
    let engine = engine_with(limits);
    let module = engine.load(&module_bytes(name)).expect("the applier loads");
    Box::new(WasmBackend::new(engine, module))
}

/// A fresh runtime running a built applier.
pub fn wasm_runtime(name: &str, limits: Limits) -> Runtime {
    Runtime::new(wasm_backend(name, limits))
}

/// A small deterministic generator (splitmix64), so tests need no RNG crate and every run
/// replays the same inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Meta for the entry at `index`, as a proposer would stamp it.
pub fn meta(index: u64, timestamp_ns: u64, rng: &mut Rng) -> Meta {
    Meta {
        index,
        term: 1 + index / 5000,
        timestamp_ns,
        caller: Some(Caller { subject: "tester".into(), scopes: vec!["kv.write".into()] }),
        entropy: rng.bytes(32).try_into().expect("32 bytes"),
    }
}

/// A component that implements `world` of the WIT `source`, with functions that trap: a
/// stand-in for modules built against another contract.
pub fn synthesize_component(source: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("synthetic.wit", source).expect("WIT parses");
    let world = resolve.select_world(&[package], Some(world)).expect("world exists");
    let mut module = wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8, false)
        .expect("metadata embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module accepted")
        .validate(true)
        .encode()
        .expect("component encodes")
}

/// The repo's own contract, as text.
pub fn applier_wit() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit/applier.wit"))
        .expect("wit/applier.wit")
}
