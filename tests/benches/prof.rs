#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use testkit_applier::Command as TkCommand;
use wasmraft::runtime::Limits;
use wasmraft_sdk::codec;
use wasmraft_sdk::contract::{Encoding, Payload};
use wasmraft_tests::{Rng, meta, wasm_runtime};
fn main() {
    let mut rng = Rng(1);
    let n = 1_000_000u64;
    let entries: Vec<_> = (1..=n).map(|i| (meta(i, i, &mut rng), Payload::postcard(codec::encode(Encoding::Postcard, &TkCommand::Noop).unwrap()))).collect();
    let mut rt = wasm_runtime("testkit", Limits::default());
    let t = std::time::Instant::now();
    for (m, p) in entries { rt.apply(m, p).unwrap().unwrap(); }
    eprintln!("{:.0} ns/entry", t.elapsed().as_nanos() as f64 / n as f64);
}
