//! The runtime, driven with the repo's appliers built to wasm (`cargo xtask appliers`).

mod bad_modules;
mod containment;
mod determinism;
mod dss_determinism;
mod encodings;
mod hosting;
mod instance_lifetime;
mod instance_pool;
mod requests;
mod snapshot_points;
mod upgrades;
