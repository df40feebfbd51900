//! Hostile DICOM files, a few hundred bytes to a few KB each, for tests and fuzzing: each declares
//! far more than it has (a 3.5 GB element, 2^31-1 frames, a 65535 x 65535 image without pixels).
//! [`crate::open`], [`crate::InstanceInfo::read`] and [`crate::limits::scan`] refuse them
//! without allocating what they declare. Others ask for work out of proportion to their size
//! (a segmented palette whose indirect segments replay each other, [`nested_segmented_lut`]):
//! [`crate::display`] refuses them within a bound linear in their size.
//!
//! ```
//! use arterys_viewer::hostile;
//! let bomb = hostile::declared_element(hostile::Encoding::ExplicitOb, hostile::BOMB);
//! assert!(bomb.len() < 1024);
//! assert!(arterys_viewer::InstanceInfo::read(&bomb).is_err());
//! ```

/// The length the bomb files declare: 3.5 GB.
pub const BOMB: u32 = 3_500_000_000;

/// How the oversized element of [`declared_element`] is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A private OB element, explicit VR.
    ExplicitOb,
    /// A private UN element, explicit VR.
    ExplicitUn,
    /// PatientName in implicit VR little endian.
    Implicit,
    /// The pixel data of a 512 x 512 image, explicit VR.
    PixelData,
}

const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const IMPLICIT: &str = "1.2.840.10008.1.2";
const SC: &str = "1.2.840.10008.5.1.4.1.1.7";

/// An explicit VR little endian element.
fn el(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let long = matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT");
    let mut out = header(group, elem, vr, if long { None } else { Some(value.len() as u16) });
    if long {
        out.extend((value.len() as u32).to_le_bytes());
    }
    out.extend(value);
    out
}

fn header(group: u16, elem: u16, vr: &[u8; 2], short_len: Option<u16>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend(group.to_le_bytes());
    out.extend(elem.to_le_bytes());
    out.extend(vr);
    match short_len {
        Some(l) => out.extend(l.to_le_bytes()),
        None => out.extend([0, 0]),
    }
    out
}

/// A header with a 4-byte length (the value itself is not there).
fn long_header(group: u16, elem: u16, vr: &[u8; 2], len: u32) -> Vec<u8> {
    let mut out = header(group, elem, vr, None);
    out.extend(len.to_le_bytes());
    out
}

fn item(len: u32) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF, 0x00, 0xE0];
    out.extend(len.to_le_bytes());
    out
}

/// A UI or text value padded to an even length.
fn text(s: &str, pad: u8) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    v
}

