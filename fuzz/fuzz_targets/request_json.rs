//! The request JSON: arbitrary bytes never panic, and what parses round-trips.
#![no_main]

use arterys_protocol::InferenceRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<InferenceRequest>(data) {
        let text = serde_json::to_vec(&r).expect("a parsed request serializes");
        let again: InferenceRequest = serde_json::from_slice(&text).expect("and parses back");
        assert_eq!(r, again);
    }
});
