//! Prometheus metrics, served as text on `--metrics-listen` ([`serve`]). Named as etcd
//! names its own (`etcd_server_has_leader` is `wasmraft_server_has_leader` here; the gRPC
//! ones are go-grpc-prometheus's, as etcd serves them), so that an operator's dashboards
//! and alerts carry over. raft-engine's own WAL metrics (`raft_engine_*`) are served
//! beside them.
//!
//! Every figure is an atomic that the node's threads update as they go, or one read at
//! scrape time (the instance pool): a scrape takes no lock that a node thread waits on, so
//! it never holds the node up, whatever the node is doing (a leader change, a restart).

mod doors;
mod peers;
pub mod serve;

pub use doors::{GrpcLayer, HttpMetrics, http_layer};
pub use peers::RoundTrips;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, PullingGauge, Registry,
};
use std::time::Duration;

/// Where a snapshot's bytes go: written here, sent to a follower, received from the leader.
#[derive(Debug, Clone, Copy)]
pub enum SnapshotOp {
    Save,
    Send,
    Receive,
}

impl SnapshotOp {
    fn label(self) -> &'static str {
        match self {
            SnapshotOp::Save => "save",
            SnapshotOp::Send => "send",
            SnapshotOp::Receive => "receive",
        }
    }
}

/// One node's metrics.
pub struct Metrics {
    registry: Registry,
    pub has_leader: IntGauge,
    pub is_leader: IntGauge,
    pub leader_changes: IntCounter,
    pub term: IntGauge,
    pub commit_index: IntGauge,
    pub applied_index: IntGauge,
    /// Committed entries not yet applied here.
    pub apply_lag: IntGauge,
    pub proposals_committed: IntCounter,
    pub proposals_applied: IntCounter,
    pub proposals_failed: IntCounter,
    pub proposals_pending: IntGauge,
    /// Writes to the log that end with an fsync (entries, the hard state, a snapshot).
    pub wal_fsync: Histogram,
    /// Writes to the log left to the OS (a commit index alone).
    pub wal_append: Histogram,
    snapshot_duration: HistogramVec,
    snapshot_bytes: HistogramVec,
    pub peer_round_trip: HistogramVec,
    pub peer_send_failures: IntCounterVec,
    apply_duration: HistogramVec,
    apply_fuel: HistogramVec,
    pub(crate) http_requests: IntCounterVec,
    pub(crate) http_duration: HistogramVec,
    pub(crate) grpc_handled: IntCounterVec,
    pub(crate) grpc_duration: HistogramVec,
    pub module_compile: Histogram,
}

