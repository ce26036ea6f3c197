//! Project tasks, so that a fresh machine needs nothing but cargo and rustup:
//!
//!   cargo xtask appliers   build every applier in appliers/ to a wasm component
//!   cargo xtask test       build the appliers, then run every test
//!   cargo xtask demo       build everything, start a local 3-node cluster, show it working
//!   cargo xtask dss        a local 3-node DSS (SCD, RID, aux) on http://localhost:8082 until Ctrl-C
//!   cargo xtask bench      build everything and print the benchmarks
//!   cargo xtask bench-delay  the DSS benchmark with 16.5 ± 7.5 ms one way between the nodes
//!   cargo xtask bench-etcd  the same KV load on a local 3-node etcd 3.4 and a 3-node wasmraft, side by side
//!   cargo xtask soak       a long randomized fault run (kills, pauses, member changes, upgrades)
//!   cargo xtask availability  the longest windows without a successful operation under kills and pauses
//!   cargo xtask bench-busy-cell  the DSS's busy cell as USS clients load it
//!   cargo xtask bench-busy-apply  the busy cell's apply cost, wasm against native
//!   cargo xtask bench-backup  backup and restore of a DSS holding 100,000 intents
//!   cargo xtask bench-fill  a KV cluster filled with 1,000,000 keys, then restarted

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const TARGET: &str = "wasm32-wasip2";

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(cmd: &mut Command) -> Result {
    eprintln!("+ {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{cmd:?} failed: {s}")),
        Err(e) => Err(format!("cannot run {cmd:?}: {e}")),
    }
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to install the {TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// A feature that builds an applier under a newer version: a crate that has it is also built
/// with it, to `target/appliers/<dir>-next.wasm`, for the tests of upgrades.
const NEXT_VERSION: &str = "next-version";

/// One build of an applier crate (a crate that builds a cdylib).
struct Build {
    /// The output's name: `target/appliers/<name>.wasm`.
    name: String,
    package: String,
    feature: Option<&'static str>,
    /// Whether it builds an applier crate with other features than its own build does:
    /// its `next-version`, or another applier used as a library (kv2 uses kv with its
    /// exports off). A cdylib's file carries no hash of its features, so such a build in
    /// the same target directory overwrites the plain one, and each rebuilt the other at
    /// every run (about 45 s before `cargo xtask dss` started a node).
    variant: bool,
}

/// Every build of every applier crate; with `next`, the `next-version` ones too (only the
/// tests need them).
fn appliers(next: bool) -> Result<Vec<Build>> {
    let dir = root().join("appliers");
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Ok(manifest) = std::fs::read_to_string(path.join("Cargo.toml")) else { continue };
        // Libraries shared by appliers (no cdylib) are built as their users' dependencies.
        if !manifest.contains("cdylib") {
            continue;
        }
        let package = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = ").map(|v| v.trim_matches('"').to_string()))
            .ok_or_else(|| format!("{}: no package name", path.display()))?;
        manifests.push((path.file_name().unwrap().to_string_lossy().into_owned(), package, manifest));
    }
    let packages: Vec<String> = manifests.iter().map(|(_, package, _)| package.clone()).collect();
    let mut found = Vec::new();
    for (dir, package, manifest) in manifests {
        let uses_another =
            packages.iter().any(|p| *p != package && manifest.lines().any(|l| l.trim().starts_with(&format!("{p} ="))));
        if next && manifest.lines().any(|l| l.trim().starts_with(&format!("{NEXT_VERSION} ="))) {
            let name = format!("{dir}-next");
            found.push(Build { name, package: package.clone(), feature: Some(NEXT_VERSION), variant: true });
        }
        found.push(Build { name: dir, package, feature: None, variant: uses_another });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Builds every applier (with `next`, their `next-version` builds too) and copies each to
/// `target/appliers/<name>.wasm`. Variant builds use `target/variants`, so that every build
/// stays cached.
fn build_appliers(next: bool) -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let appliers = appliers(next)?;
    let out = target_dir().join("appliers");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut built = Vec::new();
    // One build per applier, copied out at once: an applier that uses another as a library
    // turns that one's exports off by a feature, and building it rewrites the other's
    // .wasm (crate-type cdylib) without them.
    for Build { name, package, feature, variant } in appliers {
        let target = match variant {
            true => target_dir().join("variants"),
            false => target_dir(),
        };
        let mut build = cargo();
        build
            .args(["build", "--target", TARGET, "--profile", "applier", "-p", &package])
            .env("CARGO_TARGET_DIR", &target);
        if let Some(feature) = feature {
            build.args(["--features", feature]);
        }
        run(&mut build)?;
        let from = target.join(TARGET).join("applier").join(format!("{}.wasm", package.replace('-', "_")));
        let to = out.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
        let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
        eprintln!("applier {name}: {} ({} KiB)", relative(&to), size / 1024);
        built.push(to);
    }
    Ok(built)
}

fn relative(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn build_node() -> Result<PathBuf> {
    run(cargo().args(["build", "--release", "-p", "wasmraft"]))?;
    Ok(target_dir().join("release/wasmraft"))
}

/// Installs the Debian package `package` with apt-get (after `apt-get update` if the first
/// try fails); `needed_by` says what needs it.
fn apt_install(package: &str, needed_by: &str) -> Result {
    let install = || run(Command::new("apt-get").args(["install", "-y", "-q", package]));
    install()
        .or_else(|_| run(Command::new("apt-get").args(["update", "-q"])).and_then(|()| install()))
        .map_err(|e| format!("{needed_by} needs Debian's {package} package: {e}"))
}

/// Installs Debian's `faketime` (libfaketime) when it is missing: the clock-skew test
/// preloads it into a node to shift that node's wall clock.
fn ensure_faketime() -> Result {
    if Path::new("/usr/lib").join(format!("{}-linux-gnu/faketime/libfaketime.so.1", std::env::consts::ARCH)).exists() {
        return Ok(());
    }
    apt_install("faketime", "the clock-skew test")
}

/// Installs Debian's `etcd-server` (etcd 3.4 on bookworm) when `etcd` is not on PATH.
fn ensure_etcd() -> Result {
    if Command::new("etcd").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    apt_install("etcd-server", "the etcd comparison")
}

fn test() -> Result {
    ensure_faketime()?;
    build_appliers(true)?;
    // The cluster tests run this binary as real processes.
    build_node()?;
    run(cargo().args(["test", "--release", "--workspace"]))
}

/// Runs `wasmraft <args>` as the cluster's admin (the client certificate of `certs`) and
/// shows the command and what it printed.
fn show(wasmraft: &Path, certs: &Path, args: &[&str]) -> Result {
    eprintln!("\n$ wasmraft {}", args.join(" "));
    run(admin(Command::new(wasmraft).args(args), certs))
}

/// The client credentials of a `dev-certs` directory, as the CLI reads them from its
/// environment (`--cacert`, `--cert`, `--key`).
fn admin<'a>(command: &'a mut Command, certs: &Path) -> &'a mut Command {
    command
        .env("WASMRAFT_CACERT", certs.join("ca.pem"))
        .env("WASMRAFT_CERT", certs.join("admin.pem"))
        .env("WASMRAFT_KEY", certs.join("admin-key.pem"))
}

