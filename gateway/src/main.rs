//! `policy-gateway`: skeleton until the gateway issue.
fn main() {}
