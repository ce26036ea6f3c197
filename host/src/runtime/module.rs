//! Loading applier components: checking that a module is one, compiling it once per content
//! hash (in memory, and on disk when given a cache directory), and refusing anything that
//! is not a wasmraft applier with a message that says what is wrong.

use super::backend::HostError;
use super::backend::ModuleDescriptor;
use super::engine::{FINISH_WAIT, Limits, OUTSIDE_INSTANCES, OutsideCall, deterministic_config};
use super::guest::{GuestState, add_imports_to_linker, bindings};
use super::instance::Instance;
use super::wasi;
use semver::Version;
use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use wasmraft_sdk::contract::{ABI, Info};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker, types::ComponentItem};

/// Modules larger than this are refused before compiling.
pub const MAX_MODULE_BYTES: usize = 64 << 20;
/// The largest compiled-code cache file read; a larger one is not read, and the module is
/// compiled again.
const MAX_CACHED_BYTES: usize = 1 << 30;
/// Compiled modules kept that nothing else holds (the active modules and those of running
/// calls are always kept), in memory and on disk: anyone who can send modules to compile
/// (an upgrade, a peer's Prepare) could otherwise grow both for ever.
pub const MAX_CACHED_MODULES: usize = 8;

/// The content hash of a module's bytes: how modules are named in caches, status and logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleHash(pub [u8; 32]);

impl ModuleHash {
    pub fn of(bytes: &[u8]) -> Self {
        ModuleHash(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({self})")
    }
}

/// Why a module was refused. Every message names the problem and, where there is one, the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly binary (it does not start with the `\\0asm` magic)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build the applier with \
         `cargo build --target wasm32-wasip2` (or wrap a core module with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("the module is {0} bytes; the limit is {MAX_MODULE_BYTES}")]
    TooLarge(usize),
    #[error("the component does not compile: {0}")]
    Invalid(String),
    #[error(
        "the component was built against {found}, but this host speaks {ABI} \
         (compatible: the same major.minor for 0.x): rebuild it with a matching wasmraft-sdk"
    )]
    IncompatibleAbi { found: String },
    #[error(
        "the component imports what wasmraft does not provide ({}): appliers get the \
         `wasmraft:applier` store and log, and a deterministic slice of WASI, but no \
         filesystem, network, or host clock",
        .0.join(", ")
    )]
    ForbiddenImports(Vec<String>),
    #[error(
        "the component does not export the wasmraft applier world \
         (`wasmraft:applier/state-machine` and `wasmraft:applier/http-handler`); it exports: {}",
        if .0.is_empty() { "nothing".to_string() } else { .0.join(", ") }
    )]
    WrongWorld(Vec<String>),
    #[error("the component does not match the applier world: {0}")]
    Mismatch(String),
    #[error(
        "the component cannot be instantiated (an export's type differs from the applier world, or its start-up traps): {0}"
    )]
    Instantiate(String),
    #[error("the component's `info` call failed: {0}")]
    InfoFailed(String),
    #[error("the component's info is unusable: {0}")]
    BadInfo(String),
}

/// A compiled, checked applier, ready to instantiate.
pub struct LoadedModule {
    pub hash: ModuleHash,
    pub info: Info,
    pub size_bytes: usize,
    /// The HTTP path prefixes it serves, canonical (see [`super::routes`]).
    pub routes: Vec<String>,
    /// The interfaces it imports, with versions.
    pub imports: Vec<String>,
    pub(super) pre: bindings::ApplierPre<GuestState>,
}

impl LoadedModule {
    pub fn descriptor(&self) -> ModuleDescriptor {
        ModuleDescriptor {
            name: self.info.name.clone(),
            version: self.info.version.clone(),
            hash: Some(self.hash.to_string()),
            size_bytes: Some(self.size_bytes),
            routes: self.routes.clone(),
        }
    }
}

/// `ns:pkg/iface@1.2.3` → (`ns:pkg/iface`, `1.2.3`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// The `wasmraft:applier` package version this host speaks.
fn host_abi_version() -> Version {
    Version::parse(split_version(ABI).1.expect("ABI has a version")).expect("ABI version is semver")
}

/// Whether a guest built against `found` can run here (the linker then checks the details).
fn abi_compatible(found: &str) -> bool {
    let (Ok(found), host) = (Version::parse(found), host_abi_version()) else { return false };
    if host.major == 0 { found.major == 0 && found.minor == host.minor } else { found.major == host.major }
}