/// Starts nodes 1-3 of a new cluster hosting `modules` with TLS on (certificates from
/// `wasmraft dev-certs` in `data/certs`): peers on 127.0.0.1:`base`+id, clients on
/// `base`+100+id; data and logs in `data` (emptied first), each with `extra(id)` flags;
/// waits for a leader. Returns the nodes and the certificates' directory.
fn start_cluster(
    wasmraft: &Path,
    modules: &[PathBuf],
    data: &Path,
    base: u16,
    extra: impl Fn(u16) -> Vec<String>,
) -> Result<(Vec<std::process::Child>, PathBuf)> {
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data).map_err(|e| e.to_string())?;
    let certs = data.join("certs");
    eprintln!("\n== certificates for the nodes and an admin client, in {}", relative(&certs));
    run(Command::new(wasmraft).args(["dev-certs", "--nodes", "1,2,3", "--dir"]).arg(&certs).stdout(Stdio::null()))?;
    let address = |id: u16| format!("127.0.0.1:{}", base + id);
    let client = |id: u16| format!("127.0.0.1:{}", base + 100 + id);
    let peers = (1..=3).map(|id| format!("{id}={}", address(id))).collect::<Vec<_>>().join(",");
    eprintln!(
        "\n== starting 3 nodes, mutual TLS between them on {}-{}, clients on {}-{} (data in {}, logs beside it)",
        address(1),
        base + 3,
        client(1),
        base + 103,
        relative(data)
    );
    let mut nodes = Vec::new();
    for id in 1..=3u16 {
        let log = std::fs::File::create(data.join(format!("node{id}.log"))).map_err(|e| e.to_string())?;
        let child = Command::new(wasmraft)
            .args(["serve", "--id", &id.to_string(), "--listen", &address(id), "--client-listen", &client(id)])
            .args(["--peers", &peers])
            .arg("--tls-dir")
            .arg(&certs)
            .arg("--data-dir")
            .arg(data.join(format!("node{id}")))
            .args(modules.iter().flat_map(|m| [std::ffi::OsStr::new("--module"), m.as_os_str()]))
            .args(extra(id))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start node {id}: {e}"))?;
        nodes.push(child);
    }
    for _ in 0..100 {
        let out = admin(Command::new(wasmraft).args(["status", "--endpoint", &client(1)]), &certs).output();
        if out.is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("\"leader\": 0")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok((nodes, certs))
}

