//! Crafted files: each declares more than it has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::hostile::{part10, BOMB};
use crate::DicomError;

/// An explicit VR little endian element.
fn el(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(group.to_le_bytes());
    out.extend(elem.to_le_bytes());
    out.extend(vr);
    if walk_short(vr) {
        out.extend((value.len() as u16).to_le_bytes());
    } else {
        out.extend([0, 0]);
        out.extend((value.len() as u32).to_le_bytes());
    }
    out.extend(value);
    out
}

fn walk_short(vr: &[u8; 2]) -> bool {
    !matches!(vr, b"OB" | b"OW" | b"OF" | b"SQ" | b"UN" | b"UT" | b"UC" | b"UR" | b"OD" | b"OL" | b"OV")
}

/// A header with a 4-byte length and no value (the value is "declared").
fn long_header(group: u16, elem: u16, vr: &[u8; 2], len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(group.to_le_bytes());
    out.extend(elem.to_le_bytes());
    out.extend(vr);
    out.extend([0, 0]);
    out.extend(len.to_le_bytes());
    out
}

fn text(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(if s.chars().all(|c| c.is_ascii_digit() || c == '.') { 0 } else { b' ' });
    }
    v
}

const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const IMPLICIT: &str = "1.2.840.10008.1.2";

fn ids() -> Vec<u8> {
    let mut d = el(0x0008, 0x0016, b"UI", &text("1.2.840.10008.5.1.4.1.1.7"));
    d.extend(el(0x0008, 0x0018, b"UI", &text("1.2.3.4")));
    d
}

/// An image module: rows x columns, 8 bits, one sample.
fn image(rows: u16, columns: u16, frames: Option<&str>) -> Vec<u8> {
    let mut d = ids();
    d.extend(el(0x0028, 0x0002, b"US", &1u16.to_le_bytes()));
    d.extend(el(0x0028, 0x0004, b"CS", &text("MONOCHROME2")));
    if let Some(f) = frames {
        d.extend(el(0x0028, 0x0008, b"IS", &text(f)));
    }
    d.extend(el(0x0028, 0x0010, b"US", &rows.to_le_bytes()));
    d.extend(el(0x0028, 0x0011, b"US", &columns.to_le_bytes()));
    d.extend(el(0x0028, 0x0100, b"US", &8u16.to_le_bytes()));
    d.extend(el(0x0028, 0x0101, b"US", &8u16.to_le_bytes()));
    d.extend(el(0x0028, 0x0102, b"US", &7u16.to_le_bytes()));
    d.extend(el(0x0028, 0x0103, b"US", &0u16.to_le_bytes()));
    d
}

fn assert_past_end(bytes: &[u8]) {
    for r in [
        crate::open(bytes).map(|_| ()),
        crate::InstanceInfo::read(bytes).map(|_| ()),
        crate::open_headers(bytes).map(|_| ()),
    ] {
        match r {
            Err(DicomError::Limits(LimitError::PastEnd { declared, .. })) => assert_eq!(declared, BOMB),
            other => panic!("expected PastEnd, got {other:?}"),
        }
    }
}

#[test]
fn an_ob_element_past_the_end_is_refused_before_reading() {
    let mut d = ids();
    d.extend(long_header(0x0009, 0x1010, b"OB", BOMB));
    d.extend([0u8; 64]);
    assert_past_end(&part10(EXPLICIT, &d));
}

#[test]
fn an_un_element_past_the_end_is_refused() {
    let mut d = ids();
    d.extend(long_header(0x0011, 0x1010, b"UN", BOMB));
    assert_past_end(&part10(EXPLICIT, &d));
}

#[test]
fn an_implicit_vr_element_past_the_end_is_refused() {
    let mut d = Vec::new();
    for (tag, v) in [((0x0008u16, 0x0016u16), text("1.2.840.10008.5.1.4.1.1.7")), ((0x0008, 0x0018), text("1.2.3"))] {
        d.extend(tag.0.to_le_bytes());
        d.extend(tag.1.to_le_bytes());
        d.extend((v.len() as u32).to_le_bytes());
        d.extend(v);
    }
    d.extend(0x0010u16.to_le_bytes());
    d.extend(0x0010u16.to_le_bytes());
    d.extend(BOMB.to_le_bytes());
    assert_past_end(&part10(IMPLICIT, &d));
    // The same as a bare dataset (no file meta).
    match crate::open(&d) {
        Err(DicomError::Limits(LimitError::PastEnd { declared: BOMB, .. })) => {}
        other => panic!("expected PastEnd, got {other:?}"),
    }
}

