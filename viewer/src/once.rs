//! An instance read once per request. A server that sizes a request's memory walks every file
//! anyway ([`crate::limits`]); [`ReadOnce`] keeps what that walk and a header read learned, so
//! that the study's order ([`crate::study::Study::read`]) and the decoder
//! ([`ReadOnce::whole`]) need neither another walk nor another parse.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

use crate::limits::{self, Scan};
use crate::{DicomError, InstanceInfo};

/// What one instance's in-memory headers may cost per header walked (the element, its place
/// in the object's map, the small values it owns): for a memory budget to reserve while the
/// headers are held.
const BYTES_PER_HEADER: u64 = 256;

/// A Part 10 instance walked and checked once, with its headers read (the pixel data stays in
/// the file's bytes until [`ReadOnce::whole`]).
pub struct ReadOnce {
    scan: Scan,
    headers: DefaultDicomObject,
}

impl ReadOnce {
    /// Walks `bytes` ([`limits::scan`]), checks the declared image against the pixel data and
    /// reads the headers: the work of [`InstanceInfo::read`], kept. `None` where that fails
    /// (the reader that needs the instance then meets the error itself), for a bare dataset,
    /// and for an Implicit VR dataset under an Explicit VR meta (both are read whole).
    ///
    /// ```
    /// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/arterys/test_3d/1.dcm")).unwrap();
    /// let once = arterys_viewer::ReadOnce::read(&bytes).unwrap();
    /// assert_eq!(once.info().unwrap(), arterys_viewer::InstanceInfo::read(&bytes).unwrap());
    /// assert_eq!(once.decoded_bytes(), 512 * 512 * 2);
    /// ```
    pub fn read(bytes: &[u8]) -> Option<Self> {
        limits::part10_body(bytes)?;
        let (headers, scan) =
            crate::open_with(bytes, OpenFileOptions::new().read_until(tags::PIXEL_DATA), false).ok()?;
        if scan.implicit_under_explicit_meta() {
            return None;
        }
        scan.check(limits::DEFAULT_MAX_DECODED_BYTES).ok()?;
        Some(Self { scan, headers })
    }

    /// The bytes the decoded pixel data will take ([`limits::decoded_size`], from the walk).
    pub fn decoded_bytes(&self) -> u64 {
        self.scan.decoded_bytes()
    }

    /// What holding this and then decoding the instance costs: the decoded pixel data and
    /// the headers in memory.
    pub fn working_bytes(&self) -> u64 {
        self.decoded_bytes().saturating_add(self.scan.header_count().saturating_mul(BYTES_PER_HEADER))
    }

    /// The walk's findings.
    pub fn scan(&self) -> &Scan {
        &self.scan
    }

    /// The headers (everything before the pixel data).
    pub fn headers(&self) -> &DefaultDicomObject {
        &self.headers
    }

    /// The instance's header facts, as [`InstanceInfo::read`] gives them.
    pub fn info(&self) -> Result<InstanceInfo, DicomError> {
        InstanceInfo::from_object(&self.headers)
    }

    /// The whole instance, as [`crate::open`] reads it from `bytes` (the bytes this was read
    /// from): the headers with the native pixel data taken from where the walk found it.
    /// `None` where the pixel data cannot be taken as it lies (encapsulated, big endian,
    /// deflated, followed by other elements, or `bytes` too short): read it with
    /// [`crate::open`] then.
    pub fn whole(&self, bytes: &[u8]) -> Option<DefaultDicomObject> {
        let at = self.scan.native_pixels()?;
        let raw = bytes.get(at.offset..at.offset.checked_add(at.len)?)?;
        // As dicom-rs reads them: OB as bytes, OW as 16-bit words.
        let value = match at.vr {
            VR::OB => PrimitiveValue::U8(raw.into()),
            VR::OW => PrimitiveValue::U16(raw.chunks_exact(2).map(|w| u16::from_le_bytes([w[0], w[1]])).collect()),
            _ => return None,
        };
        let mut obj = self.headers.clone();
        obj.put(DataElement::new(tags::PIXEL_DATA, at.vr, value));
        Some(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, Vec<u8>)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom");
        let mut out = Vec::new();
        for dir in ["pydicom", "arterys/test_3d", "arterys/test_2d"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else { continue };
            for e in entries.flatten() {
                let name = e.path().display().to_string();
                out.push((name, std::fs::read(e.path()).unwrap_or_default()));
            }
        }
        assert!(out.len() > 20, "the test files are there");
        out
    }

