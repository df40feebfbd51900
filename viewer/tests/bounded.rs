//! Work bounded by the file: hostile files that ask the display path for work out of
//! proportion to their size are refused with a reason, and a request that is gone stops the
//! work between frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_protocol::cancel::{Cancellation, Cancelled};
use arterys_viewer::dicom_object::DefaultDicomObject;
use arterys_viewer::display::{self, DisplayError};
use arterys_viewer::hostile;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/");

fn object(name: &str) -> DefaultDicomObject {
    let bytes = std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    display::open(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn refusal(obj: &DefaultDicomObject) -> String {
    match display::render_object(obj) {
        Ok(frames) => panic!("rendered {} frame(s)", frames.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nested_segmented_palettes_are_refused_within_a_linear_number_of_reads() {
    // Unbounded, K = 8 took 134 million segment reads and K = 32 about 3.5e13.
    for (k, words) in [(8u16, 275), (32, 1091)] {
        let bytes = hostile::nested_segmented_lut(k);
        assert!(bytes.len() < 3000, "K = {k}: {} bytes", bytes.len());
        let err = display::render(&bytes).unwrap_err();
        assert!(matches!(err, DisplayError::Invalid(_)), "K = {k}: {err:?}");
        let limit = words + 1;
        assert!(
            err.to_string().contains(&format!("more than {limit} segment reads for {words} words")),
            "K = {k}: {err}"
        );
        let obj = display::open(&bytes).unwrap();
        assert!(display::modality_values(&obj, 0).unwrap_err().to_string().contains("segment reads"));
    }
}

#[test]
fn a_cancelled_request_stops_the_display_of_a_multi_frame_file() {
    for (name, frames) in [("rtdose.dcm", 15), ("SC_rgb_rle_2frame.dcm", 2)] {
        let obj = object(name);
        let token = Cancellation::new();
        // Not cancelled: every frame.
        assert_eq!(token.scope(|| display::render_object(&obj)).unwrap().len(), frames, "{name}");
        token.cancel();
        let err = token.scope(|| display::render_object(&obj)).unwrap_err();
        assert!(matches!(err, DisplayError::Cancelled(Cancelled)), "{name}: {err:?}");
        assert!(err.to_string().contains("the request was cancelled"), "{name}: {err}");
        let err = token.scope(|| display::modality_values(&obj, 1)).unwrap_err();
        assert!(matches!(err, DisplayError::Cancelled(Cancelled)), "{name}: {err:?}");
        // Outside the scope the same object displays.
        assert_eq!(display::render_object(&obj).unwrap().len(), frames, "{name}");
    }
}

/// `obj` with Rows and Columns set to `rows` x `cols`.
fn resized(mut obj: DefaultDicomObject, rows: u16, cols: u16) -> DefaultDicomObject {
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)));
    obj
}

#[test]
fn a_codec_stream_larger_than_the_dataset_is_refused_before_decoding() {
    // JPEG (SOF) and JPEG 2000 (SIZ) frame headers, held against a smaller dataset.
    let jpeg = object("SC_rgb_jpeg_dcmtk.dcm");
    let (rows, cols) =
        (display::render_object(&jpeg).unwrap()[0].height, display::render_object(&jpeg).unwrap()[0].width);
    let err = refusal(&resized(jpeg, 10, 10));
    assert!(
        err.contains(&format!("JPEG stream in fragment 0 declares {cols}x{rows} where the dataset says 10x10")),
        "{err}"
    );
    let j2k = object("JPEG2000.dcm");
    let err = refusal(&resized(j2k, 8, 8));
    assert!(err.contains("JPEG 2000 stream in fragment 0 declares"), "{err}");
}

#[test]
fn rle_data_that_cannot_fill_the_image_is_refused_before_decoding() {
    // 7.7 KB of RLE data for 2048 x 2048 16-bit pixels (8 MiB): more than 64 times as much.
    let err = refusal(&resized(object("MR_small_RLE.dcm"), 2048, 2048));
    assert!(err.contains("cannot hold the 8388608 bytes the image declares"), "{err}");
    // Its own size still decodes.
    assert_eq!(display::render_object(&object("MR_small_RLE.dcm")).unwrap().len(), 1);
}

#[test]
fn fuzz_regressions_display_or_name_a_reason() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("display_") {
            continue;
        }
        seen += 1;
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(obj) = display::open(&bytes) {
            if let Err(e) = display::render_object(&obj) {
                let reason = e.to_string();
                assert!(!reason.is_empty() && !reason.contains('\n'), "{name}: {reason:?}");
            }
            let _ = display::modality_values(&obj, 0);
        }
    }
    assert!(seen > 0, "no display regressions in {dir}");
}

#[test]
fn a_codec_panic_found_by_fuzzing_is_a_reason() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/display_rle_codec_panic.bin");
    let obj = display::open(&std::fs::read(path).unwrap()).unwrap();
    let err = refusal(&obj);
    assert!(err.contains("the decoder failed"), "{err}");
}

#[test]
fn a_dataset_walked_as_implicit_vr_is_never_read_as_explicit_vr() {
    // Found by fuzzing (4.8 KB): the meta says JPEG 2000 (Explicit VR), the dataset starts as
    // Implicit VR. The header read walked it as Implicit VR (up to the pixel data) and then let
    // dicom-rs read it as Explicit VR, whose lengths (1.1 GB) nobody had checked.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/display_implicit_under_explicit_meta.bin");
    let bytes = std::fs::read(path).unwrap();
    for err in [arterys_viewer::open_headers(&bytes).unwrap_err(), arterys_viewer::open(&bytes).unwrap_err()] {
        assert!(matches!(err, arterys_viewer::DicomError::Limits(_)), "{err:?}");
        assert!(err.to_string().contains("declares 402653267 bytes"), "{err}");
    }
}
