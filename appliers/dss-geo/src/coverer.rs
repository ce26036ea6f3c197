//! Coverings by level-13 cells.
//!
//! golang/geo's `RegionCoverer{MinLevel: 13, MaxLevel: 13}` returns every
//! level-13 cell for which the region's `IntersectsCell` holds. We compute the
//! same set top-down: from each face, descend only into cells that some edge
//! touches; a cell that no edge touches is either inside the region, and then
//! all its level-13 descendants are, or outside with all of them.
//!
//! The edge test is golang/geo's `Loop.boundaryApproxIntersects`: the edge is
//! clipped to the cell's face padded by the clipping error, then tested against
//! the cell's (u, v) rectangle expanded by the clipping and intersection errors.
//! Floating-point rounding is monotonic, so the test is true for a cell whenever
//! it is true for one of its descendants: pruning with it never drops a cell.
//!
//! The recursion visits children in id order, so the output comes out sorted.

use core::ops::Range;

use crate::cell::Cell;
use crate::cellid::lsb_for_level;
use crate::clip::{
    FACE_CLIP_ERROR_UV_COORD, INTERSECTS_RECT_ERROR_UV_DIST, Uv, clip_to_padded_face, edge_intersects_rect,
};
use crate::crossings::{Crossing, EdgeCrosser};
use crate::loops::Loop;
use crate::point::Point;

/// The level of every cell of a covering.
pub(crate) const LEVEL: u8 = 13;

/// Padding of golang/geo's loop boundary test, in (u, v) units.
fn loop_padding() -> f64 {
    FACE_CLIP_ERROR_UV_COORD + INTERSECTS_RECT_ERROR_UV_DIST
}

/// Padding used to prune cells for polylines, whose exact test (at level 13)
/// is a different one: comfortably above the clipping errors (~2e-15) yet
/// negligible next to a level-13 cell (~2.4e-4 wide in (u, v)).
const POLYLINE_PRUNING_PADDING: f64 = 1e-9;

/// The level-13 cells intersecting the loop's interior or boundary, sorted;
/// `None` as soon as there would be more than `max` of them (the walk stops there).
pub(crate) fn cover_loop(lp: &Loop, max: usize) -> Option<Vec<u64>> {
    let vertices = lp.vertices();
    let n = vertices.len();
    let edges: Vec<(Point, Point)> = (0..n).map(|i| (vertices[i], vertices[(i + 1) % n])).collect();
    let mut out = Vec::new();
    let complete = Walk::new(&edges, loop_padding()).run(&mut |cell, touched| {
        if touched {
            // Touched cells above level 13 are refined by the walk.
            if cell.level == LEVEL {
                out.push(cell.id);
            }
        } else if lp.contains_point(cell.center()) {
            // Counted before they are pushed: a face alone has 4^13 of them.
            if descendant_count(&cell).saturating_add(out.len()) > max {
                return false;
            }
            push_descendants(&cell, &mut out);
        }
        out.len() <= max
    });
    complete.then_some(out)
}

/// The level-13 cells that the polyline through `vertices` touches, sorted,
/// with golang/geo's `Polyline.IntersectsCell` as the final test; `None` as
/// soon as there would be more than `max` of them.
pub(crate) fn cover_polyline(vertices: &[Point], max: usize) -> Option<Vec<u64>> {
    let edges: Vec<(Point, Point)> = vertices.windows(2).map(|w| (w[0], w[1])).collect();
    let mut out = Vec::new();
    let complete = Walk::new(&edges, POLYLINE_PRUNING_PADDING).run(&mut |cell, touched| {
        if touched && cell.level == LEVEL && polyline_intersects_cell(vertices, &cell) {
            out.push(cell.id);
        }
        out.len() <= max
    });
    complete.then_some(out)
}

/// `Polyline.IntersectsCell`: a vertex is in the cell, or an edge crosses or
/// touches a cell edge.
fn polyline_intersects_cell(vertices: &[Point], cell: &Cell) -> bool {
    if vertices.iter().any(|&v| cell.contains_point(v)) {
        return true;
    }
    let corners = cell.vertices();
    (0..4).any(|j| {
        let mut crosser = EdgeCrosser::new(corners[j], corners[(j + 1) & 3], vertices[0]);
        vertices[1..].iter().any(|&v| crosser.chain_crossing_sign(v) != Crossing::DoNotCross)
    })
}

/// How many level-13 descendants a cell at level <= 13 has.
fn descendant_count(cell: &Cell) -> usize {
    1usize << (2 * u32::from(LEVEL - cell.level))
}

/// Appends the ids of the level-13 descendants of a cell at level <= 13.
fn push_descendants(cell: &Cell, out: &mut Vec<u64>) {
    let lsb = lsb_for_level(cell.level);
    let mut id = cell.id - lsb + lsb_for_level(LEVEL);
    let end = cell.id + lsb;
    while id < end {
        out.push(id);
        id += 2 * lsb_for_level(LEVEL);
    }
}

/// The top-down traversal shared by loops and polylines.
struct Walk {
    /// For each face, the (u, v) segments of the edges that reach the padded face.
    face_segments: [Vec<(Uv, Uv)>; 6],
    padding: f64,
    /// Indices into the current face's segments: each recursion level pushes
    /// the segments touching its cell and truncates them on return.
    stack: Vec<usize>,
}

impl Walk {
    fn new(edges: &[(Point, Point)], padding: f64) -> Walk {
        let face_segments = core::array::from_fn(|face| {
            // `face` < 6.
            #[allow(clippy::cast_possible_truncation)]
            let face = face as u8;
            edges.iter().filter_map(|&(a, b)| clip_to_padded_face(a, b, face, padding)).collect()
        });
        Walk { face_segments, padding, stack: Vec::new() }
    }

    /// In id order: calls `visit(cell, true)` for each cell at level <= 13 that
    /// an edge touches, and `visit(cell, false)` for each cell that no edge
    /// touches but whose parent is touched (or which is a whole face). Stops,
    /// returning false, as soon as `visit` returns false.
    fn run(&mut self, visit: &mut dyn FnMut(Cell, bool) -> bool) -> bool {
        for face in 0..6u8 {
            self.stack.clear();
            self.stack.extend(0..self.face_segments[usize::from(face)].len());
            let all = 0..self.stack.len();
            if !self.descend(Cell::from_face(face), all, visit) {
                return false;
            }
        }
        true
    }

    fn descend(&mut self, cell: Cell, parent_hits: Range<usize>, visit: &mut dyn FnMut(Cell, bool) -> bool) -> bool {
        let segments = &self.face_segments[usize::from(cell.face)];
        let bound = cell.bound_uv().expanded(self.padding);
        let start = self.stack.len();
        for k in parent_hits {
            let s = self.stack[k];
            let (a, b) = segments[s];
            if edge_intersects_rect(a, b, bound) {
                self.stack.push(s);
            }
        }
        let hits = start..self.stack.len();
        let touched = !hits.is_empty();
        let mut go_on = visit(cell, touched);
        if go_on && touched && cell.level < LEVEL {
            for child in cell.children() {
                if !self.descend(child, hits.clone(), visit) {
                    go_on = false;
                    break;
                }
            }
        }
        self.stack.truncate(start);
        go_on
    }
}
