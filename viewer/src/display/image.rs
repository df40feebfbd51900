//! Decoding: the pixel data's attributes checked, the codec run, and what the codec did to
//! the colours taken into account; then stored values, modality values and frames.

use dicom_core::DicomValue;
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids::{JPEG_BASELINE8_BIT as JPEG_BASELINE, JPEG_EXTENDED12_BIT as JPEG_EXTENDED};
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{DecodedPixelData, PixelDecoder, VoiLutFunction};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

use super::color::*;
use super::{attr_f64, attr_u16, guarded, DisplayError, DisplayFrame};

pub(super) const ENCAPSULATED_UNCOMPRESSED: &str = "1.2.840.10008.1.2.1.98";

/// YBR 4:2:2 data that has full chroma after all.
pub(super) fn ybr_unsubsampled(partial: bool) -> Photometric {
    if partial {
        Photometric::YbrPartial
    } else {
        Photometric::YbrFull
    }
}

/// The photometric interpretation of the decoded samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Photometric {
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

/// The image pixel module's attributes, checked for consistency.
struct Attrs {
    rows: u16,
    cols: u16,
    spp: u16,
    bits_allocated: u16,
    bits_stored: u16,
    high_bit: u16,
    signed: bool,
    planar: bool,
    pi: String,
    frames: u32,
    /// What PhotometricInterpretation and SamplesPerPixel say, before any codec.
    declared: Photometric,
}

impl Attrs {
    fn read(obj: &DefaultDicomObject, frame: Option<u32>) -> Result<Self, DisplayError> {
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
        let planar = crate::int(obj, tags::PLANAR_CONFIGURATION) == Some(1);
        let pi = crate::string(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .ok_or_else(|| DisplayError::Invalid("PhotometricInterpretation is missing".into()))?;
        let frames = match crate::int(obj, tags::NUMBER_OF_FRAMES) {
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
        if let Some(f) = frame.filter(|&f| f >= frames) {
            return Err(DisplayError::FrameOutOfRange { frame: f, frames });
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
        Ok(Self { rows, cols, spp, bits_allocated, bits_stored, high_bit, signed, planar, pi, frames, declared })
    }

    fn bytes_per_sample(&self) -> usize {
        usize::from(self.bits_allocated.div_ceil(8))
    }

    /// Bytes of `frames` frames of full-chroma samples.
    fn full_len(&self, frames: u32) -> usize {
        usize::from(self.rows)
            * usize::from(self.cols)
            * usize::from(self.spp)
            * self.bytes_per_sample()
            * frames as usize
    }
}

type Decoded<'a> = (Photometric, DecodedPixelData<'a>, u32, u32);

/// Native pixel data: the length checked (YBR 4:2:2 may be subsampled or not), then decoded.
fn decode_native<'a>(
    obj: &'a DefaultDicomObject,
    a: &Attrs,
    have: usize,
    ts_error: &dyn Fn(String) -> DisplayError,
) -> Result<Decoded<'a>, DisplayError> {
    let (pi, cols, rows, frames) = (&a.pi, a.cols, a.rows, a.frames);
    let full = if a.bits_allocated == 1 {
        (usize::from(rows) * usize::from(cols) * usize::from(a.spp) * frames as usize).div_ceil(8)
    } else {
        a.full_len(frames)
    };
    let mut photometric = a.declared;
    let mut need = full;
    if let Photometric::Ybr422 { partial } = a.declared {
        if have >= full {
            photometric = ybr_unsubsampled(partial); // written without subsampling
        } else {
            need = full / 3 * 2;
            if cols % 2 == 1 {
                return Err(DisplayError::Invalid(format!("{pi} with an odd number of columns ({cols})")));
            }
        }
    }
    if a.declared == Photometric::YbrPartial {
        return Err(DisplayError::Unsupported(format!("uncompressed {pi}")));
    }
    if have < need {
        return Err(DisplayError::Truncated(format!(
            "{have} bytes where {frames} frame(s) of {cols}x{rows} need {need}"
        )));
    }
    let px = guarded(|| obj.decode_pixel_data()).map_err(ts_error)?;
    Ok((photometric, px, frames, 0))
}

/// Encapsulated pixel data: the codec run on all frames or one, then what it did to the
/// colours taken into account.
fn decode_encapsulated<'a>(
    obj: &'a DefaultDicomObject,
    a: &Attrs,
    frame: Option<u32>,
    ts_uid: &str,
    ts_error: &dyn Fn(String) -> DisplayError,
) -> Result<Decoded<'a>, DisplayError> {
    let (pi, cols, rows) = (&a.pi, a.cols, a.rows);
    let base = frame.filter(|_| a.frames > 1).unwrap_or(0);
    let px = guarded(|| match frame {
        Some(f) if a.frames > 1 => obj.decode_pixel_data_frame(f),
        _ => obj.decode_pixel_data(),
    })
    .map_err(|mut reason| {
        if matches!(ts_uid, JPEG_BASELINE | JPEG_EXTENDED) && a.bits_stored > 8 {
            // Grayscale 12-bit streams were decoded before (`repair`); colour ones are not.
            let what = if a.spp == 1 { "" } else { " in colour" };
            reason = format!("{}-bit lossy JPEG{what} is not supported ({reason})", a.bits_stored);
        }
        ts_error(reason)
    })?;
    let decoded_frames = px.number_of_frames();
    let have = px.data().len();
    let full = a.full_len(decoded_frames);
    // The codec may have converted the colors already.
    let photometric = match (ts_uid, a.declared) {
        // JPEG lossy: the decoder outputs RGB (YCbCr converted, chroma upsampled).
        (JPEG_BASELINE | JPEG_EXTENDED, _) if a.spp == 3 => Photometric::Rgb,
        // Still subsampled (Encapsulated Uncompressed), or upsampled by the codec.
        (_, Photometric::Ybr422 { partial }) if have >= full => ybr_unsubsampled(partial),
        (_, p @ Photometric::Ybr422 { .. }) => p,
        (_, Photometric::YbrPartial) => return Err(DisplayError::Unsupported(format!("{pi} outside JPEG lossy"))),
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
    Ok((photometric, px, decoded_frames, base))
}

