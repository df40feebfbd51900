//! The display pipeline on the real test files in testdata/ and on synthetic instances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::color::voi;
use super::*;
use crate::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_object::InMemDicomObject;
use dicom_pixeldata::{PixelDecoder, VoiLutFunction};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/");

fn load(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn frames(rel: &str) -> Vec<DisplayFrame> {
    render(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn one(rel: &str) -> DisplayFrame {
    let mut f = frames(rel);
    assert_eq!(f.len(), 1, "{rel}");
    f.remove(0)
}

fn error(rel: &str) -> String {
    match render(&load(rel)) {
        Ok(f) => panic!("{rel} rendered {} frame(s)", f.len()),
        Err(e) => e.to_string(),
    }
}

fn pixel(f: &DisplayFrame, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * f.width + x) * 3) as usize;
    [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]]
}

fn mean_rgb(f: &DisplayFrame) -> [f64; 3] {
    let n = (f.rgb.len() / 3) as f64;
    let mut m = [0.0; 3];
    for p in f.rgb.chunks_exact(3) {
        for c in 0..3 {
            m[c] += f64::from(p[c]) / n;
        }
    }
    m
}

fn is_gray(f: &DisplayFrame) -> bool {
    f.rgb.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2])
}

fn gray_levels(f: &DisplayFrame) -> usize {
    let mut seen = [false; 256];
    f.rgb.chunks_exact(3).for_each(|p| seen[p[0] as usize] = true);
    seen.iter().filter(|&&s| s).count()
}

/// Mean gray of a square of `size` pixels at (x, y).
fn mean_box(f: &DisplayFrame, x: u32, y: u32, size: u32) -> f64 {
    let mut sum = 0.0;
    for yy in y..y + size {
        for xx in x..x + size {
            sum += f64::from(pixel(f, xx, yy)[0]);
        }
    }
    sum / f64::from(size * size)
}

fn colored_pixels(f: &DisplayFrame) -> usize {
    f.rgb.chunks_exact(3).filter(|p| p[0] != p[1] || p[1] != p[2] || p[0] != p[2]).count()
}

fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

#[test]
fn mr_3d_series_renders_with_anatomy_in_the_centre() {
    for i in 1..=3 {
        let f = one(&format!("arterys/test_3d/{i}.dcm"));
        assert_eq!((f.width, f.height, f.rgb.len()), (512, 512, 512 * 512 * 3));
        assert!(is_gray(&f));
        assert!(gray_levels(&f) > 150, "{i}: only {} gray levels", gray_levels(&f));
        let centre = mean_box(&f, 192, 192, 128);
        let corners = [(0, 0), (448, 0), (0, 448), (448, 448)].map(|(x, y)| mean_box(&f, x, y, 64));
        for c in corners {
            assert!(centre > c + 30.0, "{i}: centre {centre} vs corner {c}");
        }
    }
}

#[test]
fn jpeg_baseline_chest_x_rays_render() {
    for i in 1..=3 {
        let f = one(&format!("arterys/test_2d/{i}.dcm"));
        assert_eq!((f.width, f.height), (1024, 1024));
        assert!(is_gray(&f));
        assert!(gray_levels(&f) > 150, "{i}: only {} gray levels", gray_levels(&f));
        // No window in the file: min-max, so both ends are used.
        let (lo, hi) = f.rgb.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
        assert_eq!((lo, hi), (0, 255));
    }
}

#[test]
fn mr_small_is_identical_in_every_transfer_syntax() {
    let reference = one("pydicom/MR_small.dcm");
    assert_eq!((reference.width, reference.height), (64, 64));
    assert!(gray_levels(&reference) > 100);
    for name in ["implicit", "bigendian", "RLE", "jp2klossless", "jpeg_ls_lossless"] {
        let f = one(&format!("pydicom/MR_small_{name}.dcm"));
        assert!(f == reference, "MR_small_{name} differs from MR_small");
    }
}

#[test]
fn window_follows_the_dicom_linear_formula() {
    // MR_small: WindowCenter 600, WindowWidth 1600.
    let obj = crate::open(&load("pydicom/MR_small.dcm")).unwrap();
    let (w, h, values) = modality_values(&obj, 0).unwrap();
    assert_eq!((w, h, values.len()), (64, 64, 64 * 64));
    let f = render_object(&obj).unwrap().remove(0);
    for (i, &v) in values.iter().enumerate() {
        let expected = voi(f64::from(v), 600.0, 1600.0, VoiLutFunction::Linear);
        assert_eq!(f.rgb[i * 3], expected);
    }
    assert_eq!(voi(-200.0, 600.0, 1600.0, VoiLutFunction::Linear), 0);
    assert_eq!(voi(1400.0, 600.0, 1600.0, VoiLutFunction::Linear), 255);
    assert_eq!(voi(599.5, 600.0, 1600.0, VoiLutFunction::Linear), 128);
}

