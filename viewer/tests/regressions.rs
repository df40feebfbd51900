//! One test per display bug found by the pydicom corpus comparison (tests/corpus.rs): each
//! compares a file that was drawn wrongly, or not at all, with the same image in an encoding
//! that was always right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_viewer::dicom_object::{DefaultDicomObject, InMemDicomObject};
use arterys_viewer::display::{self, DisplayFrame};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/");

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn object(name: &str) -> DefaultDicomObject {
    display::open(&load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn values(obj: &DefaultDicomObject) -> Vec<f32> {
    display::modality_values(obj, 0).unwrap().2
}

fn frames(name: &str) -> Vec<DisplayFrame> {
    display::render(&load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn max_diff(a: &DisplayFrame, b: &DisplayFrame) -> u8 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.rgb.iter().zip(&b.rgb).map(|(x, y)| x.abs_diff(*y)).max().unwrap()
}

/// The dose grid of rtdose_1frame.dcm (Implicit VR Little Endian), in Gy.
fn dose() -> Vec<f32> {
    let dose = values(&object("rtdose_1frame.dcm"));
    let (lo, hi) = dose.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo >= 0.0 && hi > lo && hi < 100.0, "a dose grid in Gy: {lo}..{hi}");
    dose
}

#[test]
fn big_endian_32_bit_dose_reads_in_the_right_byte_order() {
    assert_eq!(values(&object("rtdose_expb_1frame.dcm")), dose());
}

#[test]
fn rle_32_bit_dose_decodes() {
    assert_eq!(values(&object("rtdose_rle_1frame.dcm")), dose());
}

#[test]
fn rle_32_bit_rgb_decodes() {
    let (wide, narrow) = (frames("SC_rgb_rle_32bit.dcm"), frames("SC_rgb_rle.dcm"));
    assert_eq!(wide.len(), 1);
    assert_eq!(max_diff(&wide[0], &narrow[0]), 0);
}

/// The RGB JPEG image of SC_jpeg_no_color_transform.dcm and SC_rgb_jpeg.dcm as dcmtk decodes it.
fn dcmtk_decoded() -> DisplayFrame {
    frames("SC_rgb_jpeg_dcmd.dcm").remove(0)
}

#[test]
fn jpeg_rgb_without_colour_marker_is_not_converted_from_ycbcr() {
    // No JFIF or Adobe marker: the samples are RGB (was drawn as if YCbCr: magenta).
    let frame = frames("SC_jpeg_no_color_transform.dcm").remove(0);
    assert!(max_diff(&frame, &dcmtk_decoded()) <= 2);
}

#[test]
fn explicit_vr_meta_with_implicit_vr_dataset_opens() {
    // Meta: JPEG Baseline (Explicit VR); dataset: Implicit VR; and a cut-short Adobe segment.
    let obj = object("SC_rgb_jpeg.dcm");
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.4.50");
    let frame = display::render_object(&obj).unwrap().remove(0);
    assert!(max_diff(&frame, &dcmtk_decoded()) <= 2);
}

/// MR_small.dcm written back with `change` made to its dataset, then read again.
fn mr_small_with(change: impl FnOnce(&mut InMemDicomObject)) -> DefaultDicomObject {
    let mut obj = object("MR_small.dcm");
    change(&mut obj);
    let mut bytes = Vec::new();
    obj.write_all(&mut bytes).unwrap();
    display::open(&bytes).unwrap()
}

#[test]
fn elements_written_as_unknown_vr_are_read_with_their_dictionary_vr() {
    let plain = values(&object("MR_small.dcm"));
    let obj = mr_small_with(|o| {
        o.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::UN, PrimitiveValue::from(b"-100 ".to_vec())));
        o.put(DataElement::new(tags::RESCALE_SLOPE, VR::UN, PrimitiveValue::from(b"2 ".to_vec())));
    });
    let rescaled = values(&obj);
    assert!(plain.iter().zip(&rescaled).all(|(p, r)| *r == p * 2.0 - 100.0));
}

#[test]
fn a_modality_lut_maps_stored_values() {
    let plain = values(&object("MR_small.dcm"));
    // MR_small is signed: the table starts at -32768 and maps v to 3v + 7 (mod 2^16).
    let lut: Vec<u16> = (0..65536u32).map(|i| ((i as i64 - 32768) * 3 + 7).rem_euclid(65536) as u16).collect();
    let obj = mr_small_with(|o| {
        let item = InMemDicomObject::from_element_iter([
            DataElement::new(tags::LUT_DESCRIPTOR, VR::SS, PrimitiveValue::I16(vec![0i16, -32768, 16].into())),
            DataElement::new(tags::LUT_DATA, VR::OW, PrimitiveValue::U16(lut.into())),
        ]);
        o.put(DataElement::new(
            tags::MODALITY_LUT_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![item]),
        ));
    });
    let mapped = values(&obj);
    assert!(plain.iter().any(|&v| v > 100.0));
    assert!(plain.iter().zip(&mapped).all(|(p, m)| *m == (p * 3.0 + 7.0)));
}

#[test]
fn float_pixel_data_gives_its_values() {
    let plain = values(&object("MR_small.dcm"));
    let floats: Vec<f32> = plain.iter().map(|v| v / 8.0 - 0.25).collect();
    let obj = mr_small_with(|o| {
        for tag in [tags::PIXEL_DATA, tags::WINDOW_CENTER, tags::WINDOW_WIDTH] {
            o.remove_element(tag);
        }
        o.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(32u16)));
        o.put(DataElement::new(tags::FLOAT_PIXEL_DATA, VR::OF, PrimitiveValue::F32(floats.clone().into())));
    });
    assert_eq!(values(&obj), floats);
    let shown = display::render_object(&obj).unwrap();
    assert_eq!(shown.len(), 1);
    // No window in the file: lowest value black, highest white.
    assert!(shown[0].rgb.contains(&0) && shown[0].rgb.contains(&255));
}

#[test]
fn float_pixel_data_follows_the_voi_lut_function() {
    // Float images were windowed LINEAR whatever their VOILUTFunction said: the same values as
    // MR_small's, as floats, are shown as MR_small is, with its window, as a SIGMOID.
    let sigmoid = |o: &mut InMemDicomObject| {
        o.put(DataElement::new(tags::VOILUT_FUNCTION, VR::CS, PrimitiveValue::from("SIGMOID")));
    };
    let integer = mr_small_with(sigmoid);
    let floats = values(&integer);
    let float = mr_small_with(|o| {
        sigmoid(o);
        o.remove_element(tags::PIXEL_DATA);
        o.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(32u16)));
        o.put(DataElement::new(tags::FLOAT_PIXEL_DATA, VR::OF, PrimitiveValue::F32(floats.into())));
    });
    let (a, b) = (display::render_object(&integer).unwrap(), display::render_object(&float).unwrap());
    let linear = display::render_object(&object("MR_small.dcm")).unwrap();
    assert!(a[0] != linear[0], "SIGMOID differs from LINEAR");
    assert_eq!(max_diff(&a[0], &b[0]), 0);
}