#[test]
fn pixel_data_past_the_end_is_refused_but_headers_still_read() {
    let mut d = image(512, 512, None);
    d.extend(long_header(0x7FE0, 0x0010, b"OW", BOMB));
    d.extend([0u8; 100]);
    let f = part10(EXPLICIT, &d);
    assert!(matches!(crate::open(&f), Err(DicomError::Limits(LimitError::PastEnd { declared: BOMB, .. }))));
    assert!(matches!(crate::InstanceInfo::read(&f), Err(DicomError::Limits(LimitError::PastEnd { .. }))));
    // A header-only read stops before the pixel data (the display pipeline tells "truncated").
    assert!(crate::open_headers(&f).is_ok());
}

#[test]
fn lengths_inside_a_defined_length_sequence_are_checked() {
    let mut item = Vec::new();
    item.extend(long_header(0x0009, 0x1010, b"OB", BOMB));
    let mut seq_value = Vec::new();
    seq_value.extend(0xFFFEu16.to_le_bytes());
    seq_value.extend(0xE000u16.to_le_bytes());
    seq_value.extend((item.len() as u32).to_le_bytes());
    seq_value.extend(&item);
    let mut d = ids();
    d.extend(el(0x0008, 0x1140, b"SQ", &seq_value));
    assert_past_end(&part10(EXPLICIT, &d));
}

#[test]
fn an_undefined_length_un_sequence_is_walked() {
    let mut d = ids();
    d.extend(long_header(0x0019, 0x1010, b"UN", 0xFFFF_FFFF));
    d.extend(0xFFFEu16.to_le_bytes());
    d.extend(0xE000u16.to_le_bytes());
    d.extend(0xFFFF_FFFFu32.to_le_bytes());
    d.extend(long_header(0x0019, 0x1011, b"OB", BOMB));
    assert_past_end(&part10(EXPLICIT, &d));
}

#[test]
fn deep_nesting_is_refused() {
    let mut d = ids();
    for _ in 0..10_000 {
        d.extend(long_header(0x0019, 0x1010, b"SQ", 0xFFFF_FFFF));
        d.extend(0xFFFEu16.to_le_bytes());
        d.extend(0xE000u16.to_le_bytes());
        d.extend(0xFFFF_FFFFu32.to_le_bytes());
    }
    assert!(matches!(crate::open(&part10(EXPLICIT, &d)), Err(DicomError::Limits(LimitError::TooDeep { .. }))));
}

#[test]
fn rows_and_columns_without_pixel_data_are_refused() {
    let f = part10(EXPLICIT, &image(65535, 65535, None));
    let e = crate::InstanceInfo::read(&f).unwrap_err();
    assert!(matches!(e, DicomError::Limits(LimitError::NoPixelData { rows: 65535, columns: 65535 })), "{e:?}");
    assert_eq!(e.to_string(), "the image declares 65535x65535 pixels but has no pixel data");
}

#[test]
fn frames_need_their_pixel_data() {
    for frames in ["2147483647", "10000000"] {
        let mut d = image(16, 16, Some(frames));
        d.extend(el(0x7FE0, 0x0010, b"OB", &[7u8; 256]));
        let f = part10(EXPLICIT, &d);
        let e = crate::InstanceInfo::read(&f).unwrap_err();
        assert!(matches!(e, DicomError::Limits(LimitError::PixelDataShort { actual: 256, .. })), "{e:?}");
        assert!(crate::open(&f).is_err());
        assert!(decoded_size(&f).is_err());
    }
    // One frame: exactly backed.
    let mut d = image(16, 16, Some("1"));
    d.extend(el(0x7FE0, 0x0010, b"OB", &[7u8; 256]));
    let f = part10(EXPLICIT, &d);
    assert_eq!(crate::InstanceInfo::read(&f).unwrap().number_of_frames, 1);
    assert_eq!(decoded_size(&f).unwrap(), 256);
}

