//! Writing a run's results: response.json, the masks as .npy, the DICOM outputs (image
//! outputs rendered too), a PNG and a thumbnail per image, and index.html.

use std::path::Path;

use arterys_protocol::{InferenceResponse, MaskShape};
use sha2::{Digest, Sha256};

use crate::check::Checked;
use crate::client::Exchange;
use crate::draw::Canvas;
use crate::gallery::{self, OutputEntry, Page};
use crate::input::Study;
use crate::npy;
use crate::output::{render_pngs, series_titles, OUTPUTS_DIR};
use crate::outputs::{read_outputs, OutputKind};
use crate::words::count;

/// What a run wrote and what the user should read.
pub struct Written {
    /// One line: what was written.
    pub description: String,
    /// Instances that were not drawn, each with its reason.
    pub failures: Vec<crate::output::NotDrawn>,
    /// Failed `dicomConformance` checks, one line each.
    pub warnings: Vec<String>,
    /// The DICOM outputs, each as a heading and its content lines (a report's items).
    pub outputs: Vec<(String, Vec<String>)>,
    /// Protocol violations found in the DICOM outputs (unreadable, or annotating images that
    /// were not sent).
    pub violations: Vec<String>,
}

/// What is wrong with the DICOM outputs: unreadable files, presentation states annotating
/// images that were not sent.
fn output_violations(entries: &[OutputEntry], study: &Study) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        let o = &e.output;
        out.extend(o.problem.clone());
        if study.instances.is_empty() {
            continue; // studyPath requests: the tool does not know the images.
        }
        let mut unknown: Vec<&str> = o
            .annotations
            .iter()
            .map(|a| a.sop_instance_uid.as_str())
            .filter(|uid| !study.instances.iter().any(|i| i.info.sop_instance_uid == *uid))
            .collect();
        unknown.dedup();
        if let Some(first) = unknown.first() {
            out.push(format!(
                "part {} ({}) annotates {} that {} not sent, e.g. {first}",
                o.part,
                o.file_name,
                count(unknown.len(), "image", "images"),
                if unknown.len() == 1 { "was" } else { "were" }
            ));
        }
    }
    out
}

/// SHA-256 of the answer's part bodies in order (hex), when it was multipart.
pub fn response_hash(ex: &Exchange) -> Option<String> {
    let parts = ex.parts.as_ref().ok()?;
    let mut h = Sha256::new();
    for p in parts {
        h.update(&p.body);
    }
    Some(arterys_protocol::multipart::hex(&h.finalize()))
}

/// Failed `dicomConformance` checks: `part N (label, series S): check not met: description`.
pub fn conformance_warnings(r: &InferenceResponse) -> Vec<String> {
    let mut out = Vec::new();
    for (n, p) in r.json().parts.iter().enumerate() {
        for c in p.dicom_conformance.iter().flat_map(|c| &c.recommended).filter(|c| !c.compliant) {
            let series = p.series_instance_uid.as_deref().map(|s| format!(", series {s}")).unwrap_or_default();
            let label = p.label.as_deref().unwrap_or("no label");
            out.push(format!("part {n} ({label}{series}): check not met: {}", c.description));
        }
    }
    out
}

/// `, 2 DICOM outputs (1 image, 1 report)`: the kinds present, counted; empty when none.
fn dicom_outputs_line(entries: &[OutputEntry]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let n = |k: OutputKind| entries.iter().filter(|e| e.output.kind == k).count();
    let kinds: Vec<String> = [
        (n(OutputKind::Image), "image", "images"),
        (n(OutputKind::StructuredReport), "report", "reports"),
        (n(OutputKind::PresentationState), "presentation state", "presentation states"),
    ]
    .into_iter()
    .filter(|(k, _, _)| *k > 0)
    .map(|(k, one, many)| count(k, one, many))
    .collect();
    let all = count(entries.len(), "DICOM output", "DICOM outputs");
    if kinds.is_empty() {
        format!(", {all}")
    } else {
        format!(", {all} ({})", kinds.join(", "))
    }
}

