//! Timing helpers shared by the benchmarks: a figure is the median (min–max) of several
//! rounds, each after the same warm-up.

use std::time::Instant;

#[derive(Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>8.0} ns  ({:.0}–{:.0})", self.median, self.min, self.max)
    }
}

pub fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    Stats { median: samples[samples.len() / 2], min: samples[0], max: samples[samples.len() - 1] }
}

/// ns per operation of `per_round(round)`, which runs `ops` operations, over `rounds`
/// rounds (numbered from 1) after one warm-up round (round 0).
pub fn time(rounds: usize, ops: usize, mut per_round: impl FnMut(usize)) -> Stats {
    per_round(0);
    stats(
        (1..=rounds)
            .map(|round| {
                let start = Instant::now();
                per_round(round);
                start.elapsed().as_nanos() as f64 / ops as f64
            })
            .collect(),
    )
}
