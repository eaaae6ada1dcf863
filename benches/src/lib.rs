//! Shared fixtures for the criterion benches.

pub mod router_fixture;
