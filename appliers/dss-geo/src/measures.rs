//! Areas and turning angles of spherical triangles (golang/geo
//! `s2/point_measures.go`).

use crate::point::Point;
use crate::predicates::{COUNTER_CLOCKWISE, robust_sign};

/// The area of triangle ABC (a positive number, whatever its orientation).
pub(crate) fn point_area(a: Point, b: Point, c: Point) -> f64 {
    // l'Huilier's theorem, tan(E/4) = sqrt(tan(s/2) tan((s-a)/2) tan((s-b)/2)
    // tan((s-c)/2)), has good relative accuracy except for long skinny triangles,
    // for which Girard's formula is better.
    let sa = b.stable_angle(c);
    let sb = c.stable_angle(a);
    let sc = a.stable_angle(b);
    let s = 0.5 * (sa + sb + sc);
    if s >= 3e-4 {
        let dmin = s - sa.max(sb.max(sc));
        if dmin < 1e-2 * s * s * s * s * s {
            let area = girard_area(a, b, c);
            if dmin < s * 0.1 * (area + 5e-15) {
                return area;
            }
        }
    }
    4.0 * libm::atan(
        (libm::tan(0.5 * s) * libm::tan(0.5 * (s - sa)) * libm::tan(0.5 * (s - sb)) * libm::tan(0.5 * (s - sc)))
            .max(0.0)
            .sqrt(),
    )
}

/// Girard's formula: the area is the sum of the angles minus pi.
fn girard_area(a: Point, b: Point, c: Point) -> f64 {
    let ab = a.point_cross(b);
    let bc = b.point_cross(c);
    let ac = a.point_cross(c);
    let area = ab.angle(ac) - ab.angle(bc) + bc.angle(ac);
    area.max(0.0)
}

/// The area of ABC, positive if counter-clockwise and negative if clockwise.
pub(crate) fn signed_area(a: Point, b: Point, c: Point) -> f64 {
    f64::from(robust_sign(a, b, c)) * point_area(a, b, c)
}

/// The exterior angle at B of the path A-B-C: positive for a left turn.
pub(crate) fn turn_angle(a: Point, b: Point, c: Point) -> f64 {
    let angle = a.point_cross(b).angle(b.point_cross(c));
    if robust_sign(a, b, c) == COUNTER_CLOCKWISE { angle } else { -angle }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f64::consts::PI;

    #[test]
    fn octant() {
        let x = Point::new(1.0, 0.0, 0.0);
        let y = Point::new(0.0, 1.0, 0.0);
        let z = Point::new(0.0, 0.0, 1.0);
        assert!((point_area(x, y, z) - PI / 2.0).abs() < 1e-15);
        assert!((signed_area(y, x, z) + PI / 2.0).abs() < 1e-15);
        assert!((turn_angle(x, y, z) - PI / 2.0).abs() < 1e-15);
    }

    #[test]
    fn small_triangle_has_relative_accuracy() {
        // A right triangle with 1e-6 radian legs: area 5e-13 (to 1e-19 relative).
        let a = Point::new(1.0, 0.0, 0.0);
        let b = Point::new(1.0, 1e-6, 0.0).normalize();
        let c = Point::new(1.0, 0.0, 1e-6).normalize();
        assert!((point_area(a, b, c) / 5e-13 - 1.0).abs() < 1e-6);
    }
}
