//! Pixel data that `dicom-pixeldata` decodes wrongly or not at all, rewritten as native
//! Explicit VR Little Endian pixel data (samples interleaved) before display:
//!
//! - native Explicit VR Big Endian: dicom-rs reads PixelData as 16-bit words, which leaves
//!   8-bit samples in OW pairwise swapped and 32-bit samples with their halves swapped;
//! - RLE Lossless with 32-bit samples (dicom-pixeldata's RLE decoder stops at 16);
//! - JPEG lossy declared RGB whose stream carries no colour-space marker (no JFIF, no Adobe
//!   APP14): the samples are RGB (PS3.5 8.2.1), but the JPEG decoder assumes YCbCr;
//! - JPEG lossy with 12-bit samples (grayscale), which dicom-pixeldata's JPEG decoder refuses
//!   ([`super::jpeg12`]); BitsStored, HighBit and PixelRepresentation then apply as for any
//!   16-bit native data;
//! - JPEG-LS, which dicom-pixeldata decodes only through CharLS (C++): decoded here in Rust
//!   ([`super::jpegls`]), every interleave mode.

use arterys_protocol::cancel;
use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, DicomValue, PrimitiveValue, VR};
use dicom_dictionary_std::uids::{JPEG_BASELINE8_BIT as JPEG_BASELINE, JPEG_EXTENDED12_BIT as JPEG_EXTENDED};
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::entries;

use super::{attr_u16, jpeg12, jpegls, DisplayError, EXPLICIT_VR_BIG_ENDIAN};

/// A rewritten copy of `obj` when its pixel data needs one, or `None`.
pub(super) fn repair(obj: &DefaultDicomObject) -> Result<Option<DefaultDicomObject>, DisplayError> {
    let Ok(Some(pixel_data)) = obj.element_opt(tags::PIXEL_DATA) else { return Ok(None) };
    let ts = obj.meta().transfer_syntax();
    let bits = attr_u16(obj, tags::BITS_ALLOCATED, "BitsAllocated")?;
    let spp = attr_u16(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?;
    let fail =
        |name: &str, reason: String| DisplayError::TransferSyntax { name: name.into(), uid: ts.to_owned(), reason };
    let bytes = match (ts, pixel_data.value()) {
        // 8- and 16-bit samples come out right from the 16-bit words.
        (EXPLICIT_VR_BIG_ENDIAN, DicomValue::Primitive(value)) if bits == 32 => match big_endian_stream(value) {
            Some(stream) => swap_to_little_endian(stream, 4),
            None => return Ok(None),
        },
        (uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS, DicomValue::PixelSequence(seq)) => {
            let (rows, cols) = (attr_u16(obj, tags::ROWS, "Rows")?, attr_u16(obj, tags::COLUMNS, "Columns")?);
            let frames = frames(obj, seq).map_err(|e| fail("JPEG-LS", e))?;
            each_frame(&frames, |n, frame| {
                jpegls::decode(frame, rows, cols, spp, bits).map_err(|e| fail("JPEG-LS", format!("frame {n}: {e}")))
            })?
        }
        (uids::RLE_LOSSLESS, DicomValue::PixelSequence(seq)) if bits == 32 => {
            let (rows, cols) = (attr_u16(obj, tags::ROWS, "Rows")?, attr_u16(obj, tags::COLUMNS, "Columns")?);
            let pixels = usize::from(rows) * usize::from(cols);
            let frames = frames(obj, seq).map_err(|e| fail("RLE Lossless", e))?;
            each_frame(&frames, |n, frame| {
                rle_frame(frame, pixels, usize::from(spp), usize::from(bits / 8))
                    .map_err(|e| fail("RLE Lossless", format!("frame {n}: {e}")))
            })?
        }
        (JPEG_BASELINE | JPEG_EXTENDED, DicomValue::PixelSequence(seq)) if spp == 1 && bits == 16 => {
            // Frames this cannot split, and 8-bit streams, are left to dicom-pixeldata.
            let Ok(frames) = frames(obj, seq) else { return Ok(None) };
            if !jpeg12::all_12_bit(&frames) {
                return Ok(None);
            }
            let (rows, cols) = (attr_u16(obj, tags::ROWS, "Rows")?, attr_u16(obj, tags::COLUMNS, "Columns")?);
            each_frame(&frames, |n, frame| {
                jpeg12::decode(n, frame, rows, cols).map_err(|e| fail("JPEG Extended (12-bit)", e))
            })?
        }
        (JPEG_BASELINE | JPEG_EXTENDED, DicomValue::PixelSequence(seq))
            if spp == 3 && crate::string(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB") =>
        {
            // Frames this cannot split are left to dicom-pixeldata.
            let Ok(frames) = frames(obj, seq) else { return Ok(None) };
            // 12-bit colour is not decoded: dicom-pixeldata's error names it.
            if !frames.iter().all(|f| jpeg_without_colour_marker(f)) || jpeg12::any_12_bit(&frames) {
                return Ok(None);
            }
            each_frame(&frames, |n, frame| {
                let mut decoder = jpeg_decoder::Decoder::new(frame);
                decoder.set_color_transform(jpeg_decoder::ColorTransform::RGB);
                decoder.decode().map_err(|e| fail("JPEG", format!("frame {n}: {e}")))
            })?
        }
        (_, DicomValue::PixelSequence(seq)) => return regroup(obj, seq).map_err(|e| fail("encapsulated", e)),
        _ => return Ok(None),
    };
    let mut fixed = obj.clone();
    let vr = if bits == 8 { VR::OB } else { VR::OW };
    fixed.put(DataElement::new(tags::PIXEL_DATA, vr, PrimitiveValue::from(bytes)));
    // Decoded frames are interleaved; native data keeps its planar configuration.
    if spp > 1 && ts != EXPLICIT_VR_BIG_ENDIAN {
        fixed.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16)));
    }
    fixed.update_meta(|meta| meta.set_transfer_syntax(&entries::EXPLICIT_VR_LITTLE_ENDIAN));
    Ok(Some(fixed))
}

