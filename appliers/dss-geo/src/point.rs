//! Points of the unit sphere as plain 3-vectors, with the vector operations S2 uses.
//!
//! Every formula keeps golang/geo's (and C++ S2's) order of operations: the results
//! must be the same bit for bit wherever they are computed.

use core::cmp::Ordering;
use core::f64::consts::PI;
use core::ops::{Add, Mul, Neg, Sub};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl Point {
    pub(crate) const fn new(x: f64, y: f64, z: f64) -> Self {
        Point { x, y, z }
    }

    /// The unit vector of a latitude/longitude in degrees (`s2.PointFromLatLng`).
    pub(crate) fn from_degrees(lat: f64, lng: f64) -> Self {
        let phi = lat * (PI / 180.0);
        let theta = lng * (PI / 180.0);
        let cos_phi = libm::cos(phi);
        Point::new(libm::cos(theta) * cos_phi, libm::sin(theta) * cos_phi, libm::sin(phi))
    }

    pub(crate) fn dot(self, o: Point) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    pub(crate) fn cross(self, o: Point) -> Point {
        Point::new(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }

    pub(crate) fn norm2(self) -> f64 {
        self.dot(self)
    }

    pub(crate) fn norm(self) -> f64 {
        self.norm2().sqrt()
    }

    /// Scales to unit length; the zero vector stays zero.
    pub(crate) fn normalize(self) -> Point {
        let n2 = self.norm2();
        if n2 == 0.0 {
            return Point::new(0.0, 0.0, 0.0);
        }
        self * (1.0 / n2.sqrt())
    }

    /// The angle between two vectors, in radians.
    pub(crate) fn angle(self, o: Point) -> f64 {
        libm::atan2(self.cross(o).norm(), self.dot(o))
    }

    /// Like `angle` but accurate for nearly parallel unit vectors.
    pub(crate) fn stable_angle(self, o: Point) -> f64 {
        2.0 * libm::atan2((self - o).norm(), (self + o).norm())
    }

    /// A vector orthogonal to both points that is never zero (`PointCross` /
    /// `RobustCrossProd` without the exact fallback, as golang/geo has it).
    pub(crate) fn point_cross(self, o: Point) -> Point {
        let x = (self + o).cross(o - self);
        if x == Point::new(0.0, 0.0, 0.0) {
            return self.ortho();
        }
        x
    }

    /// Index (0, 1, 2) of the component with the largest absolute value.
    pub(crate) fn largest_component(self) -> usize {
        let (x, y, z) = (self.x.abs(), self.y.abs(), self.z.abs());
        if x > y {
            if x > z { 0 } else { 2 }
        } else if y > z {
            1
        } else {
            2
        }
    }

    /// A unit vector orthogonal to this one (`s2.Ortho`, also its reference direction).
    pub(crate) fn ortho(self) -> Point {
        let mut temp = [0.012, 0.0053, 0.00457];
        // S2 sets the axis cyclically before the largest component, which keeps the
        // cross product well conditioned.
        temp[(self.largest_component() + 2) % 3] = 1.0;
        self.cross(Point::new(temp[0], temp[1], temp[2])).normalize()
    }

    /// Lexicographic order on (x, y, z), as `Vector.Cmp`.
    pub(crate) fn cmp(self, o: Point) -> Ordering {
        for (a, b) in [(self.x, o.x), (self.y, o.y), (self.z, o.z)] {
            if a < b {
                return Ordering::Less;
            }
            if a > b {
                return Ordering::Greater;
            }
        }
        Ordering::Equal
    }
}

impl Add for Point {
    type Output = Point;
    fn add(self, o: Point) -> Point {
        Point::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for Point {
    type Output = Point;
    fn sub(self, o: Point) -> Point {
        Point::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f64> for Point {
    type Output = Point;
    fn mul(self, m: f64) -> Point {
        Point::new(m * self.x, m * self.y, m * self.z)
    }
}

impl Neg for Point {
    type Output = Point;
    fn neg(self) -> Point {
        Point::new(-self.x, -self.y, -self.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latlng_to_point() {
        assert_eq!(Point::from_degrees(0.0, 0.0), Point::new(1.0, 0.0, 0.0));
        let p = Point::from_degrees(90.0, 0.0);
        assert!((p.z - 1.0).abs() < 1e-15 && p.x.abs() < 1e-15);
    }

    #[test]
    fn ortho_is_orthogonal_unit() {
        for p in [Point::new(1.0, 0.0, 0.0), Point::from_degrees(40.0, -73.0), Point::new(0.0, 0.0, -1.0)] {
            let o = p.ortho();
            assert!(p.dot(o).abs() < 1e-15);
            assert!((o.norm() - 1.0).abs() < 1e-15);
        }
    }
}
