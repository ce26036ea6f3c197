//! Edge crossing tests (golang/geo `s2/edge_crosser.go`, `s2/edge_crossings.go`).

use crate::point::Point;
use crate::predicates::{
    CLOCKWISE, COUNTER_CLOCKWISE, DBL_EPSILON, INDETERMINATE, expensive_sign, robust_sign, triage_sign,
};

/// How two edges AB and CD relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossing {
    /// The interiors of the edges cross at a point interior to both.
    Cross,
    /// Two vertices of the edges are the same (they touch or cross at it).
    MaybeCross,
    /// The edges do not cross.
    DoNotCross,
}

/// Tests a fixed edge AB against a chain of edges C-D, D-E, ... reusing the
/// orientation of the previous triangle, as S2's `EdgeCrosser`.
#[derive(Debug, Clone)]
pub(crate) struct EdgeCrosser {
    a: Point,
    b: Point,
    /// Outward-facing tangents at A and B, for a quick rejection test.
    a_tangent: Point,
    b_tangent: Point,
    /// The previous vertex of the chain.
    c: Point,
    /// The orientation of triangle ACB (0 if the triage could not decide).
    acb: i32,
}

impl EdgeCrosser {
    /// A crosser for edge AB whose chain starts at C.
    pub(crate) fn new(a: Point, b: Point, c: Point) -> Self {
        let norm = a.point_cross(b);
        EdgeCrosser { a, b, a_tangent: a.cross(norm), b_tangent: norm.cross(b), c, acb: -triage_sign(a, b, c) }
    }

    /// How AB relates to the edge from the previous chain vertex to D; D becomes
    /// the previous vertex.
    pub(crate) fn chain_crossing_sign(&mut self, d: Point) -> Crossing {
        // A crossing needs ACB, CBD, BDA and DAC all oriented alike. The common
        // case is decided here: if ACB and BDA differ, C and D are on the same
        // side of AB.
        let bda = triage_sign(self.a, self.b, d);
        if self.acb == -bda && bda != INDETERMINATE {
            self.c = d;
            self.acb = -bda;
            return Crossing::DoNotCross;
        }
        let mut bda = bda;
        let result = self.crossing_sign(d, &mut bda);
        self.c = d;
        self.acb = -bda;
        result
    }

    /// Like `chain_crossing_sign`, but shared vertices count as a crossing or not
    /// according to S2's consistent vertex rule (`VertexCrossing`), which is what
    /// point-in-polygon parity counting needs.
    pub(crate) fn edge_or_vertex_chain_crossing(&mut self, d: Point) -> bool {
        let c = self.c;
        match self.chain_crossing_sign(d) {
            Crossing::DoNotCross => false,
            Crossing::Cross => true,
            Crossing::MaybeCross => vertex_crossing(self.a, self.b, c, d),
        }
    }

    fn crossing_sign(&mut self, d: Point, bda: &mut i32) -> Crossing {
        let c = self.c;
        // If C and D are both beyond A (or both beyond B) along the great circle
        // of AB, the edges cannot cross.
        let max_error = (1.5 + 1.0 / 3f64.sqrt()) * DBL_EPSILON;
        if (c.dot(self.a_tangent) > max_error && d.dot(self.a_tangent) > max_error)
            || (c.dot(self.b_tangent) > max_error && d.dot(self.b_tangent) > max_error)
        {
            return Crossing::DoNotCross;
        }
        if self.a == c || self.a == d || self.b == c || self.b == d {
            return Crossing::MaybeCross;
        }
        if self.a == self.b || c == d {
            return Crossing::DoNotCross;
        }
        if self.acb == INDETERMINATE {
            self.acb = -expensive_sign(self.a, self.b, c);
        }
        if *bda == INDETERMINATE {
            *bda = expensive_sign(self.a, self.b, d);
        }
        if *bda != self.acb {
            return Crossing::DoNotCross;
        }
        let cbd = -robust_sign(c, d, self.b);
        if cbd != self.acb {
            return Crossing::DoNotCross;
        }
        let dac = robust_sign(c, d, self.a);
        if dac != self.acb {
            return Crossing::DoNotCross;
        }
        Crossing::Cross
    }
}

/// `s2.CrossingSign(a, b, c, d)`.
pub(crate) fn crossing_sign(a: Point, b: Point, c: Point, d: Point) -> Crossing {
    EdgeCrosser::new(a, b, c).chain_crossing_sign(d)
}

/// For edges AB and CD that share a vertex: whether AB crosses CD in the sense
/// that makes point-in-polygon parity counting consistent (each vertex belongs
/// to exactly one of the polygons that share it).
fn vertex_crossing(a: Point, b: Point, c: Point, d: Point) -> bool {
    if a == b || c == d {
        return false;
    }
    if a == c {
        return b == d || ordered_ccw(a.ortho(), d, b, a);
    }
    if b == d {
        return ordered_ccw(b.ortho(), c, a, b);
    }
    if a == d {
        return b == c || ordered_ccw(a.ortho(), c, b, a);
    }
    if b == c {
        return ordered_ccw(b.ortho(), d, a, b);
    }
    false
}

/// Whether the rays OA, OB and OC are met in that order sweeping counter-clockwise
/// around O (true if A == B or B == C).
fn ordered_ccw(a: Point, b: Point, c: Point, o: Point) -> bool {
    let mut sum = 0;
    if robust_sign(b, o, a) != CLOCKWISE {
        sum += 1;
    }
    if robust_sign(c, o, b) != CLOCKWISE {
        sum += 1;
    }
    if robust_sign(a, o, c) == COUNTER_CLOCKWISE {
        sum += 1;
    }
    sum >= 2
}

/// Whether the polygon interior to the left of the chain A-B-C contains vertex B
/// under S2's semi-open boundary rule.
pub(crate) fn angle_contains_vertex(a: Point, b: Point, c: Point) -> bool {
    !ordered_ccw(b.ortho(), c, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lng: f64) -> Point {
        Point::from_degrees(lat, lng)
    }

    #[test]
    fn crossing_cases() {
        let (a, b) = (ll(0.0, 0.0), ll(0.0, 2.0));
        assert_eq!(crossing_sign(a, b, ll(-1.0, 1.0), ll(1.0, 1.0)), Crossing::Cross);
        assert_eq!(crossing_sign(a, b, ll(1.0, 1.0), ll(2.0, 1.0)), Crossing::DoNotCross);
        assert_eq!(crossing_sign(a, b, b, ll(1.0, 1.0)), Crossing::MaybeCross);
        assert_eq!(crossing_sign(a, b, ll(-1.0, 3.0), ll(1.0, 3.0)), Crossing::DoNotCross);
    }

    #[test]
    fn shared_vertex_belongs_to_one_side() {
        let (o, p, q) = (ll(0.0, 0.0), ll(1.0, 0.0), ll(0.0, 1.0));
        // A loop and its reverse: exactly one of them contains the shared vertex.
        assert_ne!(angle_contains_vertex(p, o, q), angle_contains_vertex(q, o, p));
    }
}
