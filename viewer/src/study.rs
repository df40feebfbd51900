//! A request's images, read once (headers only) and put in the protocol's order: the view of
//! a study that the model server and the mock server's modes answer on.

use std::borrow::Cow;

use arterys_protocol::{InferenceInput, RequestPart};
use dicom_object::DefaultDicomObject;

use crate::{sort_study, DicomError, InstanceInfo, ReadOnce, SortedSeries};

/// A request part that is not usable DICOM (the gateway answers it with 422).
#[derive(Debug, thiserror::Error)]
#[error("part {index} is not usable DICOM: {cause}")]
pub struct StudyError {
    /// The part's position in the request (1-based, as [`arterys_protocol::RequestPart`]).
    pub index: usize,
    /// Why its headers could not be read.
    pub cause: DicomError,
}

/// A part's headers (everything before the pixel data): those its [`ReadOnce`] kept (the
/// gateway's `reserve_decoded_pixels` read them), else read now ([`crate::open_headers`]).
pub fn part_headers(part: &RequestPart) -> Result<Cow<'_, DefaultDicomObject>, DicomError> {
    match part.facts.get::<ReadOnce>() {
        Some(once) => Ok(Cow::Borrowed(once.headers())),
        None => crate::open_headers(&part.body).map(Cow::Owned),
    }
}

/// The images of one request.
pub struct Study {
    /// Header facts per DICOM part, in request order.
    pub instances: Vec<InstanceInfo>,
    /// Series in order, slices along the normal.
    pub series: Vec<SortedSeries>,
}

/// One displayable frame of one instance.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    /// Position in the request's DICOM list.
    pub index: usize,
    /// Its header facts.
    pub info: &'a InstanceInfo,
    /// 1-based frame, `None` for single-frame instances.
    pub frame: Option<u32>,
}

impl Study {
    /// Reads every DICOM part's headers; the first part that is not readable DICOM is the error.
    /// A part that carries a [`ReadOnce`] (the gateway's `reserve_decoded_pixels` read it) is
    /// not read again.
    pub fn read(input: &InferenceInput) -> Result<Self, StudyError> {
        let instances = input
            .dicom
            .iter()
            .map(|p| {
                match p.facts.get::<ReadOnce>() {
                    Some(once) => once.info(),
                    None => InstanceInfo::read(&p.body),
                }
                .map_err(|cause| StudyError { index: p.index, cause })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let series = sort_study(&instances);
        Ok(Self { instances, series })
    }

    /// Every frame of every image with pixels, in request order.
    pub fn frames(&self) -> impl Iterator<Item = FrameRef<'_>> {
        self.instances.iter().enumerate().filter(|(_, i)| i.has_pixels()).flat_map(|(index, info)| {
            let n = info.number_of_frames;
            (1..=n).map(move |f| FrameRef { index, info, frame: (n > 1).then_some(f) })
        })
    }

    /// Whether every image of the series has geometry (a volume, not a set of 2D images).
    pub fn has_geometry(&self, s: &SortedSeries) -> bool {
        s.timepoints.iter().flatten().all(|&i| self.instances[i].slice_position().is_some())
    }

    /// Series whose images have pixels.
    pub fn image_series(&self) -> impl Iterator<Item = &SortedSeries> {
        self.series.iter().filter(|s| s.timepoints.iter().flatten().any(|&i| self.instances[i].has_pixels()))
    }
}