const PACKAGE: &str = "wasmraft:applier";

/// Checks a component's imports and exports by name, before linking, to give a precise
/// refusal rather than the linker's first complaint.
fn check_surface(imports: &[String], exports: &[String]) -> Result<(), LoadError> {
    for name in imports.iter().chain(exports) {
        if let (base, Some(version)) = split_version(name)
            && base.starts_with(PACKAGE)
            && !abi_compatible(version)
        {
            return Err(LoadError::IncompatibleAbi { found: format!("{PACKAGE}@{version}") });
        }
    }
    let forbidden: Vec<String> = imports
        .iter()
        .filter(|name| {
            let base = split_version(name).0;
            let ours = matches!(base.strip_prefix(PACKAGE), Some("/store" | "/log" | "/types"));
            !ours && !wasi::LINKED_INTERFACES.contains(&base)
        })
        .cloned()
        .collect();
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenImports(forbidden));
    }
    let exported = |interface: &str| exports.iter().any(|name| split_version(name).0 == interface);
    if !exported("wasmraft:applier/state-machine") || !exported("wasmraft:applier/http-handler") {
        return Err(LoadError::WrongWorld(exports.to_vec()));
    }
    Ok(())
}

/// The engine and linker every module of this node compiles and links against, and the
/// cache of compiled modules.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<GuestState>,
    limits: Limits,
    loaded: Mutex<HashMap<ModuleHash, Arc<LoadedModule>>>,
    /// One lock per module being compiled: a second `load` of the same bytes (the apply
    /// thread reaching an upgrade entry whose module is still compiling since it was
    /// appended) waits for the first rather than compiling again.
    compiling: Mutex<HashMap<ModuleHash, Arc<Mutex<()>>>>,
    cache_dir: Option<PathBuf>,
    /// Instances of calls outside the log alive now, at most [`OUTSIDE_INSTANCES`].
    outside: AtomicU32,
    /// Where compile times go, once the node's metrics are known.
    compile_times: std::sync::OnceLock<prometheus::Histogram>,
}

/// An instance for a call outside the log; its slot frees when it drops.
pub(super) struct OutsideInstance<'a> {
    pub instance: Instance,
    _slot: Slot<'a>,
}

/// One of the [`OUTSIDE_INSTANCES`] slots, taken.
struct Slot<'a>(&'a AtomicU32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "an outside instance slot freed twice");
    }
}

impl WasmEngine {
    /// `cache_dir`, when given, keeps compiled code across restarts (only files this node
    /// wrote there, checked against the checksum it wrote with them, are ever loaded as
    /// machine code).
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<Self>> {
        let engine = deterministic_config(&limits)
            .and_then(|config| Engine::new(&config))
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        let version = split_version(ABI).1.expect("ABI has a version");
        add_imports_to_linker(&mut linker, version).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        wasi::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Arc::new(WasmEngine {
            engine,
            linker,
            limits,
            loaded: Mutex::default(),
            compiling: Mutex::default(),
            cache_dir,
            outside: AtomicU32::new(0),
            compile_times: std::sync::OnceLock::new(),
        }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Records the time of every compile (not of a load from the cache) in `histogram`.
    pub fn observe_compiles(&self, histogram: prometheus::Histogram) {
        let _ = self.compile_times.set(histogram);
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A fresh instance of `module` to run the entry at `index`.
    pub(super) fn instantiate(&self, module: &LoadedModule, index: u64) -> wasmtime::Result<Instance> {
        Instance::new(&self.engine, &module.pre, &self.limits, &module.info.name, index)
    }

    /// A fresh instance of `module` for a call outside the log, if fewer than `call`'s limit
    /// of such calls are running (see the engine's `APPLY_RESERVE` and `FINISH_RESERVE`).
    pub(super) fn instantiate_outside(
        &self,
        module: &LoadedModule,
        index: u64,
        call: OutsideCall,
    ) -> Result<OutsideInstance<'_>, HostError> {
        let limit = call.limit();
        debug_assert!(limit <= OUTSIDE_INSTANCES);
        let take = || self.outside.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1));
        let (give_up, mut backoff) = (std::time::Instant::now() + FINISH_WAIT, std::time::Duration::from_millis(1));
        while take().is_err() {
            if call == OutsideCall::Start || std::time::Instant::now() >= give_up {
                return Err(HostError::Busy { limit });
            }
            std::thread::sleep(backoff);
            backoff = (2 * backoff).min(std::time::Duration::from_millis(20));
        }
        // Held from here: dropped on the error path too, which frees it.
        let slot = Slot(&self.outside);
        let instance = self.instantiate(module, index).map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        Ok(OutsideInstance { instance, _slot: slot })
    }

