//! send-inference-request (being written).
fn main() {}
