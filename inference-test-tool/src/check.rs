//! Every way a server's answer can break the protocol, each as one line. A server that breaks
//! it must not pass quietly.

use arterys_gateway::multipart::hex;
use arterys_gateway::{InferenceResponse, MaskShape, ResponseJson};
use bytes::Bytes;
use sha2::{Digest, Sha256};

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

/// Checks the exchange against the protocol and the study that was sent.
pub fn check(ex: &Exchange, study: &Study) -> Checked {
    let mut v = Vec::new();
    let mut out = Checked { json_value: None, response: None, violations: Vec::new() };
    if ex.status != 200 {
        let reason = ex.text.as_deref().and_then(|t| t.lines().next()).unwrap_or("").trim().to_owned();
        v.push(format!("HTTP {}: {}", ex.status, if reason.is_empty() { "(no reason given)" } else { &reason }));
        out.violations = v;
        return out;
    }
    let parts = match &ex.parts {
        Ok(p) => p,
        Err(e) => {
            v.push(format!(
                "malformed multipart answer ({}): {e}",
                ex.content_type.as_deref().unwrap_or("no Content-Type")
            ));
            out.violations = v;
            return out;
        }
    };
    let Some(first) = parts.first() else {
        v.push("the answer has no parts".into());
        out.violations = v;
        return out;
    };
    match first.headers.essence().as_deref() {
        Some("application/json") => {}
        other => v.push(format!("first part's Content-Type is {other:?}, expected application/json")),
    }
    let value: serde_json::Value = match serde_json::from_slice(&first.body) {
        Ok(j) => j,
        Err(e) => {
            v.push(format!("first part is not JSON: {e}"));
            out.violations = v;
            return out;
        }
    };
    out.json_value = Some(value.clone());
    let json: ResponseJson = match serde_json::from_value(value) {
        Ok(j) => j,
        Err(e) => {
            v.push(format!("response JSON does not follow the protocol: {e}"));
            out.violations = v;
            return out;
        }
    };
    // The last part should be the `input:output` hashes.
    let mut binary: Vec<&arterys_gateway::multipart::DecodedPart> = parts[1..].iter().collect();
    let hashes = match binary.last() {
        Some(p) if p.headers.essence().as_deref() == Some("text/plain") => binary.pop().map(|p| p.body.clone()),
        _ => None,
    };
    match hashes {
        None => v.push("no final text/plain part with the input:output hashes".into()),
        Some(h) => check_hashes(&h, &first.body, &binary, &ex.input_hash, &mut v),
    }
    if binary.len() != json.parts.len() {
        v.push(format!("{} parts in the JSON but {} binary parts", json.parts.len(), binary.len()));
    }
    for (i, (p, b)) in json.parts.iter().zip(&binary).enumerate() {
        let want = p.binary_type.mime_type();
        if b.headers.essence().as_deref() != Some(want) {
            v.push(format!(
                "part {i} ({}) is sent as {:?}, expected {want}",
                p.binary_type.as_str(),
                b.headers.essence().unwrap_or_default()
            ));
        }
    }
    // Pair what can be paired, then let the model's own validation speak.
    let n = json.parts.len().min(binary.len());
    let mut paired = json;
    paired.parts.truncate(n);
    let buffers: Vec<Bytes> = binary[..n].iter().map(|p| p.body.clone()).collect();
    if let Ok(r) = InferenceResponse::from_parts(paired, buffers) {
        v.extend(r.violations().iter().map(ToString::to_string));
        check_against_study(&r, study, &mut v);
        out.response = Some(r);
    }
    out.violations = v;
    out
}

fn check_hashes(
    h: &[u8],
    json: &[u8],
    binary: &[&arterys_gateway::multipart::DecodedPart],
    input: &str,
    v: &mut Vec<String>,
) {
    let text = String::from_utf8_lossy(h);
    let Some((got_in, got_out)) = text.trim().split_once(':') else {
        v.push(format!(
            "hashes part {:?} is not <input sha256>:<output sha256>",
            text.chars().take(140).collect::<String>()
        ));
        return;
    };
    if got_in != input {
        v.push(format!("input hash {got_in} differs from the SHA-256 of what was sent ({input})"));
    }
    let mut hasher = Sha256::new();
    hasher.update(json);
    for b in binary {
        hasher.update(&b.body);
    }
    let expected = hex(&hasher.finalize());
    if got_out != expected {
        v.push(format!("output hash {got_out} differs from the SHA-256 of the answer's parts ({expected})"));
    }
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
