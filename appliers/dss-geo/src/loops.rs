//! Simple spherical polygons ("loops", golang/geo `s2/loop.go`): the interior
//! is to the left of the edges, point containment is decided by counting edge
//! crossings from a reference point, and area and orientation are computed as
//! golang/geo does.

use core::f64::consts::PI;

use crate::crossings::{EdgeCrosser, angle_contains_vertex};
use crate::measures::{signed_area, turn_angle};
use crate::point::Point;
use crate::predicates::DBL_EPSILON;

/// The fixed reference point of point-in-loop tests (S2's `OriginPoint`),
/// chosen to be on no common edge or cell boundary (the shortest literals of
/// golang/geo's -0.0099994664350250197, 0.0025924542609324121, 0.99994664350250195).
const ORIGIN: Point = Point::new(-0.009_999_466_435_025_02, 0.002_592_454_260_932_412, 0.999_946_643_502_502);

#[derive(Debug, Clone)]
pub(crate) struct Loop {
    /// At least 3 vertices; edge i goes from vertex i to vertex i + 1 (mod n).
    vertices: Vec<Point>,
    /// Whether `ORIGIN` is inside the loop.
    origin_inside: bool,
}

impl Loop {
    pub(crate) fn new(vertices: Vec<Point>) -> Loop {
        debug_assert!(vertices.len() >= 3);
        let mut lp = Loop { vertices, origin_inside: false };
        lp.init_origin_inside();
        lp
    }

    /// The regular polygon with `num_vertices` vertices at angular distance
    /// `radius` (radians) from `center`, counter-clockwise (`s2.RegularLoop`).
    pub(crate) fn regular(center: Point, radius: f64, num_vertices: u32) -> Loop {
        // The frame (x, y, center), with the first vertex in the x direction.
        let y = center.ortho();
        let x = y.cross(center);
        let z = libm::cos(radius);
        let r = libm::sin(radius);
        let step = 2.0 * PI / f64::from(num_vertices);
        let vertices = (0..num_vertices)
            .map(|i| {
                let angle = f64::from(i) * step;
                let (px, py) = (r * libm::cos(angle), r * libm::sin(angle));
                // The frame matrix times (px, py, z), row by row as golang/geo does.
                Point::new(
                    x.x * px + y.x * py + center.x * z,
                    x.y * px + y.y * py + center.y * z,
                    x.z * px + y.z * py + center.z * z,
                )
                .normalize()
            })
            .collect();
        Loop::new(vertices)
    }

    pub(crate) fn vertices(&self) -> &[Point] {
        &self.vertices
    }

    pub(crate) fn into_vertices(self) -> Vec<Point> {
        self.vertices
    }

    /// Vertex `i` modulo the number of vertices.
    fn vertex(&self, i: usize) -> Point {
        self.vertices[i % self.vertices.len()]
    }

    /// Decides whether the origin is inside: guess "no", then check the guess
    /// against the local test of whether vertex 1 is inside.
    fn init_origin_inside(&mut self) {
        let (v0, v1, v2) = (self.vertices[0], self.vertices[1], self.vertices[2]);
        let v1_inside = v0 != v1 && v2 != v1 && angle_contains_vertex(v0, v1, v2);
        self.origin_inside = false;
        if v1_inside != self.contains_point(v1) {
            self.origin_inside = true;
        }
    }

    /// Whether the loop contains `p`, by the parity of the edges crossed on the
    /// way from `ORIGIN` to `p`. Points on the boundary are decided by S2's
    /// symbolic rules, consistently: of two loops sharing an edge, exactly one
    /// contains a point on it.
    pub(crate) fn contains_point(&self, p: Point) -> bool {
        let mut inside = self.origin_inside;
        let mut crosser = EdgeCrosser::new(ORIGIN, p, self.vertices[0]);
        for i in 1..=self.vertices.len() {
            inside ^= crosser.edge_or_vertex_chain_crossing(self.vertex(i));
        }
        inside
    }

