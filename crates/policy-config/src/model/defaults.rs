//! Defaults that more than one section of the model uses (serde `default = "…"` paths).

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn default_timeout_ms() -> u64 {
    30_000
}

pub(super) fn default_drain_timeout_ms() -> u64 {
    60_000
}
