//! What a codec is handed, checked against the dataset before it runs: a codec sizes its
//! output from the stream's own header, so a stream of a few bytes declaring 65535 x 65535
//! would have it allocate and fill gigabytes. A JPEG (SOF) or JPEG 2000 (SIZ) frame header
//! may not declare more rows or columns than the dataset, and RLE data must be able to expand
//! to the image at all (PackBits makes at most 128 bytes of 2).

use dicom_core::value::PixelFragmentSequence;
use dicom_core::DicomValue;
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;

use super::DisplayError;

/// Most bytes PackBits (RLE Lossless) makes of one byte of input: a run of 128 from 2 bytes.
const RLE_MAX_EXPANSION: u64 = 64;

/// Checks the encapsulated pixel data of `obj` (if any) against its image module.
pub(super) fn check(obj: &DefaultDicomObject) -> Result<(), DisplayError> {
    let Ok(Some(pixel_data)) = obj.element_opt(tags::PIXEL_DATA) else { return Ok(()) };
    let DicomValue::PixelSequence(seq) = pixel_data.value() else { return Ok(()) };
    let (Some(rows), Some(cols)) = (crate::int(obj, tags::ROWS), crate::int(obj, tags::COLUMNS)) else {
        return Ok(()); // the decoder names what is missing
    };
    let ts = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']);
    let refuse = |reason: String| DisplayError::Invalid(reason);
    if ts == uids::RLE_LOSSLESS {
        let frames = crate::int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
        let spp = crate::int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1);
        let bytes = (crate::int(obj, tags::BITS_ALLOCATED).unwrap_or(8).clamp(1, 64) + 7) / 8;
        let decoded = [rows, cols, frames, spp, bytes].iter().fold(1u64, |a, &v| a.saturating_mul(v.max(0) as u64));
        return rle_expands_to(seq, decoded).map_err(refuse);
    }
    for (n, fragment) in seq.fragments().iter().enumerate() {
        let declared = if fragment.starts_with(&[0xFF, 0xD8]) {
            jpeg_size(fragment).map(|(w, h)| ("JPEG", (u32::from(w), u32::from(h))))
        } else {
            j2k_size(fragment).map(|size| ("JPEG 2000", size))
        };
        if let Some((codec, (width, height))) = declared {
            if u64::from(width) > cols as u64 || u64::from(height) > rows as u64 {
                return Err(refuse(format!(
                    "the {codec} stream in fragment {n} declares {width}x{height} where the dataset says {cols}x{rows}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether RLE fragments of these sizes can expand to `decoded` bytes.
fn rle_expands_to(seq: &PixelFragmentSequence<Vec<u8>>, decoded: u64) -> Result<(), String> {
    let compressed: u64 = seq.fragments().iter().map(|f| f.len() as u64).sum();
    if compressed.saturating_mul(RLE_MAX_EXPANSION) < decoded {
        return Err(format!(
            "{compressed} bytes of RLE data cannot hold the {decoded} bytes the image declares (at most {RLE_MAX_EXPANSION} times as many)"
        ));
    }
    Ok(())
}

/// The width and height a JPEG stream's frame header (SOF0 to SOF15, or JPEG-LS SOF55)
/// declares; `None` when the markers before it do not read.
fn jpeg_size(stream: &[u8]) -> Option<(u16, u16)> {
    let be16 = |at: usize| stream.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let mut i = 2; // after SOI
                   // Each step moves past a whole segment: the walk is linear in the stream.
    while stream.get(i) == Some(&0xFF) {
        let marker = *stream.get(i + 1)?;
        match marker {
            0xFF => i += 1, // fill byte
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xF7 => {
                // Length, precision, lines, samples per line.
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            0xD0..=0xD9 | 0x01 => i += 2,
            _ => i += 2 + usize::from(be16(i + 2)?.max(2)),
        }
    }
    None
}

/// The width and height a JPEG 2000 codestream's SIZ segment declares (the image area less
/// its offsets), in a raw codestream or the first contiguous codestream box of a JP2 file.
fn j2k_size(stream: &[u8]) -> Option<(u32, u32)> {
    const SOC_SIZ: [u8; 4] = [0xFF, 0x4F, 0xFF, 0x51];
    let start = if stream.starts_with(&SOC_SIZ) {
        0
    } else if stream.get(4..8) == Some(b"jP  ") {
        // JP2: the codestream box's contents start with SOC SIZ.
        stream.windows(4).position(|w| w == SOC_SIZ)?
    } else {
        return None;
    };
    let be32 = |at: usize| stream.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    // SOC, SIZ marker, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz.
    let at = start + 8;
    let (x, y, x0, y0) = (be32(at)?, be32(at + 4)?, be32(at + 8)?, be32(at + 12)?);
    Some((x.saturating_sub(x0), y.saturating_sub(y0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_give_their_size() {
        // SOI, APP0 of 4 bytes, SOF0: length 11, 8 bits, 300 lines, 200 samples per line.
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x01, 0x2C, 0, 0xC8, 1, 1, 0x11, 0];
        assert_eq!(jpeg_size(&jpeg), Some((200, 300)));
        assert_eq!(jpeg_size(&jpeg[..14]), None);
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [520u32, 300, 8, 0] {
            j2k.extend(v.to_be_bytes());
        }
        assert_eq!(j2k_size(&j2k), Some((512, 300)));
    }
}
