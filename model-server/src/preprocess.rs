//! Pixels to the model's input: the one place that decodes DICOM pixel data. The modality
//! rescale first, then the configured normalization, then bilinear resampling to the model's
//! plane size.

use arterys_gateway::dicom::display::{modality_values, open};
use arterys_gateway::dicom::ReadOnce;
use arterys_gateway::{HandlerError, RequestPart};
use dicom_object::DefaultDicomObject;

use crate::config::Normalize;
use crate::image_ops::resize_bilinear;
use crate::native_frames::NativeFrames;

/// One image ready for the model.
pub(crate) struct Prepared {
    /// Image size (columns, rows).
    pub size: (u32, u32),
    /// The normalized plane at the model's size, row-major.
    pub plane: Vec<f32>,
}

/// An instance opened for decoding: its frames are decoded from the one object.
pub(crate) struct Opened {
    /// Position in the request's DICOM list.
    pub index: usize,
    obj: DefaultDicomObject,
    /// Uncompressed multi-frame pixel data, put back into `obj` one frame at a time.
    frames: Option<NativeFrames>,
}

/// Opens `part` (its index in the request's list is `index`); not DICOM is a 422. A part the
/// gateway already walked and read ([`ReadOnce`]) is not read again: its pixel data is taken
/// from where the walk found it.
pub(crate) fn open_part(part: &RequestPart, index: usize) -> Result<Opened, HandlerError> {
    let kept = part.facts.get::<ReadOnce>().and_then(|once| once.whole(&part.body));
    let mut obj = match kept {
        Some(obj) => obj,
        None => open(&part.body).map_err(|e| undecodable(part, &e))?,
    };
    let frames = NativeFrames::take(&mut obj);
    Ok(Opened { index, obj, frames })
}

impl Opened {
    /// The opened object.
    pub(crate) fn object(&self) -> &dicom_object::InMemDicomObject {
        &self.obj
    }
}

/// One image decoded and normalized, at its own size.
pub(crate) struct Decoded {
    /// Image size (columns, rows).
    pub size: (u32, u32),
    /// The normalized values, row-major.
    pub values: Vec<f32>,
}

/// Decodes frame `frame` (0-based) of `opened`, normalizes it and resamples it to
/// `(height, width)`. An image that cannot be decoded (or has no grey values) is a 422.
pub(crate) fn prepare(
    part: &RequestPart,
    opened: &mut Opened,
    frame: u32,
    file_window: Option<[f64; 2]>,
    how: &Normalize,
    (height, width): (usize, usize),
) -> Result<Prepared, HandlerError> {
    let decoded = decode(part, opened, frame, file_window, how)?;
    Ok(Prepared { size: decoded.size, plane: decoded.into_plane((height, width)) })
}

impl Decoded {
    /// The values resampled to `(height, width)`; taken as they are at their own size.
    pub(crate) fn into_plane(self, (height, width): (usize, usize)) -> Vec<f32> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        if (w, h) == (width, height) {
            self.values
        } else {
            resize_bilinear(&self.values, w, h, width, height)
        }
    }
}

/// Decodes frame `frame` (0-based) of `opened` and normalizes it. An image that cannot be
/// decoded (or has no grey values) is a 422.
pub(crate) fn decode(
    part: &RequestPart,
    opened: &mut Opened,
    frame: u32,
    file_window: Option<[f64; 2]>,
    how: &Normalize,
) -> Result<Decoded, HandlerError> {
    let decoded = match &opened.frames {
        Some(frames) if frames.put(&mut opened.obj, frame) => modality_values(&opened.obj, 0),
        Some(_) => return Err(undecodable(part, &format!("there is no frame {}", frame + 1))),
        None => modality_values(&opened.obj, frame),
    };
    let (w, h, mut values) = decoded.map_err(|e| undecodable(part, &e))?;
    if w == 0 || h == 0 || values.len() != w as usize * h as usize {
        return Err(undecodable(part, &format!("{w}x{h} image with {} values", values.len())));
    }
    normalize(&mut values, how, file_window);
    Ok(Decoded { size: (w, h), values })
}

fn undecodable(part: &RequestPart, e: &dyn std::fmt::Display) -> HandlerError {
    HandlerError::unprocessable(format!("part {}: the image cannot be decoded: {e}", part.index))
}

/// Rescaled values to the model's range, in place.
pub(crate) fn normalize(values: &mut [f32], how: &Normalize, file_window: Option<[f64; 2]>) {
    let window = |v: &mut [f32], c: f64, w: f64| {
        let lo = c - w / 2.0;
        v.iter_mut().for_each(|x| *x = ((f64::from(*x) - lo) / w).clamp(0.0, 1.0) as f32);
    };
    match how {
        Normalize::None => {}
        Normalize::Window { center, width } => window(values, *center, width.max(1e-6)),
        Normalize::Auto => match file_window {
            Some([c, w]) => window(values, c, w.max(1e-6)),
            None => {
                let (lo, hi) =
                    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                let span = (hi - lo).max(1e-6);
                values.iter_mut().for_each(|x| *x = (*x - lo) / span);
            }
        },
        Normalize::Dataset { clip, mean, std } => values.iter_mut().for_each(|x| {
            let v = f64::from(*x);
            let v = clip.map_or(v, |[lo, hi]| v.clamp(lo, hi));
            *x = ((v - mean) / std) as f32;
        }),
        Normalize::Zscore => {
            let n = values.len().max(1) as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt().max(1e-6);
            values.iter_mut().for_each(|x| *x = ((f64::from(*x) - mean) / sd) as f32);
        }
    }
}
