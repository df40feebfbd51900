//! The conformance mode: probability masks as `get-probability-mask` sends them, each part
//! carrying `dicomConformance` with the outcome of real checks on the series it belongs to,
//! so that a viewer shows the results with a warning when the input falls short.

use arterys_gateway::dicom::SortedSeries;
use arterys_gateway::{ConformanceCheck, DicomConformance, HandlerError, InferenceResponse};

use crate::results::{masks_by_geometry, MaskKind};
use arterys_viewer::study::Study;

/// Slices a series should have for the mock model's 3D context.
pub const MIN_SLICES: usize = 16;

/// The checks run on one series, each with its outcome.
pub fn checks(study: &Study, series: &SortedSeries) -> Vec<ConformanceCheck> {
    let images: Vec<_> = series.timepoints.iter().flatten().map(|&i| &study.instances[i]).collect();
    let ct = images.iter().all(|i| i.modality.as_deref() == Some("CT"));
    vec![
        ConformanceCheck { description: "Modality is CT".into(), compliant: ct },
        ConformanceCheck {
            description: format!("At least {MIN_SLICES} slices in the series ({} sent)", series.depth()),
            compliant: series.depth() >= MIN_SLICES,
        },
        ConformanceCheck {
            description: "Every image has a position and orientation".into(),
            compliant: study.has_geometry(series),
        },
    ]
}

/// Masks by geometry, each part with its series' conformance checks.
pub fn masks_with_conformance(study: &Study, r: &mut InferenceResponse) -> Result<(), HandlerError> {
    let mut masks = InferenceResponse::new();
    masks_by_geometry(MaskKind::Probability, study, &mut masks)?;
    let (mut json, buffers) = masks.into_parts();
    for part in &mut json.parts {
        let series_uid = match (&part.series_instance_uid, &part.dicom_image) {
            (Some(uid), _) => Some(uid.clone()),
            (None, Some(img)) => study
                .instances
                .iter()
                .find(|i| i.sop_instance_uid == img.sop_instance_uid)
                .map(|i| i.series_instance_uid.clone()),
            (None, None) => None,
        };
        let Some(series) = series_uid.and_then(|uid| study.series.iter().find(|s| s.series_instance_uid == uid)) else {
            continue;
        };
        part.dicom_conformance = Some(DicomConformance { recommended: checks(study, series), ..Default::default() });
    }
    *r = InferenceResponse::from_parts(json, buffers).map_err(HandlerError::internal)?;
    Ok(())
}
