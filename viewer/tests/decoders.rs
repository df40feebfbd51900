//! The decoders added for the files only pydicom could decode (tests/corpus.rs lists the
//! counts): 12-bit lossy JPEG and JPEG-LS (both pure Rust), each compared with an independent
//! decoding of the same image.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_viewer::dicom_object::DefaultDicomObject;
use arterys_viewer::display;
use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/");

fn object(name: &str) -> DefaultDicomObject {
    let bytes = std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    display::open(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn values(obj: &DefaultDicomObject, frame: u32) -> Vec<f32> {
    let (w, h, v) = display::modality_values(obj, frame).unwrap();
    assert_eq!((w, h), (256, 1024));
    v
}

/// JPGExtended.dcm (JPEG Extended, 12-bit SOF1 stream, 256x1024) as libjpeg decodes it: the
/// same dataset, decompressed by pydicom 3.0 with pylibjpeg-libjpeg, stored uncompressed.
fn libjpeg_values() -> Vec<f32> {
    let reference = object("JPGExtended_libjpeg.dcm");
    assert_eq!(reference.meta().transfer_syntax(), "1.2.840.10008.1.2.1.99", "an uncompressed (deflated) reference");
    values(&reference, 0)
}

/// The double-precision inverse DCT against libjpeg's integer one: at most one stored value
/// apart, and rarely that.
fn assert_within_one_level(ours: &[f32], reference: &[f32]) {
    assert_eq!(ours.len(), reference.len());
    let max = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let off = ours.iter().zip(reference).filter(|(a, b)| a != b).count();
    assert!(max <= 1.0, "{max} levels apart");
    assert!(off * 20 < ours.len(), "{off} of {} values differ", ours.len());
    // Not a blank image: the NM image has a range of 264 levels.
    assert!(reference.iter().fold(0.0f32, |m, &v| m.max(v)) > 200.0);
}

#[test]
fn jpeg_12_bit_decodes_as_libjpeg_does() {
    let obj = object("JPGExtended.dcm");
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.4.51");
    assert_within_one_level(&values(&obj, 0), &libjpeg_values());
    let shown = display::render_object(&obj).unwrap();
    assert_eq!((shown.len(), shown[0].width, shown[0].height), (1, 256, 1024));
}

#[test]
fn jpeg_12_bit_multi_frame_gives_every_frame() {
    let mut obj = object("JPGExtended.dcm");
    let stream = match obj.element(tags::PIXEL_DATA).unwrap().value() {
        dicom_core::DicomValue::PixelSequence(seq) => seq.fragments().concat(),
        _ => panic!("encapsulated pixel data"),
    };
    // Two frames, one fragment each: the same stream twice.
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("2")));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PixelFragmentSequence::new(vec![], vec![stream.clone(), stream]),
    ));
    let reference = libjpeg_values();
    for frame in 0..2 {
        assert_within_one_level(&values(&obj, frame), &reference);
    }
    assert_eq!(display::render_object(&obj).unwrap().len(), 2);
}

#[test]
fn jpeg_12_bit_stream_larger_than_the_dataset_says_is_refused() {
    // The frame header says 256x1024: with Rows 512, the stream is refused before any
    // decoder allocates more than the declared frame, and the reason is one line.
    let mut obj = object("JPGExtended.dcm");
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(512u16)));
    let e = display::render_object(&obj).unwrap_err().to_string();
    assert!(e.contains("the JPEG stream in fragment 0 declares 256x1024 where the dataset says 256x512"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn jpeg_12_bit_stream_with_a_broken_scan_header_is_refused_by_name() {
    // JPEG-lossy.dcm, JPGExtended.dcm before its fix: its sequential scan declares a spectral
    // selection (libjpeg refuses it too: "scan start must be zero and scan stop must be 63").
    let e = display::render_object(&object("JPEG-lossy.dcm")).unwrap_err().to_string();
    assert!(e.starts_with("cannot decode transfer syntax JPEG Extended (12-bit)"), "{e}");
    assert!(e.contains("spectral selection"), "{e}");
}

#[test]
fn jpeg_12_bit_colour_is_refused_by_name() {
    // Only grayscale 12-bit streams are decoded here; a colour one gets its reason.
    for pi in ["RGB", "YBR_FULL_422"] {
        let mut obj = object("JPGExtended.dcm");
        obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16)));
        obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(pi)));
        let e = display::render_object(&obj).unwrap_err().to_string();
        assert!(e.contains("12-bit lossy JPEG in colour is not supported"), "{pi}: {e}");
    }
}

/// SC_rgb_jls_lossy_line.dcm and SC_rgb_jls_lossy_sample.dcm are SC_rgb.dcm's 100x100 RGB
/// image in JPEG-LS near-lossless with NEAR = 2 (their scan headers), interleaved by line and
/// by sample: every sample within 2 of the original is what near-lossless guarantees, and
/// channels decoded in the wrong order or interleave would be far off.
#[test]
fn jpeg_ls_rgb_is_within_near_of_the_original_for_both_interleaves() {
    let original = display::render_object(&object("SC_rgb.dcm")).unwrap().remove(0);
    for name in ["SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm"] {
        let decoded = display::render_object(&object(name)).unwrap().remove(0);
        assert_eq!((decoded.width, decoded.height), (100, 100), "{name}");
        let max = decoded.rgb.iter().zip(&original.rgb).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(max <= 2, "{name}: {max} levels from the original");
        assert!(decoded.rgb != original.rgb, "{name}: lossy, so not identical");
    }
}
