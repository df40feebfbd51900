//! The DICOM metadata path: the declared-size walk, then what services read from an
//! instance's headers. Nothing may panic, and nothing may allocate what a file merely
//! declares (libFuzzer's `-rss_limit_mb`/`-malloc_limit_mb` report it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scan) = arterys_viewer::limits::scan(data) {
        let _ = scan.check(arterys_viewer::limits::DEFAULT_MAX_DECODED_BYTES);
        let _ = scan.decoded_bytes();
    }
    let _ = arterys_viewer::limits::decoded_size(data);
    let _ = arterys_viewer::open_headers(data);
    if let Ok(info) = arterys_viewer::InstanceInfo::read(data) {
        let _ = info.slice_position();
    }
});