/// A Part 10 file in transfer syntax `ts` around `dataset`.
pub fn part10(ts: &str, dataset: &[u8]) -> Vec<u8> {
    let mut meta = Vec::new();
    meta.extend(el(0x0002, 0x0001, b"OB", &[0, 1]));
    meta.extend(el(0x0002, 0x0002, b"UI", &text(SC, 0)));
    meta.extend(el(0x0002, 0x0003, b"UI", &text("1.2.826.0.1.3680043.10.1", 0)));
    meta.extend(el(0x0002, 0x0010, b"UI", &text(ts, 0)));
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    out.extend(el(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    out.extend(meta);
    out.extend(dataset);
    out
}

/// SOP class, instance, study and series (explicit VR).
fn ids(sop_instance: &str, series: &str) -> Vec<u8> {
    let mut d = el(0x0008, 0x0016, b"UI", &text(SC, 0));
    d.extend(el(0x0008, 0x0018, b"UI", &text(sop_instance, 0)));
    d.extend(el(0x0008, 0x0060, b"CS", &text("OT", b' ')));
    d.extend(el(0x0020, 0x000D, b"UI", &text("1.2.826.0.1.3680043.10.2", 0)));
    d.extend(el(0x0020, 0x000E, b"UI", &text(series, 0)));
    d
}

/// Position `z` on an axial plane.
fn geometry(z: f64) -> Vec<u8> {
    let mut d = el(0x0020, 0x0032, b"DS", &text(&format!("0\\0\\{z}"), b' '));
    d.extend(el(0x0020, 0x0037, b"DS", &text("1\\0\\0\\0\\1\\0", b' ')));
    d
}

/// The image pixel module of a `rows x columns` 8-bit monochrome image.
fn pixel_module(rows: u16, columns: u16, frames: Option<&str>) -> Vec<u8> {
    let us = |e: u16, v: u16| el(0x0028, e, b"US", &v.to_le_bytes());
    let mut d = us(0x0002, 1);
    d.extend(el(0x0028, 0x0004, b"CS", &text("MONOCHROME2", b' ')));
    if let Some(f) = frames {
        d.extend(el(0x0028, 0x0008, b"IS", &text(f, b' ')));
    }
    for (e, v) in [(0x0010, rows), (0x0011, columns), (0x0100, 8), (0x0101, 8), (0x0102, 7), (0x0103, 0)] {
        d.extend(us(e, v));
    }
    d
}

/// A file whose one element declares `len` bytes that are not there, encoded as `encoding`.
pub fn declared_element(encoding: Encoding, len: u32) -> Vec<u8> {
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    match encoding {
        Encoding::ExplicitOb => d.extend(long_header(0x0009, 0x1010, b"OB", len)),
        Encoding::ExplicitUn => d.extend(long_header(0x0011, 0x1010, b"UN", len)),
        Encoding::PixelData => {
            d.extend(pixel_module(512, 512, None));
            d.extend(long_header(0x7FE0, 0x0010, b"OB", len));
        }
        Encoding::Implicit => {
            let mut i = Vec::new();
            for (e, v) in [(0x0016u16, text(SC, 0)), (0x0018, text("1.2.826.0.1.3680043.10.3", 0))] {
                i.extend(0x0008u16.to_le_bytes());
                i.extend(e.to_le_bytes());
                i.extend((v.len() as u32).to_le_bytes());
                i.extend(v);
            }
            i.extend([0x10, 0x00, 0x10, 0x00]);
            i.extend(len.to_le_bytes());
            i.extend([b'A'; 64]);
            return part10(IMPLICIT, &i);
        }
    }
    d.extend([0u8; 64]);
    part10(EXPLICIT, &d)
}

/// A private UN element of undefined length (read as a sequence) whose item holds an element
/// declaring [`BOMB`] bytes.
pub fn undefined_length_un_sequence() -> Vec<u8> {
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    d.extend(long_header(0x0019, 0x1010, b"UN", u32::MAX));
    d.extend(item(u32::MAX));
    d.extend(long_header(0x0019, 0x1011, b"OB", BOMB));
    d.extend([0u8; 64]);
    part10(EXPLICIT, &d)
}

/// A 16 x 16 8-bit image (256 bytes of pixel data) declaring `frames` frames.
pub fn frames(frames: &str) -> Vec<u8> {
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    d.extend(pixel_module(16, 16, Some(frames)));
    d.extend(el(0x7FE0, 0x0010, b"OB", &[128u8; 256]));
    part10(EXPLICIT, &d)
}

/// An image module of `rows x columns` with no pixel data at all.
pub fn image_without_pixels(rows: u16, columns: u16) -> Vec<u8> {
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    d.extend(geometry(0.0));
    d.extend(pixel_module(rows, columns, None));
    part10(EXPLICIT, &d)
}

/// Sequences nested `depth` deep (undefined lengths), each a few bytes.
pub fn nested_sequences(depth: usize) -> Vec<u8> {
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    for _ in 0..depth {
        d.extend(long_header(0x0019, 0x1010, b"SQ", u32::MAX));
        d.extend(item(u32::MAX));
    }
    part10(EXPLICIT, &d)
}

/// One series of two instances with geometry: at z = -1 one without pixels (no image
/// module), at z = 0 a 16 x 16 image. Sorted, the one without pixels comes first.
pub fn series_with_an_instance_without_pixels() -> [Vec<u8>; 2] {
    let series = "1.2.826.0.1.3680043.10.5";
    let mut empty = ids("1.2.826.0.1.3680043.10.6", series);
    empty.extend(geometry(-1.0));
    let mut image = ids("1.2.826.0.1.3680043.10.7", series);
    image.extend(geometry(0.0));
    image.extend(pixel_module(16, 16, None));
    image.extend(el(0x7FE0, 0x0010, b"OB", &[128u8; 256]));
    [part10(EXPLICIT, &empty), part10(EXPLICIT, &image)]
}

/// The words of a segmented palette table whose indirect segments nest 8 levels deep, each
/// level pointing `k` times at the next (each time for `k` segments), over `k` empty discrete
/// segments: `3 + 34 k` words that ask a naive expansion for about `k`^9 segment reads.
///
/// Indirect offsets count from the start of the segments being read (as pydicom reads them):
/// the first level, read at the top, points past the leading discrete segment; the others
/// point one level on.
pub fn nested_segments(k: u16) -> Vec<u16> {
    let level = 4 * k;
    // One entry first: indirect segments start from the table's last value.
    let mut words = vec![0, 1, 0x8000];
    for depth in 0..8 {
        let offset = if depth == 0 { 3 + level } else { level };
        for _ in 0..k {
            words.extend([2, k, offset, 0]);
        }
    }
    for _ in 0..k {
        words.extend([0, 0]);
    }
    words
}

/// An 8 x 8 PALETTE COLOR image whose red table is [`nested_segments`]`(k)` (16-bit words;
/// 2.8 KB for `k` = 32) and whose green and blue tables are one discrete entry each.
pub fn nested_segmented_lut(k: u16) -> Vec<u8> {
    let words = |w: &[u16]| w.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let us = |e: u16, v: &[u16]| el(0x0028, e, b"US", &words(v));
    let mut d = ids("1.2.826.0.1.3680043.10.3", "1.2.826.0.1.3680043.10.4");
    d.extend(us(0x0002, &[1]));
    d.extend(el(0x0028, 0x0004, b"CS", &text("PALETTE COLOR", b' ')));
    for (e, v) in [(0x0010, 8), (0x0011, 8), (0x0100, 8), (0x0101, 8), (0x0102, 7), (0x0103, 0)] {
        d.extend(us(e, &[v]));
    }
    // Red, green and blue descriptors: one entry from 0, 16 bits.
    for e in [0x1101, 0x1102, 0x1103] {
        d.extend(us(e, &[1, 0, 16]));
    }
    d.extend(el(0x0028, 0x1221, b"OW", &words(&nested_segments(k))));
    for e in [0x1222, 0x1223] {
        d.extend(el(0x0028, e, b"OW", &words(&[0, 1, 0x8000])));
    }
    d.extend(el(0x7FE0, 0x0010, b"OB", &[0u8; 64]));
    part10(EXPLICIT, &d)
}
