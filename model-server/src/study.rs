//! The request's images, read once (headers only) and put in the protocol's order. Shared
//! with `mock-server`, whose modes answer on the same view of a study.

use arterys_gateway::dicom::{sort_study, InstanceInfo, SortedSeries};
use arterys_gateway::{HandlerError, InferenceInput};

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
    /// Reads every DICOM part's headers; a part that is not readable DICOM is a 422.
    pub fn read(input: &InferenceInput) -> Result<Self, HandlerError> {
        let instances = input
            .dicom
            .iter()
            .map(|p| {
                InstanceInfo::read(&p.body)
                    .map_err(|e| HandlerError::unprocessable(format!("part {} is not usable DICOM: {e}", p.index)))
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
