//! JPEG-LS (ITU-T T.87; DICOM's JPEG-LS Lossless and Near-Lossless), lossless and
//! near-lossless, 2 to 16 bits, one to four components in every interleave mode: none (one
//! scan a component, GDCM's default for colour), line and sample. Decoded here because the
//! pure-Rust decoders on crates.io do not cover what DICOM files carry: `pure_jpegls` (behind
//! `openreadout-codecs`) decodes one component only, and `dicom-toolkit-codec` 0.5 has no
//! sample interleave and decodes line interleave as one tall single-component image (each
//! component's line predicted from the previous component's).
//!
//! The frame header must declare the dataset's own rows, columns and samples per pixel, so the
//! output is the size the dataset declares; decoding reads each bit of the stream at most once
//! and makes each sample once.

mod scan;

use scan::{Coding, Interleave, Scan};

/// T.87's default RESET and the thresholds the defaults are scaled from (C.2.4.1.1).
const BASIC_RESET: i32 = 64;
const BASIC_T1: i32 = 3;
const BASIC_T2: i32 = 7;
const BASIC_T3: i32 = 21;

/// The frame header (SOF55).
struct Frame {
    width: usize,
    height: usize,
    precision: u32,
    /// Component identifiers, in frame order.
    ids: Vec<u8>,
}

/// Preset coding parameters (LSE, id 1): zero means the default.
#[derive(Default, Clone, Copy)]
struct Preset {
    maxval: i32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

/// One frame's samples, pixel by pixel (samples interleaved), as `bits_allocated`-bit
/// little-endian words. The stream must be `cols` x `rows` with `spp` components.
pub(super) fn decode(stream: &[u8], rows: u16, cols: u16, spp: u16, bits_allocated: u16) -> Result<Vec<u8>, String> {
    if !stream.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG-LS stream (no SOI marker)".into());
    }
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(format!("JPEG-LS with BitsAllocated {bits_allocated}"));
    }
    let mut frame: Option<Frame> = None;
    let mut preset = Preset::default();
    let mut samples = Vec::new();
    let mut decoded = vec![false; usize::from(spp)];
    let mut pos = 2;
    // A stream that ends after its last scan without EOI is read as complete.
    while pos < stream.len() {
        let (marker, seg, next) = segment(stream, pos)?;
        match marker {
            0xD9 => break,
            0xF7 => {
                let f = frame_header(seg)?;
                if (f.width, f.height, f.ids.len()) != (usize::from(cols), usize::from(rows), usize::from(spp)) {
                    return Err(format!(
                        "the stream is {}x{} with {} component(s) where the dataset says {cols}x{rows} with {spp}",
                        f.width,
                        f.height,
                        f.ids.len()
                    ));
                }
                if f.precision > u32::from(bits_allocated) {
                    return Err(format!("{}-bit samples where BitsAllocated is {bits_allocated}", f.precision));
                }
                samples = vec![0u16; f.width * f.height * f.ids.len()];
                frame = Some(f);
            }
            0xF8 => preset = preset_parameters(seg)?,
            0xDA => {
                let f = frame.as_ref().ok_or("a scan before the frame header")?;
                let (comps, coding, ilv) = scan_header(seg, f, preset)?;
                for &c in &comps {
                    if std::mem::replace(&mut decoded[c], true) {
                        return Err(format!("component {} in two scans", f.ids[c]));
                    }
                }
                let data = &stream[next..];
                let end = data.windows(2).position(|w| w[0] == 0xFF && w[1] >= 0x80).unwrap_or(data.len());
                Scan::new(&data[..end], coding).decode(ilv, f.width, f.height, &comps, f.ids.len(), &mut samples)?;
                pos = next + end;
                continue;
            }
            0xDD => return Err("restart intervals (DRI) are not decoded".into()),
            0xC0..=0xCF => return Err("a JPEG frame header in a JPEG-LS stream".into()),
            0xE8 if seg.starts_with(b"mrfx") && seg.get(4).is_some_and(|&t| t != 0) => {
                return Err("an HP colour transform (not allowed in DICOM)".into())
            }
            _ => {}
        }
        pos = next;
    }
    let f = frame.ok_or("no SOF55 frame header")?;
    if let Some(c) = decoded.iter().position(|d| !d) {
        return Err(format!("component {} has no scan", f.ids[c]));
    }
    Ok(if bits_allocated == 8 {
        samples.iter().map(|&s| s as u8).collect()
    } else {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    })
}