#[test]
fn ct_small_uses_the_rescale_and_a_min_max_window() {
    let obj = crate::open(&load("pydicom/CT_small.dcm")).unwrap();
    let (_, _, values) = modality_values(&obj, 0).unwrap();
    let decoded = obj.decode_pixel_data().unwrap();
    let stored: Vec<i16> = decoded
        .to_vec_with_options(
            &dicom_pixeldata::ConvertOptions::new().with_modality_lut(dicom_pixeldata::ModalityLutOption::None),
        )
        .unwrap();
    // RescaleIntercept -1024.
    for (v, s) in values.iter().zip(&stored) {
        assert_eq!(*v, f32::from(*s) - 1024.0);
    }
    let f = one("pydicom/CT_small.dcm");
    assert_eq!((f.width, f.height), (128, 128));
    let (lo, hi) = f.rgb.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
    assert_eq!((lo, hi), (0, 255));
}

#[test]
fn jpeg2000_nm_renders() {
    let f = one("pydicom/JPEG2000.dcm");
    assert_eq!((f.width, f.height), (256, 1024));
    assert!(gray_levels(&f) > 50);
}

#[test]
fn color_images_are_colored_and_agree() {
    let rle = one("pydicom/SC_rgb_rle.dcm");
    let jpeg = one("pydicom/SC_rgb_jpeg_dcmtk.dcm");
    let ybr = one("pydicom/SC_ybr_full_422_uncompressed.dcm");
    for (name, f) in [("rle", &rle), ("jpeg", &jpeg), ("ybr422", &ybr)] {
        assert_eq!((f.width, f.height), (100, 100), "{name}");
        assert!(colored_pixels(f) > 3000, "{name}: {} colored pixels", colored_pixels(f));
    }
    // The same color bars: red, green and blue bands at known rows (x = 50).
    let bands = [
        (5, [255, 0, 0]),
        (15, [255, 128, 128]),
        (25, [0, 255, 0]),
        (35, [128, 255, 128]),
        (45, [0, 0, 255]),
        (55, [128, 128, 255]),
        (65, [0, 0, 0]),
        (75, [64, 64, 64]),
        (85, [192, 192, 192]),
        (95, [255, 255, 255]),
    ];
    for (y, expected) in bands {
        assert_eq!(pixel(&rle, 50, y), expected, "RLE row {y}");
        for (name, f) in [("jpeg", &jpeg), ("ybr422", &ybr)] {
            let got = pixel(f, 50, y);
            let ok = got.iter().zip(expected).all(|(&g, e)| (i32::from(g) - i32::from(e)).abs() <= 8);
            assert!(ok, "{name} row {y}: {got:?}, expected about {expected:?}");
        }
    }
    let (m_rle, m_jpeg, m_ybr) = (mean_rgb(&rle), mean_rgb(&jpeg), mean_rgb(&ybr));
    assert!(close(m_rle, m_jpeg, 4.0), "mean colors: RLE {m_rle:?} vs JPEG {m_jpeg:?}");
    assert!(close(m_rle, m_ybr, 4.0), "mean colors: RLE {m_rle:?} vs YBR_FULL_422 {m_ybr:?}");
}

#[test]
fn multi_frame_rle_gives_two_frames() {
    let f = frames("pydicom/SC_rgb_rle_2frame.dcm");
    assert_eq!(f.len(), 2);
    let single = one("pydicom/SC_rgb_rle.dcm");
    assert!(f[0] == single, "frame 1 is the single-frame image");
    assert!(colored_pixels(&f[1]) > 3000);
    assert!(f[0] != f[1]);
}

#[test]
fn rt_dose_gives_fifteen_scaled_frames() {
    let f = frames("pydicom/rtdose.dcm");
    assert_eq!(f.len(), 15);
    assert!(f.iter().all(|f| (f.width, f.height) == (10, 10) && is_gray(f)));
    assert!(f.iter().any(|f| gray_levels(f) > 10));
    let obj = crate::open(&load("pydicom/rtdose.dcm")).unwrap();
    let decoded = obj.decode_pixel_data().unwrap();
    let frame = 7;
    let raw = decoded.frame_data(frame).unwrap();
    let (w, h, dose) = modality_values(&obj, frame).unwrap();
    assert_eq!((w, h, dose.len()), (10, 10, 100));
    for (v, c) in dose.iter().zip(raw.chunks_exact(4)) {
        let stored = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        assert!((f64::from(*v) - f64::from(stored) * 1e-6).abs() < 1e-6, "{v} vs {stored}");
    }
    assert!(matches!(modality_values(&obj, 15), Err(DisplayError::FrameOutOfRange { frame: 15, frames: 15 })));
}