/// Every frame decoded in turn (the request's cancellation checked before each), one after
/// another.
fn each_frame(
    frames: &[Vec<u8>],
    mut decode: impl FnMut(usize, &[u8]) -> Result<Vec<u8>, DisplayError>,
) -> Result<Vec<u8>, DisplayError> {
    let mut out = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        cancel::checkpoint()?;
        out.extend(decode(n, frame)?);
    }
    Ok(out)
}

/// A copy of `obj` with one fragment per frame, when its frames span several fragments:
/// dicom-rs gathers a frame's fragments by walking the fragments from the first one for every
/// frame (frames times fragments); grouped here once, in a walk over the fragments, it finds
/// each frame at its index.
fn regroup(
    obj: &DefaultDicomObject,
    seq: &PixelFragmentSequence<Vec<u8>>,
) -> Result<Option<DefaultDicomObject>, String> {
    let count = crate::int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    // One frame reads its fragments in one pass; video syntaxes hold one stream for all frames.
    let video = obj.meta().transfer_syntax().starts_with("1.2.840.10008.1.2.4.10");
    if count == 1 || seq.fragments().len() == count || video {
        return Ok(None);
    }
    let frames = group(count, seq)?;
    let mut fixed = obj.clone();
    fixed.put(DataElement::new(tags::PIXEL_DATA, VR::OB, pixel_sequence(Vec::new(), frames)));
    Ok(Some(fixed))
}

fn pixel_sequence(table: Vec<u32>, fragments: Vec<Vec<u8>>) -> DicomValue<dicom_object::InMemDicomObject, Vec<u8>> {
    DicomValue::PixelSequence(PixelFragmentSequence::new(table, fragments))
}

/// The pixel data's bytes as they were in the file (big-endian), from the values dicom-rs read.
fn big_endian_stream(value: &PrimitiveValue) -> Option<Vec<u8>> {
    Some(match value {
        PrimitiveValue::U8(v) => v.to_vec(),
        PrimitiveValue::U16(v) => v.iter().flat_map(|w| w.to_be_bytes()).collect(),
        PrimitiveValue::I16(v) => v.iter().flat_map(|w| w.to_be_bytes()).collect(),
        PrimitiveValue::U32(v) => v.iter().flat_map(|w| w.to_be_bytes()).collect(),
        PrimitiveValue::I32(v) => v.iter().flat_map(|w| w.to_be_bytes()).collect(),
        PrimitiveValue::F32(v) => v.iter().flat_map(|w| w.to_be_bytes()).collect(),
        _ => return None,
    })
}

