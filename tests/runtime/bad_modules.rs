//! Modules that are not wasmraft appliers are refused at load, each with a message that says
//! what is wrong, and loading them never panics.

use wasmraft::runtime::LoadError;
use wasmraft_tests::{applier_wit, engine, module_bytes, synthesize_component};

fn refusal(bytes: &[u8]) -> LoadError {
    match engine().load(bytes) {
        Ok(m) => panic!("loaded a bad module as {:?}", m.info),
        Err(e) => e,
    }
}

#[test]
fn bytes_that_are_not_wasm() {
    let e = refusal(b"#!/bin/sh\necho hello\n");
    assert_eq!(e, LoadError::NotWasm);
    assert!(e.to_string().contains("not a WebAssembly binary"));
    assert_eq!(refusal(b""), LoadError::NotWasm);
}

#[test]
fn a_core_module_is_not_a_component() {
    let e = refusal(b"\0asm\x01\0\0\0");
    assert_eq!(e, LoadError::CoreModule);
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");
}

#[test]
fn truncated_and_corrupted_components() {
    let kv = module_bytes("kv");
    assert!(matches!(refusal(&kv[..kv.len() / 2]), LoadError::Invalid(_)));
    let mut flipped = kv.clone();
    for i in (100..flipped.len()).step_by(997) {
        flipped[i] ^= 0x5A;
    }
    // Whatever the damage hit, it is a refusal, not a crash.
    let _ = engine().load(&flipped).err().expect("a corrupted module must not load");
}

#[test]
fn another_world() {
    let wit = "package other:thing@1.0.0;\nworld greeter { export greet: func(name: string) -> string; }";
    let e = refusal(&synthesize_component(wit, "greeter"));
    assert_eq!(e, LoadError::WrongWorld(vec!["greet".into()]));
    assert!(e.to_string().contains("wasmraft:applier/state-machine"), "{e}");
}

#[test]
fn a_component_without_the_http_handler() {
    // An applier of the 0.1 contract shape: state machine only.
    let wit = applier_wit().replace("    export http-handler;\n", "");
    assert!(!wit.contains("export http-handler"));
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert!(matches!(e, LoadError::WrongWorld(_)), "{e}");
    assert!(e.to_string().contains("wasmraft:applier/http-handler"), "{e}");
}

#[test]
fn an_incompatible_version_of_the_contract() {
    let wit = applier_wit().replace("package wasmraft:applier@0.3.0;", "package wasmraft:applier@0.4.0;");
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert_eq!(e, LoadError::IncompatibleAbi { found: "wasmraft:applier@0.4.0".into() });
    assert!(e.to_string().contains("wasmraft:applier@0.3.0"), "names what the host speaks: {e}");
    // 0.2 modules lack `routes`: a minor apart, refused by name rather than by the linker.
    let wit = applier_wit().replace("package wasmraft:applier@0.3.0;", "package wasmraft:applier@0.2.1;");
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert_eq!(e, LoadError::IncompatibleAbi { found: "wasmraft:applier@0.2.1".into() });
}

/// A module that imports less than the host offers (here: no `scan-packed`, as modules
/// of an earlier patch of the contract) links. The stand-in traps in `info`, which is how
/// far it gets: past the linker.
#[test]
fn a_module_that_imports_less_links() {
    let wit = applier_wit();
    let scan_packed = wit.find("    scan-packed:").expect("an import to leave out");
    let wit = format!("{}{}", &wit[..scan_packed], &wit[scan_packed..][wit[scan_packed..].find('\n').unwrap() + 1..]);
    assert!(!wit.contains("scan-packed"));
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert!(!matches!(e, LoadError::Mismatch(_) | LoadError::IncompatibleAbi { .. }), "{e}");
}

#[test]
fn the_same_version_with_a_different_signature() {
    let wit = applier_wit().replace(
        "apply: func(meta: entry-meta, command: payload) -> result<list<u8>, applier-error>;",
        "apply: func(command: list<u8>) -> list<u8>;",
    );
    assert!(wit.contains("apply: func(command: list<u8>)"));
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert!(matches!(e, LoadError::Instantiate(ref m) if m.contains("type mismatch")), "{e}");
}

#[test]
fn imports_the_host_does_not_provide() {
    let wit = applier_wit().replace(
        "world applier {\n    import store;",
        "world applier {\n    import wasi:filesystem/types@0.2.6;\n    import store;",
    ) + "\npackage wasi:filesystem@0.2.6 { interface types { read: func(path: string) -> list<u8>; } }\n";
    let e = refusal(&synthesize_component(&wit, "applier"));
    assert_eq!(e, LoadError::ForbiddenImports(vec!["wasi:filesystem/types@0.2.6".into()]));
    assert!(e.to_string().contains("no filesystem"), "{e}");
}

