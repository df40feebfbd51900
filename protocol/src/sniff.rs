//! Recognising DICOM by its first bytes: the one place that does it.

/// Whether bytes look like DICOM: a Part 10 file (`DICM` after the 128-byte preamble) or a
/// bare little- or big-endian dataset starting in group 0002 or 0008.
///
/// ```
/// let mut p10 = vec![0u8; 132];
/// p10[128..].copy_from_slice(b"DICM");
/// assert!(arterys_protocol::looks_like_dicom(&p10));
/// assert!(!arterys_protocol::looks_like_dicom(b"\x89PNG\r\n\x1a\n...."));
/// ```
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    if is_part10(bytes) {
        return true;
    }
    // A dataset without file meta: its first tag is (0008,xxxx), or (0002,xxxx).
    matches!(bytes.get(..2), Some([0x08 | 0x02, 0x00]) | Some([0x00, 0x08 | 0x02])) && bytes.len() >= 8
}

/// Whether bytes are a DICOM Part 10 file: a 128-byte preamble, then `DICM`.
pub fn is_part10(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM".as_slice())
}
