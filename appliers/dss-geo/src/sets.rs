//! Set operations on cell lists that are sorted and deduplicated (as the
//! coverings are). Cells are compared as plain ids: a cell and its parent are
//! different elements.

use core::cmp::Ordering;

/// The sorted, deduplicated union of two sorted, deduplicated lists.
#[must_use]
pub fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Whether two sorted lists have a cell in common.
#[must_use]
pub fn intersects(a: &[u64], b: &[u64]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => return true,
        }
    }
    false
}

/// Whether every cell of `inner` is in `outer` (both sorted).
#[must_use]
pub fn contains_all(outer: &[u64], inner: &[u64]) -> bool {
    let mut rest = outer;
    inner.iter().all(|cell| match rest.binary_search(cell) {
        Ok(k) => {
            rest = &rest[k + 1..];
            true
        }
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let a = [1, 3, 5, 7];
        let b = [2, 3, 8];
        assert_eq!(union(&a, &b), vec![1, 2, 3, 5, 7, 8]);
        assert_eq!(union(&a, &[]), a.to_vec());
        assert!(intersects(&a, &b));
        assert!(!intersects(&a, &[2, 4, 6]));
        assert!(!intersects(&a, &[]));
        assert!(contains_all(&a, &[3, 7]));
        assert!(contains_all(&a, &[]));
        assert!(!contains_all(&a, &[3, 4]));
        assert!(!contains_all(&[], &[1]));
    }
}
