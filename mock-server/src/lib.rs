//! The mock inference service as a library: its modes, what each answers, and the
//! [`Gateway`] that serves them. The `mock-server` binary is a command line
//! around [`service`]; tests and benchmarks start the same service in-process. It is the
//! protocol demo a vendor starts from and copies: every result kind built with the protocol's
//! types, studies read with the viewer crate.
//!
//! **Dependencies**: the gateway and the viewer. Never a model engine (tract, onnxruntime)
//! or `arterys-model-server`: serving an ONNX model is `model-server --config`'s job, and a
//! demo to copy must build in seconds.

pub mod capture;
pub mod conformance;
pub mod dicom_out;
pub mod reports;
pub mod results;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::{Gateway, HandlerResult, InferenceCommand, InferenceInput, InferenceResponse, Readiness};
use arterys_viewer::study::Study;
use clap::ValueEnum;
use results::MaskKind;
use tracing::info;

/// What the server answers when the request's `inference_command` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// By inference_command (get-bounding-box-2d: boxes; get-probability-mask: masks); boxes otherwise
    Auto,
    /// A bounding box on every image (`-b`)
    Boxes,
    /// A 2D probability mask per image: a disc in the middle (`-s2D`)
    Seg2d,
    /// A 3D probability mask per series: a ball growing from the centre slice (`-s3D`)
    Seg3d,
    /// Boolean masks: 3D per series with geometry, 2D per image otherwise
    Boolean,
    /// Heatmaps through an anchorpoint palette: 3D per series with geometry, 2D otherwise
    Heatmap,
    /// Numeric label masks (Core, Rim, Halo) with their label map
    NumericLabels,
    /// Study and series classification JSON (`-cl`)
    Classification,
    /// A linear measurement across every image
    Measurements,
    /// A DICOM Secondary Capture per series with the result burned in
    SecondaryCapture,
    /// Probability masks whose parts carry `dicomConformance` checks of their series
    Conformance,
    /// A DICOM SR per series: a TID 1500 measurement report (a finding and its length)
    StructuredReport,
    /// A DICOM Grayscale Softcopy Presentation State per series: graphics on every image
    Gsps,
}

impl Mode {
    /// The mode's name (as `--mode` and its route take it).
    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// Answers one request in `mode`, unless its inference_command says otherwise.
pub fn answer(mode: Mode, input: InferenceInput) -> HandlerResult {
    let study = Study::read(&input)?;
    let mode = match (&input.request.inference_command, mode) {
        (Some(InferenceCommand::BoundingBox2d), _) => Mode::Boxes,
        (Some(InferenceCommand::ProbabilityMask), _) => {
            let mut r = InferenceResponse::new();
            results::masks_by_geometry(MaskKind::Probability, &study, &mut r)?;
            info!("get-probability-mask: {} mask parts for {} series", r.json().parts.len(), study.series.len());
            return Ok(r);
        }
        (_, Mode::Auto) => Mode::Boxes,
        (_, m) => m,
    };
    info!("answering {} for {} images in {} series", mode.name(), study.instances.len(), study.series.len());
    let mut r = InferenceResponse::new();
    match mode {
        Mode::Auto | Mode::Boxes => results::boxes(&study, &mut r),
        Mode::Seg2d => results::masks_2d(MaskKind::Probability, &study, &mut r)?,
        Mode::Seg3d => results::masks_3d(MaskKind::Probability, &study, &mut r)?,
        Mode::Boolean => results::masks_by_geometry(MaskKind::Boolean, &study, &mut r)?,
        Mode::Heatmap => results::masks_by_geometry(MaskKind::Heatmap, &study, &mut r)?,
        Mode::NumericLabels => results::masks_by_geometry(MaskKind::NumericLabels, &study, &mut r)?,
        Mode::Classification => results::classification(&study, &mut r),
        Mode::Measurements => results::measurements(&study, &mut r),
        Mode::SecondaryCapture => capture::secondary_captures(&input, &study, &mut r)?,
        Mode::Conformance => conformance::masks_with_conformance(&study, &mut r)?,
        Mode::StructuredReport => reports::structured_reports(&input, &study, &mut r)?,
        Mode::Gsps => reports::presentation_states(&input, &study, &mut r)?,
    }
    Ok(r)
}

/// Start-up work: every mode answers a synthetic slice with a valid response. `/healthcheck`
/// says READY only after it.
pub fn warm_up(delay: Duration) -> Result<(), String> {
    let slice = arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.543.1", 0, 64, 64)
        .map_err(|e| e.to_string())?;
    for mode in Mode::value_variants() {
        let input = InferenceInput::from_dicom(Default::default(), [bytes::Bytes::from(slice.clone())]);
        // Quietly: these are not requests.
        let r =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || answer(*mode, input))
                .map_err(|e| format!("{}: {e}", mode.name()))?;
        r.validate().map_err(|e| format!("{}: {e}", mode.name()))?;
    }
    std::thread::sleep(delay);
    Ok(())
}

/// Readiness and every mode on its own route (`/boxes`, `/seg3d`, ...). `/healthcheck` says
/// `LOADING` until `ready` is set.
fn modes(ready: Arc<AtomicBool>) -> Gateway {
    let mut gw = Gateway::new().readiness(move || Readiness::loading_until(&ready));
    for mode in Mode::value_variants().iter().copied() {
        gw = gw.route(&format!("/{}", mode.name()), move |input| answer(mode, input));
    }
    gw
}

/// How long in-flight requests may still take after SIGTERM by default (`--shutdown-grace-secs`;
/// docker-compose's `stop_grace_period` must be longer).
pub const SHUTDOWN_GRACE: Duration = arterys_gateway::DEFAULT_SHUTDOWN_GRACE;

/// The service: `/` answers in `startup` mode, every mode also on its own route.
pub fn service(startup: Mode, ready: Arc<AtomicBool>) -> Gateway {
    modes(ready).route("/", move |input| answer(startup, input))
}
