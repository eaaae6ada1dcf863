//! acd-loadgen: load generator for acd.
fn main() {}