#[test]
fn encapsulated_frames_need_fragments() {
    let mut d = image(16, 16, Some("1000"));
    d.extend(long_header(0x7FE0, 0x0010, b"OB", 0xFFFF_FFFF));
    for len in [0u32, 4] {
        d.extend(0xFFFEu16.to_le_bytes());
        d.extend(0xE000u16.to_le_bytes());
        d.extend(len.to_le_bytes());
        d.extend(vec![0xFFu8; len as usize]);
    }
    d.extend(0xFFFEu16.to_le_bytes());
    d.extend(0xE0DDu16.to_le_bytes());
    d.extend(0u32.to_le_bytes());
    let f = part10("1.2.840.10008.1.2.4.50", &d);
    let e = crate::InstanceInfo::read(&f).unwrap_err();
    assert!(
        matches!(e, DicomError::Limits(LimitError::MoreFramesThanFragments { frames: 1000, fragments: 1 })),
        "{e:?}"
    );
}

#[test]
fn every_test_file_that_reads_today_passes_the_scan() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom");
    let mut seen = 0;
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if p.ends_with("MR_truncated.dcm") {
                assert!(matches!(scan(&bytes), Err(LimitError::PastEnd { .. })));
                continue;
            }
            if p.extension().is_some_and(|e| e == "dcm") {
                let s = scan(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                s.check(DEFAULT_MAX_DECODED_BYTES).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                seen += 1;
            }
        }
    }
    // Every .dcm of testdata but the truncated one (23 when this test was written).
    assert!(seen >= 23, "only {seen} files scanned");
}

/// Found by the `dicom_metadata` fuzz target (fuzz/regressions/dicom_metadata_ul_length_7.bin):
/// a bare implicit VR dataset with a 7-byte UL. dicom-rs reads one value and moves on 7 bytes,
/// every later header is read 3 bytes off, and one of them declared 167 MB (594 MB peak).
#[test]
fn a_length_that_is_not_a_multiple_of_the_value_size_is_refused() {
    let mut b = vec![0u8; 112];
    for (at, v) in [(3, 2), (15, 7), (46, 0x24), (80, 3), (111, 0x0a)] {
        b[at] = v;
    }
    let regression = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/dicom_metadata_ul_length_7.bin");
    assert_eq!(std::fs::read(regression).unwrap(), b);
    let e = crate::open_headers(&b).unwrap_err();
    assert!(matches!(e, DicomError::Limits(LimitError::Malformed { offset: 11, .. })), "{e:?}");
}

/// Found by the `dicom_metadata` fuzz target (fuzz/regressions/dicom_metadata_bare_past_pixel_data.bin):
/// a bare dataset with an element declaring 3.8 GB after its pixel data. A header-only read
/// of a bare dataset still has dicom-rs read it whole, so the walk must cover all of it.
#[test]
fn a_bare_dataset_is_walked_past_its_pixel_data_even_for_headers() {
    let f = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/dicom_metadata_bare_past_pixel_data.bin"
    ))
    .unwrap();
    let e = crate::open_headers(&f).unwrap_err();
    assert!(matches!(e, DicomError::Limits(LimitError::PastEnd { declared: 3_808_675_843, .. })), "{e:?}");
}

/// Found by the `dicom_metadata` fuzz target (fuzz/regressions/dicom_metadata_stray_delimiters.bin):
/// item and sequence delimiters outside any sequence, after which dicom-rs allocated 700 MB.
#[test]
fn delimiters_outside_any_sequence_are_refused() {
    let f =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/dicom_metadata_stray_delimiters.bin"))
            .unwrap();
    let e = crate::open_headers(&f).unwrap_err();
    assert!(matches!(e, DicomError::Limits(LimitError::Malformed { offset: 146, .. })), "{e:?}");
}

/// Found by the `dicom_metadata` fuzz target (fuzz/regressions/dicom_metadata_meta_group_length.bin):
/// dicom-rs ends the file meta where its group length (0002,0000) says, not where group 0002
/// ends; the walk took the dataset to start elsewhere and missed an element declaring 1.98 GB.
#[test]
fn a_header_only_walk_stops_where_dicom_rs_stops() {
    let f =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/dicom_metadata_meta_group_length.bin"))
            .unwrap();
    let e = crate::open_headers(&f).unwrap_err();
    assert!(matches!(e, DicomError::Limits(LimitError::PastEnd { declared: 1_987_475_062, .. })), "{e:?}");
}
