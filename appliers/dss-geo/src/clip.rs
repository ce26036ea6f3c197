//! Clipping geodesic edges to cube faces, and edge/rectangle tests in (u, v)
//! (golang/geo `s2/edge_clipping.go`). These are the tests golang/geo's
//! `Loop.IntersectsCell` uses for the loop's boundary.

use crate::coords::{face, face_xyz_to_uvw, valid_face_xyz_to_uv};
use crate::point::Point;
use crate::predicates::DBL_EPSILON;

/// Maximum error of a (u, v) coordinate computed by `clip_to_padded_face`:
/// 9 / sqrt(2) * `DBL_EPSILON`. The literal is 9 / sqrt(2) correctly rounded, as
/// Go evaluates the constant expression exactly.
pub(crate) const FACE_CLIP_ERROR_UV_COORD: f64 = 6.363_961_030_678_928 * DBL_EPSILON;
/// Maximum error of `edge_intersects_rect`: 3 * sqrt(2) * `DBL_EPSILON` (the literal
/// is 3 * sqrt(2) correctly rounded).
pub(crate) const INTERSECTS_RECT_ERROR_UV_DIST: f64 = 4.242_640_687_119_285 * DBL_EPSILON;

/// A point of a face's (u, v) plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Uv {
    pub u: f64,
    pub v: f64,
}

/// A closed rectangle of the (u, v) plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UvRect {
    pub u_lo: f64,
    pub u_hi: f64,
    pub v_lo: f64,
    pub v_hi: f64,
}

impl UvRect {
    pub(crate) fn expanded(self, margin: f64) -> UvRect {
        UvRect {
            u_lo: self.u_lo - margin,
            u_hi: self.u_hi + margin,
            v_lo: self.v_lo - margin,
            v_hi: self.v_hi + margin,
        }
    }

    pub(crate) fn contains(self, p: Uv) -> bool {
        self.u_lo <= p.u && p.u <= self.u_hi && self.v_lo <= p.v && p.v <= self.v_hi
    }

    /// The corner (`u_lo` or `u_hi`, `v_lo` or `v_hi`) selected by `i` and `j`.
    fn vertex_ij(self, i: bool, j: bool) -> Uv {
        Uv { u: if i { self.u_hi } else { self.u_lo }, v: if j { self.v_hi } else { self.v_lo } }
    }
}

/// Whether the closed, non-empty intervals [`a_lo`, `a_hi`] and [`b_lo`, `b_hi`] intersect.
fn intervals_intersect(a_lo: f64, a_hi: f64, b_lo: f64, b_hi: f64) -> bool {
    if a_lo <= b_lo { b_lo <= a_hi } else { a_lo <= b_hi }
}

/// Whether the (u, v) segment AB intersects the rectangle. The error is at most
/// `INTERSECTS_RECT_ERROR_UV_DIST`.
pub(crate) fn edge_intersects_rect(a: Uv, b: Uv, r: UvRect) -> bool {
    // The bounding boxes must intersect.
    if !intervals_intersect(r.u_lo, r.u_hi, a.u.min(b.u), a.u.max(b.u))
        || !intervals_intersect(r.v_lo, r.v_hi, a.v.min(b.v), a.v.max(b.v))
    {
        return false;
    }
    // Then the rectangle must have corners on both sides of the line AB.
    let n = Uv { u: -(b.v - a.v), v: b.u - a.u };
    let (i, j) = (n.u >= 0.0, n.v >= 0.0);
    let dot = |c: Uv| n.u * (c.u - a.u) + n.v * (c.v - a.v);
    dot(r.vertex_ij(i, j)) >= 0.0 && dot(r.vertex_ij(!i, !j)) <= 0.0
}

/// Clips edge AB to `face` padded by `padding` (in (u, v) units): the (u, v)
/// endpoints of the part of AB on the padded face, or None if AB misses it.
pub(crate) fn clip_to_padded_face(a: Point, b: Point, f: u8, padding: f64) -> Option<(Uv, Uv)> {
    // Fast path: both endpoints are on the face.
    if face(a) == f && face(b) == f {
        let (au, av) = valid_face_xyz_to_uv(f, a);
        let (bu, bv) = valid_face_xyz_to_uv(f, b);
        return Some((Uv { u: au, v: av }, Uv { u: bu, v: bv }));
    }

    // Work in the face's (u, v, w) frame, where the face is w = 1.
    let mut n = face_xyz_to_uvw(f, a.point_cross(b));
    let a_uvw = face_xyz_to_uvw(f, a);
    let b_uvw = face_xyz_to_uvw(f, b);

    // The padded face [-s, s]² is the face of a scaled normal.
    let scale_uv = 1.0 + padding;
    let scaled_n = Point::new(scale_uv * n.x, scale_uv * n.y, n.z);
    if !intersects_face(scaled_n) {
        return None;
    }

    // Rescale tiny normals before normalizing so that no precision is lost to underflow.
    if n.x.abs().max(n.y.abs().max(n.z.abs())) < pow2(-511) {
        n = n * pow2(563);
    }
    let n = n.normalize();
    let a_tan = n.cross(a_uvw);
    let b_tan = b_uvw.cross(n);
    let (a_uv, a_score) = clip_destination(b_uvw, a_uvw, -scaled_n, b_tan, a_tan, scale_uv);
    let (b_uv, b_score) = clip_destination(a_uvw, b_uvw, scaled_n, a_tan, b_tan, scale_uv);
    (a_score + b_score < 3).then_some((a_uv, b_uv))
}

/// 2^e for -1022 <= e <= 1023, without calling a power function.
const fn pow2(e: i32) -> f64 {
    // In range, so the biased exponent is positive and the cast exact.
    #[allow(clippy::cast_sign_loss)]
    let biased = (1023 + e) as u64;
    f64::from_bits(biased << 52)
}