    /// Reverses the vertex order, complementing the region (`Loop.Invert`).
    fn invert(&mut self) {
        self.vertices.reverse();
        self.origin_inside = !self.origin_inside;
    }

    /// Inverts the loop if needed so that its area is at most 2*pi: the
    /// polygon means the smaller of the two regions its boundary delimits.
    pub(crate) fn normalize(&mut self) {
        if !self.is_normalized() {
            self.invert();
        }
    }

    /// Whether the area is at most 2*pi (allowing for error), decided by the
    /// turning angle, which handles degenerate loops consistently with
    /// `robust_sign`. golang/geo first tries a shortcut through the loop's
    /// latitude/longitude bound, which gives the same answer.
    fn is_normalized(&self) -> bool {
        self.turning_angle() >= -self.turning_angle_max_error()
    }

    /// The sum of the turning angles at the vertices: 2*pi minus the area.
    fn turning_angle(&self) -> f64 {
        let n = self.vertices.len();
        // Sum in a canonical order (from the smallest vertex, towards its smaller
        // neighbour), so that rotating the vertex list gives the same result and
        // reversing it the exact opposite, and with Kahan summation.
        let (first, dir) = self.canonical_first_vertex();
        let step = |i: usize, by: isize| i.wrapping_add_signed(by);
        let mut i = first;
        let mut sum = turn_angle(self.vertex(step(i + n, -dir)), self.vertex(i), self.vertex(step(i, dir)));
        let mut compensation = 0.0;
        for _ in 1..n {
            i = step(i, dir);
            let mut angle = turn_angle(self.vertex(step(i, -dir)), self.vertex(i), self.vertex(step(i, dir)));
            let old_sum = sum;
            angle += compensation;
            sum += angle;
            compensation = (old_sum - sum) + angle;
        }
        let max_curvature = 2.0 * PI - 4.0 * DBL_EPSILON;
        // `dir` is ±1.
        #[allow(clippy::cast_precision_loss)]
        let dir = dir as f64;
        (dir * (sum + compensation)).clamp(-max_curvature, max_curvature)
    }

    /// The first vertex and the direction (±1) of the canonical order: start at
    /// the smallest vertex and go towards its smaller neighbour. `first` is in
    /// [n, 2n) when going backwards, so that indices stay non-negative.
    fn canonical_first_vertex(&self) -> (usize, isize) {
        let n = self.vertices.len();
        let mut first = 0;
        for i in 1..n {
            if self.vertex(i).cmp(self.vertex(first)).is_lt() {
                first = i;
            }
        }
        if self.vertex(first + 1).cmp(self.vertex(first + n - 1)).is_lt() { (first, 1) } else { (first + n, -1) }
    }

    fn turning_angle_max_error(&self) -> f64 {
        // 11.25 DBL_EPSILON per vertex: the cross products, the angle, the sum.
        #[allow(clippy::cast_precision_loss)]
        let n = self.vertices.len() as f64;
        11.25 * DBL_EPSILON * n
    }

    /// The area of the interior in steradians, in [0, 4*pi] (`Loop.Area`).
    pub(crate) fn area(&self) -> f64 {
        // The signed sum of a fan of triangles has good relative accuracy but
        // can get the sign of a (nearly) degenerate loop wrong; then the turning
        // angle decides between 0 and 4*pi.
        let mut area = self.surface_integral(signed_area);
        let max_error = self.turning_angle_max_error();
        if area < 0.0 {
            // The sum is minus the area of the exterior.
            area += 4.0 * PI;
        }
        area = area.clamp(0.0, 4.0 * PI);
        if area < max_error && !self.is_normalized() {
            return 4.0 * PI;
        }
        if area > 4.0 * PI - max_error && self.is_normalized() {
            return 0.0;
        }
        area
    }

