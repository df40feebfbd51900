//! Display rendering: turns a DICOM instance into 8-bit RGB frames the
//! way a radiology viewer shows them.
//!
//! Decoding is done by `dicom-pixeldata` (every transfer syntax it has a codec for), except
//! for the files it gets wrong or cannot decode (32-bit Big Endian and RLE samples, JPEG RGB
//! without a colour marker, 12-bit lossy JPEG), which are decoded here first; everything after decoding is done here, so that the
//! rules below hold for every bit depth and photometric interpretation, including the ones
//! `dicom-pixeldata`'s own image conversion refuses (32-bit samples, uncompressed
//! YBR_FULL_422, palette color):
//!
//! - float pixel data (Float / Double Float Pixel Data): the values as they are, then as
//!   grayscale;
//! - grayscale: modality rescale (RescaleSlope/Intercept, or the Modality LUT; and
//!   DoseGridScaling for RT dose), then the VOI stage: the first VOI LUT (VOI LUT Sequence,
//!   its entries scaled from the LUT Descriptor's bit depth; preferred to a window when a file
//!   has both, as pydicom and dicom-pixeldata do), else the first VOI window
//!   (WindowCenter/WindowWidth, with its VOILUTFunction, LINEAR by default), else (no window,
//!   or one the function does not allow, such as a LINEAR width under 1) a min–max window over
//!   the frame; per frame from the functional groups of an enhanced image; MONOCHROME1 is
//!   inverted after windowing; gray is output as R=G=B;
//! - color: RGB as is, YBR_FULL / YBR_FULL_422 / YBR_PARTIAL_422 converted to RGB (unless the
//!   codec already did, as JPEG lossy and JPEG 2000 with a component transform do), PALETTE
//!   COLOR through the red/green/blue palette lookup tables;
//! - one [`DisplayFrame`] per frame.
//!
//! Work is bounded by the file: loops whose length the file decides are held to its size
//! (segmented palettes, RLE segments, offset tables), codecs are not handed streams that
//! declare more than the dataset does, and every frame and segment list checks
//! [`arterys_protocol::cancel::checkpoint`], so that a request that is gone stops with
//! [`DisplayError::Cancelled`].

mod color;
mod float;
mod image;
mod jpeg12;
mod lut;
mod preflight;
mod repair;
mod segmented;
#[cfg(test)]
mod tests;

use arterys_protocol::cancel;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use image::{Image, Photometric};

/// Explicit VR Big Endian: retired from new files, still in archives (dicom-rs deprecates its
/// constant). Here, where both the colour stage and the pixel repairs see it.
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// One displayable frame, RGB8, row-major, width*height*3 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayFrame {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Pixels, R G B per pixel, row after row.
    pub rgb: Vec<u8>,
}