#[test]
fn broken_files_give_errors_naming_the_reason() {
    let jpeg = error("pydicom/JPEG-lossy.dcm");
    assert!(jpeg.contains("JPEG Extended") && jpeg.contains("1.2.840.10008.1.2.4.51"), "{jpeg}");
    // Its 12-bit stream is broken (libjpeg refuses it too).
    assert!(jpeg.contains("12-bit") && jpeg.contains("spectral selection"), "{jpeg}");
    let truncated = error("pydicom/MR_truncated.dcm");
    assert!(truncated.starts_with("pixel data is truncated"), "{truncated}");
    assert_eq!(error("pydicom/test-SR.dcm"), "no pixel data");
    for e in [jpeg, truncated] {
        assert!(!e.contains('\n'), "{e}");
    }
    assert!(matches!(render(b"not dicom at all"), Err(DisplayError::Read(_))));
}

#[test]
fn dataset_without_meta_renders_like_the_original() {
    // no_meta.dcm is CT_small's dataset (Explicit VR Little Endian) without preamble and
    // file meta, after one stray byte.
    assert!(one("pydicom/no_meta.dcm") == one("pydicom/CT_small.dcm"));
}

#[test]
fn one_bit_segmentation_renders_black_and_white() {
    let f = one("pydicom/liver_1frame.dcm");
    assert_eq!((f.width, f.height), (512, 512));
    assert!(is_gray(&f));
    let white = f.rgb.chunks_exact(3).filter(|p| p[0] == 255).count();
    assert!(f.rgb.iter().all(|&v| v == 0 || v == 255));
    assert!(white > 1000 && white < 512 * 512 / 2, "{white} white pixels");
}

/// A small Explicit VR Little Endian instance for the cases the test files lack.
fn synthetic(
    pi: &str,
    (rows, cols): (u16, u16),
    spp: u16,
    bits: (u16, u16, u16),
    pixels: PrimitiveValue,
) -> DefaultDicomObject {
    let (allocated, stored, signed) = bits;
    let vr = if allocated == 8 { VR::OB } else { VR::OW };
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7")),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3.4.5")),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(spp)),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(pi)),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(allocated)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(stored)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(stored - 1)),
        DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(signed)),
        DataElement::new(tags::PIXEL_DATA, vr, pixels),
    ]);
    obj.with_meta(
        dicom_object::FileMetaTableBuilder::new()
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
            .media_storage_sop_instance_uid("1.2.3.4.5")
            .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
}

#[test]
fn monochrome1_is_inverted_after_windowing() {
    let mono2 = one("pydicom/MR_small.dcm");
    let mut obj = crate::open(&load("pydicom/MR_small.dcm")).unwrap();
    obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME1")));
    let mono1 = render_object(&obj).unwrap().remove(0);
    assert!(mono1.rgb.iter().zip(&mono2.rgb).all(|(a, b)| *a == 255 - *b));
    // Modality values are not inverted.
    let (_, _, v1) = modality_values(&obj, 0).unwrap();
    let obj2 = crate::open(&load("pydicom/MR_small.dcm")).unwrap();
    assert_eq!(v1, modality_values(&obj2, 0).unwrap().2);
}

#[test]
fn palette_color_goes_through_the_lookup_tables() {
    let mut obj = synthetic("PALETTE COLOR", (2, 2), 1, (8, 8, 0), PrimitiveValue::U8(vec![0u8, 1, 2, 3].into()));
    let descriptor = PrimitiveValue::U16(vec![4u16, 0, 16].into());
    for (d, t, lut) in [
        (
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            [0u16, 65535, 0, 0],
        ),
        (
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            [0, 0, 65535, 0x8000],
        ),
        (
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            [0, 0, 0, 65535],
        ),
    ] {
        obj.put(DataElement::new(d, VR::US, descriptor.clone()));
        obj.put(DataElement::new(t, VR::OW, PrimitiveValue::U16(lut.to_vec().into())));
    }
    let f = render_object(&obj).unwrap().remove(0);
    assert_eq!(f.rgb, [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 128, 255]);
    let (_, _, lum) = modality_values(&obj, 0).unwrap();
    // Black, red, green, and blue with half green: luminance 0, 76, 150, 104.
    assert!(lum[0] == 0.0 && lum[2] > lum[3] && lum[3] > lum[1] && lum[1] > 70.0, "{lum:?}");
}

