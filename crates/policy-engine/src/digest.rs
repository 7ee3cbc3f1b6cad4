//! The lowercase-hex spelling of a digest, shared by `config_hash` (`mod.rs`) and the `hash`
//! marker format of `pii.rs`.
//!
//! Owns only the spelling: which bytes are hashed, with what, and how much of the result is
//! shown is the caller's.

/// `bytes` as lowercase hex, two digits a byte.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
