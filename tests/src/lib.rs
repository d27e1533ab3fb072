//! Cross-crate integration tests for trestle: real server processes, signals, hostile input.
//!
//! The tests are in `tests/`; `src/bin/` holds the small servers they start.