/// Writes everything for one run into `out` (already prepared). `target` names where the
/// study went (for the summary).
pub fn write_outputs(
    out: &Path,
    target: &str,
    study: &Study,
    checked: &Checked,
    ex: &Exchange,
    labels: bool,
) -> std::io::Result<Written> {
    if let Some(v) = &checked.json_value {
        let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        std::fs::write(out.join("response.json"), text + "\n")?;
    }
    let mut masks = 0;
    let mut entries = Vec::new();
    if let Some(r) = &checked.response {
        for (n, (p, buf)) in r.json().parts.iter().zip(r.buffers()).enumerate() {
            if p.binary_type.is_mask() {
                let shape: Vec<usize> = match p.binary_data_shape.map(|s| MaskShape::from_binary_data_shape(&s)) {
                    Some(s) if s.voxel_count() == Some(buf.len()) => match s.dims() {
                        (_, _, h, w) if s.is_image() => vec![h as usize, w as usize],
                        (t, d, h, w) => vec![t as usize, d as usize, h as usize, w as usize],
                    },
                    _ => vec![buf.len()],
                };
                std::fs::write(out.join(format!("output_masks_{n}.npy")), npy::npy_u8(&shape, buf))?;
                masks += 1;
            }
        }
        for (o, buf) in read_outputs(r) {
            std::fs::write(out.join(&o.file_name), &buf)?;
            let png = match o.kind {
                OutputKind::Image => render_output(out, &o.file_name, &buf)?,
                _ => None,
            };
            entries.push(OutputEntry { output: o, png });
        }
    }
    let (items, failures) = render_pngs(study, checked.response.as_ref(), out, labels)?;
    let extra = output_violations(&entries, study);
    let violations: Vec<String> = checked.violations.iter().chain(&extra).cloned().collect();
    let warnings = checked.response.as_ref().map(conformance_warnings).unwrap_or_default();
    let mut hashes = vec![("request SHA-256".to_owned(), ex.input_hash.clone())];
    if let Some(h) = response_hash(ex) {
        hashes.push(("response SHA-256".to_owned(), h));
    }
    let dicom_line = dicom_outputs_line(&entries);
    let drawn = items.iter().filter(|i| i.not_drawn.is_none()).count();
    let pngs_line = format!("{}, {}{dicom_line}", count(drawn, "PNG", "PNGs"), count(masks, "mask", "masks"));
    let mut summary =
        vec![format!("{} sent to {target}", count(study.instances.len(), "image", "images")), pngs_line.clone()];
    summary.extend(failures.iter().map(|f| format!("not drawn: {f}")));
    summary.extend(study.skipped.iter().map(|(p, r)| format!("skipped {}: {r}", p.display())));
    let titles = series_titles(study);
    let html = gallery::index_html(&Page {
        title: "Inference results",
        summary: &summary,
        hashes: &hashes,
        violations: &violations,
        warnings: &warnings,
        items: &items,
        series_titles: &titles,
        response: checked.response.as_ref(),
        outputs: &entries,
        response_json: checked.json_value.as_ref().unwrap_or(&serde_json::Value::Null),
    });
    std::fs::write(out.join("index.html"), html)?;
    let outputs = entries
        .iter()
        .map(|e| {
            let o = &e.output;
            let mut lines = o.report.clone();
            if let Some(p) = &o.problem {
                lines.push(p.clone());
            }
            if o.kind == OutputKind::PresentationState {
                lines.push(format!(
                    "{}, drawn on their PNGs",
                    count(o.annotations.len(), "annotated image", "annotated images")
                ));
            }
            if o.kind == OutputKind::StructuredReport && !o.annotations.is_empty() {
                let regions = count(o.annotations.len(), "measured image region", "measured image regions");
                lines.push(format!("{regions}, drawn on their PNGs"));
            }
            (format!("{} ({}) -> {}", o.label, o.kind.name(), o.file_name), lines)
        })
        .collect();
    Ok(Written {
        description: format!(
            "{}{pngs_line}, index.html",
            if checked.json_value.is_some() { "response.json, " } else { "" }
        ),
        failures,
        warnings,
        outputs,
        violations: extra,
    })
}

/// Renders an image output's first frame to `outputs/<name>.png`; `None` when it has no
/// displayable pixels.
fn render_output(out: &Path, file_name: &str, buf: &[u8]) -> std::io::Result<Option<String>> {
    let Ok(mut frames) = arterys_viewer::display::render(buf) else { return Ok(None) };
    if frames.is_empty() {
        return Ok(None);
    }
    let f = frames.swap_remove(0);
    let png = Canvas::new(f.width, f.height, f.rgb).to_png().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(out.join(OUTPUTS_DIR))?;
    let rel = format!("{OUTPUTS_DIR}/{}.png", file_name.trim_end_matches(".dcm"));
    std::fs::write(out.join(&rel), png)?;
    Ok(Some(rel))
}