/// Big-endian samples of `width` bytes to little-endian.
fn swap_to_little_endian(mut stream: Vec<u8>, width: usize) -> Vec<u8> {
    if width > 1 {
        stream.chunks_exact_mut(width).for_each(<[u8]>::reverse);
    }
    stream
}

/// The compressed bytes of each frame: one fragment a frame, all fragments for a single
/// frame, or fragments grouped by the Basic Offset Table. The table must ascend (PS3.5
/// A.4); each fragment's frame is then a binary search, so the grouping takes time linear in
/// the fragments, not fragments times frames.
fn frames(obj: &DefaultDicomObject, seq: &PixelFragmentSequence<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    let count = crate::int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    group(count, seq)
}

fn group(count: usize, seq: &PixelFragmentSequence<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    let fragments = seq.fragments();
    if count == 1 {
        return Ok(vec![fragments.concat()]);
    }
    if fragments.len() == count {
        return Ok(fragments.to_vec());
    }
    let table = seq.offset_table();
    if table.len() != count {
        return Err(format!("{} fragments for {count} frames and no offset table to group them", fragments.len()));
    }
    if table.windows(2).any(|w| w[0] > w[1]) {
        return Err("the basic offset table does not ascend".into());
    }
    let mut out = vec![Vec::new(); count];
    let mut position = 0u64;
    for fragment in fragments {
        let frame = table.partition_point(|&start| u64::from(start) <= position).saturating_sub(1);
        out[frame].extend_from_slice(fragment);
        position += 8 + fragment.len() as u64; // item tag and length, then the fragment
    }
    Ok(out)
}

/// One RLE Lossless frame (PS3.5 annex G) to interleaved little-endian samples.
pub(super) fn rle_frame(data: &[u8], pixels: usize, spp: usize, width: usize) -> Result<Vec<u8>, String> {
    let word = |i: usize| data.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let segments = word(0).ok_or("no RLE header")?;
    if segments != spp * width {
        return Err(format!("{segments} RLE segments where {spp} sample(s) of {width} bytes need {}", spp * width));
    }
    // PackBits makes at most 128 bytes of 2: less data cannot fill the frame.
    if data.len().saturating_mul(64) < pixels * segments {
        return Err(format!("{} bytes of RLE data cannot fill {pixels} pixels of {segments} bytes", data.len()));
    }
    let mut out = vec![0u8; pixels * spp * width];
    for segment in 0..segments {
        let start = word(1 + segment).ok_or("no RLE header")?;
        let end = if segment + 1 < segments { word(2 + segment).ok_or("no RLE header")? } else { data.len() };
        let bytes =
            data.get(start..end.max(start)).ok_or_else(|| format!("RLE segment {segment} is outside the frame"))?;
        let decoded = packbits(bytes, pixels);
        if decoded.len() < pixels {
            return Err(format!("RLE segment {segment} gives {} bytes for {pixels} pixels", decoded.len()));
        }
        // Segments run from the most significant byte of the first sample on.
        let (sample, byte) = (segment / width, width - 1 - segment % width);
        for (p, &b) in decoded.iter().take(pixels).enumerate() {
            out[(p * spp + sample) * width + byte] = b;
        }
    }
    Ok(out)
}

/// PackBits, stopping at `len` bytes.
fn packbits(src: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < src.len() && out.len() < len {
        let header = src[i] as i8;
        i += 1;
        if header >= 0 {
            let n = header as usize + 1;
            let end = (i + n).min(src.len());
            out.extend_from_slice(&src[i..end]);
            i = end;
        } else if header != -128 {
            let Some(&b) = src.get(i) else { break };
            out.extend(std::iter::repeat_n(b, 1 + (-(header as isize)) as usize));
            i += 1;
        }
    }
    out.truncate(len);
    out
}