#[test]
fn planar_rgb_and_native_ybr_full() {
    let planar = {
        let mut obj = synthetic("RGB", (1, 2), 3, (8, 8, 0), PrimitiveValue::U8(vec![255u8, 0, 0, 255, 10, 20].into()));
        obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(1u16)));
        render_object(&obj).unwrap().remove(0)
    };
    assert_eq!(planar.rgb, [255, 0, 10, 0, 255, 20]);
    // Y 76 Cb 85 Cr 255 is pure red in full-range YCbCr.
    let ybr = synthetic("YBR_FULL", (1, 1), 3, (8, 8, 0), PrimitiveValue::U8(vec![76u8, 85, 255, 0].into()));
    let f = render_object(&ybr).unwrap().remove(0);
    let ok = f.rgb.iter().zip([255, 0, 0]).all(|(&g, e)| (i32::from(g) - e).abs() <= 2);
    assert!(ok, "{:?}", f.rgb);
}

#[test]
fn signed_samples_use_bits_stored() {
    let obj = synthetic("MONOCHROME2", (1, 2), 1, (16, 12, 1), PrimitiveValue::U16(vec![0x0FFFu16, 0x0001].into()));
    assert_eq!(modality_values(&obj, 0).unwrap().2, [-1.0, 1.0]);
    assert_eq!(render_object(&obj).unwrap()[0].rgb, [0, 0, 0, 255, 255, 255]);
    let short = synthetic("MONOCHROME2", (2, 2), 1, (16, 16, 0), PrimitiveValue::U16(vec![1u16, 2, 3].into()));
    let e = render_object(&short).unwrap_err().to_string();
    assert!(e.starts_with("pixel data is truncated"), "{e}");
}

#[test]
fn codec_output_larger_than_the_header_says_is_an_error() {
    let mut obj = crate::open(&load("arterys/test_2d/1.dcm")).unwrap();
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(512u16)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(512u16)));
    // Refused before the codec runs (it would fill the stream's 1024 x 1024).
    let e = render_object(&obj).unwrap_err().to_string();
    assert!(e.contains("the JPEG stream in fragment 0 declares 1024x1024 where the dataset says 512x512"), "{e}");
}

/// Every test file renders to frames of the stated size, or fails with a one-line reason;
/// the Arterys test studies all render, none as a blank image.
#[test]
fn every_test_file_renders_or_names_its_reason() {
    let mut rendered = 0;
    for sub in ["arterys/test_2d", "arterys/test_3d", "pydicom"] {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{DIR}{sub}")).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let name = path.display().to_string();
            match render(&std::fs::read(&path).unwrap()) {
                Ok(frames) => {
                    assert!(!frames.is_empty(), "{name}: no frames");
                    for f in &frames {
                        assert_eq!(f.rgb.len(), f.width as usize * f.height as usize * 3, "{name}");
                    }
                    let colours: std::collections::HashSet<&[u8]> = frames[0].rgb.chunks(3).collect();
                    assert!(colours.len() > 1, "{name}: a blank frame");
                    rendered += 1;
                }
                Err(e) => {
                    assert!(!sub.starts_with("arterys"), "{name}: {e}");
                    let e = e.to_string();
                    assert!(!e.is_empty() && !e.contains('\n'), "{name}: {e:?}");
                }
            }
        }
    }
    assert!(rendered >= 20, "only {rendered} test files rendered");
}

#[test]
fn a_voi_lut_is_applied_and_preferred_to_a_window() {
    // Found by tests/corpus_voi.rs: the VOI LUT Sequence was ignored (the window, or min-max,
    // drawn instead). Signed pixels, a table from -1 (SS) with 12-bit entries.
    let pixels = PrimitiveValue::I16(vec![-2i16, -1, 0, 5].into());
    let mut obj = synthetic("MONOCHROME2", (1, 4), 1, (16, 12, 1), pixels);
    let lut = InMemDicomObject::from_element_iter([
        DataElement::new(tags::LUT_DESCRIPTOR, VR::SS, PrimitiveValue::I16(vec![4i16, -1, 12].into())),
        DataElement::new(tags::LUT_DATA, VR::OW, PrimitiveValue::U16(vec![4095u16, 0, 2048, 1024].into())),
    ]);
    obj.put(DataElement::new(tags::VOILUT_SEQUENCE, VR::SQ, dicom_core::value::DataSetSequence::from(vec![lut])));
    obj.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, PrimitiveValue::from("0")));
    obj.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, PrimitiveValue::from("10")));
    let f = render_object(&obj).unwrap().remove(0);
    // Below the table: its first entry; past it: its last; entries scaled from 0..4095.
    let levels: Vec<u8> = f.rgb.chunks_exact(3).map(|p| p[0]).collect();
    assert_eq!(levels, [255, 255, 0, 64]);
}