    /// Checks and compiles `bytes`, or returns the module already loaded with that hash.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedModule>, LoadError> {
        let hash = ModuleHash::of(bytes);
        let cached = || self.loaded.lock().expect("module cache lock").get(&hash).cloned();
        if let Some(module) = cached() {
            return Ok(module);
        }
        let slot = self.compiling.lock().expect("compile lock").entry(hash).or_default().clone();
        let _compiling = slot.lock().expect("compile lock");
        let result = match cached() {
            Some(module) => Ok(module),
            None => self.load_uncached(bytes, hash).map(|module| {
                let module = Arc::new(module);
                let mut loaded = self.loaded.lock().expect("module cache lock");
                loaded.insert(hash, module.clone());
                evict_unused(&mut loaded);
                module
            }),
        };
        self.compiling.lock().expect("compile lock").remove(&hash);
        result
    }

    fn load_uncached(&self, bytes: &[u8], hash: ModuleHash) -> Result<LoadedModule, LoadError> {
        match Engine::detect_precompiled(bytes) {
            Some(_) => return Err(LoadError::Invalid("precompiled machine code is never accepted".into())),
            None if !bytes.starts_with(b"\0asm") => return Err(LoadError::NotWasm),
            None => {}
        }
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(LoadError::TooLarge(bytes.len()));
        }
        // After the magic: a u16 version and a u16 layer, which is 1 for components.
        if bytes.get(6..8) != Some(&[1, 0]) {
            return Err(LoadError::CoreModule);
        }
        let component = self.compile(bytes, hash)?;

        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .filter(|(_, item)| {
                matches!(item.ty, ComponentItem::ComponentInstance(_) | ComponentItem::ComponentFunc(_))
            })
            .map(|(name, _)| name.to_string())
            .collect();
        check_surface(&imports, &exports)?;

        let pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Mismatch(format!("{e:#}")))?;
        let pre = bindings::ApplierPre::new(pre).map_err(|e| LoadError::Mismatch(format!("{e:#}")))?;
        let mut module = LoadedModule {
            hash,
            info: Info { name: String::new(), version: String::new() },
            size_bytes: bytes.len(),
            routes: Vec::new(),
            imports,
            pre,
        };

        let mut instance = self.instantiate(&module, 0).map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        let info = instance
            .info()
            .map_err(|e| LoadError::InfoFailed(e.to_string()))?
            .map_err(|e| LoadError::InfoFailed(e.into_error().to_string()))?;
        if info.name.is_empty() || !info.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(LoadError::BadInfo(format!(
                "name `{}` must be non-empty ASCII letters, digits, `-`, `_` or `.`",
                info.name
            )));
        }
        Version::parse(&info.version)
            .map_err(|e| LoadError::BadInfo(format!("version `{}` is not semver: {e}", info.version)))?;
        let routes = instance
            .routes()
            .map_err(|e| LoadError::InfoFailed(e.to_string()))?
            .map_err(|e| LoadError::InfoFailed(e.into_error().to_string()))?;
        module.routes = super::routes::declared(routes).map_err(LoadError::BadInfo)?;
        module.info = info;
        Ok(module)
    }

    /// Modules compiled and kept in memory now.
    pub fn cached_modules(&self) -> usize {
        self.loaded.lock().expect("module cache lock").len()
    }

    /// Compiles, or deserializes what this node compiled before.
    fn compile(&self, bytes: &[u8], hash: ModuleHash) -> Result<Component, LoadError> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            dir.join(format!("{hash}-{:016x}.cwasm", h.finish()))
        });
        if let Some(path) = &cached
            && let Ok(file) = crate::durable::read(path, MAX_CACHED_BYTES)
        {
            // Read, not mmapped: a cache file changed under a live mapping would crash the
            // node (SIGBUS).
            match verified(&file) {
                // Safety: the code is byte for byte what this function wrote (its blake3
                // matches), from a module that passed `Component::new` on an engine with
                // the same compatibility hash; wasmtime checks its header and engine again.
                Some(code) => match unsafe { Component::deserialize(&self.engine, code) } {
                    Ok(component) => return Ok(component),
                    Err(e) => tracing::warn!(path = %path.display(), "recompiling: cached code unusable: {e:#}"),
                },
                // Machine code that is not what was written (a torn write, a bad disk, a
                // hand) is never run: wasmtime would not notice a changed instruction.
                None => {
                    tracing::warn!(path = %path.display(), "recompiling: cached code is damaged (checksum mismatch)")
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        if let Some(times) = self.compile_times.get() {
            times.observe(started.elapsed().as_secs_f64());
        }
        if let Some(path) = &cached {
            // Replaces a damaged file too.
            let written = component.serialize().map_err(|e| e.to_string()).and_then(|code| {
                crate::durable::write_with(path, |w| {
                    w.write_all(blake3::hash(&code).as_bytes())?;
                    w.write_all(&code)
                })
                .map_err(|e| e.to_string())
            });
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), "could not cache compiled code: {e}");
            }
            if let Some(dir) = &self.cache_dir
                && let Err(e) = prune_cache_dir(dir)
            {
                tracing::warn!(dir = %dir.display(), "cannot prune the compiled-module cache: {e}");
            }
        }
        Ok(component)
    }
}