/// Whether a JPEG stream has neither a JFIF APP0 nor a (whole) Adobe APP14 segment before its
/// frame header, nor component identifiers 'R' 'G' 'B' (which the decoder recognises itself).
fn jpeg_without_colour_marker(stream: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while let (Some(&0xFF), Some(&marker)) = (stream.get(i), stream.get(i + 1)) {
        let len = stream.get(i + 2..i + 4).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let body = stream.get(i + 4..(i + 2 + len).min(stream.len())).unwrap_or(&[]);
        match marker {
            0xE0 if body.starts_with(b"JFIF") => return false,
            // Only a whole Adobe segment has the transform flag (its 12th byte).
            0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => return false,
            // Frame header: precision, lines, samples per line, components, then id/sampling/table each.
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let ids: Vec<u8> = body.get(6..).unwrap_or(&[]).chunks(3).map(|c| c[0]).collect();
                return ids != b"RGB";
            }
            _ => {}
        }
        if len < 2 {
            return false;
        }
        i += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn seq(table: Vec<u32>, fragments: Vec<Vec<u8>>) -> PixelFragmentSequence<Vec<u8>> {
        PixelFragmentSequence::new(table, fragments)
    }

    #[test]
    fn the_offset_table_groups_fragments_into_frames() {
        // Frame 0: fragments of 2 and 4 bytes (10 and 12 with their headers); frame 1: one.
        let grouped = group(2, &seq(vec![0, 22], vec![vec![1, 2], vec![3, 4, 5, 6], vec![7]])).unwrap();
        assert_eq!(grouped, vec![vec![1, 2, 3, 4, 5, 6], vec![7]]);
    }

    #[test]
    fn frames_over_several_fragments_are_regrouped_one_fragment_a_frame() {
        // SC_rgb_rle_2frame's two frames, each cut in two fragments, with an offset table.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/SC_rgb_rle_2frame.dcm");
        let obj = super::super::open(&std::fs::read(path).unwrap()).unwrap();
        let Ok(Some(e)) = obj.element_opt(tags::PIXEL_DATA) else { panic!("no pixel data") };
        let DicomValue::PixelSequence(original) = e.value() else { panic!("not encapsulated") };
        assert_eq!(original.fragments().len(), 2);
        let (mut pieces, mut table, mut at) = (Vec::new(), Vec::new(), 0u32);
        for f in original.fragments() {
            table.push(at);
            let (a, b) = f.split_at(f.len() / 2);
            for piece in [a, b] {
                at += 8 + piece.len() as u32;
                pieces.push(piece.to_vec());
            }
        }
        let mut split = obj.clone();
        split.put(DataElement::new(tags::PIXEL_DATA, VR::OB, pixel_sequence(table, pieces)));
        let regrouped = regroup(&split, &seq(vec![], vec![])).map(|_| ()).err();
        assert!(regrouped.is_some(), "no fragments, no table: refused");
        let Ok(Some(e)) = split.element_opt(tags::PIXEL_DATA) else { panic!("no pixel data") };
        let DicomValue::PixelSequence(four) = e.value() else { panic!("not encapsulated") };
        let fixed = regroup(&split, four).unwrap().unwrap();
        let Ok(Some(e)) = fixed.element_opt(tags::PIXEL_DATA) else { panic!("no pixel data") };
        let DicomValue::PixelSequence(two) = e.value() else { panic!("not encapsulated") };
        assert_eq!(two.fragments(), original.fragments());
        assert_eq!(super::super::render_object(&split).unwrap(), super::super::render_object(&obj).unwrap());
    }

    #[test]
    fn an_offset_table_that_does_not_ascend_is_refused() {
        let err = group(2, &seq(vec![22, 0], vec![vec![1, 2], vec![3, 4, 5, 6], vec![7]])).unwrap_err();
        assert!(err.contains("does not ascend"), "{err}");
    }

    #[test]
    fn rle_data_too_short_to_fill_the_frame_is_refused_before_decoding() {
        // A header for one segment, then a 2-byte run of 128: at most 128 of 8192 pixels.
        let mut data = vec![0u8; 64];
        data[0] = 1;
        data[4] = 64;
        data.extend([0x81, 7]);
        let err = rle_frame(&data, 8192, 1, 1).unwrap_err();
        assert!(err.contains("cannot fill 8192 pixels"), "{err}");
        // The same run fills 128 pixels.
        assert_eq!(rle_frame(&data, 128, 1, 1).unwrap(), vec![7; 128]);
    }
}
