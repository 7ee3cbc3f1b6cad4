//! `policy replay`: recorded traffic against two configs.
//!
//! `traffic` reads the recorded formats; `offline` evaluates every request under both configs
//! with the one engine (`crate::engine`) and reports what changes. The live harness (load
//! while the gateway reloads) builds on the same pieces.

pub mod html;
pub mod live;
pub mod offline;
pub mod traffic;
