//! Display rendering (feature `pixeldata`): turns a DICOM instance into 8-bit RGB frames the
//! way a radiology viewer shows them.
//!
//! Decoding is done by `dicom-pixeldata` (every transfer syntax it has a codec for); everything
//! after decoding is done here, so that the rules below hold for every bit depth and
//! photometric interpretation, including the ones `dicom-pixeldata`'s own image conversion
//! refuses (32-bit samples, uncompressed YBR_FULL_422, palette color):
//!
//! - grayscale: modality rescale (RescaleSlope/Intercept, and DoseGridScaling for RT dose),
//!   then the first VOI window (WindowCenter/WindowWidth, with its VOILUTFunction, LINEAR by
//!   default), or a min–max window over the frame when the file has none; MONOCHROME1 is
//!   inverted after windowing; gray is output as R=G=B;
//! - color: RGB as is, YBR_FULL / YBR_FULL_422 / YBR_PARTIAL_422 converted to RGB (unless the
//!   codec already did, as JPEG lossy and JPEG 2000 with a component transform do), PALETTE
//!   COLOR through the red/green/blue palette lookup tables;
//! - one [`DisplayFrame`] per frame.

use dicom_core::DicomValue;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{DecodedPixelData, PixelDecoder, VoiLutFunction};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

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
    Read(#[from] super::DicomError),
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
/// let frames = arterys_gateway::dicom::display::render(&bytes).unwrap();
/// assert_eq!((frames.len(), frames[0].width, frames[0].height), (1, 64, 64));
/// ```
pub fn render(bytes: &[u8]) -> Result<Vec<DisplayFrame>, DisplayError> {
    render_object(&open(bytes)?)
}

/// All frames of an object already read.
pub fn render_object(obj: &DefaultDicomObject) -> Result<Vec<DisplayFrame>, DisplayError> {
    let image = Image::decode(obj, None)?;
    (0..image.frames).map(|frame| image.render_frame(frame)).collect()
}

/// Grayscale values of one frame (0-based) after the modality rescale (slope/intercept, or
/// DoseGridScaling), as f32, row-major, with the frame's width and height (for model
/// preprocessing). No VOI window and no MONOCHROME1 inversion are applied. Color images give
/// their luminance (0.299 R + 0.587 G + 0.114 B of the displayed RGB, 0 to 255).
pub fn modality_values(obj: &DefaultDicomObject, frame: u32) -> Result<(u32, u32, Vec<f32>), DisplayError> {
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

/// [`super::open`] for display: a file cut inside its pixel data is told apart from one that
/// is not DICOM ([`DisplayError::Truncated`]).
pub fn open(bytes: &[u8]) -> Result<DefaultDicomObject, DisplayError> {
    let err = match super::open(bytes) {
        Ok(obj) => return Ok(obj),
        Err(err) => err,
    };
    // Everything before the pixel data is readable: the file ends (or breaks) inside it.
    if let Ok(headers) = super::open_headers(bytes) {
        if super::int(&headers, tags::ROWS).is_some() {
            let detail = match &err {
                super::DicomError::Read(detail) => detail.clone(),
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
    match super::int(obj, tag) {
        Some(v) => u16::try_from(v).map_err(|_| DisplayError::Invalid(format!("{name} is {v}"))),
        None => Err(DisplayError::Invalid(format!("{name} is missing"))),
    }
}

fn attr_f64(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    obj.element_opt(tag).ok()??.to_float64().ok().filter(|v| v.is_finite())
}

// ---------------------------------------------------------------------------------------------
// Decoding

const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
const ENCAPSULATED_UNCOMPRESSED: &str = "1.2.840.10008.1.2.1.98";

/// YBR 4:2:2 data that has full chroma after all.
fn ybr_unsubsampled(partial: bool) -> Photometric {
    if partial {
        Photometric::YbrPartial
    } else {
        Photometric::YbrFull
    }
}

/// The photometric interpretation of the decoded samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Photometric {
    Monochrome1,
    Monochrome2,
    Palette,
    Rgb,
    YbrFull,
    /// YBR_FULL_422 or YBR_PARTIAL_422 with the chroma still subsampled (uncompressed):
    /// Y1 Y2 Cb Cr for each pair of pixels.
    Ybr422 {
        partial: bool,
    },
    YbrPartial,
}

/// Decoded pixel data with what is needed to display it.
struct Image<'a> {
    px: DecodedPixelData<'a>,
    photometric: Photometric,
    /// The instance's frame number of `px`'s first frame.
    base: u32,
    rows: usize,
    cols: usize,
    /// Frames held by `px`.
    frames: u32,
    bytes_per_sample: usize,
    bits_stored: u16,
    high_bit: u16,
    signed: bool,
    /// Samples are stored color-by-plane (PlanarConfiguration 1).
    planar: bool,
    dose_grid_scaling: Option<f64>,
    palette: Option<Palette>,
}

impl<'a> Image<'a> {
    /// Decodes all frames (`frame` None), or the one frame asked for.
    fn decode(obj: &'a DefaultDicomObject, frame: Option<u32>) -> Result<Self, DisplayError> {
        let pixel_data = match obj.element_opt(tags::PIXEL_DATA) {
            Ok(Some(e)) => e,
            _ => return Err(DisplayError::NoPixelData),
        };
        let rows = attr_u16(obj, tags::ROWS, "Rows")?;
        let cols = attr_u16(obj, tags::COLUMNS, "Columns")?;
        if rows == 0 || cols == 0 {
            return Err(DisplayError::Invalid(format!("the image is {cols}x{rows}")));
        }
        let spp = attr_u16(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?;
        let bits_allocated = attr_u16(obj, tags::BITS_ALLOCATED, "BitsAllocated")?;
        let bits_stored = attr_u16(obj, tags::BITS_STORED, "BitsStored")?;
        let high_bit = attr_u16(obj, tags::HIGH_BIT, "HighBit")?;
        let signed = attr_u16(obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation")? == 1;
        let planar = super::int(obj, tags::PLANAR_CONFIGURATION) == Some(1);
        let pi = super::string(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .ok_or_else(|| DisplayError::Invalid("PhotometricInterpretation is missing".into()))?;
        let frames = match super::int(obj, tags::NUMBER_OF_FRAMES) {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| DisplayError::Invalid(format!("NumberOfFrames is {n}")))?,
        };
        if !matches!(bits_allocated, 1 | 8 | 16 | 32) {
            return Err(DisplayError::Unsupported(format!("BitsAllocated {bits_allocated}")));
        }
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(DisplayError::Invalid(format!("BitsStored {bits_stored} with BitsAllocated {bits_allocated}")));
        }
        if let Some(f) = frame {
            if f >= frames {
                return Err(DisplayError::FrameOutOfRange { frame: f, frames });
            }
        }

        let ts_uid = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_owned();
        let ts = TransferSyntaxRegistry.get(&ts_uid);
        let ts_error = |reason: String| DisplayError::TransferSyntax {
            name: ts.map_or("unknown", |ts| ts.name()).to_owned(),
            uid: ts_uid.clone(),
            reason,
        };
        let ts = ts.ok_or_else(|| ts_error("unknown transfer syntax".into()))?;
        if !ts.can_decode_all() {
            return Err(ts_error("no decoder for it in this build".into()));
        }

        let declared = match (pi.as_str(), spp) {
            ("MONOCHROME1", 1) => Photometric::Monochrome1,
            ("MONOCHROME2", 1) => Photometric::Monochrome2,
            ("PALETTE COLOR", 1) => Photometric::Palette,
            ("RGB", 3) => Photometric::Rgb,
            ("YBR_FULL", 3) => Photometric::YbrFull,
            ("YBR_FULL_422", 3) => Photometric::Ybr422 { partial: false },
            ("YBR_PARTIAL_422", 3) => Photometric::Ybr422 { partial: true },
            ("YBR_PARTIAL_420", 3) => Photometric::YbrPartial,
            // Only used with JPEG 2000, whose decoder applies the inverse component transform.
            ("YBR_RCT" | "YBR_ICT", 3) => Photometric::Rgb,
            (pi, spp) => {
                return Err(DisplayError::Unsupported(format!(
                    "PhotometricInterpretation {pi} with SamplesPerPixel {spp}"
                )))
            }
        };
        let bytes_per_sample = usize::from(bits_allocated.div_ceil(8));
        let pixels = usize::from(rows) * usize::from(cols);

        let (photometric, px, decoded_frames, base) = match pixel_data.value() {
            DicomValue::Primitive(value) => {
                // Native: check the length, and whether YBR 4:2:2 chroma is subsampled.
                let have = value.calculate_byte_len();
                let full = if bits_allocated == 1 {
                    (pixels * usize::from(spp) * frames as usize).div_ceil(8)
                } else {
                    pixels * usize::from(spp) * bytes_per_sample * frames as usize
                };
                let mut photometric = declared;
                let mut need = full;
                if let Photometric::Ybr422 { partial } = declared {
                    if have >= full {
                        photometric = ybr_unsubsampled(partial); // written without subsampling
                    } else {
                        need = full / 3 * 2;
                        if cols % 2 == 1 {
                            return Err(DisplayError::Invalid(format!("{pi} with an odd number of columns ({cols})")));
                        }
                    }
                }
                if declared == Photometric::YbrPartial {
                    return Err(DisplayError::Unsupported(format!("uncompressed {pi}")));
                }
                if have < need {
                    return Err(DisplayError::Truncated(format!(
                        "{have} bytes where {frames} frame(s) of {cols}x{rows} need {need}"
                    )));
                }
                let px = guarded(|| obj.decode_pixel_data()).map_err(ts_error)?;
                (photometric, px, frames, 0)
            }
            DicomValue::PixelSequence(_) => {
                let base = frame.filter(|_| frames > 1).unwrap_or(0);
                let px = guarded(|| match frame {
                    Some(f) if frames > 1 => obj.decode_pixel_data_frame(f),
                    _ => obj.decode_pixel_data(),
                })
                .map_err(|mut reason| {
                    if matches!(ts.uid(), JPEG_BASELINE | JPEG_EXTENDED) && bits_stored > 8 {
                        reason =
                            format!("{bits_stored}-bit lossy JPEG is not supported by the JPEG decoder ({reason})");
                    }
                    ts_error(reason)
                })?;
                let decoded_frames = px.number_of_frames();
                let have = px.data().len();
                let full = pixels * usize::from(spp) * bytes_per_sample * decoded_frames as usize;
                // The codec may have converted the colors already.
                let photometric = match (ts.uid(), declared) {
                    // JPEG lossy: the decoder outputs RGB (YCbCr converted, chroma upsampled).
                    (JPEG_BASELINE | JPEG_EXTENDED, _) if spp == 3 => Photometric::Rgb,
                    // Still subsampled (Encapsulated Uncompressed), or upsampled by the codec.
                    (_, Photometric::Ybr422 { partial }) if have >= full => ybr_unsubsampled(partial),
                    (_, p @ Photometric::Ybr422 { .. }) => p,
                    (_, Photometric::YbrPartial) => {
                        return Err(DisplayError::Unsupported(format!("{pi} outside JPEG lossy")))
                    }
                    (_, p) => p,
                };
                let need = match photometric {
                    Photometric::Ybr422 { .. } => full / 3 * 2,
                    _ => full,
                };
                if have < need {
                    return Err(DisplayError::Truncated(format!(
                        "the codec gave {have} bytes where {decoded_frames} frame(s) of {cols}x{rows} need {need}"
                    )));
                }
                (photometric, px, decoded_frames, base)
            }
            DicomValue::Sequence(_) => return Err(DisplayError::Invalid("PixelData is a sequence".into())),
        };
        // dicom-pixeldata expands 1-bit samples to one byte (0 or 255) each.
        let bytes_per_sample = if bits_allocated == 1 { 1 } else { bytes_per_sample };
        let palette = match photometric {
            Photometric::Palette => Some(Palette::read(obj, signed)?),
            _ => None,
        };
        // Codecs output interleaved samples; native and encapsulated uncompressed data do not.
        let raw = matches!(pixel_data.value(), DicomValue::Primitive(_)) || ts.uid() == ENCAPSULATED_UNCOMPRESSED;
        let decoded_planar = planar && raw;
        Ok(Image {
            px,
            photometric,
            base,
            rows: usize::from(rows),
            cols: usize::from(cols),
            frames: decoded_frames,
            bytes_per_sample,
            bits_stored,
            high_bit,
            signed,
            planar: decoded_planar,
            dose_grid_scaling: attr_f64(obj, tags::DOSE_GRID_SCALING),
            palette,
        })
    }

    fn samples_per_pixel(&self) -> usize {
        match self.photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::Palette => 1,
            _ => 3,
        }
    }

    /// The bytes of one frame of `px` (frame numbers from here on are `px`'s).
    fn frame_bytes(&self, frame: u32) -> Result<&[u8], DisplayError> {
        let samples = match self.photometric {
            Photometric::Ybr422 { .. } => self.rows * self.cols * 2,
            _ => self.rows * self.cols * self.samples_per_pixel(),
        };
        let len = samples * self.bytes_per_sample;
        let start = len * frame as usize;
        self.px
            .data()
            .get(start..start + len)
            .ok_or_else(|| DisplayError::Truncated(format!("frame {frame} is missing")))
    }

    /// Stored sample values of a frame (masked to BitsStored, sign-extended).
    fn stored(&self, frame: u32) -> Result<Vec<i64>, DisplayError> {
        let bytes = self.frame_bytes(frame)?;
        let bits = u32::from(self.bits_stored);
        let shift = (u32::from(self.high_bit) + 1).saturating_sub(bits);
        let mask: u64 = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let signed = self.signed;
        let decode = move |raw: u64| -> i64 {
            let v = (raw >> shift) & mask;
            if signed && bits > 0 && (v >> (bits - 1)) & 1 == 1 {
                v as i64 - (1i64 << bits)
            } else {
                v as i64
            }
        };
        Ok(match self.bytes_per_sample {
            1 => bytes.iter().map(|&b| decode(u64::from(b))).collect(),
            2 => bytes.chunks_exact(2).map(|c| decode(u64::from(u16::from_ne_bytes([c[0], c[1]])))).collect(),
            _ => {
                bytes.chunks_exact(4).map(|c| decode(u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))).collect()
            }
        })
    }

    /// Modality values of a grayscale frame.
    fn modality(&self, frame: u32) -> Result<Vec<f64>, DisplayError> {
        let rescale = self.px.rescale().ok().and_then(|r| r.get(frame as usize).or(r.first()).copied());
        let (slope, intercept) = rescale.map_or((1.0, 0.0), |r| (r.slope, r.intercept));
        let scale = self.dose_grid_scaling.unwrap_or(1.0);
        Ok(self.stored(frame)?.into_iter().map(|v| (v as f64 * slope + intercept) * scale).collect())
    }

    /// The VOI window of a frame: center, width, function.
    fn window(&self, frame: u32) -> Option<(f64, f64, VoiLutFunction)> {
        let window = self.px.window().ok()??;
        let w = window.get(frame as usize).or(window.first())?;
        let function = match self.px.voi_lut_function() {
            Ok(Some(f)) => f.get(frame as usize).or(f.first()).copied().unwrap_or_default(),
            _ => VoiLutFunction::Linear,
        };
        let valid = match function {
            VoiLutFunction::Linear => w.width >= 1.0,
            _ => w.width > 0.0,
        };
        (valid && w.center.is_finite() && w.width.is_finite()).then_some((w.center, w.width, function))
    }

    fn render_frame(&self, frame: u32) -> Result<DisplayFrame, DisplayError> {
        let rgb = match self.photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 => {
                let values = self.modality(frame)?;
                let mut gray = match self.window(frame) {
                    Some((center, width, function)) => {
                        values.iter().map(|&x| voi(x, center, width, function)).collect::<Vec<u8>>()
                    }
                    None => min_max(&values),
                };
                if self.photometric == Photometric::Monochrome1 {
                    gray.iter_mut().for_each(|g| *g = 255 - *g);
                }
                gray.into_iter().flat_map(|g| [g, g, g]).collect()
            }
            _ => self.color_frame(frame)?,
        };
        Ok(DisplayFrame { width: self.cols as u32, height: self.rows as u32, rgb })
    }

    /// RGB8 of a color frame (RGB, YBR or palette).
    fn color_frame(&self, frame: u32) -> Result<Vec<u8>, DisplayError> {
        let stored = self.stored(frame)?;
        if let (Photometric::Palette, Some(palette)) = (self.photometric, &self.palette) {
            return Ok(stored.iter().flat_map(|&v| palette.rgb(v)).collect());
        }
        // Samples scaled to 0..=255 as f64.
        let max = ((1u64 << self.bits_stored.min(63)) - 1) as f64;
        let to8 = |v: i64| v.max(0) as f64 * 255.0 / max;
        let pixels = self.rows * self.cols;
        let mut out = Vec::with_capacity(pixels * 3);
        match self.photometric {
            Photometric::Ybr422 { partial } => {
                for quad in stored.chunks_exact(4) {
                    let (cb, cr) = (to8(quad[2]), to8(quad[3]));
                    out.extend(ybr_to_rgb(to8(quad[0]), cb, cr, partial));
                    out.extend(ybr_to_rgb(to8(quad[1]), cb, cr, partial));
                }
            }
            _ => {
                let sample = |pixel: usize, channel: usize| -> f64 {
                    let i = if self.planar { channel * pixels + pixel } else { pixel * 3 + channel };
                    stored.get(i).map_or(0.0, |&v| to8(v))
                };
                for p in 0..pixels {
                    let (a, b, c) = (sample(p, 0), sample(p, 1), sample(p, 2));
                    match self.photometric {
                        Photometric::YbrFull => out.extend(ybr_to_rgb(a, b, c, false)),
                        Photometric::YbrPartial => out.extend(ybr_to_rgb(a, b, c, true)),
                        _ => out.extend([a, b, c].map(round8)),
                    }
                }
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Pixel value transforms

fn round8(v: f64) -> u8 {
    (v + 0.5).floor().clamp(0.0, 255.0) as u8
}

/// YCbCr (0..=255 scale) to RGB8: full range (ITU-R BT.601 as JPEG uses it) or partial range.
fn ybr_to_rgb(y: f64, cb: f64, cr: f64, partial: bool) -> [u8; 3] {
    let (cb, cr) = (cb - 128.0, cr - 128.0);
    if partial {
        let y = 1.164_383 * (y - 16.0);
        [y + 1.596_027 * cr, y - 0.391_762 * cb - 0.812_968 * cr, y + 2.017_232 * cb].map(round8)
    } else {
        [y + 1.402 * cr, y - 0.344_136 * cb - 0.714_136 * cr, y + 1.772 * cb].map(round8)
    }
}

/// The VOI LUT function of PS3.3 C.11.2.1.2 to 0..=255.
fn voi(x: f64, center: f64, width: f64, function: VoiLutFunction) -> u8 {
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
fn min_max(values: &[f64]) -> Vec<u8> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        values.iter().map(|&v| round8((v - lo) / (hi - lo) * 255.0)).collect()
    } else {
        vec![0; values.len()]
    }
}

/// The red, green and blue palette color lookup tables, as RGB8.
struct Palette {
    first_mapped: i64,
    /// One RGB8 entry per input value from `first_mapped` on.
    entries: Vec<[u8; 3]>,
}

impl Palette {
    fn read(obj: &DefaultDicomObject, signed: bool) -> Result<Self, DisplayError> {
        let channels = [
            (tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, "red"),
            (tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, "green"),
            (tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, "blue"),
        ];
        let mut first_mapped = 0;
        let mut luts: Vec<Vec<u8>> = Vec::with_capacity(3);
        for (descriptor_tag, data_tag, color) in channels {
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
            let data = match obj.element_opt(data_tag) {
                Ok(Some(e)) => {
                    e.value().to_bytes().map_err(|e| DisplayError::Invalid(format!("{color} LUT data: {e}")))?
                }
                _ => {
                    let what = if obj
                        .element_opt(tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA)
                        .ok()
                        .flatten()
                        .is_some()
                    {
                        DisplayError::Unsupported("segmented palette color lookup tables".into())
                    } else {
                        DisplayError::Invalid(format!("PALETTE COLOR without {color} LUT data"))
                    };
                    return Err(what);
                }
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

    fn rgb(&self, value: i64) -> [u8; 3] {
        let last = self.entries.len() as i64 - 1;
        let i = (value - self.first_mapped).clamp(0, last.max(0)) as usize;
        self.entries.get(i).copied().unwrap_or([0; 3])
    }
}

/// A palette LUT's entries as 8-bit values: 16-bit entries keep their high byte; 8-bit ones
/// may be bytes or (as some writers do) one per 16-bit word.
fn lut_to_8bit(data: &[u8], entries: usize, depth: i64) -> Option<Vec<u8>> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::InMemDicomObject;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dicom/");

    fn load(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn frames(rel: &str) -> Vec<DisplayFrame> {
        render(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn one(rel: &str) -> DisplayFrame {
        let mut f = frames(rel);
        assert_eq!(f.len(), 1, "{rel}");
        f.remove(0)
    }

    fn error(rel: &str) -> String {
        match render(&load(rel)) {
            Ok(f) => panic!("{rel} rendered {} frame(s)", f.len()),
            Err(e) => e.to_string(),
        }
    }

    fn pixel(f: &DisplayFrame, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * f.width + x) * 3) as usize;
        [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]]
    }

    fn mean_rgb(f: &DisplayFrame) -> [f64; 3] {
        let n = (f.rgb.len() / 3) as f64;
        let mut m = [0.0; 3];
        for p in f.rgb.chunks_exact(3) {
            for c in 0..3 {
                m[c] += f64::from(p[c]) / n;
            }
        }
        m
    }

    fn is_gray(f: &DisplayFrame) -> bool {
        f.rgb.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2])
    }

    fn gray_levels(f: &DisplayFrame) -> usize {
        let mut seen = [false; 256];
        f.rgb.chunks_exact(3).for_each(|p| seen[p[0] as usize] = true);
        seen.iter().filter(|&&s| s).count()
    }

    /// Mean gray of a square of `size` pixels at (x, y).
    fn mean_box(f: &DisplayFrame, x: u32, y: u32, size: u32) -> f64 {
        let mut sum = 0.0;
        for yy in y..y + size {
            for xx in x..x + size {
                sum += f64::from(pixel(f, xx, yy)[0]);
            }
        }
        sum / f64::from(size * size)
    }

    fn colored_pixels(f: &DisplayFrame) -> usize {
        f.rgb.chunks_exact(3).filter(|p| p[0] != p[1] || p[1] != p[2] || p[0] != p[2]).count()
    }

    fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
    }

    #[test]
    fn mr_3d_series_renders_with_anatomy_in_the_centre() {
        for i in 1..=3 {
            let f = one(&format!("arterys/test_3d/{i}.dcm"));
            assert_eq!((f.width, f.height, f.rgb.len()), (512, 512, 512 * 512 * 3));
            assert!(is_gray(&f));
            assert!(gray_levels(&f) > 150, "{i}: only {} gray levels", gray_levels(&f));
            let centre = mean_box(&f, 192, 192, 128);
            let corners = [(0, 0), (448, 0), (0, 448), (448, 448)].map(|(x, y)| mean_box(&f, x, y, 64));
            for c in corners {
                assert!(centre > c + 30.0, "{i}: centre {centre} vs corner {c}");
            }
        }
    }

    #[test]
    fn jpeg_baseline_chest_x_rays_render() {
        for i in 1..=3 {
            let f = one(&format!("arterys/test_2d/{i}.dcm"));
            assert_eq!((f.width, f.height), (1024, 1024));
            assert!(is_gray(&f));
            assert!(gray_levels(&f) > 150, "{i}: only {} gray levels", gray_levels(&f));
            // No window in the file: min-max, so both ends are used.
            let (lo, hi) = f.rgb.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
            assert_eq!((lo, hi), (0, 255));
        }
    }

    #[test]
    fn mr_small_is_identical_in_every_transfer_syntax() {
        let reference = one("pydicom/MR_small.dcm");
        assert_eq!((reference.width, reference.height), (64, 64));
        assert!(gray_levels(&reference) > 100);
        let mut names = vec!["implicit", "bigendian", "RLE", "jp2klossless"];
        if cfg!(feature = "jpegls") {
            names.push("jpeg_ls_lossless");
        }
        for name in names {
            let f = one(&format!("pydicom/MR_small_{name}.dcm"));
            assert!(f == reference, "MR_small_{name} differs from MR_small");
        }
    }

    #[cfg(not(feature = "jpegls"))]
    #[test]
    fn jpeg_ls_without_the_feature_names_the_transfer_syntax() {
        let e = error("pydicom/MR_small_jpeg_ls_lossless.dcm");
        assert!(e.contains("JPEG-LS"), "{e}");
    }

    #[test]
    fn window_follows_the_dicom_linear_formula() {
        // MR_small: WindowCenter 600, WindowWidth 1600.
        let obj = super::super::open(&load("pydicom/MR_small.dcm")).unwrap();
        let (w, h, values) = modality_values(&obj, 0).unwrap();
        assert_eq!((w, h, values.len()), (64, 64, 64 * 64));
        let f = render_object(&obj).unwrap().remove(0);
        for (i, &v) in values.iter().enumerate() {
            let expected = voi(f64::from(v), 600.0, 1600.0, VoiLutFunction::Linear);
            assert_eq!(f.rgb[i * 3], expected);
        }
        assert_eq!(voi(-200.0, 600.0, 1600.0, VoiLutFunction::Linear), 0);
        assert_eq!(voi(1400.0, 600.0, 1600.0, VoiLutFunction::Linear), 255);
        assert_eq!(voi(599.5, 600.0, 1600.0, VoiLutFunction::Linear), 128);
    }

    #[test]
    fn ct_small_uses_the_rescale_and_a_min_max_window() {
        let obj = super::super::open(&load("pydicom/CT_small.dcm")).unwrap();
        let (_, _, values) = modality_values(&obj, 0).unwrap();
        let decoded = obj.decode_pixel_data().unwrap();
        let stored: Vec<i16> = decoded
            .to_vec_with_options(
                &dicom_pixeldata::ConvertOptions::new().with_modality_lut(dicom_pixeldata::ModalityLutOption::None),
            )
            .unwrap();
        // RescaleIntercept -1024.
        for (v, s) in values.iter().zip(&stored) {
            assert_eq!(*v, f32::from(*s) - 1024.0);
        }
        let f = one("pydicom/CT_small.dcm");
        assert_eq!((f.width, f.height), (128, 128));
        let (lo, hi) = f.rgb.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
        assert_eq!((lo, hi), (0, 255));
    }

    #[test]
    fn jpeg2000_nm_renders() {
        let f = one("pydicom/JPEG2000.dcm");
        assert_eq!((f.width, f.height), (256, 1024));
        assert!(gray_levels(&f) > 50);
    }

    #[test]
    fn color_images_are_colored_and_agree() {
        let rle = one("pydicom/SC_rgb_rle.dcm");
        let jpeg = one("pydicom/SC_rgb_jpeg_dcmtk.dcm");
        let ybr = one("pydicom/SC_ybr_full_422_uncompressed.dcm");
        for (name, f) in [("rle", &rle), ("jpeg", &jpeg), ("ybr422", &ybr)] {
            assert_eq!((f.width, f.height), (100, 100), "{name}");
            assert!(colored_pixels(f) > 3000, "{name}: {} colored pixels", colored_pixels(f));
        }
        // The same color bars: red, green and blue bands at known rows (x = 50).
        let bands = [
            (5, [255, 0, 0]),
            (15, [255, 128, 128]),
            (25, [0, 255, 0]),
            (35, [128, 255, 128]),
            (45, [0, 0, 255]),
            (55, [128, 128, 255]),
            (65, [0, 0, 0]),
            (75, [64, 64, 64]),
            (85, [192, 192, 192]),
            (95, [255, 255, 255]),
        ];
        for (y, expected) in bands {
            assert_eq!(pixel(&rle, 50, y), expected, "RLE row {y}");
            for (name, f) in [("jpeg", &jpeg), ("ybr422", &ybr)] {
                let got = pixel(f, 50, y);
                let ok = got.iter().zip(expected).all(|(&g, e)| (i32::from(g) - i32::from(e)).abs() <= 8);
                assert!(ok, "{name} row {y}: {got:?}, expected about {expected:?}");
            }
        }
        let (m_rle, m_jpeg, m_ybr) = (mean_rgb(&rle), mean_rgb(&jpeg), mean_rgb(&ybr));
        assert!(close(m_rle, m_jpeg, 4.0), "mean colors: RLE {m_rle:?} vs JPEG {m_jpeg:?}");
        assert!(close(m_rle, m_ybr, 4.0), "mean colors: RLE {m_rle:?} vs YBR_FULL_422 {m_ybr:?}");
    }

    #[test]
    fn multi_frame_rle_gives_two_frames() {
        let f = frames("pydicom/SC_rgb_rle_2frame.dcm");
        assert_eq!(f.len(), 2);
        let single = one("pydicom/SC_rgb_rle.dcm");
        assert!(f[0] == single, "frame 1 is the single-frame image");
        assert!(colored_pixels(&f[1]) > 3000);
        assert!(f[0] != f[1]);
    }

    #[test]
    fn rt_dose_gives_fifteen_scaled_frames() {
        let f = frames("pydicom/rtdose.dcm");
        assert_eq!(f.len(), 15);
        assert!(f.iter().all(|f| (f.width, f.height) == (10, 10) && is_gray(f)));
        assert!(f.iter().any(|f| gray_levels(f) > 10));
        let obj = super::super::open(&load("pydicom/rtdose.dcm")).unwrap();
        let decoded = obj.decode_pixel_data().unwrap();
        let frame = 7;
        let raw = decoded.frame_data(frame).unwrap();
        let (w, h, dose) = modality_values(&obj, frame).unwrap();
        assert_eq!((w, h, dose.len()), (10, 10, 100));
        for (v, c) in dose.iter().zip(raw.chunks_exact(4)) {
            let stored = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            assert!((f64::from(*v) - f64::from(stored) * 1e-6).abs() < 1e-6, "{v} vs {stored}");
        }
        assert!(matches!(modality_values(&obj, 15), Err(DisplayError::FrameOutOfRange { frame: 15, frames: 15 })));
    }

    #[test]
    fn broken_files_give_errors_naming_the_reason() {
        let jpeg = error("pydicom/JPEG-lossy.dcm");
        assert!(jpeg.contains("JPEG Extended") && jpeg.contains("1.2.840.10008.1.2.4.51"), "{jpeg}");
        assert!(jpeg.contains("12-bit lossy JPEG is not supported"), "{jpeg}");
        let truncated = error("pydicom/MR_truncated.dcm");
        assert!(truncated.starts_with("pixel data is truncated"), "{truncated}");
        assert_eq!(error("pydicom/test-SR.dcm"), "no pixel data");
        for e in [jpeg, truncated] {
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(matches!(render(b"not dicom at all"), Err(DisplayError::Read(_))));
    }

    #[test]
    fn dataset_without_meta_renders_like_the_original() {
        // no_meta.dcm is CT_small's dataset (Explicit VR Little Endian) without preamble and
        // file meta, after one stray byte.
        assert!(one("pydicom/no_meta.dcm") == one("pydicom/CT_small.dcm"));
    }

    #[test]
    fn one_bit_segmentation_renders_black_and_white() {
        let f = one("pydicom/liver_1frame.dcm");
        assert_eq!((f.width, f.height), (512, 512));
        assert!(is_gray(&f));
        let white = f.rgb.chunks_exact(3).filter(|p| p[0] == 255).count();
        assert!(f.rgb.iter().all(|&v| v == 0 || v == 255));
        assert!(white > 1000 && white < 512 * 512 / 2, "{white} white pixels");
    }

    /// A small Explicit VR Little Endian instance for the cases the test files lack.
    fn synthetic(
        pi: &str,
        (rows, cols): (u16, u16),
        spp: u16,
        bits: (u16, u16, u16),
        pixels: PrimitiveValue,
    ) -> DefaultDicomObject {
        let (allocated, stored, signed) = bits;
        let vr = if allocated == 8 { VR::OB } else { VR::OW };
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7")),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3.4.5")),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(spp)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(pi)),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(allocated)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(stored)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(stored - 1)),
            DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(signed)),
            DataElement::new(tags::PIXEL_DATA, vr, pixels),
        ]);
        obj.with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("1.2.3.4.5")
                .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
        )
        .unwrap()
    }

    #[test]
    fn monochrome1_is_inverted_after_windowing() {
        let mono2 = one("pydicom/MR_small.dcm");
        let mut obj = super::super::open(&load("pydicom/MR_small.dcm")).unwrap();
        obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME1")));
        let mono1 = render_object(&obj).unwrap().remove(0);
        assert!(mono1.rgb.iter().zip(&mono2.rgb).all(|(a, b)| *a == 255 - *b));
        // Modality values are not inverted.
        let (_, _, v1) = modality_values(&obj, 0).unwrap();
        let obj2 = super::super::open(&load("pydicom/MR_small.dcm")).unwrap();
        assert_eq!(v1, modality_values(&obj2, 0).unwrap().2);
    }

    #[test]
    fn palette_color_goes_through_the_lookup_tables() {
        let mut obj = synthetic("PALETTE COLOR", (2, 2), 1, (8, 8, 0), PrimitiveValue::U8(vec![0u8, 1, 2, 3].into()));
        let descriptor = PrimitiveValue::U16(vec![4u16, 0, 16].into());
        for (d, t, lut) in [
            (
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                [0u16, 65535, 0, 0],
            ),
            (
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                [0, 0, 65535, 0x8000],
            ),
            (
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                [0, 0, 0, 65535],
            ),
        ] {
            obj.put(DataElement::new(d, VR::US, descriptor.clone()));
            obj.put(DataElement::new(t, VR::OW, PrimitiveValue::U16(lut.to_vec().into())));
        }
        let f = render_object(&obj).unwrap().remove(0);
        assert_eq!(f.rgb, [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 128, 255]);
        let (_, _, lum) = modality_values(&obj, 0).unwrap();
        // Black, red, green, and blue with half green: luminance 0, 76, 150, 104.
        assert!(lum[0] == 0.0 && lum[2] > lum[3] && lum[3] > lum[1] && lum[1] > 70.0, "{lum:?}");
    }

    #[test]
    fn planar_rgb_and_native_ybr_full() {
        let planar = {
            let mut obj =
                synthetic("RGB", (1, 2), 3, (8, 8, 0), PrimitiveValue::U8(vec![255u8, 0, 0, 255, 10, 20].into()));
            obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(1u16)));
            render_object(&obj).unwrap().remove(0)
        };
        assert_eq!(planar.rgb, [255, 0, 10, 0, 255, 20]);
        // Y 76 Cb 85 Cr 255 is pure red in full-range YCbCr.
        let ybr = synthetic("YBR_FULL", (1, 1), 3, (8, 8, 0), PrimitiveValue::U8(vec![76u8, 85, 255, 0].into()));
        let f = render_object(&ybr).unwrap().remove(0);
        let ok = f.rgb.iter().zip([255, 0, 0]).all(|(&g, e)| (i32::from(g) - e).abs() <= 2);
        assert!(ok, "{:?}", f.rgb);
    }

    #[test]
    fn signed_samples_use_bits_stored() {
        let obj = synthetic("MONOCHROME2", (1, 2), 1, (16, 12, 1), PrimitiveValue::U16(vec![0x0FFFu16, 0x0001].into()));
        assert_eq!(modality_values(&obj, 0).unwrap().2, [-1.0, 1.0]);
        assert_eq!(render_object(&obj).unwrap()[0].rgb, [0, 0, 0, 255, 255, 255]);
        let short = synthetic("MONOCHROME2", (2, 2), 1, (16, 16, 0), PrimitiveValue::U16(vec![1u16, 2, 3].into()));
        let e = render_object(&short).unwrap_err().to_string();
        assert!(e.starts_with("pixel data is truncated"), "{e}");
    }

    #[test]
    fn codec_output_larger_than_the_header_says_is_an_error() {
        let mut obj = super::super::open(&load("arterys/test_2d/1.dcm")).unwrap();
        obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(512u16)));
        obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(512u16)));
        let e = render_object(&obj).unwrap_err().to_string();
        assert!(e.starts_with("cannot decode transfer syntax JPEG Baseline"), "{e}");
    }

    /// Writes every frame of every test file to /tmp/display-check/ to look at.
    #[test]
    fn dump_pngs_to_tmp() {
        let out = std::path::Path::new("/tmp/display-check");
        std::fs::create_dir_all(out).unwrap();
        let mut report = String::new();
        for sub in ["arterys/test_2d", "arterys/test_3d", "pydicom"] {
            let mut paths: Vec<_> =
                std::fs::read_dir(format!("{DIR}{sub}")).unwrap().map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths {
                let name = format!("{sub}/{}", path.file_stem().unwrap().to_string_lossy()).replace('/', "_");
                match render(&std::fs::read(&path).unwrap()) {
                    Ok(frames) => {
                        let f0 = &frames[0];
                        report += &format!("{name}: {} frame(s) {}x{}\n", frames.len(), f0.width, f0.height);
                        for (i, f) in frames.iter().enumerate() {
                            let img =
                                dicom_pixeldata::image::RgbImage::from_raw(f.width, f.height, f.rgb.clone()).unwrap();
                            img.save(out.join(format!("{name}_{i}.png"))).unwrap();
                        }
                    }
                    Err(e) => report += &format!("{name}: error: {e}\n"),
                }
            }
        }
        std::fs::write(out.join("report.txt"), report).unwrap();
    }
}
