//! A series' results while its batches come back from the engine: each image's output values
//! filed into scores, boxes (with their frame), a volume or 2D masks (with their frame), and
//! the finished series added to the response.

use arterys_gateway::{BoundingBox, HandlerError, InferenceResponse, Mask, MaskPart, MaskShape};

use crate::config::{OutputConfig, OutputKind};
use crate::frames::SeriesPlan;
use crate::image_ops::components;
use crate::postprocess::{self, Scores};
use crate::study::Study;

/// One image of a batch: where it goes in its series.
pub(crate) struct Item {
    /// Index in the request's DICOM list.
    pub index: usize,
    /// 1-based frame of a multi-frame instance.
    pub frame: Option<u32>,
    /// Position in the series' timepoint-then-slice order.
    pub slot: usize,
    /// Image size (columns, rows).
    pub size: (u32, u32),
}

/// What a series has produced so far, for one configured output.
pub(crate) enum Pending {
    Scores(Scores),
    Boxes {
        boxes: Vec<BoundingBox>,
        dropped: usize,
    },
    Volume {
        shape: MaskShape,
        data: Vec<u8>,
    },
    /// 2D masks with their image (request index, frame), put in that order when finished.
    Images(Vec<((usize, Option<u32>), MaskPart)>),
}

impl Pending {
    /// An empty result for an output of `kind` in a series that is (or is not) a volume.
    pub fn new(kind: OutputKind, volume: bool) -> Self {
        match kind {
            OutputKind::Classification => Self::Scores(Scores::default()),
            OutputKind::Boxes => Self::Boxes { boxes: Vec::new(), dropped: 0 },
            _ if volume => Self::Volume { shape: MaskShape::image(0, 0), data: Vec::new() },
            _ => Self::Images(Vec::new()),
        }
    }

    /// Files one image's output values, per-pixel ones as planes of `model` `(rows, columns)`.
    #[allow(clippy::too_many_arguments)]
    pub fn file(
        &mut self,
        out: &OutputConfig,
        values: &[f32],
        item: &Item,
        study: &Study,
        plan: &SeriesPlan,
        model: (usize, usize),
    ) -> Result<(), HandlerError> {
        let sop = study
            .instances
            .get(item.index)
            .map(|i| i.sop_instance_uid.as_str())
            .ok_or_else(|| HandlerError::internal("image index out of range"))?;
        match self {
            Self::Scores(scores) => scores.add(values),
            Self::Boxes { boxes, dropped } => {
                let plane = postprocess::plane_at(out, values, model, item.size);
                let above: Vec<bool> = plane.iter().map(|&p| p >= out.threshold as f32).collect();
                let (w, h) = (item.size.0 as usize, item.size.1 as usize);
                let (found, small) = components(&above, w, h, out.min_box_pixels());
                *dropped += small;
                for (x0, y0, x1, y1) in found {
                    let label = out.label.clone().unwrap_or_else(|| "Finding".into());
                    let mut b = BoundingBox::new(label, sop, [x0 as i64, y0 as i64], [x1 as i64, y1 as i64]);
                    b.frame_number = item.frame;
                    boxes.push(b);
                }
            }
            Self::Volume { shape, data } => {
                let (w, h) = item.size;
                if data.is_empty() {
                    let timepoints = plan.timepoints.len() as u32;
                    *shape = MaskShape::Volume { timepoints, depth: plan.depth() as u32, height: h, width: w };
                    *data = vec![0; shape.voxel_count().unwrap_or(0)];
                }
                let plane = w as usize * h as usize;
                let target = data
                    .get_mut(item.slot * plane..(item.slot + 1) * plane)
                    .filter(|_| shape.dims().2 == h && shape.dims().3 == w);
                let Some(target) = target else {
                    return Err(HandlerError::unprocessable(format!(
                        "series {}: its images differ in size ({}x{} after {}x{}); a volume needs one size",
                        plan.uid,
                        w,
                        h,
                        shape.dims().3,
                        shape.dims().2
                    )));
                };
                target.copy_from_slice(&postprocess::mask_at(out, values, model, item.size));
            }
            Self::Images(parts) => {
                let mask = Mask::new(
                    MaskShape::image(item.size.0, item.size.1),
                    postprocess::mask_at(out, values, model, item.size),
                )?;
                parts.push(((item.index, item.frame), postprocess::part(out, mask).for_image(sop, item.frame)));
            }
        }
        Ok(())
    }

    /// Adds a finished series' result to the response; its scores go into the study's, its
    /// dropped boxes into `dropped`.
    pub fn finish(
        self,
        out: &OutputConfig,
        plan: &SeriesPlan,
        study_score: &mut Scores,
        dropped: &mut usize,
        r: &mut InferenceResponse,
    ) -> Result<(), HandlerError> {
        match self {
            Self::Scores(scores) => {
                if let Some(mean) = scores.mean() {
                    r.add_series_ml_json(&plan.uid, postprocess::classification_json(out, &mean));
                }
                study_score.merge(&scores);
            }
            Self::Boxes { boxes, dropped: small } => {
                *dropped += small;
                boxes.into_iter().for_each(|b| {
                    r.add_bounding_box(b);
                });
            }
            Self::Volume { shape, data } => {
                let mask = Mask::new(shape, data)?;
                r.add_mask(postprocess::part(out, mask).for_series(&plan.uid));
            }
            Self::Images(mut parts) => {
                // Frames run in slice order; their masks go out in request and frame order.
                parts.sort_by_key(|(image, _)| *image);
                parts.into_iter().for_each(|(_, p)| {
                    r.add_mask(p);
                });
            }
        }
        Ok(())
    }
}
