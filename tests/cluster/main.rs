//! Real clusters of the release binary on loopback (`cargo xtask test` builds it first).

mod agreement;
mod backup;
mod basics;
mod catch_up;
mod clocks;
mod crashes;
mod disk;
mod dss;
mod dss_housekeeping;
mod dss_snapshot;
mod dss_upgrade;
mod dss_whole;
mod faults;
mod floods;
mod front_door;
mod hosting;
mod membership;
mod metrics;
mod operators;
mod reads;
mod retries;
mod security;
mod soak;
mod upgrades;
