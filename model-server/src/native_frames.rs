//! Uncompressed multi-frame pixel data, one frame at a time. The display pipeline decodes the
//! whole native pixel data for any one frame, so decoding frame after frame of an N-frame
//! instance would copy it N times. Instead the pixel data (and the per-frame functional groups)
//! are taken out of the object once, and each frame is put back alone as a one-frame image:
//! every byte is copied a fixed number of times, whatever the number of frames.

use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

/// Explicit VR Big Endian (retired): its 16-bit and 32-bit samples are swapped on reading, so
/// its frames stay with the display pipeline.
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
use dicom_object::{DefaultDicomObject, InMemDicomObject};

/// The frames of an instance, out of its object.
pub(crate) struct NativeFrames {
    bytes: Vec<u8>,
    frame_len: usize,
    vr: VR,
    /// One functional group item per frame, when the instance has them.
    per_frame: Option<Vec<InMemDicomObject>>,
}

impl NativeFrames {
    /// Takes the frames out of `obj` when it is a multi-frame image with native, byte-aligned
    /// pixel data in a little-endian syntax and no subsampled colour; `None` (and `obj` as it
    /// was) otherwise.
    pub fn take(obj: &mut DefaultDicomObject) -> Option<Self> {
        let int = |tag| obj.element_opt(tag).ok().flatten().and_then(|e| e.to_int::<u32>().ok());
        let frames = int(tags::NUMBER_OF_FRAMES).filter(|&n| n > 1)? as usize;
        let bits = int(tags::BITS_ALLOCATED).filter(|b| b % 8 == 0)?;
        let (rows, cols, samples) = (int(tags::ROWS)?, int(tags::COLUMNS)?, int(tags::SAMPLES_PER_PIXEL).unwrap_or(1));
        let photometric = arterys_gateway::dicom::string(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
        if photometric.starts_with("YBR_FULL_422") || photometric.starts_with("YBR_PARTIAL") {
            return None;
        }
        if obj.meta().transfer_syntax().trim_end_matches('\0') == EXPLICIT_VR_BIG_ENDIAN {
            return None;
        }
        let frame_len = rows as usize * cols as usize * samples as usize * (bits / 8) as usize;
        let element = obj.element_opt(tags::PIXEL_DATA).ok().flatten()?;
        let (Value::Primitive(p), vr) = (element.value(), element.vr()) else { return None };
        if p.calculate_byte_len() < frames.checked_mul(frame_len)? {
            return None;
        }
        let bytes = p.to_bytes().into_owned();
        let per_frame = obj
            .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .ok()
            .flatten()
            .and_then(|e| e.items())
            .filter(|items| items.len() == frames)
            .map(<[InMemDicomObject]>::to_vec);
        obj.remove_element(tags::PIXEL_DATA);
        Some(Self { bytes, frame_len, vr, per_frame })
    }

    /// Puts frame `frame` (0-based) into `obj` as its only frame; `false` if there is no such
    /// frame.
    pub fn put(&self, obj: &mut DefaultDicomObject, frame: u32) -> bool {
        let start = frame as usize * self.frame_len;
        let Some(pixels) = self.bytes.get(start..start + self.frame_len) else { return false };
        obj.put(DataElement::new(tags::PIXEL_DATA, self.vr, PrimitiveValue::U8(pixels.to_vec().into())));
        obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("1")));
        if let Some(group) = self.per_frame.as_ref().and_then(|g| g.get(frame as usize)) {
            let one = DataSetSequence::from(vec![group.clone()]);
            obj.put(DataElement::new(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, one));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arterys_gateway::dicom::display::{modality_values, open};

    fn testfile(name: &str) -> DefaultDicomObject {
        let path = format!("{}/../testdata/dicom/pydicom/{name}", env!("CARGO_MANIFEST_DIR"));
        open(&std::fs::read(path).unwrap_or_default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn each_frame_put_back_alone_decodes_as_the_same_frame_of_the_whole() {
        let whole = testfile("rtdose.dcm");
        let mut one = whole.clone();
        let frames = NativeFrames::take(&mut one).unwrap_or_else(|| panic!("rtdose.dcm is native multi-frame"));
        for f in 0..15 {
            assert!(frames.put(&mut one, f));
            let split = modality_values(&one, 0).unwrap_or_else(|e| panic!("frame {f}: {e}"));
            assert_eq!(split, modality_values(&whole, f).unwrap_or_else(|e| panic!("frame {f}: {e}")), "frame {f}");
        }
        assert!(!frames.put(&mut one, 15));
    }

    #[test]
    fn compressed_and_single_frame_images_stay_whole() {
        for name in ["SC_rgb_rle_2frame.dcm", "CT_small.dcm", "MR_small_bigendian.dcm"] {
            let mut obj = testfile(name);
            assert!(NativeFrames::take(&mut obj).is_none(), "{name}");
            assert!(modality_values(&obj, 0).is_ok(), "{name}");
        }
    }
}
