//! The real `send-inference-request` binary against the mock server's structured-report mode:
//! the report's measured image region (a TID 1500 length with an SCOORD POLYLINE on the middle
//! slice) is drawn on that slice's PNG with its value, pixel by pixel against the plain
//! rendering of the same image; the other slices are untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::dicom::display::render;
use arterys_inference_test_tool::sr::SR_COLOR;
use arterys_mock_server::Mode;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_s_length_is_drawn_on_its_slice() {
    let addr = mock(Mode::StructuredReport).await;
    let input = test_dicom("arterys/test_3d");
    let out = out_dir("report-measurements");
    let o = tool(addr, &["-i", input.to_str().unwrap()], &out).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("1 measured image region, drawn on their PNGs"), "{stdout}");

    // Which slice carries the line: exactly one, the middle one in slice order.
    let mut drawn = Vec::new();
    for file in ["1.dcm", "2.dcm", "3.dcm"] {
        let png = png_of(&out, file);
        let plain = render(&std::fs::read(input.join(file)).unwrap()).unwrap().remove(0);
        assert_eq!((png.width(), png.height()), (plain.width, plain.height));
        let changed: Vec<(u32, u32)> = png
            .enumerate_pixels()
            .filter(|(x, y, p)| {
                let i = ((y * plain.width + x) * 3) as usize;
                p.0 != [plain.rgb[i], plain.rgb[i + 1], plain.rgb[i + 2]]
            })
            .map(|(x, y, _)| (x, y))
            .collect();
        if !changed.is_empty() {
            drawn.push((file, png, changed));
        }
    }
    assert_eq!(drawn.len(), 1, "the line is on one slice: {:?}", drawn.iter().map(|d| d.0).collect::<Vec<_>>());
    let (file, png, changed) = &drawn[0];
    assert_eq!(*file, "2.dcm", "the middle slice (3.dcm, 2.dcm, 1.dcm in slice order)");
    // 512 x 512: the line from column 128 to 384 on row 256, in the report's colour.
    for x in 128..=384 {
        assert!((255..=257).any(|y| png.get_pixel(x, y).0 == SR_COLOR), "no line at column {x}");
    }
    // Nothing else changed but the line and its value below it.
    for &(x, y) in changed {
        assert!((120..=392).contains(&x) && (250..=300).contains(&y), "({x},{y}) changed outside the measurement");
    }
    // The value: written below the line (text pixels, not the line's colour).
    assert!(changed.iter().filter(|&&(_, y)| y > 258).count() > 100, "no value written below the line");
    let _ = std::fs::remove_dir_all(&out);
}