fn stop_cluster(nodes: Vec<std::process::Child>) {
    for mut node in nodes {
        // SIGTERM via `kill`, so the nodes shut down cleanly.
        let _ = Command::new("kill").arg(node.id().to_string()).status();
        let _ = node.wait();
    }
}

fn demo() -> Result {
    build_appliers(false)?;
    let wasmraft = build_node()?;
    let kv = target_dir().join("appliers/kv.wasm");
    let (nodes, certs) = start_cluster(&wasmraft, &[kv], &target_dir().join("demo-cluster"), 7000, |_| Vec::new())?;
    let show = |wasmraft: &Path, args: &[&str]| show(wasmraft, &certs, args);
    eprintln!(
        "\n(the client commands below run as `admin`: WASMRAFT_CACERT, WASMRAFT_CERT and WASMRAFT_KEY name its files)"
    );
    let result = (|| {
        show(
            &wasmraft,
            &[
                "propose",
                "--endpoint",
                "127.0.0.1:7101",
                r#"{"put": {"key": "greeting", "value": "hello from node 1"}}"#,
            ],
        )?;
        show(
            &wasmraft,
            &[
                "propose",
                "--endpoint",
                "127.0.0.1:7102",
                r#"{"cas": {"key": "greeting", "expected_version": 1, "value": "updated through node 2"}}"#,
            ],
        )?;
        show(&wasmraft, &["query", "--endpoint", "127.0.0.1:7103", r#"{"get": {"key": "greeting"}}"#])?;
        eprintln!("\n(an applier refusal is an answer: exit code 1)");
        let _ = show(&wasmraft, &["propose", "--endpoint", "127.0.0.1:7103", r#"{"delete": {"key": "nothing-here"}}"#]);
        eprintln!("\n== hot upgrade: kv 2.0.0 goes through the log; every node switches at its index");
        let kv2 = target_dir().join("appliers/kv2.wasm");
        show(&wasmraft, &["upgrade", "--endpoint", "127.0.0.1:7102", "--module", &kv2.to_string_lossy()])?;
        show(
            &wasmraft,
            &["propose", "--endpoint", "127.0.0.1:7103", r#"{"append": {"key": "greeting", "suffix": ", now on v2"}}"#],
        )?;
        show(&wasmraft, &["query", "--endpoint", "127.0.0.1:7101", r#"{"get": {"key": "greeting"}}"#])?;
        for id in 1..=3 {
            let out =
                admin(Command::new(&wasmraft).args(["status", "--endpoint", &format!("127.0.0.1:710{id}")]), &certs)
                    .output()
                    .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| {
                text.lines()
                    .find(|l| l.trim_start().starts_with(&format!("\"{name}\"")))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            eprintln!("node {id}: {} {} {}", field("role"), field("applied_index"), field("state_hash"));
        }
        Ok(())
    })();
    stop_cluster(nodes);
    eprintln!("\nstopped the cluster; `wasmraft serve --help` shows every flag");
    result
}

/// One HTTP/1.1 exchange on loopback, for showing the DSS at work without a client library.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let status = response.lines().next().unwrap_or("").to_string();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(format!("{status}\n{body}"))
}

/// A local 3-node DSS (SCD, RID, aux) on http://localhost:8082 (also :8083 and :8084, one per node),
/// until Ctrl-C: `cargo xtask dss [--public-key FILE]`. Tokens: `wasmraft dev-token`.
fn dss() -> Result {
    build_appliers(false)?;
    let wasmraft = build_node()?;
    let dir = target_dir().join("dss");
    let mut args = std::env::args().skip(2);
    let public_key = match (args.next().as_deref(), args.next()) {
        (Some("--public-key"), Some(file)) => PathBuf::from(file),
        (None, _) => {
            let keys = dir.join("dev-keys");
            run(Command::new(&wasmraft).args(["dev-keys", "--dir"]).arg(&keys))?;
            keys.join("public.pem")
        }
        _ => return Err("usage: cargo xtask dss [--public-key FILE]".into()),
    };
    // The whole DSS: strategic coordination with aux (scd) and remote ID, v1 and v2 (rid).
    let modules = ["scd", "rid"].map(|name| target_dir().join(format!("appliers/{name}.wasm")));
    let key = public_key.to_string_lossy().into_owned();
    // HTTP in the clear on loopback, as the reference DSS is run for local development;
    // peers and the gRPC API speak TLS.
    let (nodes, _) = start_cluster(&wasmraft, &modules, &dir.join("cluster"), 7200, |id| {
        let http = format!("127.0.0.1:{}", 8081 + id);
        [
            "--http-listen",
            &http,
            "--http-plain",
            "--jwt-public-key",
            &key,
            "--jwt-audience",
            "localhost",
            "--allow-http-base-urls",
        ]
        .map(String::from)
        .to_vec()
    })?;
    let private = dir.join("dev-keys/private.pem");
    let wasmraft_cmd = relative(&wasmraft);
    let token = Command::new(&wasmraft)
        .args(["dev-token", "--key"])
        .arg(&private)
        .args(["--sub", "uss1", "--scope", "utm.strategic_coordination,rid.display_provider"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    eprintln!(
        "\n== GET /healthy on each node, then GET /aux/v1/version, an SCD query and a RID search with a dev token"
    );
    for port in 8082..=8084 {
        eprintln!("node on :{port}: {}", http(port, "GET", "/healthy", None, "")?.replace('\n', " "));
    }
    eprintln!("{}", http(8082, "GET", "/aux/v1/version", None, "")?);
    let query = r#"{"area_of_interest": {"volume": {"outline_polygon": {"vertices": [{"lat": 46.52, "lng": 6.56}, {"lat": 46.52, "lng": 6.57}, {"lat": 46.53, "lng": 6.57}]}}}}"#;
    eprintln!("{}", http(8083, "POST", "/dss/v1/operational_intent_references/query", token.as_deref(), query)?);
    let search = "/rid/v2/dss/identification_service_areas?area=46.52,6.56,46.52,6.57,46.53,6.57";
    eprintln!("{}", http(8084, "GET", search, token.as_deref(), "")?);
    eprintln!(
        "\n== the DSS (SCD, RID v1 and v2, aux) is at http://localhost:8082 (nodes 2 and 3: :8083, :8084), audience `localhost`, http base URLs allowed.\n\
         Mint a token:  {wasmraft_cmd} dev-token --key {} --sub uss1 --scope utm.strategic_coordination,rid.service_provider\n\
         Ctrl-C stops the cluster.",
        relative(&private)
    );
    for mut node in nodes {
        let _ = node.wait();
    }
    Ok(())
}

fn bench() -> Result {
    build_appliers(false)?;
    build_node()?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "apply"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "dss_apply"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "rid_apply"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "auth"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "cluster"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "dss"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "rid"]))
}

/// etcd and wasmraft side by side under the same KV load: `cargo xtask bench-etcd`.
fn bench_etcd() -> Result {
    ensure_etcd()?;
    build_appliers(false)?;
    build_node()?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "etcd"]))
}

/// The delay between the nodes a bench command names, `[--delay] [MEAN_MS JITTER_MS]`, as
/// `WASMRAFT_BENCH_DELAY` writes it (the benchmark checks the numbers: `Delay::parse`), or
/// `default` if none is named.
fn delay_args(default: Option<(&str, &str)>) -> Result<Option<String>> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).skip_while(|a| *a == "--delay").collect();
    match (args.as_slice(), default) {
        ([], None) => Ok(None),
        ([], Some((mean, jitter))) => Ok(Some(format!("{mean},{jitter}"))),
        ([mean, jitter], _) => Ok(Some(format!("{mean},{jitter}"))),
        _ => Err(format!("expected [--delay] MEAN_MS JITTER_MS, not {args:?}")),
    }
}

/// The DSS benchmarks (SCD, RID) with a delay between the nodes: `cargo xtask bench-delay
/// [--delay] [MEAN_MS JITTER_MS]`, by default the reference DSS's `tc netem delay 16.5ms
/// 7.5ms`. A userspace proxy makes the delay (tests/src/delay.rs): this kernel has no netem.
fn bench_delay() -> Result {
    let delay = delay_args(Some(("16.5", "7.5")))?.expect("a default delay");
    build_appliers(false)?;
    build_node()?;
    for bench in ["dss", "rid"] {
        run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", bench]).env("WASMRAFT_BENCH_DELAY", &delay))?;
    }
    Ok(())
}

/// The DSS's busy cell as USS clients load it: `cargo xtask bench-busy-cell [--delay]
/// [MEAN_MS JITTER_MS]` (with a delay between the nodes if given).
fn bench_busy_cell() -> Result {
    let delay = delay_args(None)?;
    build_appliers(false)?;
    build_node()?;
    let mut bench = cargo();
    bench.args(["bench", "-p", "wasmraft-tests", "--bench", "busy_cell"]);
    if let Some(delay) = delay {
        bench.env("WASMRAFT_BENCH_DELAY", delay);
    }
    run(&mut bench)
}

/// The busy cell's apply cost, wasm against native, with no cluster: `cargo xtask
/// bench-busy-apply [WRITES]` (100,000 unless given).
fn bench_busy_apply() -> Result {
    build_appliers(false)?;
    let mut bench = cargo();
    bench.args(["bench", "-p", "wasmraft-tests", "--bench", "dss_apply", "--", "busy-cell"]);
    if let Some(writes) = std::env::args().nth(2) {
        bench.env("WASMRAFT_BUSY_WRITES", writes);
    }
    run(&mut bench)
}

/// Runs the benchmark `name` of the built node and appliers, with the command line's
/// next argument, if any, in the environment variable `count` (how much it loads).
fn bench_sized(name: &str, count: &str) -> Result {
    build_appliers(false)?;
    build_node()?;
    let mut bench = cargo();
    bench.args(["bench", "-p", "wasmraft-tests", "--bench", name]);
    if let Some(size) = std::env::args().nth(2) {
        bench.env(count, size);
    }
    run(&mut bench)
}

/// The longest windows without a successful operation under kills and pauses:
/// `cargo xtask availability [ROUNDS]`.
fn availability() -> Result {
    build_appliers(false)?;
    build_node()?;
    let rounds = std::env::args().nth(2).unwrap_or_else(|| "3".into());
    run(cargo()
        .args(["bench", "-p", "wasmraft-tests", "--bench", "availability"])
        .env("WASMRAFT_AVAILABILITY_ROUNDS", rounds))
}

/// The randomized fault run, out of the default suite: `cargo xtask soak [SECONDS] [SEED]`.
fn soak() -> Result {
    build_appliers(false)?;
    build_node()?;
    let mut args = std::env::args().skip(2);
    let (seconds, seed) = (args.next().unwrap_or_else(|| "120".into()), args.next().unwrap_or_else(|| "1".into()));
    run(cargo()
        .args([
            "test",
            "--release",
            "-p",
            "wasmraft-tests",
            "--test",
            "cluster",
            "soak",
            "--",
            "--ignored",
            "--nocapture",
        ])
        .env("WASMRAFT_SOAK_SECONDS", seconds)
        .env("WASMRAFT_SOAK_SEED", seed))
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "appliers" => build_appliers(true).map(drop),
        "test" => test(),
        "demo" => demo(),
        "bench" => bench(),
        "bench-delay" => bench_delay(),
        "bench-etcd" => bench_etcd(),
        "soak" => soak(),
        "availability" => availability(),
        "bench-busy-cell" => bench_busy_cell(),
        "bench-busy-apply" => bench_busy_apply(),
        // Backup and restore of a DSS holding INTENTS intents (100,000 unless given).
        "bench-backup" => bench_sized("backup", "WASMRAFT_BACKUP_INTENTS"),
        // A KV cluster filled with KEYS keys (1,000,000 unless given), then restarted.
        "bench-fill" => bench_sized("fill", "WASMRAFT_FILL_KEYS"),
        "dss" => dss(),
        _ => {
            eprintln!(
                "usage: cargo xtask <appliers | test | demo | dss [--public-key FILE] | bench | bench-delay [[--delay] MEAN_MS JITTER_MS] | bench-etcd | soak [SECONDS] [SEED] | availability [ROUNDS] | bench-busy-cell [[--delay] MEAN_MS JITTER_MS] | bench-busy-apply [WRITES] | bench-backup [INTENTS] | bench-fill [KEYS]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
