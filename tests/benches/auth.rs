//! The cost of verifying a bearer token at the edge (`Verifier::verify_header`, as the
//! gateway calls it for every request): an RSA-2048 RS256 JWT as `wasmraft dev-token` mints.
//!
//! Run with `cargo bench -p wasmraft-tests --bench auth` (it needs no applier). Each figure
//! is the median (min–max) over rounds, in nanoseconds per verify, of the time that passed
//! and of the CPU time of the thread (which other work on the machine does not inflate):
//! - a fresh token each time: every token is verified once (its signature checked);
//! - the same token repeated: what a USS that reuses its token for an hour costs per request.

// Same allocator as the `wasmraft` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;
use wasmraft::http::auth::{self, TokenRequest, Verifier};
use wasmraft_tests::bench::{self, Stats};

const ROUNDS: usize = 7;
/// Distinct tokens per round of the fresh-token figure (each one minted: about 1.5 ms).
const FRESH: usize = 100;
/// Verifies per round of the same-token figure.
const REPEATED: usize = 10_000;
const NOW: u64 = 1_800_000_000;

/// This thread's CPU time, in nanoseconds.
fn cpu_ns() -> u128 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write to.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) }, 0);
    t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
}

/// ns per operation of `per_round(round)`, which runs `ops` operations, over `ROUNDS`
/// rounds after one warm-up round (round 0): (time passed, CPU time).
fn time(ops: usize, mut per_round: impl FnMut(usize)) -> (Stats, Stats) {
    per_round(0);
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let (start, start_cpu) = (Instant::now(), cpu_ns());
        per_round(round);
        cpu.push((cpu_ns() - start_cpu) as f64 / ops as f64);
        wall.push(start.elapsed().as_nanos() as f64 / ops as f64);
    }
    (bench::stats(wall), bench::stats(cpu))
}

fn main() {
    let keys = auth::generate_keys().expect("an RSA-2048 key pair");
    let scopes = ["utm.strategic_coordination".to_string(), "utm.constraint_management".into()];
    // Distinct by subject: one token per USS.
    let token = |i: usize| {
        let subject = format!("uss{i}");
        let request = TokenRequest {
            subject: &subject,
            scopes: &scopes,
            audience: "localhost",
            issuer: "dummyoauth",
            issued_at: NOW,
            expires_at: NOW + 3600,
        };
        format!("Bearer {}", auth::mint(&keys.private_pem, &request).expect("a token"))
    };
    let verifier = Verifier::new(std::slice::from_ref(&keys.public_pem), vec!["localhost".into()]).expect("a verifier");
    let verify = |header: &str| {
        let principal = verifier.verify_header(header, NOW).expect("the token verifies");
        std::hint::black_box(principal);
    };

    let fresh: Vec<Vec<String>> =
        (0..=ROUNDS).map(|round| (0..FRESH).map(|i| token(round * FRESH + i)).collect()).collect();
    let (wall, cpu) = time(FRESH, |round| fresh[round].iter().for_each(|t| verify(t)));
    println!("verify, a fresh token each time:  {wall}   CPU {cpu}");

    let same = token(usize::MAX);
    let (wall, cpu) = time(REPEATED, |_| (0..REPEATED).for_each(|_| verify(&same)));
    println!("verify, the same token repeated:  {wall}   CPU {cpu}");
}
