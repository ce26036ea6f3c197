//! S2's cube-face coordinate systems (golang/geo `s2/stuv.go`).
//!
//! A point projects onto one of six cube faces as (u, v) in [-1, 1]²; the
//! quadratic transform to (s, t) in [0, 1]² makes cells more equal in area;
//! (i, j) are the leaf-cell coordinates, s and t scaled to 2^30.

use crate::point::Point;

/// The number of leaf cells along a face edge.
pub(crate) const MAX_SIZE: u32 = 1 << 30;

/// The face (0..6) whose axis is the largest component of `p`.
pub(crate) fn face(p: Point) -> u8 {
    let axis = p.largest_component();
    let negative = match axis {
        0 => p.x < 0.0,
        1 => p.y < 0.0,
        _ => p.z < 0.0,
    };
    // `axis` is at most 2.
    #[allow(clippy::cast_possible_truncation)]
    let axis = axis as u8;
    if negative { axis + 3 } else { axis }
}

/// (u, v) of `p` on `face`, which must be the face of `p` or one where its axis
/// component has the face's sign.
pub(crate) fn valid_face_xyz_to_uv(face: u8, p: Point) -> (f64, f64) {
    match face {
        0 => (p.y / p.x, p.z / p.x),
        1 => (-p.x / p.y, p.z / p.y),
        2 => (-p.x / p.z, -p.y / p.z),
        3 => (p.z / p.x, p.y / p.x),
        4 => (p.z / p.y, -p.x / p.y),
        _ => (-p.y / p.z, -p.x / p.z),
    }
}

/// (u, v) of `p` on `face`, or None if `p` is not in that face's hemisphere.
pub(crate) fn face_xyz_to_uv(face: u8, p: Point) -> Option<(f64, f64)> {
    let in_hemisphere = match face {
        0 => p.x > 0.0,
        1 => p.y > 0.0,
        2 => p.z > 0.0,
        3 => p.x < 0.0,
        4 => p.y < 0.0,
        _ => p.z < 0.0,
    };
    in_hemisphere.then(|| valid_face_xyz_to_uv(face, p))
}

/// The (not unit length) point of (u, v) on `face`.
pub(crate) fn face_uv_to_xyz(face: u8, u: f64, v: f64) -> Point {
    match face {
        0 => Point::new(1.0, u, v),
        1 => Point::new(-u, 1.0, v),
        2 => Point::new(-u, -v, 1.0),
        3 => Point::new(-1.0, -v, -u),
        4 => Point::new(v, -1.0, -u),
        _ => Point::new(v, u, -1.0),
    }
}

/// `p` in the face's (u, v, w) frame, where w is the face's axis.
pub(crate) fn face_xyz_to_uvw(face: u8, p: Point) -> Point {
    match face {
        0 => Point::new(p.y, p.z, p.x),
        1 => Point::new(-p.x, p.z, p.y),
        2 => Point::new(-p.x, -p.y, p.z),
        3 => Point::new(-p.z, -p.y, -p.x),
        4 => Point::new(-p.z, p.x, -p.y),
        _ => Point::new(p.y, p.x, -p.z),
    }
}

/// The quadratic projection from s (or t) to u (or v).
pub(crate) fn st_to_uv(s: f64) -> f64 {
    if s >= 0.5 { (1.0 / 3.0) * (4.0 * s * s - 1.0) } else { (1.0 / 3.0) * (1.0 - 4.0 * (1.0 - s) * (1.0 - s)) }
}

/// The inverse of `st_to_uv`.
pub(crate) fn uv_to_st(u: f64) -> f64 {
    if u >= 0.0 { 0.5 * (1.0 + 3.0 * u).sqrt() } else { 1.0 - 0.5 * (1.0 - 3.0 * u).sqrt() }
}

/// The leaf-cell coordinate of s, clamped to the face.
pub(crate) fn st_to_ij(s: f64) -> u32 {
    let scaled = (f64::from(MAX_SIZE) * s).floor();
    // Clamped to [0, MAX_SIZE - 1] first, so the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ij = scaled.clamp(0.0, f64::from(MAX_SIZE - 1)) as u32;
    ij
}

/// The s (or t) of the low edge of leaf coordinate `i` (up to `MAX_SIZE`).
pub(crate) fn ij_to_st_min(i: u32) -> f64 {
    f64::from(i) / f64::from(MAX_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn st_uv_round_trip() {
        for k in 0..=16 {
            let s = f64::from(k) / 16.0;
            assert!((uv_to_st(st_to_uv(s)) - s).abs() < 1e-15);
        }
        assert_eq!(st_to_uv(0.5), 0.0);
        assert_eq!(st_to_uv(1.0), 1.0);
        assert_eq!(st_to_uv(0.0), -1.0);
    }

    #[test]
    fn faces_of_axes() {
        let axes = [
            Point::new(1.0, 0.0, 0.0),
            Point::new(0.0, 1.0, 0.0),
            Point::new(0.0, 0.0, 1.0),
            Point::new(-1.0, 0.0, 0.0),
            Point::new(0.0, -1.0, 0.0),
            Point::new(0.0, 0.0, -1.0),
        ];
        for (f, p) in (0u8..).zip(axes) {
            assert_eq!(face(p), f);
            assert_eq!(valid_face_xyz_to_uv(f, p), (0.0, 0.0));
            assert_eq!(face_uv_to_xyz(f, 0.0, 0.0), p);
            assert_eq!(face_xyz_to_uvw(f, p).z, 1.0);
        }
    }
}
