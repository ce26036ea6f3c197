//! Exact arithmetic on floating-point expansions (Shewchuk, "Adaptive Precision
//! Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997).
//!
//! golang/geo uses `big.Float` where the fast predicates cannot decide. An expansion
//! (a sum of non-overlapping doubles) represents the same exact values without a
//! dependency. These paths only run for (nearly) degenerate inputs, so clarity
//! wins over speed here.

use crate::point::Point;

/// An exact number: the sum of its components, which do not overlap and are in
/// order of increasing magnitude (zeros may be interspersed).
#[derive(Debug, Clone)]
pub(crate) struct Expansion(Vec<f64>);

/// `a + b` as a rounded sum and its exact rounding error.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let b_virtual = s - a;
    let a_virtual = s - b_virtual;
    (s, (a - a_virtual) + (b - b_virtual))
}

/// Splits `a` into two halves of 26 significant bits each (Dekker), so that their
/// products are exact without a fused multiply-add.
fn split(a: f64) -> (f64, f64) {
    const SPLITTER: f64 = 134_217_729.0; // 2^27 + 1
    let c = SPLITTER * a;
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `a * b` as a rounded product and its exact rounding error.
fn two_product(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (a_hi, a_lo) = split(a);
    let (b_hi, b_lo) = split(b);
    let err = a_lo * b_lo - (((p - a_hi * b_hi) - a_lo * b_hi) - a_hi * b_lo);
    (p, err)
}

impl Expansion {
    /// The exact product of two doubles.
    pub(crate) fn product(a: f64, b: f64) -> Self {
        let (p, e) = two_product(a, b);
        Expansion(vec![e, p])
    }

    /// The exact sum (Shewchuk's GROW-EXPANSION applied to each component).
    pub(crate) fn add(&self, other: &Expansion) -> Expansion {
        let mut h = self.0.clone();
        for &b in &other.0 {
            let mut q = b;
            let mut grown = Vec::with_capacity(h.len() + 1);
            for &e in &h {
                let (sum, err) = two_sum(q, e);
                if err != 0.0 {
                    grown.push(err);
                }
                q = sum;
            }
            grown.push(q);
            h = grown;
        }
        Expansion(h)
    }

    pub(crate) fn neg(&self) -> Expansion {
        Expansion(self.0.iter().map(|c| -c).collect())
    }

    pub(crate) fn sub(&self, other: &Expansion) -> Expansion {
        self.add(&other.neg())
    }

    /// The exact product with a double.
    pub(crate) fn scale(&self, b: f64) -> Expansion {
        self.0.iter().fold(Expansion(vec![0.0]), |acc, &e| acc.add(&Expansion::product(e, b)))
    }

    /// -1, 0 or 1: the sign of the exact value, which is that of the largest
    /// nonzero component.
    pub(crate) fn sign(&self) -> i32 {
        match self.0.iter().rev().find(|c| **c != 0.0) {
            Some(c) if *c > 0.0 => 1,
            Some(_) => -1,
            None => 0,
        }
    }
}

/// `a.x * b.y - a.y * b.x` style 2x2 determinant `p*q - r*s`, exactly.
pub(crate) fn det2(p: f64, q: f64, r: f64, s: f64) -> Expansion {
    Expansion::product(p, q).sub(&Expansion::product(r, s))
}

/// The exact cross product `b × c`.
pub(crate) fn cross(b: Point, c: Point) -> [Expansion; 3] {
    [det2(b.y, c.z, b.z, c.y), det2(b.z, c.x, b.x, c.z), det2(b.x, c.y, b.y, c.x)]
}

/// The exact dot product of a point with an exact vector.
pub(crate) fn dot(a: Point, v: &[Expansion; 3]) -> Expansion {
    v[0].scale(a.x).add(&v[1].scale(a.y)).add(&v[2].scale(a.z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_is_exact() {
        // (1 + 2^-52)^2 - 1 - 2^-51 = 2^-104, invisible to plain doubles.
        let a = 1.0 + f64::EPSILON;
        let e = Expansion::product(a, a).sub(&Expansion(vec![1.0])).sub(&Expansion(vec![2.0 * f64::EPSILON]));
        assert_eq!(e.sign(), 1);
        assert_eq!(e.sub(&Expansion::product(f64::EPSILON, f64::EPSILON)).sign(), 0);
    }

    #[test]
    fn determinant_signs() {
        let x = Point::new(1.0, 0.0, 0.0);
        let y = Point::new(0.0, 1.0, 0.0);
        let z = Point::new(0.0, 0.0, 1.0);
        assert_eq!(dot(x, &cross(y, z)).sign(), 1);
        assert_eq!(dot(y, &cross(x, z)).sign(), -1);
        assert_eq!(dot(x, &cross(x, z)).sign(), 0);
    }
}
