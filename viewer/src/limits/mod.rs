//! Declared sizes are never trusted: a bounded walk over a file's element headers, in memory,
//! before dicom-rs reads it.
//!
//! dicom-rs reserves and zero-fills an element's declared length before reading its value,
//! so a 700-byte file declaring a 3.5 GB element costs 3.5 GB before it fails. [`scan`] reads
//! every header (file meta, dataset, sequences, items, fragments), checks each defined length
//! against the bytes that follow it, and bounds sequence nesting; [`crate::open`],
//! [`crate::open_headers`] and [`crate::InstanceInfo::read`] call it first. It also collects
//! the pixel module (Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated) so that
//! [`Scan::check`] can hold it against the pixel data that is really there: native pixel
//! data must hold `rows x columns x frames x samples x bits`, encapsulated pixel data needs a
//! fragment per frame, and an image without pixel data cannot declare a size. Whatever is
//! sized from the header (masks, boxes, frame lists) is then backed by real bytes.
//!
//! [`decoded_size`] tells a memory budget, before anything is decoded, how many bytes the
//! decoded pixel data will take.
//!
//! ```
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/CT_small.dcm")).unwrap();
//! // 128 x 128, 16 bits, one frame.
//! assert_eq!(arterys_viewer::limits::decoded_size(&bytes).unwrap(), 128 * 128 * 2);
//! // The same file cut short declares more than it has.
//! assert!(arterys_viewer::limits::decoded_size(&bytes[..bytes.len() - 10]).is_err());
//! ```

#[cfg(test)]
mod tests;
mod walk;

use dicom_core::Tag;
use dicom_dictionary_std::tags;

pub(crate) use walk::Syntax;

/// Deepest nesting of sequences and items a file may have (dicom-rs builds objects
/// recursively: deeper nesting would only be an attack on its stack).
pub const MAX_DEPTH: usize = 64;

/// Default ceiling on the decoded size of one instance's pixel data (2 GiB). Native pixel
/// data is bounded by its own bytes; this bounds what compressed pixel data may expand to.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 2 << 30;

/// Most bytes a deflated dataset may inflate to (its walk needs it inflated).
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Why a file's declared sizes are refused. The message is one line, without patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// An element (or item, or fragment) declares more bytes than the file has after it.
    #[error("element {tag} at byte {offset} declares {declared} bytes but only {available} follow: the file is truncated or its lengths are wrong")]
    PastEnd {
        /// The tag, as `(GGGG,EEEE)`.
        tag: String,
        /// Where its header starts.
        offset: usize,
        /// The declared length.
        declared: u32,
        /// The bytes after its header.
        available: usize,
    },
    /// Sequences nested deeper than [`MAX_DEPTH`].
    #[error("sequences nested deeper than {depth} levels at byte {offset}")]
    TooDeep {
        /// Where the level past the limit starts.
        offset: usize,
        /// The limit.
        depth: usize,
    },
    /// A header that cannot be what it says.
    #[error("malformed DICOM at byte {offset}: {what}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What.
        what: &'static str,
    },
    /// Rows and Columns without any pixel data.
    #[error("the image declares {rows}x{columns} pixels but has no pixel data")]
    NoPixelData {
        /// Rows.
        rows: u64,
        /// Columns.
        columns: u64,
    },
    /// Native pixel data shorter than the image module says.
    #[error("the image declares {needed} bytes of pixel data ({rows}x{columns}, {frames} frames, {samples} samples of {bits} bits) but has {actual}")]
    PixelDataShort {
        /// Rows.
        rows: u64,
        /// Columns.
        columns: u64,
        /// NumberOfFrames.
        frames: u64,
        /// SamplesPerPixel.
        samples: u64,
        /// BitsAllocated.
        bits: u64,
        /// Bytes those need.
        needed: u64,
        /// Bytes there are.
        actual: u64,
    },
    /// Encapsulated pixel data with fewer fragments than frames.
    #[error("the image declares {frames} frames but its encapsulated pixel data has {fragments} fragments")]
    MoreFramesThanFragments {
        /// NumberOfFrames.
        frames: u64,
        /// Fragments (the offset table not counted).
        fragments: u64,
    },
    /// The decoded pixel data would exceed the limit.
    #[error("the decoded image would take {bytes} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Decoded size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A deflated dataset that cannot be inflated within [`MAX_INFLATED_BYTES`].
    #[error("the deflated dataset does not inflate within {0} bytes")]
    Inflate(u64),
}

/// The pixel data element at the top level of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PixelData {
    /// Native (uncompressed): its length.
    Native {
        /// Bytes.
        len: u64,
    },
    /// Encapsulated (compressed) fragments, the basic offset table not counted.
    Encapsulated {
        /// Fragments.
        fragments: u64,
        /// Their bytes.
        bytes: u64,
    },
}

