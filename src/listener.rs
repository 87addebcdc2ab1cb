//! listener (see the crate map in lib.rs).
