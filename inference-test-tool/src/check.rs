//! Every way a server's answer can break the protocol, each as one line. A server that breaks
//! it must not pass quietly.

use arterys_protocol::{DecodedResponse, InferenceResponse, MaskShape};

use crate::client::Exchange;
use crate::input::Study;

/// The answer as far as it could be read, and what is wrong with it.
pub struct Checked {
    /// The response JSON as sent (for `response.json`), if it parsed as JSON at all.
    pub json_value: Option<serde_json::Value>,
    /// The response with its buffers, if it could be paired; parts without a buffer dropped.
    pub response: Option<InferenceResponse>,
    /// Protocol violations.
    pub violations: Vec<String>,
}

/// Checks the exchange against the protocol (through the protocol crate's response decoder)
/// and the study that was sent.
pub fn check(ex: &Exchange, study: &Study) -> Checked {
    let mut out = Checked { json_value: None, response: None, violations: Vec::new() };
    if ex.status != 200 {
        let reason = ex.text.as_deref().and_then(|t| t.lines().next()).unwrap_or("").trim().to_owned();
        let reason = if reason.is_empty() { "(no reason given)" } else { &reason };
        out.violations.push(format!("HTTP {}: {reason}", ex.status));
        return out;
    }
    let parts = match &ex.parts {
        Ok(p) => p.clone(),
        Err(e) => {
            let ct = ex.content_type.as_deref().unwrap_or("no Content-Type");
            out.violations.push(format!("malformed multipart answer ({ct}): {e}"));
            return out;
        }
    };
    let report = DecodedResponse::from_parts(parts).check(Some(&ex.input_hash));
    out.violations = report.problems.iter().map(ToString::to_string).collect();
    out.json_value = report.json_value;
    if let Some(r) = &report.response {
        check_against_study(r, study, &mut out.violations);
    }
    out.response = report.response;
    out
}

/// References to images and series that were not sent, and 3D masks whose depth is not their
/// series'.
fn check_against_study(r: &InferenceResponse, study: &Study, v: &mut Vec<String>) {
    if study.instances.is_empty() {
        return; // studyPath requests: the tool does not know the images.
    }
    let known_sop = |uid: &str| study.instances.iter().any(|i| i.info.sop_instance_uid == uid);
    let j = r.json();
    for (i, b) in j.bounding_boxes_2d.iter().flatten().enumerate() {
        if !known_sop(&b.sop_instance_uid) {
            v.push(format!("bounding box {i} names SOPInstanceUID {} that was not sent", b.sop_instance_uid));
        }
    }
    for (i, m) in j.linear_measurements_2d.iter().flatten().enumerate() {
        if !known_sop(&m.sop_instance_uid) {
            v.push(format!("measurement {i} names SOPInstanceUID {} that was not sent", m.sop_instance_uid));
        }
    }
    for (i, p) in j.parts.iter().enumerate() {
        if !p.binary_type.is_mask() {
            continue;
        }
        if let Some(img) = &p.dicom_image {
            if !known_sop(&img.sop_instance_uid) {
                v.push(format!("part {i} names SOPInstanceUID {} that was not sent", img.sop_instance_uid));
            }
            continue;
        }
        let Some(shape) = p.binary_data_shape.map(|s| MaskShape::from_binary_data_shape(&s)) else { continue };
        if shape.is_image() {
            continue;
        }
        let series = match &p.series_instance_uid {
            Some(uid) => study.series.iter().find(|s| &s.series_instance_uid == uid),
            None if study.series.len() == 1 => study.series.first(),
            None => {
                v.push(format!(
                    "part {i} is a 3D mask without SeriesInstanceUID in a study of {} series",
                    study.series.len()
                ));
                continue;
            }
        };
        let Some(series) = series else {
            v.push(format!(
                "part {i} names SeriesInstanceUID {} that was not sent",
                p.series_instance_uid.as_deref().unwrap_or("")
            ));
            continue;
        };
        let (t, d, _, _) = shape.dims();
        if d as usize != series.depth() {
            v.push(format!("part {i} has depth {d} but its series has {} slices", series.depth()));
        }
        if t as usize > series.timepoints.len() {
            v.push(format!("part {i} has {t} timepoints but its series has {}", series.timepoints.len()));
        }
    }
}
