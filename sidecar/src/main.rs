//! The `acd` binary.
fn main() {
    println!("acd {}", env!("CARGO_PKG_VERSION"));
}
