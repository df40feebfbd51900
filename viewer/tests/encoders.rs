//! Files compressed by other encoders than the one that made the pydicom corpus (GDCM's
//! gdcmconv, dcmtk's dcmcjpls and dcmcrle, pydicom with pylibjpeg-openjpeg; made by
//! testdata/dicom/encoders/generate), each decoded pixel for pixel as its uncompressed source:
//! JPEG-LS in every interleave mode (none, line, sample), JPEG 2000 and RLE, colour and
//! grayscale. Interleave mode none (three scans, one a colour plane) is what GDCM writes from
//! planar pixel data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_viewer::dicom_object::DefaultDicomObject;
use arterys_viewer::display;
use dicom_dictionary_std::tags;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/");

fn object(path: &str) -> DefaultDicomObject {
    let bytes = std::fs::read(format!("{DIR}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"));
    display::open(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Each file and the uncompressed file it was made from.
const LOSSLESS: &[(&str, &str)] = &[
    ("gdcm_rgb_jpegls_ilv_none.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("gdcm_rgb_jpegls_ilv_sample.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("dcmtk_rgb_jpegls_ilv_none.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("dcmtk_rgb_jpegls_ilv_line.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("gdcm_mr_jpegls.dcm", "MR_small.dcm"),
    ("dcmtk_ct_jpegls.dcm", "CT_small.dcm"),
    ("gdcm_rgb_j2k.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("gdcm_mr_j2k.dcm", "MR_small.dcm"),
    ("pydicom_rgb_j2k.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("pydicom_ct_j2k.dcm", "CT_small.dcm"),
    ("gdcm_rgb_rle.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("dcmtk_rgb_rle.dcm", "SC_rgb_jpeg_dcmd.dcm"),
    ("dcmtk_ct_rle.dcm", "CT_small.dcm"),
    ("pydicom_mr_rle.dcm", "MR_small.dcm"),
    ("pydicom_rgb_rle.dcm", "SC_rgb_jpeg_dcmd.dcm"),
];

#[test]
fn every_lossless_file_decodes_as_its_uncompressed_source() {
    for (name, source) in LOSSLESS {
        let (ours, original) = (object(&format!("encoders/{name}")), object(&format!("pydicom/{source}")));
        assert_ne!(ours.meta().transfer_syntax(), original.meta().transfer_syntax(), "{name}");
        let frames = display::render_object(&ours).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(frames == display::render_object(&original).unwrap(), "{name}: display pixels differ from {source}");
        if ours.element(tags::SAMPLES_PER_PIXEL).unwrap().to_int::<u16>().unwrap() == 1 {
            let values = display::modality_values(&ours, 0).unwrap();
            assert!(values == display::modality_values(&original, 0).unwrap(), "{name}: values differ from {source}");
        }
    }
}

/// dcmcjpls near-lossless with a maximum deviation of 3, by plane: every sample within 3 of
/// the source, and exactly what dcmtk's own decoder makes of it.
#[test]
fn jpeg_ls_near_lossless_by_plane_is_dcmtks_decoding() {
    let frame = display::render_object(&object("encoders/dcmtk_rgb_jpegls_near3_ilv_none.dcm")).unwrap().remove(0);
    let original = display::render_object(&object("pydicom/SC_rgb_jpeg_dcmd.dcm")).unwrap().remove(0);
    let max = frame.rgb.iter().zip(&original.rgb).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 3, "{max} levels from the original");
    assert!(frame.rgb != original.rgb, "lossy, so not identical");
    let dcmtk = display::render_object(&object("encoders/dcmtk_rgb_jpegls_near3_decoded.dcm")).unwrap().remove(0);
    assert!(frame == dcmtk, "not what dcmdjpls decodes");
}
