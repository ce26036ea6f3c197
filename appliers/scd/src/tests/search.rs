//! Searches against a brute-force model: OIRs with windows of every time tier (minutes to
//! days) and heights of every altitude tier (under a metre to kilometres, some below 0), in
//! two places, then queries of random windows and altitudes (some open-ended, some without
//! altitudes) must return exactly the OIRs that overlap them.

use super::*;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Made {
    id: String,
    place: usize,
    start: Nanos,
    end: Nanos,
    lo: f64,
    hi: f64,
}

const PLACES: [(f64, f64); 2] = [(46.0, 7.0), (47.0, 8.0)];

fn extent(place: usize, start: Option<Nanos>, end: Option<Nanos>, altitudes: Option<(f64, f64)>) -> Value {
    let (lat, lng) = PLACES[place];
    let mut v = json!({"volume": {"outline_polygon": square(lat, lng, 0.01)}});
    if let Some((lo, hi)) = altitudes {
        v["volume"]["altitude_lower"] = alt(lo);
        v["volume"]["altitude_upper"] = alt(hi);
    }
    if let Some(start) = start {
        v["time_start"] = time(start);
    }
    if let Some(end) = end {
        v["time_end"] = time(end);
    }
    v
}

#[test]
fn searches_return_exactly_the_overlapping_oirs() {
    let mut dss = Dss::new();
    let mut rng = Rng(0x5eed);
    let lengths = [
        minutes(5),
        minutes(50),
        minutes(60),
        minutes(61),
        minutes(200),
        minutes(60 * 23),
        minutes(60 * 30),
        minutes(60 * 96),
    ];
    let mut made: Vec<Made> = Vec::new();
    let mut ovns: Vec<String> = Vec::new();
    for n in 0..160u32 {
        let place = rng.below(2) as usize;
        let start = minutes(11 + rng.below(60 * 24 * 3) as i64);
        let end = start + lengths[rng.below(lengths.len() as u64) as usize];
        let lo = rng.below(500) as f64 - 100.0;
        let hi = lo + [0.5, 1.0, 16.0, 17.0, 40.0, 256.0, 300.0, 3000.0][rng.below(8) as usize];
        let keys: Vec<&str> = ovns.iter().map(String::as_str).collect();
        let reference =
            dss.create_oir(USS1, n, &oir("Accepted", extent(place, Some(start), Some(end), Some((lo, hi))), &keys));
        ovns.push(str_of(&reference["ovn"]).to_string());
        made.push(Made { id: id(n), place, start, end, lo, hi });
    }
    let mut total = 0;
    for _ in 0..200 {
        let place = rng.below(2) as usize;
        let start = (rng.below(4) > 0).then(|| minutes(rng.below(60 * 24 * 4) as i64));
        let end = (rng.below(4) > 0).then(|| start.unwrap_or(0) + minutes(rng.below(60 * 30) as i64));
        let lo = rng.below(550) as f64 - 100.0;
        let hi = lo + rng.below(60) as f64;
        let altitudes = (rng.below(5) > 0).then_some((lo, hi));
        let area = extent(place, start, end, altitudes);
        let (status, reply) =
            dss.post(USS1, "/dss/v1/operational_intent_references/query", &json!({"area_of_interest": area}));
        assert_eq!(status, 200, "{reply}");
        let found: Vec<&str> =
            reply["operational_intent_references"].as_array().unwrap().iter().map(|r| str_of(&r["id"])).collect();
        let expected: Vec<&str> = made
            .iter()
            .filter(|m| {
                m.place == place
                    && start.is_none_or(|s| m.end >= s)
                    && end.is_none_or(|e| m.start <= e)
                    && altitudes.is_none_or(|(lo, hi)| m.hi >= lo && m.lo <= hi)
            })
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(found, expected, "area {area}");
        total += found.len();
    }
    // The queries are not all empty: the model is exercised.
    assert!(total > 500, "{total}");
}
