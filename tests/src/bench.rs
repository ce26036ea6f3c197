//! Timing helpers shared by the benchmarks: a figure is the median (min–max) of several
//! rounds, each after the same warm-up.

use std::path::Path;
use std::time::{Duration, Instant};

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

/// The CPU time (user and system) of process `pid`, all its threads.
pub fn process_cpu(pid: u32) -> Duration {
    cpu_of(&Path::new("/proc").join(pid.to_string()).join("stat"))
}

/// The CPU time of this process: the load generator's, in a benchmark.
pub fn own_cpu() -> Duration {
    cpu_of(Path::new("/proc/self/stat"))
}

/// The CPU time (user and system) of the thread named `name` in process `pid`.
pub fn thread_cpu(pid: u32, name: &str) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads");
    let named = tasks
        .flatten()
        .find(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name));
    cpu_of(&named.unwrap_or_else(|| panic!("no thread `{name}` in process {pid}")).path().join("stat"))
}

/// utime + stime of a `/proc/.../stat` file.
fn cpu_of(stat: &Path) -> Duration {
    let text = std::fs::read_to_string(stat).unwrap_or_else(|e| panic!("{}: {e}", stat.display()));
    // Fields after the `(comm)`: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = text.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Safety: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}
