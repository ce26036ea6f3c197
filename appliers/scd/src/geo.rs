//! The geometry the applier uses, from `dss-geo`: S2 level-13 coverings (only on the node
//! that took a request) and set operations on sorted cell lists (integer-only, safe in
//! `apply`).

pub use dss_geo::{
    GeoError, LatLng, MAX_CELLS, MAX_VERTICES, check_cell_count, contains_all, cover_circle, cover_polygon, union,
};
