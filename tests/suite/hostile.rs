//! placeholder: filled in below.
