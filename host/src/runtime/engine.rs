//! The wasmtime engine, configured for determinism.
//!
//! Every setting here is part of the replication protocol: two nodes that differ in one of
//! them may compute different results for the same entry (a NaN's bits, the instruction at
//! which fuel runs out, the depth at which the stack overflows). Change them only together
//! with the wasmtime pin in the workspace `Cargo.toml`, as a cluster-wide upgrade.

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy};

/// Per-call resource limits. Consensus-critical: every node of a cluster must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel for one call (roughly one unit per wasm instruction, plus the host-call costs of
    /// [`fuel`]). Running out is an `out-of-fuel` error result, the same on every node.
    pub fuel_per_call: u64,
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // About 0.1 s of guest work on this class of machine; 128 MiB of heap.
        Limits { fuel_per_call: 1_000_000_000, memory_bytes: 128 << 20 }
    }
}

/// Fuel charged for host calls, so that a guest cannot do unbounded work through imports
/// while its own instruction count stays low. Consensus-critical, like [`Limits`].
pub mod fuel {
    /// Each call into the host (a `get`, a `put`, a page of `scan`, a WASI call, a memory
    /// growth, ...).
    pub const HOST_CALL: u64 = 200;
    /// Each byte the call moves across the boundary costs 1/`BYTES_PER_UNIT` unit.
    pub const BYTES_PER_UNIT: u64 = 8;

    pub fn for_bytes(bytes: usize) -> u64 {
        bytes as u64 / BYTES_PER_UNIT
    }
}

/// The wasmtime this host is built with: the same as the exact pin in the workspace's
/// `Cargo.toml` (a test holds them together).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The machine code Cranelift generates is for this fixed feature level, never for whatever
/// the host's CPU offers: where a stack overflows depends on frame sizes, and those on the
/// instructions chosen, so nodes on different CPU generations would otherwise disagree.
/// x86-64-v2 (SSE4.2, POPCNT) is every x86 server of the last fifteen years; other
/// architectures get their baseline.
#[cfg(target_arch = "x86_64")]
const ISA_PRESETS: &[&str] = &["x86-64-v2"];
#[cfg(not(target_arch = "x86_64"))]
const ISA_PRESETS: &[&str] = &[];

/// The code this engine generates, as the cluster's settings name it.
pub fn code_target() -> String {
    let presets = if ISA_PRESETS.is_empty() { "baseline".to_string() } else { ISA_PRESETS.join("+") };
    format!("wasmtime {WASMTIME_VERSION}, {} {presets}", std::env::consts::ARCH)
}

/// The stack available to guest code. The exact overflow point depends on the compiled
/// frame sizes, so it is deterministic only for one wasmtime version and one ISA.
pub const MAX_WASM_STACK: usize = 1 << 20;
/// Table elements an instance may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Instances that may be live at once: the apply path's and the calls outside the log.
pub const POOL_INSTANCES: u32 = 32;
/// Instances only the apply path may use: the apply instance, an upgrade's `migrate` beside
/// it, and the check instance of a module being loaded. Outside calls never take these, so
/// however many requests are in flight, the apply thread can always replace its instance.
const APPLY_RESERVE: u32 = 4;
/// Calls outside the log (handle, render, housekeeping, queries) running at once: a new
/// request's call beyond its share is refused as busy at once rather than queued (see
/// [`OutsideCall`]).
pub const OUTSIDE_INSTANCES: u32 = POOL_INSTANCES - APPLY_RESERVE;
/// Of those, the instances only calls that finish what the cluster already did may take
/// ([`OutsideCall::Finish`]): however many requests arrive at once, a write that applied
/// can be answered.
pub const FINISH_RESERVE: u32 = 4;

/// How long a [`OutsideCall::Finish`] waits for an instance before it is refused as busy.
pub const FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a call outside the log is for, which decides the instances it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutsideCall {
    /// A client's new request (`handle`, a query): refused as busy at once beyond
    /// `OUTSIDE_INSTANCES - FINISH_RESERVE`.
    Start,
    /// `render` of an outcome the cluster reached, or the node's own housekeeping: waits
    /// (on its blocking thread) up to [`FINISH_WAIT`] for an instance.
    Finish,
}

impl OutsideCall {
    /// How many outside instances may be live when this call takes one.
    pub fn limit(self) -> u32 {
        match self {
            OutsideCall::Start => OUTSIDE_INSTANCES - FINISH_RESERVE,
            OutsideCall::Finish => OUTSIDE_INSTANCES,
        }
    }
}

/// The environment variable that, set, makes guest code visible to `perf` (see README).
const PERFMAP_ENV: &str = "WASMRAFT_PERFMAP";

pub fn deterministic_config(limits: &Limits) -> wasmtime::Result<Config> {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift);
    // An explicit target: wasmtime then infers nothing from the host's CPU.
    c.target(&target_lexicon::Triple::host().to_string())?;
    for preset in ISA_PRESETS {
        // Safety: wasmtime checks at engine creation that this CPU has what the preset
        // enables, and refuses to start otherwise.
        unsafe {
            c.cranelift_flag_enable(preset);
        }
    }
    c.cranelift_opt_level(OptLevel::Speed);
    // For `perf`: names the compiled guest functions in /tmp/perf-<pid>.map (a module
    // built unstripped shows its own function names). Changes no result.
    if std::env::var_os(PERFMAP_ENV).is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // x86 and ARM produce NaNs with different sign bits; canonical NaNs make them agree.
    c.cranelift_nan_canonicalization(true);
    // Relaxed SIMD results are ISA-specific by definition; plain SIMD is deterministic.
    c.wasm_relaxed_simd(false);
    c.relaxed_simd_deterministic(true);
    c.wasm_simd(true);
    // An explicit allow-list of proposals: whatever a future wasmtime turns on by default
    // stays off until we decide otherwise. Threads and component-model-async are not even
    // compiled in (see the cargo features of the pin).
    c.wasm_multi_memory(false);
    c.wasm_memory64(false);
    c.wasm_stack_switching(false);
    c.wasm_tail_call(false);
    c.wasm_wide_arithmetic(false);
    c.wasm_custom_page_sizes(false);
    c.wasm_component_model(true);
    // Fuel, not epochs: running out must happen at the same instruction on every node.
    c.consume_fuel(true);
    c.epoch_interruption(false);
    c.max_wasm_stack(MAX_WASM_STACK);

    // Pooling with resident pages kept warm: a fresh instance costs microseconds, not the
    // tens of microseconds of mmap and page faults (../shared/notes/wasm-host.md §5.2).
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 8)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 8)
        .max_memory_size(limits.memory_bytes)
        .table_elements(MAX_TABLE_ELEMENTS)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wasmtime_version_is_the_pinned_one() {
        let manifest = include_str!("../../../Cargo.toml");
        assert!(manifest.contains(&format!("wasmtime = {{ version = \"={}\"", super::WASMTIME_VERSION)));
    }
}