/// What [`scan`] found: the transfer syntax, the pixel module as declared and the pixel data
/// as it really is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan {
    /// The transfer syntax UID from the file meta (empty for a bare dataset).
    pub transfer_syntax: String,
    /// Rows.
    pub rows: Option<u64>,
    /// Columns.
    pub columns: Option<u64>,
    /// NumberOfFrames (its first value).
    pub frames: Option<u64>,
    /// SamplesPerPixel.
    pub samples_per_pixel: Option<u64>,
    /// BitsAllocated.
    pub bits_allocated: Option<u64>,
    /// PhotometricInterpretation.
    pub photometric: Option<String>,
    /// The top-level pixel data, when there is one.
    pub pixel_data: Option<PixelData>,
    /// Items seen in the pixel sequence (the offset table included).
    items: u64,
    /// The dataset is Implicit VR although the meta names an Explicit VR syntax: it was
    /// walked, and must be read, as Implicit VR.
    implicit_under_explicit_meta: bool,
    /// Headers walked before the top-level pixel data (what a header-only read holds).
    headers: u64,
    /// Where the top-level native (7FE0,0010) value lies in the bytes walked, when its
    /// bytes can be taken as they are (a little-endian dataset, not inflated).
    native_pixels: Option<NativePixels>,
    /// A top-level element follows the (7FE0,0010) element.
    after_pixel_data: bool,
}

/// The native pixel data's value in the file: where, how long, and its VR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NativePixels {
    pub offset: usize,
    pub len: usize,
    pub vr: dicom_core::VR,
}

impl Scan {
    /// Whether the dataset was walked as Implicit VR under an Explicit VR meta (and must be
    /// read so: read as the meta says, its lengths are not the ones checked).
    pub(crate) fn implicit_under_explicit_meta(&self) -> bool {
        self.implicit_under_explicit_meta
    }

    /// Headers walked before the top-level pixel data.
    pub(crate) fn header_count(&self) -> u64 {
        self.headers
    }

    /// The native pixel data's value, when it is the last top-level element and its bytes
    /// are the value as a little-endian reader takes it.
    pub(crate) fn native_pixels(&self) -> Option<NativePixels> {
        self.native_pixels.filter(|_| !self.after_pixel_data && !self.implicit_under_explicit_meta)
    }

    fn fragment(&mut self, len: u32) {
        self.items += 1;
        if let Some(PixelData::Encapsulated { fragments, bytes }) = &mut self.pixel_data {
            if self.items > 1 {
                *fragments += 1;
                *bytes += u64::from(len);
            }
        }
    }

    fn attribute(&mut self, tag: Tag, raw: &[u8], syntax: Syntax) {
        let us = || {
            let b: [u8; 2] = raw.get(..2)?.try_into().ok()?;
            Some(u64::from(if syntax == Syntax::ExplicitBe { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }))
        };
        match tag {
            tags::ROWS => self.rows = us(),
            tags::COLUMNS => self.columns = us(),
            tags::SAMPLES_PER_PIXEL => self.samples_per_pixel = us(),
            tags::BITS_ALLOCATED => self.bits_allocated = us(),
            tags::PHOTOMETRIC_INTERPRETATION => self.photometric = Some(walk::text(raw)),
            // IS: the first value; one that does not parse is left to dicom-rs (it reads 1).
            tags::NUMBER_OF_FRAMES => {
                self.frames = walk::text(raw)
                    .split('\\')
                    .next()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map(|v| v.max(1) as u64)
            }
            _ => {}
        }
    }

    /// Bytes per decoded sample (BitsAllocated rounded up to bytes; 1 when absent).
    fn sample_bytes(&self) -> u64 {
        self.bits_allocated.unwrap_or(8).max(1).div_ceil(8)
    }

    /// The bytes the decoded pixel data of every frame takes: rows x columns x frames x
    /// samples x bytes per sample (0 for an instance without an image).
    pub fn decoded_bytes(&self) -> u64 {
        let (rows, columns) = (self.rows.unwrap_or(0), self.columns.unwrap_or(0));
        if self.pixel_data.is_none() {
            return 0;
        }
        rows.saturating_mul(columns)
            .saturating_mul(self.frames.unwrap_or(1))
            .saturating_mul(self.samples_per_pixel.unwrap_or(1).max(1))
            .saturating_mul(self.sample_bytes())
    }

