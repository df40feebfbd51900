//! The secondary-capture mode: a real DICOM Secondary Capture per series, made from the
//! series' middle image with the result burned in.

use arterys_gateway::dicom::capture::{derived_uid, secondary_capture, CaptureIds, CaptureImage};
use arterys_gateway::dicom::display::{open, render_object, DisplayError, DisplayFrame};
use arterys_gateway::{BinaryType, HandlerError, InferenceInput, InferenceResponse};

use arterys_viewer::study::Study;

/// Draws the mock result: a 3-pixel red frame around the middle quarter and a yellow cross
/// at the centre.
fn burn_in(f: &mut DisplayFrame) {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        if x < w && y < h {
            let i = (y * w + x) * 3;
            f.rgb[i..i + 3].copy_from_slice(&c);
        }
    };
    let (x0, x1, y0, y1) = (w * 3 / 8, w * 5 / 8, h * 3 / 8, h * 5 / 8);
    for t in 0..3 {
        for x in x0..=x1 {
            put(x, y0 + t, [255, 0, 0]);
            put(x, y1 - t, [255, 0, 0]);
        }
        for y in y0..=y1 {
            put(x0 + t, y, [255, 0, 0]);
            put(x1 - t, y, [255, 0, 0]);
        }
    }
    let (cx, cy, arm) = (w / 2, h / 2, w.min(h) / 20);
    for d in 0..=2 * arm {
        put(cx + d - arm, cy, [255, 255, 0]);
        put(cx, cy + d - arm, [255, 255, 0]);
    }
}

/// One capture per series, from its middle image.
pub fn secondary_captures(
    input: &InferenceInput,
    study: &Study,
    r: &mut InferenceResponse,
) -> Result<(), HandlerError> {
    for s in study.image_series() {
        let slices = &s.timepoints[0];
        let Some(&index) = slices.get(slices.len() / 2) else { continue };
        let unusable = |e: DisplayError| HandlerError::unprocessable(format!("part {}: {e}", input.dicom[index].index));
        // Read once: the pixels for the capture, the attributes for its study.
        let source = open(&input.dicom[index].body).map_err(unusable)?;
        let mut frames = render_object(&source).map_err(unusable)?;
        if frames.is_empty() {
            continue;
        }
        let mut frame = frames.swap_remove(0);
        burn_in(&mut frame);
        let info = &study.instances[index];
        let ids = CaptureIds {
            study_instance_uid: info
                .study_instance_uid
                .clone()
                .unwrap_or_else(|| derived_uid(&info.series_instance_uid)),
            series_instance_uid: derived_uid(&format!("{}/secondary-capture", info.series_instance_uid)),
            sop_instance_uid: derived_uid(&format!("{}/secondary-capture", info.sop_instance_uid)),
        };
        let image = CaptureImage { width: frame.width, height: frame.height, samples: 3, pixels: &frame.rgb };
        let file =
            secondary_capture(image, &ids, Some(&source), "Mock secondary capture").map_err(HandlerError::internal)?;
        r.add_dicom_output(
            BinaryType::DicomSecondaryCapture,
            "Mock secondary capture",
            Some(s.series_instance_uid.clone()),
            file,
        )
        .map_err(HandlerError::internal)?;
    }
    Ok(())
}
