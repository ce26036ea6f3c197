//! The orientation predicate `RobustSign(a, b, c)`: is the triangle ABC
//! counter-clockwise? Ported from golang/geo `s2/predicates.go`: a fast
//! floating-point triage with an error bound, a more stable formula, then an
//! exact computation with symbolic perturbation so that the answer is never
//! "undecided" unless two points are equal.

use core::cmp::Ordering;

use crate::exact::{self, Expansion};
use crate::point::Point;

pub(crate) const CLOCKWISE: i32 = -1;
pub(crate) const INDETERMINATE: i32 = 0;
pub(crate) const COUNTER_CLOCKWISE: i32 = 1;

pub(crate) const DBL_EPSILON: f64 = f64::EPSILON;

/// The maximum error of `triage_sign`'s determinant for unit-length inputs.
const MAX_DETERMINANT_ERROR: f64 = 1.8274 * DBL_EPSILON;
/// Error factor of `stable_sign`'s determinant.
const DET_ERROR_MULTIPLIER: f64 = 3.2321 * DBL_EPSILON;

/// The orientation of ABC: +1 counter-clockwise, -1 clockwise, and 0 only when
/// two of the points are equal.
pub(crate) fn robust_sign(a: Point, b: Point, c: Point) -> i32 {
    let sign = triage_sign(a, b, c);
    if sign == INDETERMINATE { expensive_sign(a, b, c) } else { sign }
}

/// The orientation of ABC when the plain determinant is clearly nonzero, else 0.
pub(crate) fn triage_sign(a: Point, b: Point, c: Point) -> i32 {
    let det = a.cross(b).dot(c);
    if det > MAX_DETERMINANT_ERROR {
        COUNTER_CLOCKWISE
    } else if det < -MAX_DETERMINANT_ERROR {
        CLOCKWISE
    } else {
        INDETERMINATE
    }
}

/// The orientation when the triage failed: 0 if two points are equal, else a
/// definite answer from the stable formula or exact arithmetic.
pub(crate) fn expensive_sign(a: Point, b: Point, c: Point) -> i32 {
    if a == b || b == c || c == a {
        return INDETERMINATE;
    }
    let sign = stable_sign(a, b, c);
    if sign != INDETERMINATE {
        return sign;
    }
    exact_sign(a, b, c)
}

/// The determinant computed from the two shortest edges, which is more accurate
/// for small triangles; 0 if still within its error bound.
fn stable_sign(a: Point, b: Point, c: Point) -> i32 {
    let ab = b - a;
    let ab2 = ab.norm2();
    let bc = c - b;
    let bc2 = bc.norm2();
    let ca = a - c;
    let ca2 = ca.norm2();

    // The edge opposite the longest one is left out; "op" is the vertex
    // between the two remaining edges.
    let (e1, e2, op) = if ab2 >= bc2 && ab2 >= ca2 {
        (ca, bc, c)
    } else if bc2 >= ca2 {
        (ab, ca, a)
    } else {
        (bc, ab, b)
    };

    let det = -e1.cross(e2).dot(op);
    let max_err = DET_ERROR_MULTIPLIER * (e1.norm2() * e2.norm2()).sqrt();
    if det > max_err {
        COUNTER_CLOCKWISE
    } else if det < -max_err {
        CLOCKWISE
    } else {
        INDETERMINATE
    }
}

/// The exact orientation of three distinct points, symbolically perturbed when
/// they are exactly collinear. The points are sorted first so that the
/// perturbation does not depend on the argument order.
fn exact_sign(a: Point, b: Point, c: Point) -> i32 {
    let (mut pa, mut pb, mut pc) = (a, b, c);
    let mut perm_sign = COUNTER_CLOCKWISE;
    if pa.cmp(pb) == Ordering::Greater {
        core::mem::swap(&mut pa, &mut pb);
        perm_sign = -perm_sign;
    }
    if pb.cmp(pc) == Ordering::Greater {
        core::mem::swap(&mut pb, &mut pc);
        perm_sign = -perm_sign;
    }
    if pa.cmp(pb) == Ordering::Greater {
        core::mem::swap(&mut pa, &mut pb);
        perm_sign = -perm_sign;
    }

    let b_cross_c = exact::cross(pb, pc);
    let det_sign = exact::dot(pa, &b_cross_c).sign();
    let det_sign = if det_sign == 0 { symbolically_perturbed_sign(pa, pb, pc, &b_cross_c) } else { det_sign };
    perm_sign * det_sign
}

/// The sign of det(a, b, c) after perturbing each point by a distinct infinitesimal
/// (Edelsbrunner and Mücke's "simulation of simplicity"), for sorted, exactly
/// collinear points. The terms are tried in decreasing order of significance.
fn symbolically_perturbed_sign(a: Point, b: Point, c: Point, b_cross_c: &[Expansion; 3]) -> i32 {
    // Each term is evaluated only if all the previous ones were zero.
    let terms: [&dyn Fn() -> i32; 12] = [
        &|| b_cross_c[2].sign(),                    // da.z
        &|| b_cross_c[1].sign(),                    // da.y
        &|| b_cross_c[0].sign(),                    // da.x
        &|| exact::det2(c.x, a.y, c.y, a.x).sign(), // db.z
        &|| sign_of(c.x),                           // db.z * da.y
        &|| -sign_of(c.y),                          // db.z * da.x
        &|| exact::det2(c.z, a.x, c.x, a.z).sign(), // db.y
        &|| sign_of(c.z),                           // db.y * da.x
        &|| exact::det2(a.x, b.y, a.y, b.x).sign(), // dc.z
        &|| -sign_of(b.x),                          // dc.z * da.y
        &|| sign_of(b.y),                           // dc.z * da.x
        &|| sign_of(a.x),                           // dc.z * db.y
    ];
    // The last term, dc.z * db.y * da.x, is always positive.
    terms.iter().map(|term| term()).find(|s| *s != 0).unwrap_or(COUNTER_CLOCKWISE)
}

fn sign_of(v: f64) -> i32 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_orientations() {
        let x = Point::new(1.0, 0.0, 0.0);
        let y = Point::new(0.0, 1.0, 0.0);
        let z = Point::new(0.0, 0.0, 1.0);
        assert_eq!(robust_sign(x, y, z), COUNTER_CLOCKWISE);
        assert_eq!(robust_sign(y, x, z), CLOCKWISE);
        assert_eq!(robust_sign(x, x, z), INDETERMINATE);
    }

    #[test]
    fn collinear_points_get_consistent_nonzero_signs() {
        // Three points on the equator: exactly coplanar with the origin.
        let a = Point::new(1.0, 0.0, 0.0);
        let b = Point::from_degrees(0.0, 1.0);
        let c = Point::from_degrees(0.0, 2.0);
        let s = robust_sign(a, b, c);
        assert_ne!(s, 0);
        // Cyclic permutations keep the sign, swaps flip it.
        assert_eq!(robust_sign(b, c, a), s);
        assert_eq!(robust_sign(c, a, b), s);
        assert_eq!(robust_sign(b, a, c), -s);
        assert_eq!(robust_sign(a, c, b), -s);
    }
}
