//! The display path: one instance from bytes to display pixels, as the servers and the test
//! tool draw it (`display::open`, then every frame; and the first frame's modality values, as
//! a model's preprocessing reads them). Nothing may panic, allocate what a file merely
//! declares, or take time out of proportion to the file's size (`fuzz/run` passes
//! `-timeout` with the memory limits).
//!
//! Codecs panic on some inconsistent input; the display path catches that and names it as
//! the reason. libFuzzer's panic hook would abort on the caught panic, so it is replaced by a
//! silent one: a panic that escapes the display path still aborts (libfuzzer-sys catches it
//! around each input).
#![no_main]

use arterys_viewer::display;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: { std::panic::set_hook(Box::new(|_| {})); }, |data: &[u8]| {
    if let Ok(obj) = display::open(data) {
        let _ = display::render_object(&obj);
        let _ = display::modality_values(&obj, 0);
    }
});