    #[test]
    fn whole_is_the_object_open_reads_and_info_what_instance_info_reads() {
        let (mut built, mut kept) = (0, 0);
        for (name, bytes) in files() {
            let Some(once) = ReadOnce::read(&bytes) else {
                // Not kept: the readers it stands for read the file themselves.
                continue;
            };
            kept += 1;
            assert_eq!(once.info().ok(), InstanceInfo::read(&bytes).ok(), "{name}");
            let Some(whole) = once.whole(&bytes) else { continue };
            built += 1;
            let opened = crate::open(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(whole.meta().transfer_syntax(), opened.meta().transfer_syntax(), "{name}");
            // Every attribute the same (sequences aside: dicom-rs may read one differently
            // when it stops at the pixel data, as InstanceInfo::read always has).
            let plain = |o: &DefaultDicomObject| -> Vec<_> { o.iter().filter(|e| e.vr() != VR::SQ).cloned().collect() };
            let (a, b) = (plain(&whole), plain(&opened));
            assert_eq!(a.len(), b.len(), "{name}");
            for (x, y) in a.iter().zip(&b) {
                // The header says which element differs; its value may be megabytes.
                assert!(x == y, "{name}: {:?} / {:?}", x.header(), y.header());
            }
            let (a, b) = (crate::display::modality_values(&whole, 0), crate::display::modality_values(&opened, 0));
            assert_eq!(a.ok(), b.ok(), "{name}");
        }
        assert!(kept > 20 && built >= 10, "{kept} kept, {built} built whole");
    }

    #[test]
    fn encapsulated_and_big_endian_pixel_data_is_left_to_open() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom");
        for name in ["SC_rgb_rle_2frame.dcm", "MR_small_bigendian.dcm"] {
            let bytes = std::fs::read(format!("{root}/{name}")).unwrap_or_default();
            let once = ReadOnce::read(&bytes).unwrap_or_else(|| panic!("{name} reads"));
            assert!(once.whole(&bytes).is_none(), "{name}");
        }
    }

    #[test]
    fn a_file_that_fails_its_walk_is_not_kept() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/CT_small.dcm"))
            .unwrap_or_default();
        assert!(ReadOnce::read(&bytes).is_some());
        assert!(ReadOnce::read(&bytes[..bytes.len() - 10]).is_none());
        assert!(ReadOnce::read(b"not dicom").is_none());
    }
}

#[cfg(test)]
mod study_tests {
    use super::*;
    use arterys_protocol::InferenceInput;

    #[test]
    fn study_read_takes_what_a_part_carries_and_reads_no_bytes_again() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/arterys/test_3d");
        let files: Vec<Vec<u8>> =
            (1..=3).map(|i| std::fs::read(format!("{root}/{i}.dcm")).unwrap_or_default()).collect();
        let read = crate::study::Study::read(&InferenceInput::from_dicom(
            Default::default(),
            files.iter().cloned().map(Into::into),
        ));
        let expected = read.unwrap_or_else(|e| panic!("{e}")).instances;
        // Parts whose bytes are gone but which carry what was read of them.
        let input = InferenceInput::from_dicom(Default::default(), files.iter().map(|_| b"gone".to_vec().into()));
        for (p, f) in input.dicom.iter().zip(&files) {
            assert!(p.facts.set(ReadOnce::read(f).unwrap_or_else(|| panic!("kept"))));
        }
        let study = crate::study::Study::read(&input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(study.instances, expected);
        // Without them, the same parts are not DICOM.
        let bare = InferenceInput::from_dicom(Default::default(), files.iter().map(|_| b"gone".to_vec().into()));
        assert!(crate::study::Study::read(&bare).is_err());
    }

    #[test]
    fn part_headers_are_the_kept_ones_or_read_now() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/CT_small.dcm"))
            .unwrap_or_default();
        let expected = crate::open_headers(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let read = InferenceInput::from_dicom(Default::default(), [bytes.clone().into()]);
        assert!(*crate::study::part_headers(&read.dicom[0]).unwrap_or_else(|e| panic!("{e}")) == expected);
        let kept = InferenceInput::from_dicom(Default::default(), [b"gone".to_vec().into()]);
        assert!(kept.dicom[0].facts.set(ReadOnce::read(&bytes).unwrap_or_else(|| panic!("kept"))));
        assert!(*crate::study::part_headers(&kept.dicom[0]).unwrap_or_else(|e| panic!("{e}")) == expected);
    }
}