/// Drops modules only the cache holds, beyond [`MAX_CACHED_MODULES`] with the one just
/// loaded (its caller still holds it; which others go: any, since a module dropped and asked
/// for again compiles again, or loads from disk).
fn evict_unused(loaded: &mut HashMap<ModuleHash, Arc<LoadedModule>>) {
    let unused: Vec<ModuleHash> = loaded.iter().filter(|(_, m)| Arc::strong_count(m) == 1).map(|(h, _)| *h).collect();
    for hash in unused.iter().take((unused.len() + 1).saturating_sub(MAX_CACHED_MODULES)) {
        loaded.remove(hash);
    }
}

/// Keeps the [`MAX_CACHED_MODULES`] most recently written files of the disk cache. A file
/// of a module still in use may go: the running node has it in memory, and a restart
/// compiles it again.
fn prune_cache_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            files.push((entry.metadata()?.modified()?, entry.path()));
        }
    }
    files.sort();
    for (_, path) in files.iter().rev().skip(MAX_CACHED_MODULES) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// A cache file is the blake3 of the compiled code, then the code: the code, if it is whole.
fn verified(file: &[u8]) -> Option<&[u8]> {
    let (hash, code) = file.split_at_checked(32)?;
    (blake3::hash(code).as_bytes() == hash).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_compatibility_follows_semver_for_0x() {
        assert!(abi_compatible("0.3.0"));
        assert!(abi_compatible("0.3.7"));
        assert!(!abi_compatible("0.2.1"));
        assert!(!abi_compatible("0.4.0"));
        assert!(!abi_compatible("1.0.0"));
        assert!(!abi_compatible("garbage"));
    }

    #[test]
    fn surface_check_names_what_is_wrong() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let exports = s(&["wasmraft:applier/state-machine@0.3.0", "wasmraft:applier/http-handler@0.3.0"]);
        assert_eq!(check_surface(&s(&["wasmraft:applier/store@0.3.0", "wasi:io/error@0.2.6"]), &exports), Ok(()));
        assert_eq!(
            check_surface(&s(&["wasi:filesystem/types@0.2.6", "wasi:io/error@0.2.6"]), &exports),
            Err(LoadError::ForbiddenImports(s(&["wasi:filesystem/types@0.2.6"])))
        );
        assert_eq!(
            check_surface(&s(&["wasmraft:applier/store@0.4.0"]), &exports),
            Err(LoadError::IncompatibleAbi { found: "wasmraft:applier@0.4.0".into() })
        );
        assert_eq!(check_surface(&[], &s(&["hello"])), Err(LoadError::WrongWorld(s(&["hello"]))));
        let only_state_machine = s(&["wasmraft:applier/state-machine@0.3.0"]);
        assert_eq!(check_surface(&[], &only_state_machine), Err(LoadError::WrongWorld(only_state_machine.clone())));
    }
}