/// Latency buckets from 100 µs to about 52 s (doubling), fine enough for a loopback fsync
/// and wide enough for a slow disk or a large snapshot.
fn seconds() -> Vec<f64> {
    prometheus::exponential_buckets(0.0001, 2.0, 20).expect("valid buckets")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Names and help are constants: registering them cannot fail but by a typo here,
        // which every test that starts a node would catch.
        fn keep<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
            registry.register(Box::new(metric.clone())).expect("a metric registers");
            metric
        }
        let gauge = |name: &str, help: &str| keep(&registry, IntGauge::new(name, help).expect("gauge"));
        let counter = |name: &str, help: &str| keep(&registry, IntCounter::new(name, help).expect("counter"));
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            keep(&registry, Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("histogram"))
        };
        let histograms = |name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets);
            keep(&registry, HistogramVec::new(opts, labels).expect("histogram"))
        };
        let counters = |name: &str, help: &str, labels: &[&str]| {
            keep(&registry, IntCounterVec::new(Opts::new(name, help), labels).expect("counter"))
        };
        let bytes = prometheus::exponential_buckets(1024.0, 4.0, 12).expect("valid buckets");
        let fuel = prometheus::exponential_buckets(1000.0, 4.0, 14).expect("valid buckets");
        Metrics {
            has_leader: gauge("wasmraft_server_has_leader", "1 if this node knows a leader, else 0."),
            is_leader: gauge("wasmraft_server_is_leader", "1 if this node is the leader, else 0."),
            leader_changes: counter("wasmraft_server_leader_changes_seen_total", "Leaders this node has seen."),
            term: gauge("wasmraft_server_term", "This node's Raft term."),
            commit_index: gauge("wasmraft_server_commit_index", "The highest log index this node knows committed."),
            applied_index: gauge("wasmraft_server_applied_index", "The highest log index applied here."),
            apply_lag: gauge("wasmraft_server_apply_lag_entries", "Entries committed but not yet applied here."),
            proposals_committed: counter(
                "wasmraft_server_proposals_committed_total",
                "Committed entries handed to the apply thread.",
            ),
            proposals_applied: counter("wasmraft_server_proposals_applied_total", "Entries applied here."),
            proposals_failed: counter(
                "wasmraft_server_proposals_failed_total",
                "Proposals made through this node that failed or whose outcome is unknown (deadline).",
            ),
            proposals_pending: gauge(
                "wasmraft_server_proposals_pending",
                "Proposals made through this node that wait for their outcome.",
            ),
            wal_fsync: histogram(
                "wasmraft_disk_wal_fsync_duration_seconds",
                "Writes to the write-ahead log that end with an fsync, fsync included.",
                seconds(),
            ),
            wal_append: histogram(
                "wasmraft_disk_wal_append_duration_seconds",
                "Writes to the write-ahead log without an fsync.",
                seconds(),
            ),
            snapshot_duration: histograms(
                "wasmraft_snapshot_duration_seconds",
                "Snapshots saved here, sent to a follower or received from the leader, whole.",
                seconds(),
                &["op"],
            ),
            snapshot_bytes: histograms(
                "wasmraft_snapshot_size_bytes",
                "The size of snapshots saved, sent or received.",
                bytes,
                &["op"],
            ),
            peer_round_trip: histograms(
                "wasmraft_network_peer_round_trip_time_seconds",
                "From the leader's heartbeat to a follower until its answer is in the leader's inbox.",
                seconds(),
                &["To"],
            ),
            peer_send_failures: counters(
                "wasmraft_network_peer_sent_failures_total",
                "Messages to a peer that could not be sent.",
                &["To"],
            ),
            apply_duration: histograms(
                "wasmraft_apply_duration_seconds",
                "Applying one command, by applier and outcome (ok, refused, trapped).",
                seconds(),
                &["applier", "outcome"],
            ),
            apply_fuel: histograms(
                "wasmraft_apply_fuel",
                "Fuel one command's apply used, by applier and outcome.",
                fuel,
                &["applier", "outcome"],
            ),
            http_requests: counters(
                "wasmraft_http_requests_total",
                "HTTP requests answered, by the route that served them, method and status.",
                &["route", "method", "code"],
            ),
            http_duration: histograms(
                "wasmraft_http_request_duration_seconds",
                "HTTP requests from their head to their response's head, by route and method.",
                seconds(),
                &["route", "method"],
            ),
            grpc_handled: counters(
                "grpc_server_handled_total",
                "gRPC calls completed on the client door, by service, method and code.",
                &["grpc_service", "grpc_method", "grpc_code"],
            ),
            grpc_duration: histograms(
                "grpc_server_handling_seconds",
                "gRPC calls on the client door, from their start to their status.",
                seconds(),
                &["grpc_service", "grpc_method"],
            ),
            module_compile: histogram(
                "wasmraft_module_compile_duration_seconds",
                "Compiling a module (not found in the cache of compiled code).",
                seconds(),
            ),
            registry,
        }
    }

    /// Serves the wasm instance pool's use: instances and memories live now, and their
    /// capacity.
    pub fn watch_pool(&self, engine: &wasmtime::Engine, capacity: u32) {
        let Some(pool) = engine.pooling_allocator_metrics() else { return };
        let live = PullingGauge::new(
            "wasmraft_instance_pool_component_instances",
            "Wasm component instances live in the pool (apply, reads, HTTP calls).",
            Box::new(move || pool.component_instances() as f64),
        );
        let cap = PullingGauge::new(
            "wasmraft_instance_pool_capacity",
            "Wasm component instances the pool holds at most.",
            Box::new(move || f64::from(capacity)),
        );
        for gauge in [live, cap] {
            self.registry.register(Box::new(gauge.expect("gauge"))).expect("a metric registers");
        }
    }

    pub fn snapshot(&self, op: SnapshotOp, took: Duration, bytes: u64) {
        self.snapshot_duration.with_label_values(&[op.label()]).observe(took.as_secs_f64());
        self.snapshot_bytes.with_label_values(&[op.label()]).observe(bytes as f64);
    }

    /// One command applied by `applier`.
    pub fn applied_command(&self, applier: &str, outcome: &str, took: Duration, fuel: u64) {
        let labels = [applier, outcome];
        self.apply_duration.with_label_values(&labels).observe(took.as_secs_f64());
        self.apply_fuel.with_label_values(&labels).observe(fuel as f64);
    }

    /// Every metric in Prometheus's text format: this node's, then raft-engine's.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(prometheus::gather());
        prometheus::TextEncoder::new().encode_to_string(&families).unwrap_or_else(|e| format!("# {e}\n"))
    }
}
