//! Cross-crate tests live in `tests/`; see the README.
