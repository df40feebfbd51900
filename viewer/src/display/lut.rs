//! The Modality LUT (PS3.3 C.11.1): stored values to modality values through a table, where
//! an image has one instead of RescaleSlope/RescaleIntercept.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use super::DisplayError;

/// A modality lookup table: entries from `first_mapped` on; values outside the table take
/// its first or last entry.
pub(super) struct ModalityLut {
    first_mapped: i64,
    entries: Vec<f64>,
}

impl ModalityLut {
    /// The first item of ModalityLUTSequence, when there is one.
    pub(super) fn read(obj: &DefaultDicomObject, signed: bool) -> Result<Option<Self>, DisplayError> {
        let Ok(Some(seq)) = obj.element_opt(tags::MODALITY_LUT_SEQUENCE) else { return Ok(None) };
        let Some(item) = seq.items().and_then(|items| items.first()) else { return Ok(None) };
        let invalid = |what: &str| DisplayError::Invalid(format!("Modality LUT: {what}"));
        let descriptor: Vec<i64> = item
            .element_opt(tags::LUT_DESCRIPTOR)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_int::<i64>().ok())
            .filter(|d| d.len() == 3)
            .ok_or_else(|| invalid("no LUTDescriptor"))?;
        let count = match descriptor[0] & 0xFFFF {
            0 => 65536,
            n => n as usize,
        };
        // The first mapped value is US or SS, as the pixels are.
        let first_mapped = match descriptor[1] {
            v if signed && v > 0x7FFF => v - 0x1_0000,
            v if !signed && v < 0 => v + 0x1_0000,
            v => v,
        };
        let data = item.element_opt(tags::LUT_DATA).ok().flatten().ok_or_else(|| invalid("no LUTData"))?;
        let bytes = data.value().to_bytes().map_err(|e| invalid(&e.to_string()))?;
        let entries: Vec<f64> = if descriptor[2] > 8 || bytes.len() >= count * 2 {
            bytes.chunks_exact(2).take(count).map(|c| f64::from(u16::from_ne_bytes([c[0], c[1]]))).collect()
        } else {
            bytes.iter().take(count).map(|&b| f64::from(b)).collect()
        };
        if entries.len() < count {
            return Err(invalid(&format!("{} entries where LUTDescriptor says {count}", entries.len())));
        }
        Ok(Some(Self { first_mapped, entries }))
    }

    pub(super) fn apply(&self, stored: i64) -> f64 {
        let last = self.entries.len() as i64 - 1;
        self.entries[(stored - self.first_mapped).clamp(0, last) as usize]
    }
}

/// A VOI LUT (PS3.3 C.11.2.1.1): modality values to display levels through a table whose
/// entries span `bits` bits (the third value of its LUT Descriptor); values outside the table
/// take its first or last entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct VoiLut {
    first_mapped: i64,
    entries: Vec<u16>,
    bits: u8,
}

impl VoiLut {
    /// The VOI LUTs of an image, as dicom-pixeldata reads them: the first item of the top
    /// level's VOI LUT Sequence (the others are alternative views, as further windows are),
    /// or one per frame from the functional groups. Empty when there is none, or when it is
    /// unusable (no entries, a depth of 0), so that the window or the default applies.
    pub(super) fn read(obj: &DefaultDicomObject, px: &dicom_pixeldata::DecodedPixelData, signed: bool) -> Vec<Self> {
        let Ok(Some(luts)) = px.voi_lut_sequence() else { return Vec::new() };
        let top_level = matches!(obj.element_opt(tags::VOILUT_SEQUENCE), Ok(Some(_)));
        let luts = if top_level { &luts[..1] } else { luts };
        let luts: Vec<Self> = luts
            .iter()
            .map(|l| Self {
                // The first mapped value is US or SS, as the pixels are.
                first_mapped: match i64::from(l.min_pixel_value) {
                    v if signed && v > 0x7FFF => v - 0x1_0000,
                    v => v,
                },
                entries: l.data.clone(),
                bits: l.bits_stored,
            })
            .collect();
        if luts.iter().any(|l| l.entries.is_empty() || l.bits == 0) {
            return Vec::new();
        }
        luts
    }

    /// The display level (0..=255) of a modality value: the entry scaled from 0..2^bits-1.
    pub(super) fn level(&self, value: f64) -> u8 {
        let last = self.entries.len() as i64 - 1;
        let offset = (value - self.first_mapped as f64).floor();
        let i = if offset.is_nan() { 0 } else { (offset.clamp(0.0, last as f64)) as usize };
        let max = ((1u32 << self.bits.min(16)) - 1) as f64;
        super::color::round8(f64::from(self.entries[i]) * 255.0 / max)
    }
}
