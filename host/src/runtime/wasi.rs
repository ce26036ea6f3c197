//! The slice of WASI 0.2 an applier may import, made deterministic.
//!
//! Rust's std on `wasm32-wasip2` imports WASI for panics (stderr), `HashMap` (a random
//! seed) and `SystemTime`. We link:
//! - `wasi:io` and `wasi:cli` from wasmtime-wasi, with no arguments, no environment, a
//!   closed stdin, and stdout/stderr discarded (the SDK sends panic messages to `log`);
//! - `wasi:clocks` and `wasi:random` implemented here: both clocks read the entry's
//!   timestamp, and sleeping returns at once (time does not pass inside an entry); random
//!   bytes are a stream keyed by the entry's index and entropy; the insecure seed (what a
//!   `HashMap` is keyed with) is fixed when the instance is created, at a log index.
//!
//! Filesystem, sockets and anything else are not linked at all: a module that imports them
//! is refused at load, with the list of what it asked for.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiView};

/// The WASI interfaces (without version) that [`add_to_linker`] provides.
pub const LINKED_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Largest single request for random bytes.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// A WASI context with nothing from the host machine in it.
pub fn sealed_ctx() -> WasiCtx {
    WasiCtxBuilder::new().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build()
}

/// Per-call inputs of the virtual clocks and random source. The random stream is set up on
/// first use: most calls never ask for it.
#[derive(Default)]
pub struct EntrySource {
    now_ns: u64,
    index: u64,
    entropy: [u8; 32],
    random: Option<blake3::OutputReader>,
    /// Random bytes handed out by the current host call, for the call hook to charge.
    handed_out: usize,
}

impl EntrySource {
    pub fn new(index: u64, timestamp_ns: u64, entropy: [u8; 32]) -> Self {
        EntrySource { now_ns: timestamp_ns, index, entropy, random: None, handed_out: 0 }
    }

    /// The random bytes handed out since the last call of this.
    pub fn take_handed_out(&mut self) -> usize {
        std::mem::take(&mut self.handed_out)
    }

    fn random(&mut self) -> &mut blake3::OutputReader {
        let (index, entropy) = (self.index, self.entropy);
        self.random.get_or_insert_with(|| {
            let mut h = blake3::Hasher::new_derive_key("wasmraft wasi random v1");
            h.update(&index.to_le_bytes());
            h.update(&entropy);
            h.finalize_xof()
        })
    }
}

/// The `HashMap` seed of an instance created to run the entry at `index`.
pub fn insecure_seed(index: u64) -> (u64, u64) {
    let mut h = blake3::Hasher::new_derive_key("wasmraft wasi insecure seed v1");
    h.update(&index.to_le_bytes());
    let b = *h.finalize().as_bytes();
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    (word(0), word(8))
}

/// What a store's data lends the virtual clocks and random source.
pub trait WasiHost: WasiView + 'static {
    fn virtual_parts(&mut self) -> (&mut EntrySource, (u64, u64), &mut ResourceTable);
}

struct Table;
impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

struct Virtual;
impl HasData for Virtual {
    type Data<'a> = VirtualView<'a>;
}

pub struct VirtualView<'a> {
    source: &'a mut EntrySource,
    seed: (u64, u64),
    table: &'a mut ResourceTable,
}

fn virtual_view<T: WasiHost>(state: &mut T) -> VirtualView<'_> {
    let (source, seed, table) = state.virtual_parts();
    VirtualView { source, seed, table }
}

fn table<T: WasiView>(state: &mut T) -> &mut ResourceTable {
    state.ctx().table
}

pub fn add_to_linker<T: WasiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    let l = linker;
    sync::io::error::add_to_linker::<_, Table>(l, table)?;
    sync::io::poll::add_to_linker::<_, Table>(l, table)?;
    sync::io::streams::add_to_linker::<_, Table>(l, table)?;
    cli::exit::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::environment::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, |s| s.cli())?;
    clocks::wall_clock::add_to_linker::<_, Virtual>(l, virtual_view::<T>)?;
    clocks::monotonic_clock::add_to_linker::<_, Virtual>(l, virtual_view::<T>)?;
    random::random::add_to_linker::<_, Virtual>(l, virtual_view::<T>)?;
    random::insecure::add_to_linker::<_, Virtual>(l, virtual_view::<T>)?;
    random::insecure_seed::add_to_linker::<_, Virtual>(l, virtual_view::<T>)?;
    Ok(())
}

/// A pollable that is always ready: virtual time has already reached every deadline.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

impl VirtualView<'_> {
    fn elapsed(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let pollable = self.table.push(Elapsed)?;
        subscribe(self.table, pollable)
    }

    fn random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            wasmtime::bail!("a request for {len} random bytes exceeds the limit of {MAX_RANDOM_BYTES}");
        }
        let mut out = vec![0u8; len as usize];
        self.source.random().fill(&mut out);
        self.source.handed_out += out.len();
        Ok(out)
    }

    fn random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.source.random().fill(&mut b);
        self.source.handed_out += b.len();
        u64::from_le_bytes(b)
    }
}

impl clocks::wall_clock::Host for VirtualView<'_> {
    fn now(&mut self) -> wasmtime::Result<clocks::wall_clock::Datetime> {
        let ns = self.source.now_ns;
        Ok(clocks::wall_clock::Datetime { seconds: ns / 1_000_000_000, nanoseconds: (ns % 1_000_000_000) as u32 })
    }

    fn resolution(&mut self) -> wasmtime::Result<clocks::wall_clock::Datetime> {
        Ok(clocks::wall_clock::Datetime { seconds: 0, nanoseconds: 1 })
    }
}

impl clocks::monotonic_clock::Host for VirtualView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.source.now_ns)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }

    fn subscribe_duration(&mut self, _duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }
}

impl random::random::Host for VirtualView<'_> {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.random_bytes(len)
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.random_u64())
    }
}

impl random::insecure::Host for VirtualView<'_> {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.random_bytes(len)
    }

    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.random_u64())
    }
}

impl random::insecure_seed::Host for VirtualView<'_> {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        Ok(self.seed)
    }
}
