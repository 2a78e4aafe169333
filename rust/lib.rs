//! automatosx's core: pure Rust, no I/O, no clock of its own.
