//! The images a model runs on: every frame of every instance, per series. A series whose
//! frames all have a position (ImagePositionPatient on single-frame instances, the Per-frame
//! Functional Groups' Plane Position and Orientation on enhanced multi-frame ones) has its
//! frames sorted along the slice normal, which is the volume a 3D model gets; otherwise its
//! images stay in the series' order, each instance's frames in frame order.
//!
//! Masks of a series of single-frame slices with geometry are one 3D part; masks of frames are
//! 2D parts naming their instance and `frame_number`, the protocol's way to address a frame
//! (a 3D part's depth counts a series' instances).

use arterys_gateway::dicom::{InstanceInfo, SortedSeries};
use arterys_gateway::{cancel, HandlerError, InferenceInput};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::study::Study;

/// Positions closer than this (mm) are the same slice (as the viewer's study sort).
const SAME_POSITION: f64 = 1e-3;

/// One image the model sees: a frame of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Image {
    /// Position in the request's DICOM list.
    pub index: usize,
    /// 1-based frame of a multi-frame instance; `None` for a single-frame one.
    pub frame: Option<u32>,
}

impl Image {
    /// The 0-based frame to decode.
    pub fn frame_index(self) -> u32 {
        self.frame.map_or(0, |f| f.saturating_sub(1))
    }
}

/// A series as the model runs it.
pub(crate) struct SeriesPlan {
    /// SeriesInstanceUID.
    pub uid: String,
    /// `timepoints[t][z]`: every timepoint holds the slices in order along the normal; a
    /// series without geometry is one timepoint in request order.
    pub timepoints: Vec<Vec<Image>>,
    /// Whether masks are one 3D part for the series (single-frame slices with geometry), not
    /// one 2D part per image.
    pub volume: bool,
}

impl SeriesPlan {
    /// Slices per timepoint.
    pub fn depth(&self) -> usize {
        self.timepoints.first().map_or(0, Vec::len)
    }

    /// Images in all timepoints.
    pub fn len(&self) -> usize {
        self.timepoints.iter().map(Vec::len).sum()
    }

    /// Images in timepoint-then-slice order.
    pub fn order(&self) -> impl Iterator<Item = Image> + '_ {
        self.timepoints.iter().flatten().copied()
    }
}

/// The plan of every image series of the study. Multi-frame instances' headers are read once
/// more, for their per-frame geometry.
pub(crate) fn plan(study: &Study, input: &InferenceInput) -> Result<Vec<SeriesPlan>, HandlerError> {
    let mut plans = Vec::new();
    for s in study.image_series() {
        plans.push(series_plan(study, input, s)?);
    }
    Ok(plans)
}

fn series_plan(study: &Study, input: &InferenceInput, s: &SortedSeries) -> Result<SeriesPlan, HandlerError> {
    let uid = s.series_instance_uid.clone();
    let single = |&i: &usize| Image { index: i, frame: None };
    if s.timepoints.iter().flatten().all(|&i| study.instances[i].number_of_frames <= 1) {
        let timepoints = s.timepoints.iter().map(|t| t.iter().map(single).collect()).collect();
        return Ok(SeriesPlan { uid, timepoints, volume: study.has_geometry(s) });
    }
    // Every frame with its position and temporal key, when it has them.
    let mut frames: Vec<(Image, Option<(f64, i64)>)> = Vec::new();
    for &index in s.timepoints.iter().flatten() {
        cancel::checkpoint().map_err(crate::failure::cancelled)?;
        let info = &study.instances[index];
        if info.number_of_frames <= 1 {
            let at = info.slice_position().map(|p| (p, info.temporal_position.unwrap_or(0)));
            frames.push((Image { index, frame: None }, at));
            continue;
        }
        let positions = input
            .dicom
            .get(index)
            .and_then(|part| arterys_gateway::dicom::study::part_headers(part).ok())
            .and_then(|obj| frame_positions(&obj, info));
        for f in 0..info.number_of_frames {
            let at = positions.as_ref().and_then(|p| p.get(f as usize).copied());
            frames.push((Image { index, frame: Some(f + 1) }, at));
        }
    }
    let Some(mut placed) = frames.iter().map(|(image, at)| at.map(|a| (a, *image))).collect::<Option<Vec<_>>>() else {
        return Ok(SeriesPlan { uid, timepoints: vec![frames.into_iter().map(|(i, _)| i).collect()], volume: false });
    };
    placed.sort_by(|((pa, ta), a), ((pb, tb), b)| {
        pa.total_cmp(pb).then(ta.cmp(tb)).then((a.index, a.frame).cmp(&(b.index, b.frame)))
    });
    // Equal positions are one slice; the k-th image at a position belongs to timepoint k.
    let mut groups: Vec<Vec<Image>> = Vec::new();
    let mut last = f64::NAN;
    for ((pos, _), image) in placed {
        match groups.last_mut() {
            Some(g) if (pos - last).abs() <= SAME_POSITION => g.push(image),
            _ => groups.push(vec![image]),
        }
        last = pos;
    }
    let count = groups.iter().map(Vec::len).max().unwrap_or(1);
    let timepoints = (0..count).map(|t| groups.iter().filter_map(|g| g.get(t).copied()).collect()).collect();
    Ok(SeriesPlan { uid, timepoints, volume: false })
}

/// Each frame's position along its slice normal and its temporal position, from the Per-frame
/// Functional Groups (orientation there, in the shared groups, or at the top level); `None`
/// unless every frame has them.
fn frame_positions(obj: &InMemDicomObject, info: &InstanceInfo) -> Option<Vec<(f64, i64)>> {
    let per_frame = obj.element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).ok()??.items()?;
    if per_frame.len() != info.number_of_frames as usize {
        return None;
    }
    let shared = obj.element_opt(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).ok().flatten().and_then(|e| e.items());
    let shared = shared.and_then(<[InMemDicomObject]>::first);
    let shared_orientation =
        shared.and_then(|g| in_group::<6>(g, tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT));
    per_frame
        .iter()
        .map(|group| {
            let orientation = in_group::<6>(group, tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT)
                .or(shared_orientation)
                .or(info.image_orientation)?;
            let position = in_group::<3>(group, tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT)?;
            let temporal = group
                .element_opt(tags::FRAME_CONTENT_SEQUENCE)
                .ok()
                .flatten()
                .and_then(|e| {
                    e.items()?.first()?.element_opt(tags::TEMPORAL_POSITION_INDEX).ok()??.to_int::<i64>().ok()
                })
                .unwrap_or(0);
            let frame =
                InstanceInfo { image_position: Some(position), image_orientation: Some(orientation), ..info.clone() };
            Some((frame.slice_position()?, temporal))
        })
        .collect()
}

/// `N` numbers of `tag` in the first item of the functional group `sequence`.
fn in_group<const N: usize>(
    group: &InMemDicomObject,
    sequence: dicom_core::Tag,
    tag: dicom_core::Tag,
) -> Option<[f64; N]> {
    let item = group.element_opt(sequence).ok()??.items()?.first()?;
    item.element_opt(tag).ok()??.to_multi_float64().ok()?.try_into().ok()
}
