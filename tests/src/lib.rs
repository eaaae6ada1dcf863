//! Helpers for the end-to-end tests: start the real `acd` binary on ephemeral ports.
