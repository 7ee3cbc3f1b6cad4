//! The one config model and its loading.
//!
//! `model` holds the serde + schemars types (the single source of truth for shape, defaults
//! and reload classes); `yaml` turns source text into a JSON value plus a span tree;
//! `pointer` escapes, joins and splits the JSON pointers that name places in both. Turning a
//! loaded document into a checked `Config` with diagnostics is `crate::lint`'s job; this
//! module never reports to a user.

pub mod model;
pub mod pointer;
pub mod yaml;

pub use model::*;
