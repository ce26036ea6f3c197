//! S2 cells with the geometry the coverer needs (golang/geo `s2/cell.go`).
//!
//! A cell carries its leaf coordinates and Hilbert orientation so that its
//! children are derived without decoding ids.

use crate::cellid::{self, POS_TO_IJ, POS_TO_ORIENTATION, SWAP_MASK};
use crate::clip::{Uv, UvRect};
use crate::coords::{MAX_SIZE, face_uv_to_xyz, face_xyz_to_uv, ij_to_st_min, st_to_uv};
use crate::point::Point;
use crate::predicates::DBL_EPSILON;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    pub id: u64,
    pub face: u8,
    pub level: u8,
    /// Leaf coordinates of the cell's low corner.
    i: u32,
    j: u32,
    orientation: u8,
}

impl Cell {
    pub(crate) fn from_face(face: u8) -> Cell {
        Cell { id: cellid::from_face(face), face, level: 0, i: 0, j: 0, orientation: face & SWAP_MASK }
    }

    /// The four children, in Hilbert-curve (= id) order. The cell must not be a leaf.
    pub(crate) fn children(&self) -> [Cell; 4] {
        let level = self.level + 1;
        let half = cellid::size_ij(level);
        let child_lsb = cellid::lsb_for_level(level);
        let first_id = self.id - cellid::lsb_for_level(self.level) + child_lsb;
        core::array::from_fn(|k| {
            let quadrant = POS_TO_IJ[usize::from(self.orientation)][k];
            Cell {
                // Child k is k steps of 2 * child_lsb after the first one (k < 4).
                id: first_id + 2 * child_lsb * k as u64,
                face: self.face,
                level,
                i: self.i + u32::from(quadrant >> 1) * half,
                j: self.j + u32::from(quadrant & 1) * half,
                orientation: self.orientation ^ POS_TO_ORIENTATION[k],
            }
        })
    }

    /// The cell's bounds in (u, v), computed exactly as golang/geo does.
    pub(crate) fn bound_uv(&self) -> UvRect {
        let size = cellid::size_ij(self.level);
        UvRect {
            u_lo: st_to_uv(ij_to_st_min(self.i)),
            u_hi: st_to_uv(ij_to_st_min(self.i + size)),
            v_lo: st_to_uv(ij_to_st_min(self.j)),
            v_hi: st_to_uv(ij_to_st_min(self.j + size)),
        }
    }

    /// The center of the cell in (s, t) space, projected to the sphere
    /// (`CellID.Point`).
    pub(crate) fn center(&self) -> Point {
        // s = (2 * i + size) / 2^31: every step is exact.
        let size = f64::from(cellid::size_ij(self.level));
        let st = |lo: u32| (2.0 * f64::from(lo) + size) * (0.5 / f64::from(MAX_SIZE));
        face_uv_to_xyz(self.face, st_to_uv(st(self.i)), st_to_uv(st(self.j))).normalize()
    }

    /// The four corners, counter-clockwise from (`u_lo`, `v_lo`).
    pub(crate) fn vertices(&self) -> [Point; 4] {
        let r = self.bound_uv();
        [(r.u_lo, r.v_lo), (r.u_hi, r.v_lo), (r.u_hi, r.v_hi), (r.u_lo, r.v_hi)]
            .map(|(u, v)| face_uv_to_xyz(self.face, u, v).normalize())
    }

    /// Whether the closed cell contains `p`, with the (u, v) bound expanded by
    /// `DBL_EPSILON` so that the cell computed for a point always contains it.
    pub(crate) fn contains_point(&self, p: Point) -> bool {
        face_xyz_to_uv(self.face, p).is_some_and(|(u, v)| self.bound_uv().expanded(DBL_EPSILON).contains(Uv { u, v }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cell at `level` containing `p`, by descending from its face.
    fn cell_containing(p: Point, level: u8) -> Cell {
        let id = cellid::parent(cellid::from_point(p), level);
        let face = u8::try_from(id >> 61).unwrap();
        let mut cell = Cell::from_face(face);
        while cell.level < level {
            cell = cell.children().into_iter().find(|c| cellid::parent(id, c.level) == c.id).unwrap();
        }
        cell
    }

    #[test]
    fn children_tile_their_parent() {
        let parent = cell_containing(Point::from_degrees(47.6, -122.3), 12);
        assert_eq!(parent.id, cellid::parent(cellid::from_point(Point::from_degrees(47.6, -122.3)), 12));
        let pr = parent.bound_uv();
        for child in parent.children() {
            assert_eq!(cellid::parent(child.id, 12), parent.id);
            assert_eq!(cellid::level(child.id), 13);
            let cr = child.bound_uv();
            assert!(pr.u_lo <= cr.u_lo && cr.u_hi <= pr.u_hi && pr.v_lo <= cr.v_lo && cr.v_hi <= pr.v_hi);
            // The center's leaf cell is inside the child.
            assert_eq!(cellid::parent(cellid::from_point(child.center()), 13), child.id);
            assert!(child.contains_point(child.center()));
            for v in child.vertices() {
                assert!(child.contains_point(v));
            }
        }
    }
}
