//! Mutations, as a coverage-blind fuzzer makes them: from one seed (sometimes two spliced),
//! a few edits that break lengths, tags, varints and checksums.

use wasmraft_tests::Rng;

const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20];

pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = seeds[rng.below(seeds.len() as u64) as usize].clone();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len() as u64;
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len) as usize;
                bytes[i] = INTERESTING[rng.below(INTERESTING.len() as u64) as usize];
            }
            2 if len > 0 => bytes.truncate(rng.below(len) as usize),
            3 => {
                let at = rng.below(len + 1) as usize;
                let n = 1 + rng.below(16) as usize;
                bytes.splice(at..at, rng.bytes(n));
            }
            4 if len > 1 => {
                let (a, b) = (rng.below(len) as usize, rng.below(len) as usize);
                let (from, to) = (a.min(b), a.max(b));
                bytes.drain(from..to);
            }
            5 if len > 0 => {
                // A copy of a run of the input elsewhere (repeats fields, lengths).
                let from = rng.below(len) as usize;
                let to = (from + 1 + rng.below(32) as usize).min(bytes.len());
                let run = bytes[from..to].to_vec();
                let at = rng.below(len + 1) as usize;
                bytes.splice(at..at, run);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let cut = rng.below(bytes.len() as u64 + 1) as usize;
                let from = rng.below(other.len() as u64 + 1) as usize;
                bytes.truncate(cut);
                bytes.extend_from_slice(&other[from..]);
            }
            _ if len >= 8 => {
                // A large value where a length or a count may be.
                let i = rng.below(len - 7) as usize;
                bytes[i..i + 8].copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            _ => {
                let n = 1 + rng.below(8) as usize;
                bytes.extend(rng.bytes(n));
            }
        }
    }
    bytes
}