#[test]
fn a_world_that_traps_in_info() {
    // Right contract, but every function is `unreachable`: refused, saying the call failed.
    let e = refusal(&synthesize_component(&applier_wit(), "applier"));
    assert!(matches!(e, LoadError::InfoFailed(ref m) if m.contains("trap")), "{e}");
}

#[test]
fn the_real_appliers_load_with_their_identity() {
    let engine = engine();
    let kv = engine.load(&module_bytes("kv")).unwrap();
    assert_eq!((kv.info.name.as_str(), kv.info.version.as_str()), ("kv", "1.0.0"));
    // Loading the same bytes again is a cache hit: the same compiled module.
    let again = engine.load(&module_bytes("kv")).unwrap();
    assert!(std::sync::Arc::ptr_eq(&kv, &again));
    assert!(kv.imports.iter().all(|i| !i.starts_with("wasi:filesystem")));
}

#[test]
fn compiled_code_is_cached_on_disk_by_content_hash() {
    let dir = std::env::temp_dir().join(format!("wasmraft-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = module_bytes("kv");
    let first = wasmraft::runtime::WasmEngine::new(Default::default(), Some(dir.clone())).unwrap();
    let hash = first.load(&bytes).unwrap().hash;
    let files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with(&hash.to_string()) && files[0].ends_with(".cwasm"), "{files:?}");
    // A new engine (a restarted node) loads from the cache; a damaged cache file is
    // recompiled rather than trusted.
    let second = wasmraft::runtime::WasmEngine::new(Default::default(), Some(dir.clone())).unwrap();
    assert_eq!(second.load(&bytes).unwrap().info.name, "kv");
    std::fs::write(dir.join(&files[0]), b"garbage").unwrap();
    let third = wasmraft::runtime::WasmEngine::new(Default::default(), Some(dir.clone())).unwrap();
    assert_eq!(third.load(&bytes).unwrap().info.name, "kv");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_cached_code_is_never_run_but_recompiled() {
    let dir = std::env::temp_dir().join(format!("wasmraft-cache-damage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = module_bytes("kv");
    let engine = || wasmraft::runtime::WasmEngine::new(Default::default(), Some(dir.clone())).unwrap();
    engine().load(&bytes).unwrap();
    let path = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let good = std::fs::read(&path).unwrap();
    let mut damages: Vec<(String, Vec<u8>)> = [good.len() / 3, good.len() / 2, good.len() * 2 / 3]
        .into_iter()
        .map(|at| {
            let mut flipped = good.clone();
            flipped[at] ^= 0x01;
            (format!("a bit flipped at {at}"), flipped)
        })
        .collect();
    damages.push(("a truncated file".into(), good[..good.len() / 2].to_vec()));
    damages.push(("an empty file".into(), Vec::new()));
    for (what, damaged) in damages {
        std::fs::write(&path, &damaged).unwrap();
        // A restarted node: the module loads, from code compiled again, which replaces the file.
        assert_eq!(engine().load(&bytes).unwrap().info.name, "kv", "{what}");
        let file = std::fs::read(&path).unwrap();
        assert!(file != damaged && file.len() > 32, "{what}: the damaged file was used, not replaced");
        assert_eq!(
            blake3::hash(&file[32..]).as_bytes(),
            &file[..32],
            "{what}: the new file is the checksum, then the code"
        );
    }
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporaries left: {names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same component with a custom section of its own: other bytes, another hash.
fn variant(bytes: &[u8], n: usize) -> Vec<u8> {
    let name = format!("variant-{n}");
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(section.len() as u8);
    out.extend(section);
    out
}

/// Every module anyone sends to compile (an upgrade, a peer's Prepare) is kept compiled
/// only up to a bound, in memory and on disk, unless something holds it; before, both
/// caches grew with every module.
#[test]
fn the_compiled_module_caches_are_bounded() {
    use wasmraft::runtime::module::MAX_CACHED_MODULES;
    let dir = tempfile::tempdir().unwrap();
    let engine = wasmraft::runtime::WasmEngine::new(Default::default(), Some(dir.path().to_path_buf())).unwrap();
    let bytes = module_bytes("kv");
    let held = engine.load(&bytes).unwrap();
    for n in 0..MAX_CACHED_MODULES + 3 {
        assert_eq!(engine.load(&variant(&bytes, n)).unwrap().info.name, "kv");
    }
    assert!(engine.cached_modules() <= MAX_CACHED_MODULES + 1, "{} modules in memory", engine.cached_modules());
    assert!(std::sync::Arc::ptr_eq(&held, &engine.load(&bytes).unwrap()), "a module in use stays");
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "cwasm"));
    assert!(files.count() <= MAX_CACHED_MODULES);
}
