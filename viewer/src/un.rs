//! Elements written with VR UN (unknown) although the standard dictionary knows them, as some
//! writers do: their bytes re-read with the dictionary's VR, as mainstream readers do, so that
//! the image attributes (PixelRepresentation, RescaleIntercept, DoseGridScaling...) hold.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::{DataElement, DicomValue, PrimitiveValue, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;

/// Re-reads the top-level UN elements that the dictionary knows (Little Endian bytes).
pub(crate) fn resolve_unknown_vrs(obj: &mut InMemDicomObject) {
    let fixed: Vec<_> = obj
        .iter()
        .filter(|e| e.vr() == VR::UN)
        .filter_map(|e| {
            let DicomValue::Primitive(value) = e.value() else { return None };
            let vr = match StandardDataDictionary.by_tag(e.tag())?.vr() {
                VirtualVr::Exact(vr) => vr,
                VirtualVr::Xs => VR::US,
                _ => return None,
            };
            let value = reread(&value.to_bytes(), vr)?;
            Some(DataElement::new(e.tag(), vr, value))
        })
        .collect();
    for element in fixed {
        obj.put(element);
    }
}

fn reread(bytes: &[u8], vr: VR) -> Option<PrimitiveValue> {
    fn numbers<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
        bytes
            .len()
            .is_multiple_of(N)
            .then(|| bytes.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect())
    }
    Some(match vr {
        VR::AE
        | VR::AS
        | VR::CS
        | VR::DA
        | VR::DS
        | VR::DT
        | VR::IS
        | VR::LO
        | VR::LT
        | VR::PN
        | VR::SH
        | VR::ST
        | VR::TM
        | VR::UC
        | VR::UI
        | VR::UR
        | VR::UT => {
            let text = std::str::from_utf8(bytes).ok()?.trim_end_matches(['\0', ' ']);
            let parts: Vec<String> = match vr {
                VR::LT | VR::ST | VR::UT | VR::UR => vec![text.to_owned()],
                _ => text.split('\\').map(|s| s.trim().to_owned()).collect(),
            };
            PrimitiveValue::Strs(parts.into())
        }
        VR::US => PrimitiveValue::U16(numbers(bytes, u16::from_le_bytes)?.into()),
        VR::SS => PrimitiveValue::I16(numbers(bytes, i16::from_le_bytes)?.into()),
        VR::UL => PrimitiveValue::U32(numbers(bytes, u32::from_le_bytes)?.into()),
        VR::SL => PrimitiveValue::I32(numbers(bytes, i32::from_le_bytes)?.into()),
        VR::FL => PrimitiveValue::F32(numbers(bytes, f32::from_le_bytes)?.into()),
        VR::FD => PrimitiveValue::F64(numbers(bytes, f64::from_le_bytes)?.into()),
        VR::OW => PrimitiveValue::U16(numbers(bytes, u16::from_le_bytes)?.into()),
        VR::OB => PrimitiveValue::U8(bytes.to_vec().into()),
        _ => return None,
    })
}