/// Whether the great circle with normal `n` (in a face's (u, v, w) frame)
/// intersects the face.
fn intersects_face(n: Point) -> bool {
    let (u, v, w) = (n.x.abs(), n.y.abs(), n.z.abs());
    // Rearranged from |u| + |v| >= |w| so that it is exact when (u, v) = (±1, ±1).
    v >= w - u && u >= w - v
}

/// Whether the great circle with normal `n` crosses two opposite edges of the face.
fn intersects_opposite_edges(n: Point) -> bool {
    let (u, v, w) = (n.x.abs(), n.y.abs(), n.z.abs());
    // Exact when the great circle passes through a face corner.
    if (u - v).abs() != w {
        return (u - v).abs() >= w;
    }
    if u >= v { u - w >= v } else { v - w >= u }
}

/// Whether the great circle with normal `n` leaves the face through a u = ±1
/// edge (true) rather than a v = ±1 edge (false), travelling along it in the
/// direction of the normal's right-hand rule.
fn exits_through_u(n: Point) -> bool {
    if intersects_opposite_edges(n) {
        return n.x.abs() < n.y.abs();
    }
    // The great circle crosses two adjacent edges; which one it exits from
    // depends on the signs of the normal's components.
    let parity = u8::from(n.x.is_sign_negative()) ^ u8::from(n.y.is_sign_negative()) ^ u8::from(n.z.is_sign_negative());
    parity != 0
}

/// Where the great circle with normal `n` leaves the face.
fn exit_point(n: Point, through_u: bool) -> Uv {
    if through_u {
        let u = if n.y > 0.0 { 1.0 } else { -1.0 };
        Uv { u, v: (-u * n.x - n.z) / n.y }
    } else {
        let v = if n.x < 0.0 { 1.0 } else { -1.0 };
        Uv { u: (-v * n.y - n.z) / n.x, v }
    }
}

/// The (u, v) where edge AB (in the face frame) should stop when clipped at the
/// B end, and a score: 0 or 1 if fine, 2 if the exit point is behind A, 3 if B
/// cannot even be projected onto the face. Edges score 3 in total or more miss
/// the face.
fn clip_destination(a: Point, b: Point, scaled_n: Point, a_tan: Point, b_tan: Point, scale_uv: f64) -> (Uv, u8) {
    let max_safe_uv_coord = 1.0 - FACE_CLIP_ERROR_UV_COORD;
    if b.z > 0.0 {
        let uv = Uv { u: b.x / b.z, v: b.y / b.z };
        if uv.u.abs().max(uv.v.abs()) <= max_safe_uv_coord {
            return (uv, 0);
        }
    }
    // Otherwise B' is where the great circle leaves the padded face.
    let exit = exit_point(scaled_n, exits_through_u(scaled_n));
    let mut uv = Uv { u: exit.u * scale_uv, v: exit.v * scale_uv };
    let p = Point::new(uv.u, uv.v, 1.0);
    let score = if (p - a).dot(a_tan) < 0.0 {
        2 // B' is on the wrong side of A.
    } else if (p - b).dot(b_tan) < 0.0 {
        1 // B' is on the wrong side of B.
    } else {
        0
    };
    if score > 0 {
        if b.z <= 0.0 {
            return (uv, 3);
        }
        uv = Uv { u: b.x / b.z, v: b.y / b.z };
    }
    (uv, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_constants_match_their_definitions() {
        let coord = 9.0 * (1.0 / core::f64::consts::SQRT_2) * DBL_EPSILON;
        let dist = 3.0 * core::f64::consts::SQRT_2 * DBL_EPSILON;
        assert!((FACE_CLIP_ERROR_UV_COORD - coord).abs() <= 1e-30);
        assert!((INTERSECTS_RECT_ERROR_UV_DIST - dist).abs() <= 1e-30);
        assert_eq!(pow2(-511) * pow2(511), 1.0);
        assert_eq!(pow2(3), 8.0);
    }

    #[test]
    fn segment_vs_rect() {
        let r = UvRect { u_lo: 0.0, u_hi: 1.0, v_lo: 0.0, v_hi: 1.0 };
        let uv = |u, v| Uv { u, v };
        assert!(edge_intersects_rect(uv(-1.0, 0.5), uv(2.0, 0.5), r));
        assert!(edge_intersects_rect(uv(0.5, 0.5), uv(0.6, 0.6), r));
        assert!(!edge_intersects_rect(uv(-1.0, 0.5), uv(0.4, 2.0), r));
        assert!(edge_intersects_rect(uv(-1.0, 0.0), uv(0.0, 1.0), r)); // touches a corner
    }

    #[test]
    fn clipping_across_faces() {
        // From the middle of face 0 to the middle of face 1 along the equator.
        let a = Point::new(1.0, 0.0, 0.0);
        let b = Point::from_degrees(0.0, 90.0);
        let (a0, b0) = clip_to_padded_face(a, b, 0, 0.0).unwrap();
        assert_eq!(a0, Uv { u: 0.0, v: 0.0 });
        assert!((b0.u - 1.0).abs() < 1e-15 && b0.v.abs() < 1e-15);
        let (a1, b1) = clip_to_padded_face(a, b, 1, 0.0).unwrap();
        assert!((a1.u + 1.0).abs() < 1e-15 && a1.v.abs() < 1e-15);
        assert!(b1.u.abs() < 1e-15 && b1.v.abs() < 1e-15);
        assert!(clip_to_padded_face(a, b, 2, 0.0).is_none());
        assert!(clip_to_padded_face(a, b, 3, 0.0).is_none());
    }
}