    /// Holds the declared image against the pixel data there is (see the module docs) and
    /// the decoded size against `max_decoded_bytes`.
    pub fn check(&self, max_decoded_bytes: u64) -> Result<(), LimitError> {
        let (rows, columns) = (self.rows.unwrap_or(0), self.columns.unwrap_or(0));
        let frames = self.frames.unwrap_or(1);
        let Some(pixels) = self.pixel_data else {
            if rows > 0 && columns > 0 {
                return Err(LimitError::NoPixelData { rows, columns });
            }
            return Ok(());
        };
        if rows == 0 || columns == 0 {
            // Nothing is sized from the header; decoding will fail on its own.
            return Ok(());
        }
        match pixels {
            PixelData::Native { len } => {
                let samples = self.samples_per_pixel.unwrap_or(1).max(1);
                let bits = self.bits_allocated.unwrap_or(8).max(1);
                // YBR_FULL_422 keeps two samples per pixel, not three.
                let stored = if samples == 3 && self.photometric.as_deref().is_some_and(|p| p.ends_with("_422")) {
                    2
                } else {
                    samples
                };
                let needed = rows
                    .saturating_mul(columns)
                    .saturating_mul(frames)
                    .saturating_mul(stored)
                    .saturating_mul(bits)
                    .div_ceil(8);
                if needed > len {
                    return Err(LimitError::PixelDataShort {
                        rows,
                        columns,
                        frames,
                        samples,
                        bits,
                        needed,
                        actual: len,
                    });
                }
            }
            PixelData::Encapsulated { fragments, .. } => {
                // A fragment never holds two frames, except in video syntaxes (one stream).
                let video = self.transfer_syntax.starts_with("1.2.840.10008.1.2.4.10");
                if frames > fragments && !video {
                    return Err(LimitError::MoreFramesThanFragments { frames, fragments });
                }
            }
        }
        let decoded = self.decoded_bytes();
        if decoded > max_decoded_bytes {
            return Err(LimitError::TooLarge { bytes: decoded, limit: max_decoded_bytes });
        }
        Ok(())
    }
}

/// Where a file's dataset starts and how it is encoded: a Part 10 file (with or without its
/// preamble) or a bare dataset at `bare_start` in `syntax`.
pub(crate) enum Layout {
    Part10 { body: usize },
    Bare { start: usize, syntax: Syntax },
}

/// Walks a file laid out as `layout` (see [`scan`]); `headers_only` stops at the pixel data.
pub(crate) fn scan_layout(bytes: &[u8], layout: Layout, headers_only: bool) -> Result<Scan, LimitError> {
    match layout {
        Layout::Bare { start, syntax } => walk::dataset(bytes, start, syntax, headers_only),
        Layout::Part10 { body } => {
            let (start, ts) = walk::meta(bytes, body + 4)?;
            let mut scan = match ts.as_str() {
                "1.2.840.10008.1.2" => walk::dataset(bytes, start, Syntax::ImplicitLe, headers_only)?,
                "1.2.840.10008.1.2.2" => walk::dataset(bytes, start, Syntax::ExplicitBe, headers_only)?,
                "1.2.840.10008.1.2.1.99" => {
                    let inflated = inflate(bytes.get(start..).unwrap_or_default())?;
                    let mut scan = walk::dataset(&inflated, 0, Syntax::ExplicitLe, headers_only)?;
                    // Its offsets are in the inflated bytes, not the file's.
                    scan.native_pixels = None;
                    scan
                }
                // Explicit VR in the meta but Implicit VR in the dataset (some writers do
                // this; `open` reads such files as Implicit VR, whole): walk what will be read.
                _ if bytes.get(start + 4..start + 6).is_some_and(|vr| !vr.iter().all(u8::is_ascii_uppercase)) => {
                    let mut scan = walk::dataset(bytes, start, Syntax::ImplicitLe, false)?;
                    scan.implicit_under_explicit_meta = true;
                    scan
                }
                _ => walk::dataset(bytes, start, Syntax::ExplicitLe, headers_only)?,
            };
            scan.transfer_syntax = ts;
            Ok(scan)
        }
    }
}

fn inflate(deflated: &[u8]) -> Result<Vec<u8>, LimitError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut reader = flate2::read::DeflateDecoder::new(deflated).take(MAX_INFLATED_BYTES + 1);
    // A broken stream is left to dicom-rs to report; what inflated is walked.
    let _ = reader.read_to_end(&mut out);
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(LimitError::Inflate(MAX_INFLATED_BYTES));
    }
    Ok(out)
}

/// Where the Part 10 body (`DICM` onwards) starts, if `bytes` is one.
pub(crate) fn part10_body(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Some(128)
    } else if bytes.starts_with(b"DICM") {
        Some(0)
    } else {
        None
    }
}

/// Walks a Part 10 file (or the same without its preamble) and checks every declared length
/// against the bytes there are. A bare dataset is walked when [`crate::open`] would read one.
pub fn scan(bytes: &[u8]) -> Result<Scan, LimitError> {
    match part10_body(bytes) {
        Some(body) => scan_layout(bytes, Layout::Part10 { body }, false),
        None => crate::bare_layout(bytes)
            .map(|layout| scan_layout(bytes, layout, false))
            .unwrap_or(Err(LimitError::Malformed { offset: 0, what: "not a DICOM file" })),
    }
}

/// The bytes the decoded pixel data of `bytes` will take, once its declared sizes are
/// checked ([`scan`], then [`Scan::check`] with [`DEFAULT_MAX_DECODED_BYTES`]). For a memory
/// budget to reserve before decoding.
pub fn decoded_size(bytes: &[u8]) -> Result<u64, LimitError> {
    let scan = scan(bytes)?;
    scan.check(DEFAULT_MAX_DECODED_BYTES)?;
    Ok(scan.decoded_bytes())
}
