//! Response validation on arbitrary JSON and buffers: parsing and every check must not panic,
//! and what validates must re-serialize.
#![no_main]

use bytes::Bytes;
use arterys_protocol::{InferenceResponse, ResponseJson};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // JSON, then buffers separated by 0xFF bytes.
    let mut pieces = data.split(|&b| b == 0xFF);
    let Some(json) = pieces.next() else { return };
    let Ok(json) = serde_json::from_slice::<ResponseJson>(json) else { return };
    let buffers: Vec<Bytes> = pieces.map(Bytes::copy_from_slice).collect();
    let n = json.parts.len();
    match InferenceResponse::from_parts(json, buffers) {
        Ok(r) => {
            let v = r.violations();
            if v.is_empty() {
                serde_json::to_vec(r.json()).expect("a valid response serializes");
            }
            for p in &r.json().parts {
                if let Some(pal) =
                    r.json().palettes.as_ref().and_then(|m| p.palette.as_ref().and_then(|name| m.get(name)))
                {
                    let _ = pal.lookup_table();
                }
            }
        }
        Err(e) => assert!(e.to_string().contains(&format!("{n} parts"))),
    }
});
