//! Float Pixel Data and Double Float Pixel Data (parametric maps and the like): the samples
//! are the values themselves (no rescale), one sample a pixel.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::VoiLutFunction;

use super::color::{min_max, voi};
use super::{attr_f64, attr_u16, DisplayError, DisplayFrame};

/// The frames of a float image.
pub(super) struct FloatImage {
    rows: usize,
    cols: usize,
    frames: u32,
    values: Vec<f64>,
    window: Option<(f64, f64, VoiLutFunction)>,
    monochrome1: bool,
}

impl FloatImage {
    /// The float pixel data of `obj`, when it has some.
    pub(super) fn read(obj: &DefaultDicomObject) -> Result<Option<Self>, DisplayError> {
        let element = [tags::FLOAT_PIXEL_DATA, tags::DOUBLE_FLOAT_PIXEL_DATA]
            .into_iter()
            .find_map(|tag| obj.element_opt(tag).ok().flatten());
        let Some(element) = element else { return Ok(None) };
        let rows = usize::from(attr_u16(obj, tags::ROWS, "Rows")?);
        let cols = usize::from(attr_u16(obj, tags::COLUMNS, "Columns")?);
        let spp = crate::int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        if spp != 1 {
            return Err(DisplayError::Unsupported(format!("float pixel data with SamplesPerPixel {spp}")));
        }
        let frames = crate::int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
        let frames = u32::try_from(frames)
            .ok()
            .filter(|&f| f > 0)
            .ok_or_else(|| DisplayError::Invalid(format!("NumberOfFrames is {frames}")))?;
        let values = element.to_multi_float64().map_err(|e| DisplayError::Invalid(format!("float pixel data: {e}")))?;
        let need = rows * cols * frames as usize;
        if rows == 0 || cols == 0 {
            return Err(DisplayError::Invalid(format!("the image is {cols}x{rows}")));
        }
        if values.len() < need {
            return Err(DisplayError::Truncated(format!(
                "{} float values where {frames} frame(s) of {cols}x{rows} need {need}",
                values.len()
            )));
        }
        // The first window with its function, as for integer pixel data.
        let function = crate::string(obj, tags::VOILUT_FUNCTION)
            .and_then(|f| VoiLutFunction::try_from(f.as_str()).ok())
            .unwrap_or(VoiLutFunction::Linear);
        let window = attr_f64(obj, tags::WINDOW_CENTER)
            .zip(attr_f64(obj, tags::WINDOW_WIDTH))
            .filter(|(_, w)| if function == VoiLutFunction::Linear { *w >= 1.0 } else { *w > 0.0 })
            .map(|(c, w)| (c, w, function));
        let monochrome1 = crate::string(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1");
        Ok(Some(Self { rows, cols, frames, values, window, monochrome1 }))
    }

    /// The values of one frame.
    pub(super) fn frame(&self, frame: u32) -> Result<(u32, u32, Vec<f32>), DisplayError> {
        let values = self.frame_values(frame)?;
        Ok((self.cols as u32, self.rows as u32, values.iter().map(|&v| v as f32).collect()))
    }

    fn frame_values(&self, frame: u32) -> Result<&[f64], DisplayError> {
        if frame >= self.frames {
            return Err(DisplayError::FrameOutOfRange { frame, frames: self.frames });
        }
        let len = self.rows * self.cols;
        let start = len * frame as usize;
        Ok(&self.values[start..start + len])
    }

    /// Every frame, windowed (the file's first window, or min–max) to gray.
    pub(super) fn render(&self) -> Result<Vec<DisplayFrame>, DisplayError> {
        (0..self.frames)
            .map(|frame| {
                arterys_protocol::cancel::checkpoint()?;
                let values = self.frame_values(frame)?;
                let mut gray = match self.window {
                    Some((center, width, function)) => {
                        values.iter().map(|&v| voi(v, center, width, function)).collect()
                    }
                    None => min_max(values),
                };
                if self.monochrome1 {
                    gray.iter_mut().for_each(|g| *g = 255 - *g);
                }
                let rgb = gray.into_iter().flat_map(|g| [g, g, g]).collect();
                Ok(DisplayFrame { width: self.cols as u32, height: self.rows as u32, rgb })
            })
            .collect()
    }
}
