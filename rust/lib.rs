//! automatosx's core: pure Rust, no I/O, no clock of its own.
//!
//! The PyO3 layer lives in `bindings` behind the `python` feature, so `cargo test` of the core
//! links without libpython.

pub mod backoff;
pub mod breaker;
pub mod limiter;
pub mod machine;
pub mod migrations;
pub mod retry_after;

#[cfg(feature = "python")]
mod bindings;

#[cfg(test)]
mod tests;
