//! The real `send-inference-request` binary draws the images that need the viewer's own
//! decoders: JPEG-LS (every interleave mode, none included) and 12-bit lossy JPEG. Each is sent to the mock server, the run exits 0, and each PNG decodes to the
//! viewer's rendering of its file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::dicom::display::render;
use arterys_mock_server::Mode;
use common::*;

/// Folder under testdata/dicom, file.
const FILES: [(&str, &str); 5] = [
    ("pydicom", "MR_small_jpeg_ls_lossless.dcm"),
    ("pydicom", "SC_rgb_jls_lossy_line.dcm"),
    ("pydicom", "SC_rgb_jls_lossy_sample.dcm"),
    ("encoders", "gdcm_rgb_jpegls_ilv_none.dcm"),
    ("pydicom", "JPGExtended.dcm"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_ls_and_12_bit_jpeg_studies_are_drawn() {
    // Classification without -l: nothing is drawn over the images.
    let addr = mock(Mode::Classification).await;
    let base = out_dir("codecs");
    let (study, out) = (base.join("study"), base.join("out"));
    std::fs::create_dir_all(&study).unwrap();
    for (dir, name) in FILES {
        std::fs::copy(test_dicom(dir).join(name), study.join(name)).unwrap();
    }
    let o = tool(addr, &["-i", study.to_str().unwrap()], &out).await;
    assert!(o.status.success(), "{:?}\n{}", o.status, text(&o));

    for (_, name) in FILES {
        let drawn = png_of(&out, name);
        let expected = render(&std::fs::read(study.join(name)).unwrap()).unwrap().remove(0);
        assert_eq!((drawn.width(), drawn.height()), (expected.width, expected.height), "{name}");
        assert!(drawn.as_raw() == &expected.rgb, "{name}: the PNG is not the file's image");
    }
    let _ = std::fs::remove_dir_all(&base);
}