/// Why an instance cannot be displayed. Each message is one line naming the reason.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The bytes are not a readable DICOM instance.
    #[error(transparent)]
    Read(#[from] crate::DicomError),
    /// The instance has no PixelData (a structured report, a key object...).
    #[error("no pixel data")]
    NoPixelData,
    /// The pixel data is shorter than Rows x Columns x frames says.
    #[error("pixel data is truncated: {0}")]
    Truncated(String),
    /// The pixel data's transfer syntax cannot be decoded here.
    #[error("cannot decode transfer syntax {name} ({uid}): {reason}")]
    TransferSyntax {
        /// The transfer syntax's name ("unknown" when the UID is not known).
        name: String,
        /// Its UID.
        uid: String,
        /// What went wrong.
        reason: String,
    },
    /// The image attributes describe something this renderer does not show.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The image attributes are missing or inconsistent.
    #[error("invalid image attributes: {0}")]
    Invalid(String),
    /// The request the work was for went away (its client hung up or its deadline passed):
    /// [`arterys_protocol::cancel::checkpoint`] failed between frames or segment lists.
    #[error(transparent)]
    Cancelled(#[from] arterys_protocol::cancel::Cancelled),
    /// A frame number past the last frame.
    #[error("frame {frame} is out of range: the instance has {frames} frame(s)")]
    FrameOutOfRange {
        /// The frame asked for (0-based).
        frame: u32,
        /// How many frames there are.
        frames: u32,
    },
}

/// All frames of an instance read from bytes (Part 10, or a bare dataset).
///
/// ```
/// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/pydicom/MR_small.dcm")).unwrap();
/// let frames = arterys_viewer::display::render(&bytes).unwrap();
/// assert_eq!((frames.len(), frames[0].width, frames[0].height), (1, 64, 64));
/// ```
pub fn render(bytes: &[u8]) -> Result<Vec<DisplayFrame>, DisplayError> {
    render_object(&open(bytes)?)
}

/// All frames of an object already read.
pub fn render_object(obj: &DefaultDicomObject) -> Result<Vec<DisplayFrame>, DisplayError> {
    if let Some(float) = float::FloatImage::read(obj)? {
        return float.render();
    }
    preflight::check(obj)?;
    let repaired = repair::repair(obj)?;
    let obj = repaired.as_ref().unwrap_or(obj);
    let image = Image::decode(obj, None)?;
    (0..image.frames)
        .map(|frame| {
            cancel::checkpoint()?;
            image.render_frame(frame)
        })
        .collect()
}

/// Grayscale values of one frame (0-based) after the modality rescale (slope/intercept, or
/// DoseGridScaling), as f32, row-major, with the frame's width and height (for model
/// preprocessing). No VOI window and no MONOCHROME1 inversion are applied. Color images give
/// their luminance (0.299 R + 0.587 G + 0.114 B of the displayed RGB, 0 to 255).
pub fn modality_values(obj: &DefaultDicomObject, frame: u32) -> Result<(u32, u32, Vec<f32>), DisplayError> {
    cancel::checkpoint()?;
    if let Some(float) = float::FloatImage::read(obj)? {
        return float.frame(frame);
    }
    preflight::check(obj)?;
    let repaired = repair::repair(obj)?;
    let obj = repaired.as_ref().unwrap_or(obj);
    let image = Image::decode(obj, Some(frame))?;
    let local = frame.saturating_sub(image.base);
    let values = match image.photometric {
        Photometric::Monochrome1 | Photometric::Monochrome2 => {
            image.modality(local)?.into_iter().map(|v| v as f32).collect()
        }
        _ => image
            .color_frame(local)?
            .chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect(),
    };
    Ok((image.cols as u32, image.rows as u32, values))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// [`crate::open`] for display: a file cut inside its pixel data is told apart from one that
/// is not DICOM ([`DisplayError::Truncated`]).
pub fn open(bytes: &[u8]) -> Result<DefaultDicomObject, DisplayError> {
    let err = match crate::open(bytes) {
        Ok(obj) => return Ok(obj),
        Err(err) => err,
    };
    // Everything before the pixel data is readable: the file ends (or breaks) inside it.
    if let Ok(headers) = crate::open_headers(bytes) {
        if crate::int(&headers, tags::ROWS).is_some() {
            let detail = match &err {
                crate::DicomError::Read(detail) => detail.to_string(),
                other => other.to_string(),
            };
            return Err(DisplayError::Truncated(format!("the file ends inside it ({})", one_line(&detail))));
        }
    }
    Err(err.into())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its sources, as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    one_line(&out)
}

/// Runs a decoder, turning its error, or its panic (codecs index past their buffers on some
/// inconsistent input), into a one-line reason.
fn guarded<T>(decode: impl FnOnce() -> Result<T, dicom_pixeldata::Error>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error_chain(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(format!("the decoder failed ({}); the image attributes may not match the data", one_line(&what)))
        }
    }
}

fn attr_u16(obj: &DefaultDicomObject, tag: dicom_core::Tag, name: &str) -> Result<u16, DisplayError> {
    match crate::int(obj, tag) {
        Some(v) => u16::try_from(v).map_err(|_| DisplayError::Invalid(format!("{name} is {v}"))),
        None => Err(DisplayError::Invalid(format!("{name} is missing"))),
    }
}

fn attr_f64(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    obj.element_opt(tag).ok()??.to_float64().ok().filter(|v| v.is_finite())
}
