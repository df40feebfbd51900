//! The display path: one instance from bytes to display pixels, as the servers and the test
//! tool draw it (`display::open`, then every frame; and the first frame's modality values, as
//! a model's preprocessing reads them). Nothing may panic, allocate what a file merely
//! declares, or take time out of proportion to the file's size (`fuzz/run` passes
//! `-timeout` with the memory limits).
#![no_main]

use arterys_viewer::display;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = display::open(data) {
        let _ = display::render_object(&obj);
        let _ = display::modality_values(&obj, 0);
    }
});