/// The marker at `pos` (after any fill bytes), its segment's contents (empty for markers
/// without one) and where the next marker or the scan data starts.
fn segment(stream: &[u8], mut pos: usize) -> Result<(u8, &[u8], usize), String> {
    if stream.get(pos) != Some(&0xFF) {
        return Err(format!("no marker at byte {pos}"));
    }
    while stream.get(pos + 1) == Some(&0xFF) {
        pos += 1;
    }
    let marker = *stream.get(pos + 1).ok_or("the stream ends inside a marker")?;
    if matches!(marker, 0xD0..=0xD9 | 0x01) {
        return Ok((marker, &[], pos + 2));
    }
    let len = stream
        .get(pos + 2..pos + 4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .filter(|&l| l >= 2)
        .ok_or_else(|| format!("marker 0xFF{marker:02X} without a length"))?;
    let seg = stream.get(pos + 4..pos + 2 + len).ok_or_else(|| format!("marker 0xFF{marker:02X} is cut short"))?;
    Ok((marker, seg, pos + 2 + len))
}

/// SOF55: P, Y, X, Nf, then an identifier and two bytes a component.
fn frame_header(seg: &[u8]) -> Result<Frame, String> {
    let nf = usize::from(*seg.get(5).ok_or("a SOF55 segment cut short")?);
    if nf == 0 || seg.len() != 6 + 3 * nf {
        return Err(format!("a SOF55 segment of {} bytes for {nf} components", seg.len()));
    }
    let precision = u32::from(seg[0]);
    if !(2..=16).contains(&precision) {
        return Err(format!("{precision}-bit samples"));
    }
    let height = usize::from(u16::from_be_bytes([seg[1], seg[2]]));
    let width = usize::from(u16::from_be_bytes([seg[3], seg[4]]));
    if width == 0 || height == 0 {
        return Err("a frame header without its size (no DNL support)".into());
    }
    Ok(Frame { width, height, precision, ids: seg[6..].chunks(3).map(|c| c[0]).collect() })
}

/// LSE: preset coding parameters (id 1); mapping tables and oversize dimensions are refused.
fn preset_parameters(seg: &[u8]) -> Result<Preset, String> {
    match seg.first() {
        Some(1) if seg.len() == 11 => {
            let v = |i: usize| i32::from(u16::from_be_bytes([seg[i], seg[i + 1]]));
            Ok(Preset { maxval: v(1), t1: v(3), t2: v(5), t3: v(7), reset: v(9) })
        }
        Some(1) => Err(format!("an LSE preset segment of {} bytes", seg.len())),
        Some(id) => Err(format!("LSE segment type {id} (mapping tables or oversize images) is not decoded")),
        None => Err("an empty LSE segment".into()),
    }
}

/// SOS: the frame indexes of its components, its coding parameters and its interleave mode.
fn scan_header(seg: &[u8], f: &Frame, preset: Preset) -> Result<(Vec<usize>, Coding, Interleave), String> {
    let ns = usize::from(*seg.first().ok_or("an empty SOS segment")?);
    if ns == 0 || ns > 4 || seg.len() != 4 + 2 * ns {
        return Err(format!("an SOS segment of {} bytes for {ns} components", seg.len()));
    }
    let comps = seg[1..1 + 2 * ns]
        .chunks(2)
        .map(|c| f.ids.iter().position(|&id| id == c[0]).ok_or(format!("scan component {} not in the frame", c[0])))
        .collect::<Result<Vec<_>, _>>()?;
    let (near, ilv, transform) = (i32::from(seg[1 + 2 * ns]), seg[2 + 2 * ns], seg[3 + 2 * ns]);
    let ilv = match (ilv, ns) {
        (0, 1) => Interleave::None,
        (1, _) => Interleave::Line,
        (2, _) if ns > 1 => Interleave::Sample,
        (2, 1) => Interleave::None,
        _ => return Err(format!("interleave mode {ilv} with {ns} component(s)")),
    };
    if transform & 0x0F != 0 {
        return Err("a point transform is not decoded".into());
    }
    Ok((comps, coding(f.precision, near, preset)?, ilv))
}

/// MAXVAL, thresholds and RESET for a scan: the preset's where set, else T.87's defaults
/// (C.2.4.1.1), each checked against the ranges T.87 allows.
fn coding(precision: u32, near: i32, p: Preset) -> Result<Coding, String> {
    let full = (1i32 << precision) - 1;
    let maxval = if p.maxval == 0 { full } else { p.maxval };
    if maxval > full {
        return Err(format!("MAXVAL {maxval} for {precision}-bit samples"));
    }
    if near > (maxval / 2).min(255) {
        return Err(format!("NEAR {near} for MAXVAL {maxval}"));
    }
    let clamp = |v: i32, low: i32| if v > maxval || v < low { low } else { v };
    let (d1, d2, d3) = if maxval >= 128 {
        let factor = (maxval.min(4095) + 128) / 256;
        let t1 = clamp(factor * (BASIC_T1 - 2) + 2 + 3 * near, near + 1);
        let t2 = clamp(factor * (BASIC_T2 - 3) + 3 + 5 * near, t1);
        (t1, t2, clamp(factor * (BASIC_T3 - 4) + 4 + 7 * near, t2))
    } else {
        let factor = 256 / (maxval + 1);
        let t1 = clamp((BASIC_T1 / factor + 3 * near).max(2), near + 1);
        let t2 = clamp((BASIC_T2 / factor + 5 * near).max(3), t1);
        (t1, t2, clamp((BASIC_T3 / factor + 7 * near).max(4), t2))
    };
    let pick = |v: i32, default: i32| if v == 0 { default } else { v };
    let (t1, t2, t3) = (pick(p.t1, d1), pick(p.t2, d2), pick(p.t3, d3));
    let reset = pick(p.reset, BASIC_RESET);
    if !(near < t1 && t1 <= t2 && t2 <= t3 && t3 <= maxval.max(1)) {
        return Err(format!("thresholds {t1}, {t2}, {t3} for NEAR {near} and MAXVAL {maxval}"));
    }
    if !(3..=maxval.max(255)).contains(&reset) {
        return Err(format!("RESET {reset} for MAXVAL {maxval}"));
    }
    Ok(Coding { maxval, near, t1, t2, t3, reset })
}

#[cfg(test)]
mod tests;