    /// The oriented integral of `f` over the interior (or minus the integral over
    /// the exterior), as the sum of `f` over a fan of triangles from vertex 0.
    /// The fan's origin moves when an edge of the fan would approach 180
    /// degrees, where triangles become numerically unstable.
    fn surface_integral(&self, f: fn(Point, Point, Point) -> f64) -> f64 {
        const MAX_LENGTH: f64 = PI - 1e-5;
        let n = self.vertices.len();
        let v0 = self.vertices[0];
        let mut sum = 0.0;
        let mut origin = v0;
        for i in 1..n - 1 {
            let (vi, vnext) = (self.vertices[i], self.vertices[i + 1]);
            if vnext.angle(origin) > MAX_LENGTH {
                let old_origin = origin;
                if origin == v0 {
                    // Well separated from V_i and V_0, hence from V_i+1 too.
                    origin = v0.point_cross(vi).normalize();
                } else if vi.angle(v0) < MAX_LENGTH {
                    // Every edge of (O, V_0, V_i) is stable: go back to V_0.
                    origin = v0;
                } else {
                    // O is nearly perpendicular to V_0, V_i and V_i+1.
                    origin = v0.cross(old_origin);
                    sum += f(v0, old_origin, origin);
                }
                sum += f(old_origin, vi, origin);
            }
            sum += f(origin, vi, vnext);
        }
        if origin != v0 {
            sum += f(origin, self.vertices[n - 1], v0);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(coords: &[(f64, f64)]) -> Loop {
        Loop::new(coords.iter().map(|&(lat, lng)| Point::from_degrees(lat, lng)).collect())
    }

    #[test]
    fn ccw_square_contains_its_center_only() {
        let sq = lp(&[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)]);
        // (0,0) -> (0,1) -> (1,1) is a left turn seen from outside the sphere:
        // counter-clockwise, interior = the small square.
        assert!(sq.contains_point(Point::from_degrees(0.5, 0.5)));
        assert!(!sq.contains_point(Point::from_degrees(2.0, 0.5)));
        assert!(!sq.contains_point(Point::from_degrees(-50.0, 170.0)));
        let area = sq.area();
        // About 1 degree squared.
        assert!((area / (PI / 180.0 * PI / 180.0) - 1.0).abs() < 1e-3);
        assert!(sq.is_normalized());
    }

    #[test]
    fn clockwise_loop_is_normalized_by_inverting() {
        let mut sq = lp(&[(1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]);
        assert!(!sq.is_normalized());
        assert!(!sq.contains_point(Point::from_degrees(0.5, 0.5)));
        assert!(sq.area() > 4.0 * PI - 1e-3);
        sq.normalize();
        assert!(sq.contains_point(Point::from_degrees(0.5, 0.5)));
        assert!(sq.area() < 1e-3);
    }

    #[test]
    fn loop_around_the_north_pole() {
        let cap = lp(&[(80.0, 0.0), (80.0, 120.0), (80.0, -120.0)]);
        assert!(cap.contains_point(Point::new(0.0, 0.0, 1.0)));
        assert!(!cap.contains_point(Point::new(0.0, 0.0, -1.0)));
        assert!(cap.is_normalized());
    }

    #[test]
    fn regular_loop_vertices_are_at_the_radius() {
        let center = Point::from_degrees(10.0, 20.0);
        let rl = Loop::regular(center, 0.01, 20);
        assert_eq!(rl.vertices().len(), 20);
        for v in rl.vertices() {
            assert!((v.angle(center) - 0.01).abs() < 1e-12);
        }
        assert!(rl.contains_point(center));
        // Area of the inscribed 20-gon: 20 * r^2 * sin(2*pi/20) / 2, nearly.
        let expected = 10.0 * 0.01 * 0.01 * libm::sin(PI / 10.0);
        assert!((rl.area() / expected - 1.0).abs() < 1e-4);
    }
}
