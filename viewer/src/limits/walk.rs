//! The element walk behind [`super::scan`]: every header of the file, read from the bytes
//! in memory, each declared length checked against the bytes that follow it.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::{LimitError, PixelData, Scan, MAX_DEPTH};

/// How the dataset's headers are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    ImplicitLe,
    ExplicitLe,
    ExplicitBe,
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQ_END: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// An open sequence, item or pixel sequence, with its end when its length is defined.
#[derive(Debug, Clone, Copy)]
enum Open {
    Seq(Option<usize>),
    Item(Option<usize>),
    Pixels(Option<usize>),
}

impl Open {
    fn end(self) -> Option<usize> {
        match self {
            Open::Seq(e) | Open::Item(e) | Open::Pixels(e) => e,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    syntax: Syntax,
}

impl Reader<'_> {
    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.syntax == Syntax::ExplicitBe { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.syntax == Syntax::ExplicitBe { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// The header at `at`: tag, VR (`None` for implicit VR and item tags), value length and
    /// header size. `None` when fewer bytes than a header remain.
    fn header(&self, at: usize) -> Option<(Tag, Option<VR>, u32, usize)> {
        let tag = Tag(self.u16_at(at)?, self.u16_at(at + 2)?);
        if tag.0 == 0xFFFE {
            return Some((tag, None, self.u32_at(at + 4)?, 8));
        }
        if self.syntax == Syntax::ImplicitLe {
            return Some((tag, Some(implicit_vr(tag)), self.u32_at(at + 4)?, 8));
        }
        let code: [u8; 2] = self.bytes.get(at + 4..at + 6)?.try_into().ok()?;
        // dicom-rs reads an unknown VR as UN, with the 4-byte length.
        let vr = VR::from_binary(code).unwrap_or(VR::UN);
        if short_length(vr) {
            Some((tag, Some(vr), u32::from(self.u16_at(at + 6)?), 8))
        } else {
            Some((tag, Some(vr), self.u32_at(at + 8)?, 12))
        }
    }
}

/// The VRs whose explicit-VR header has a 16-bit length (PS3.5 7.1.2).
fn short_length(vr: VR) -> bool {
    use VR::*;
    matches!(vr, AE | AS | AT | CS | DA | DS | DT | FL | FD | IS | LO | LT | PN | SH | SL | SS | ST | TM | UI | UL | US)
}

/// The VR dicom-rs gives an implicit VR element: OW for pixel and overlay data, else the
/// dictionary's (relaxed), else UN.
fn implicit_vr(tag: Tag) -> VR {
    if tag == Tag(0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        VR::OW
    } else {
        StandardDataDictionary.by_tag(tag).map_or(VR::UN, |e| e.vr().relaxed())
    }
}

/// The size of one value of a binary VR. dicom-rs reads `len / size` values and moves on
/// `len` bytes, so a length that is not a multiple of it shifts every header after it.
fn value_size(vr: VR) -> u32 {
    use VR::*;
    match vr {
        US | SS | OW => 2,
        AT | FL | OF | SL | UL | OL => 4,
        FD | OD | SV | UV | OV => 8,
        _ => 1,
    }
}

fn is_pixel_data(tag: Tag) -> bool {
    tag.0 == 0x7FE0 && matches!(tag.1, 0x0008 | 0x0009 | 0x0010)
}

/// Walks the dataset in `bytes[start..]`. With `headers_only` the walk ends at the top-level
/// pixel data (as a header-only read does) and that element's length is not checked.
pub(crate) fn dataset(bytes: &[u8], start: usize, syntax: Syntax, headers_only: bool) -> Result<Scan, LimitError> {
    let r = Reader { bytes, syntax };
    let mut scan = Scan::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = start;
    let mut seen_pixel_data = false;
    loop {
        close_ended(&mut stack, pos);
        let Some((tag, vr, len, head)) = r.header(pos) else {
            // Fewer bytes than a header: the end (or trailing padding dicom-rs ignores).
            return Ok(scan);
        };
        let value = pos + head;
        let remaining = bytes.len() - value.min(bytes.len());
        // A defined length that runs past the end of the file.
        let past_end = (len != UNDEFINED && len as usize > remaining).then(|| LimitError::PastEnd {
            tag: tag_text(tag),
            offset: pos,
            declared: len,
            available: remaining,
        });
        let top = stack.is_empty();
        if top {
            scan.after_pixel_data |= seen_pixel_data;
            seen_pixel_data |= tag == PIXEL_DATA;
        }
        if !seen_pixel_data {
            scan.headers += 1;
        }
        match tag {
            ITEM => {
                if let Some(e) = past_end {
                    return Err(e);
                }
                match stack.last() {
                    Some(Open::Pixels(_)) => {
                        if len == UNDEFINED {
                            return Err(LimitError::Malformed {
                                offset: pos,
                                what: "a pixel data fragment of undefined length",
                            });
                        }
                        scan.fragment(len);
                        pos = value + len as usize;
                    }
                    _ => {
                        push(&mut stack, Open::Item(defined_end(value, len)), pos)?;
                        pos = value;
                    }
                }
            }
            // dicom-rs skips stray delimiters in ways that lose its place: refuse them.
            ITEM_END | SEQ_END if top => {
                return Err(LimitError::Malformed { offset: pos, what: "a delimiter outside any sequence" });
            }
            ITEM_END => {
                if matches!(stack.last(), Some(Open::Item(None))) {
                    stack.pop();
                }
                pos = value;
            }
            SEQ_END => {
                if matches!(stack.last(), Some(Open::Seq(None) | Open::Pixels(None))) {
                    stack.pop();
                }
                pos = value;
            }
            // A header-only read (dicom-rs `read_until(PixelData)`) stops at the first
            // top-level tag from (7FE0,0010) on; so does the walk.
            _ if top && headers_only && tag >= PIXEL_DATA => {
                if tag == PIXEL_DATA {
                    scan.pixel_data = Some(pixel_data_header(len));
                }
                return Ok(scan);
            }
            _ if len == UNDEFINED => {
                // Encapsulated pixel data is a sequence of fragments; any other element of
                // undefined length is read by dicom-rs as a sequence of items.
                if top && is_pixel_data(tag) {
                    scan.pixel_data = Some(PixelData::Encapsulated { fragments: 0, bytes: 0 });
                    push(&mut stack, Open::Pixels(None), pos)?;
                } else {
                    push(&mut stack, Open::Seq(None), pos)?;
                }
                pos = value;
            }
            _ => {
                if let Some(e) = past_end {
                    return Err(e);
                }
                if len % vr.map_or(1, value_size) != 0 {
                    let what = "a value length that is not a multiple of its VR's value size";
                    return Err(LimitError::Malformed { offset: pos, what });
                }
                let raw = &bytes[value..value + len as usize];
                if top {
                    scan.attribute(tag, raw, syntax);
                    if is_pixel_data(tag) {
                        scan.pixel_data = Some(PixelData::Native { len: u64::from(len) });
                    }
                    if tag == PIXEL_DATA && syntax != Syntax::ExplicitBe {
                        let vr = vr.unwrap_or(VR::OW);
                        scan.native_pixels = Some(super::NativePixels { offset: value, len: len as usize, vr });
                    }
                }
                if vr == Some(VR::SQ) {
                    push(&mut stack, Open::Seq(Some(value + len as usize)), pos)?;
                    pos = value;
                } else {
                    pos = value + len as usize;
                }
            }
        }
    }
}

/// Closes the defined-length containers whose end `pos` has reached.
fn close_ended(stack: &mut Vec<Open>, pos: usize) {
    while let Some(end) = stack.last().and_then(|o| o.end()) {
        if pos < end {
            break;
        }
        stack.pop();
    }
}

/// What a pixel data header of length `len` says, before its value is read.
fn pixel_data_header(len: u32) -> PixelData {
    if len == UNDEFINED {
        PixelData::Encapsulated { fragments: 0, bytes: 0 }
    } else {
        PixelData::Native { len: u64::from(len) }
    }
}

fn defined_end(value: usize, len: u32) -> Option<usize> {
    (len != UNDEFINED).then(|| value + len as usize)
}

fn push(stack: &mut Vec<Open>, open: Open, offset: usize) -> Result<(), LimitError> {
    if stack.len() >= MAX_DEPTH {
        return Err(LimitError::TooDeep { offset, depth: MAX_DEPTH });
    }
    stack.push(open);
    Ok(())
}

pub(crate) fn tag_text(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.0, tag.1)
}

/// The file meta group of a Part 10 file (explicit VR little endian) from `start`, just after
/// `DICM`: where the dataset starts and its transfer syntax UID. As dicom-rs reads it: the
/// group length (0002,0000) first, then whole elements until that many bytes are read.
pub(crate) fn meta(bytes: &[u8], start: usize) -> Result<(usize, String), LimitError> {
    let r = Reader { bytes, syntax: Syntax::ExplicitLe };
    let malformed = LimitError::Malformed { offset: start, what: "no file meta group length" };
    let Some((Tag(0x0002, 0x0000), _, 4, head)) = r.header(start) else { return Err(malformed) };
    let group_length = r.u32_at(start + head).ok_or(malformed)? as usize;
    let mut pos = start + head + 4;
    let end = pos.saturating_add(group_length);
    let mut ts = String::new();
    while pos < end {
        let Some((tag, _, len, head)) = r.header(pos) else {
            return Err(LimitError::Malformed { offset: pos, what: "the file meta group is cut short" });
        };
        let value = pos + head;
        let remaining = bytes.len() - value.min(bytes.len());
        if len == UNDEFINED || len as usize > remaining {
            return Err(LimitError::PastEnd { tag: tag_text(tag), offset: pos, declared: len, available: remaining });
        }
        if tag == Tag(0x0002, 0x0010) {
            ts = text(&bytes[value..value + len as usize]);
        }
        pos = value + len as usize;
    }
    Ok((pos, ts))
}

/// A text value without DICOM padding.
pub(crate) fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_owned()
}