/// Decoded pixel data with what is needed to display it.
pub(super) struct Image<'a> {
    pub(super) px: DecodedPixelData<'a>,
    pub(super) photometric: Photometric,
    /// The instance's frame number of `px`'s first frame.
    pub(super) base: u32,
    pub(super) rows: usize,
    pub(super) cols: usize,
    /// Frames held by `px`.
    pub(super) frames: u32,
    pub(super) bytes_per_sample: usize,
    pub(super) bits_stored: u16,
    pub(super) high_bit: u16,
    pub(super) signed: bool,
    /// Samples are stored color-by-plane (PlanarConfiguration 1).
    pub(super) planar: bool,
    pub(super) dose_grid_scaling: Option<f64>,
    pub(super) palette: Option<Palette>,
    pub(super) modality_lut: Option<super::lut::ModalityLut>,
    /// VOI LUTs: one for all frames, or one per frame (functional groups); preferred to a
    /// window.
    pub(super) voi_luts: Vec<super::lut::VoiLut>,
}

impl<'a> Image<'a> {
    /// Decodes all frames (`frame` None), or the one frame asked for: the attributes checked,
    /// the codec run (native or encapsulated), the result described for display.
    pub(super) fn decode(obj: &'a DefaultDicomObject, frame: Option<u32>) -> Result<Self, DisplayError> {
        let pixel_data = match obj.element_opt(tags::PIXEL_DATA) {
            Ok(Some(e)) => e,
            _ => return Err(DisplayError::NoPixelData),
        };
        let a = Attrs::read(obj, frame)?;
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
        let (photometric, px, decoded_frames, base) = match pixel_data.value() {
            DicomValue::Primitive(value) => decode_native(obj, &a, value.calculate_byte_len(), &ts_error)?,
            DicomValue::PixelSequence(_) => decode_encapsulated(obj, &a, frame, ts.uid(), &ts_error)?,
            DicomValue::Sequence(_) => return Err(DisplayError::Invalid("PixelData is a sequence".into())),
        };
        // dicom-pixeldata expands 1-bit samples to one byte (0 or 255) each.
        let bytes_per_sample = if a.bits_allocated == 1 { 1 } else { a.bytes_per_sample() };
        let palette = match photometric {
            Photometric::Palette => Some(Palette::read(obj, a.signed)?),
            _ => None,
        };
        // Codecs output interleaved samples; native and encapsulated uncompressed data do not.
        let raw = matches!(pixel_data.value(), DicomValue::Primitive(_)) || ts.uid() == ENCAPSULATED_UNCOMPRESSED;
        let voi_luts = super::lut::VoiLut::read(obj, &px, a.signed);
        Ok(Image {
            voi_luts,
            px,
            photometric,
            base,
            rows: usize::from(a.rows),
            cols: usize::from(a.cols),
            frames: decoded_frames,
            bytes_per_sample,
            bits_stored: a.bits_stored,
            high_bit: a.high_bit,
            signed: a.signed,
            planar: a.planar && raw,
            dose_grid_scaling: attr_f64(obj, tags::DOSE_GRID_SCALING),
            palette,
            modality_lut: super::lut::ModalityLut::read(obj, a.signed)?,
        })
    }

    pub(super) fn samples_per_pixel(&self) -> usize {
        match self.photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::Palette => 1,
            _ => 3,
        }
    }

    /// The bytes of one frame of `px` (frame numbers from here on are `px`'s).
    pub(super) fn frame_bytes(&self, frame: u32) -> Result<&[u8], DisplayError> {
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
    pub(super) fn stored(&self, frame: u32) -> Result<Vec<i64>, DisplayError> {
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
    pub(super) fn modality(&self, frame: u32) -> Result<Vec<f64>, DisplayError> {
        let rescale = self.px.rescale().ok().and_then(|r| r.get(frame as usize).or(r.first()).copied());
        let (slope, intercept) = rescale.map_or((1.0, 0.0), |r| (r.slope, r.intercept));
        let scale = self.dose_grid_scaling.unwrap_or(1.0);
        if let Some(lut) = &self.modality_lut {
            return Ok(self.stored(frame)?.into_iter().map(|v| lut.apply(v) * scale).collect());
        }
        Ok(self.stored(frame)?.into_iter().map(|v| (v as f64 * slope + intercept) * scale).collect())
    }

    /// The VOI window of a frame: center, width, function.
    pub(super) fn window(&self, frame: u32) -> Option<(f64, f64, VoiLutFunction)> {
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

    pub(super) fn render_frame(&self, frame: u32) -> Result<DisplayFrame, DisplayError> {
        let rgb = match self.photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 => {
                let values = self.modality(frame)?;
                let lut = match self.voi_luts.as_slice() {
                    [one] => Some(one),
                    luts => luts.get((self.base + frame) as usize),
                };
                let mut gray = match (lut, self.window(frame)) {
                    (Some(lut), _) => values.iter().map(|&x| lut.level(x)).collect::<Vec<u8>>(),
                    (None, Some((center, width, function))) => {
                        values.iter().map(|&x| voi(x, center, width, function)).collect()
                    }
                    (None, None) => min_max(&values),
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
    pub(super) fn color_frame(&self, frame: u32) -> Result<Vec<u8>, DisplayError> {
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
