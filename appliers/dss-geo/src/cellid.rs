//! S2 cell ids: 3 face bits, then 2 bits per level of the position along the
//! face's Hilbert curve, then a 1 marking the level (golang/geo `s2/cellid.go`).

use crate::coords::{MAX_SIZE, face, st_to_ij, uv_to_st, valid_face_xyz_to_uv};
use crate::point::Point;

pub(crate) const MAX_LEVEL: u8 = 30;
const POS_BITS: u32 = 2 * MAX_LEVEL as u32 + 1;

/// Bit 0 of an orientation: i and j are swapped; bit 1: both are inverted.
pub(crate) const SWAP_MASK: u8 = 1;

/// For each orientation, the (i, j) quadrant (as `i << 1 | j`) of the k-th
/// child along the Hilbert curve.
pub(crate) const POS_TO_IJ: [[u8; 4]; 4] = [[0, 1, 3, 2], [0, 2, 3, 1], [3, 2, 0, 1], [3, 1, 0, 2]];
/// The inverse of `POS_TO_IJ`.
const IJ_TO_POS: [[u8; 4]; 4] = [[0, 1, 3, 2], [0, 3, 1, 2], [2, 3, 1, 0], [2, 1, 3, 0]];
/// How a child's orientation differs from its parent's, by child position.
pub(crate) const POS_TO_ORIENTATION: [u8; 4] = [SWAP_MASK, 0, 0, 3];

/// The lowest set bit of the ids of cells at `level`.
pub(crate) const fn lsb_for_level(level: u8) -> u64 {
    1 << (2 * (MAX_LEVEL - level))
}

/// The id of the whole face.
pub(crate) const fn from_face(face: u8) -> u64 {
    ((face as u64) << POS_BITS) + lsb_for_level(0)
}

/// The id of the leaf cell at (i, j) of `face`.
pub(crate) fn from_face_ij(face: u8, i: u32, j: u32) -> u64 {
    let mut orientation = face & SWAP_MASK;
    let mut pos: u64 = 0;
    for k in (0..MAX_LEVEL).rev() {
        let quadrant = (((i >> k) & 1) << 1 | ((j >> k) & 1)) as usize;
        let child = IJ_TO_POS[orientation as usize][quadrant];
        pos = pos << 2 | u64::from(child);
        orientation ^= POS_TO_ORIENTATION[child as usize];
    }
    (u64::from(face) << POS_BITS) | pos << 1 | 1
}

/// The id of the leaf cell containing `p`.
pub(crate) fn from_point(p: Point) -> u64 {
    let f = face(p);
    let (u, v) = valid_face_xyz_to_uv(f, p);
    from_face_ij(f, st_to_ij(uv_to_st(u)), st_to_ij(uv_to_st(v)))
}

/// The ancestor of `id` at `level` (which must not be below the cell's level).
pub(crate) fn parent(id: u64, level: u8) -> u64 {
    let lsb = lsb_for_level(level);
    (id & lsb.wrapping_neg()) | lsb
}

/// Whether `id` is a valid cell id (of any level).
pub(crate) fn is_valid(id: u64) -> bool {
    id >> POS_BITS < 6 && id & id.wrapping_neg() & 0x1555_5555_5555_5555 != 0
}

/// The level of a valid cell id.
pub(crate) fn level(id: u64) -> u8 {
    // A valid id has at most 61 trailing zeros.
    #[allow(clippy::cast_possible_truncation)]
    let zeros = id.trailing_zeros() as u8;
    MAX_LEVEL - zeros / 2
}

/// The number of leaf cells along the edge of a cell at `level`.
pub(crate) const fn size_ij(level: u8) -> u32 {
    MAX_SIZE >> level
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hilbert_curve_starts_and_ends() {
        // Face 0's curve runs from leaf (0, 0) to leaf (MAX - 1, 0).
        assert_eq!(from_face_ij(0, 0, 0), 1);
        assert_eq!(from_face_ij(0, MAX_SIZE - 1, 0), (1 << POS_BITS) - 1);
        // lat/lng (0, 0) is the center of face 0, the low corner of leaf
        // (2^29, 2^29), which starts the third quarter of the curve.
        let center = from_point(Point::new(1.0, 0.0, 0.0));
        assert_eq!(center, 0x1000_0000_0000_0001);
    }

    #[test]
    fn parents_and_levels() {
        let leaf = from_face_ij(3, 12345, 67890);
        assert!(is_valid(leaf));
        assert_eq!(level(leaf), 30);
        for l in 0..=30 {
            let p = parent(leaf, l);
            assert!(is_valid(p));
            assert_eq!(level(p), l);
            assert_eq!(p >> POS_BITS, 3);
        }
        assert_eq!(parent(leaf, 0), from_face(3));
        assert!(!is_valid(0));
        assert!(!is_valid(from_face(6)));
        assert!(!is_valid(2)); // odd level marker
    }
}
