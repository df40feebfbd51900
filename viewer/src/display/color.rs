//! Pure pixel stages: VOI windowing to 8 bits, YBR to RGB, min-max windows, palette colour
//! lookup tables.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::VoiLutFunction;

use super::DisplayError;

pub(super) fn round8(v: f64) -> u8 {
    (v + 0.5).floor().clamp(0.0, 255.0) as u8
}

/// YCbCr (0..=255 scale) to RGB8: full range (ITU-R BT.601 as JPEG uses it) or partial range.
pub(super) fn ybr_to_rgb(y: f64, cb: f64, cr: f64, partial: bool) -> [u8; 3] {
    let (cb, cr) = (cb - 128.0, cr - 128.0);
    if partial {
        let y = 1.164_383 * (y - 16.0);
        [y + 1.596_027 * cr, y - 0.391_762 * cb - 0.812_968 * cr, y + 2.017_232 * cb].map(round8)
    } else {
        [y + 1.402 * cr, y - 0.344_136 * cb - 0.714_136 * cr, y + 1.772 * cb].map(round8)
    }
}

/// The VOI LUT function of PS3.3 C.11.2.1.2 to 0..=255.
pub(super) fn voi(x: f64, center: f64, width: f64, function: VoiLutFunction) -> u8 {
    let y = match function {
        VoiLutFunction::Linear => {
            if x <= center - 0.5 - (width - 1.0) / 2.0 {
                0.0
            } else if x > center - 0.5 + (width - 1.0) / 2.0 {
                1.0
            } else {
                (x - (center - 0.5)) / (width - 1.0) + 0.5
            }
        }
        VoiLutFunction::LinearExact => {
            if x <= center - width / 2.0 {
                0.0
            } else if x > center + width / 2.0 {
                1.0
            } else {
                (x - center) / width + 0.5
            }
        }
        VoiLutFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
    };
    round8(y * 255.0)
}

/// A window from the lowest to the highest value (all black when the frame is uniform).
pub(super) fn min_max(values: &[f64]) -> Vec<u8> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        values.iter().map(|&v| round8((v - lo) / (hi - lo) * 255.0)).collect()
    } else {
        vec![0; values.len()]
    }
}

/// The red, green and blue palette color lookup tables, as RGB8.
pub(super) struct Palette {
    first_mapped: i64,
    /// One RGB8 entry per input value from `first_mapped` on.
    entries: Vec<[u8; 3]>,
}

impl Palette {
    pub(super) fn read(obj: &DefaultDicomObject, signed: bool) -> Result<Self, DisplayError> {
        let channels = [
            (
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                "red",
            ),
            (
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                "green",
            ),
            (
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                "blue",
            ),
        ];
        let big_endian = obj.meta().transfer_syntax() == super::EXPLICIT_VR_BIG_ENDIAN;
        let mut first_mapped = 0;
        let mut luts: Vec<Vec<u8>> = Vec::with_capacity(3);
        for (descriptor_tag, data_tag, segmented_tag, color) in channels {
            let descriptor: Vec<i64> = obj
                .element_opt(descriptor_tag)
                .ok()
                .flatten()
                .and_then(|e| e.to_multi_int::<i64>().ok())
                .filter(|d| d.len() == 3)
                .ok_or_else(|| DisplayError::Invalid(format!("PALETTE COLOR without a {color} LUT descriptor")))?;
            // Entries: 0 means 65536. Values are US (or SS when pixels are signed).
            let entries = match descriptor[0] & 0xFFFF {
                0 => 65536,
                n => n as usize,
            };
            first_mapped = match descriptor[1] {
                v if signed && v > 0x7FFF => v - 0x1_0000,
                v => v,
            };
            let depth = descriptor[2];
            let data = match lut_bytes(obj, data_tag, big_endian, color)? {
                Some(bytes) => bytes,
                None => match lut_bytes(obj, segmented_tag, big_endian, color)? {
                    Some(bytes) => {
                        let words: Vec<u16> = if depth > 8 {
                            bytes.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect()
                        } else {
                            bytes.iter().map(|&b| u16::from(b)).collect()
                        };
                        let table = super::segmented::expand(&words, entries)?;
                        table.iter().flat_map(|w| w.to_ne_bytes()).collect()
                    }
                    None => return Err(DisplayError::Invalid(format!("PALETTE COLOR without {color} LUT data"))),
                },
            };
            luts.push(lut_to_8bit(&data, entries, depth).ok_or_else(|| {
                DisplayError::Invalid(format!(
                    "{color} LUT data has {} bytes for {entries} entries of {depth} bits",
                    data.len()
                ))
            })?);
        }
        let n = luts.iter().map(Vec::len).min().unwrap_or(0);
        if n == 0 {
            return Err(DisplayError::Invalid("empty palette".into()));
        }
        let entries = (0..n).map(|i| [luts[0][i], luts[1][i], luts[2][i]]).collect();
        Ok(Palette { first_mapped, entries })
    }

    pub(super) fn rgb(&self, value: i64) -> [u8; 3] {
        let last = self.entries.len() as i64 - 1;
        let i = (value - self.first_mapped).clamp(0, last.max(0)) as usize;
        self.entries.get(i).copied().unwrap_or([0; 3])
    }
}

/// A LUT data element's bytes, in native byte order.
fn lut_bytes(
    obj: &DefaultDicomObject,
    tag: dicom_core::Tag,
    big_endian: bool,
    color: &str,
) -> Result<Option<Vec<u8>>, DisplayError> {
    let Ok(Some(e)) = obj.element_opt(tag) else { return Ok(None) };
    let mut bytes =
        e.value().to_bytes().map_err(|e| DisplayError::Invalid(format!("{color} LUT data: {e}")))?.into_owned();
    // Kept as the file's bytes (not 16-bit words) in Big Endian: made native.
    let raw = matches!(e.value(), dicom_core::DicomValue::Primitive(dicom_core::PrimitiveValue::U8(_)));
    if raw && big_endian {
        bytes.chunks_exact_mut(2).for_each(|w| w.swap(0, 1));
    }
    Ok(Some(bytes))
}

/// A palette LUT's entries as 8-bit values: 16-bit entries keep their high byte; 8-bit ones
/// may be bytes or (as some writers do) one per 16-bit word.
pub(super) fn lut_to_8bit(data: &[u8], entries: usize, depth: i64) -> Option<Vec<u8>> {
    let words = || data.chunks_exact(2).take(entries).map(|c| u16::from_ne_bytes([c[0], c[1]]));
    if data.len() >= entries * 2 {
        let words: Vec<u16> = words().collect();
        if depth > 8 || words.iter().any(|&w| w > 255) {
            Some(words.into_iter().map(|w| (w >> 8) as u8).collect())
        } else {
            Some(words.into_iter().map(|w| w as u8).collect())
        }
    } else if depth <= 8 && data.len() >= entries {
        Some(data[..entries].to_vec())
    } else {
        None
    }
}
