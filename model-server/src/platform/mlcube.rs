//! The MedPerf Model MLCube `infer` task: `model-server infer --data_path DIR
//! --parameters_file FILE --output_path DIR [--config FILE]` runs the configured model over a
//! folder of studies and writes, per study, its label as `<study>.nii.gz` and every result in
//! `predictions.json`.
//!
//! A study is a folder of DICOM files below `data_path` (searched recursively), the DICOM
//! files lying directly in `data_path` (named after it), or a `.nii`/`.nii.gz` volume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::label::label_of;
use super::monailabel::in_input_order;
use super::upload::{InflateLimits, Upload};
use super::{answer_files, nifti_io};
use crate::config::{ConfigError, OutputKind, ServerConfig};
use crate::model::Model;

/// The `infer` task's arguments.
#[derive(Debug, Clone)]
pub struct InferArgs {
    /// The studies.
    pub data_path: PathBuf,
    /// The MLCube parameters (YAML).
    pub parameters_file: PathBuf,
    /// Where the predictions go (created if needed).
    pub output_path: PathBuf,
    /// The model config; else `config:` of the parameters file.
    pub config: Option<PathBuf>,
}

/// The parameters file: which config and which of its models. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// The model config, relative to the parameters file (`--config` wins).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The route of the model to run when the config lists several (default: the first).
    #[serde(default)]
    pub route: Option<String>,
}

/// Why the task failed (the command exits non-zero with it).
#[derive(Debug, thiserror::Error)]
pub enum MlcubeError {
    /// A path that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The parameters file is not the expected YAML.
    #[error("parameters file {}: {reason}", path.display())]
    Parameters {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No config given.
    #[error("no model config: pass --config FILE or set config: in the parameters file")]
    NoConfig,
    /// The config cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No model on the asked route.
    #[error("the config has no model on route {0}")]
    NoRoute(String),
    /// The model cannot be loaded.
    #[error("cannot load the model: {0}")]
    Load(String),
    /// The model gives only heatmaps, which have no label or prediction form here.
    #[error("model {0} gives only heatmaps: an MLCube prediction needs a mask, boxes or a classification")]
    Inexpressible(String),
    /// Nothing to run on.
    #[error("no study in {}: expected folders of DICOM files, DICOM files, or .nii/.nii.gz volumes", .0.display())]
    NoStudies(PathBuf),
    /// One study failed.
    #[error("study {study}: {reason}")]
    Study {
        /// Its name.
        study: String,
        /// Why.
        reason: String,
    },
}

/// Runs the task; the predictions written, by study.
pub fn infer(args: &InferArgs) -> Result<BTreeMap<String, Value>, MlcubeError> {
    let params = read_parameters(&args.parameters_file)?;
    let config_path = match (&args.config, &params.config) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => args.parameters_file.parent().unwrap_or(Path::new(".")).join(c),
        (None, None) => return Err(MlcubeError::NoConfig),
    };
    let config = ServerConfig::load(&config_path)?;
    let chosen = match &params.route {
        Some(route) => config.models.into_iter().find(|m| m.route.as_deref() == Some(route.as_str())),
        None => config.models.into_iter().next(),
    };
    let chosen = chosen.ok_or_else(|| MlcubeError::NoRoute(params.route.clone().unwrap_or_else(|| "/".into())))?;
    let name = chosen.name();
    if chosen.outputs.iter().all(|o| o.kind == OutputKind::Heatmap) {
        return Err(MlcubeError::Inexpressible(name));
    }
    let model = Model::load(chosen).map_err(|e| MlcubeError::Load(e.to_string()))?;
    let studies = studies(&args.data_path)?;
    if studies.is_empty() {
        return Err(MlcubeError::NoStudies(args.data_path.clone()));
    }
    let out = &args.output_path;
    std::fs::create_dir_all(out).map_err(|source| MlcubeError::Io { path: out.clone(), source })?;
    let mut predictions = BTreeMap::new();
    for (study, files) in studies {
        let failed = |reason: String| MlcubeError::Study { study: study.clone(), reason };
        let prediction = predict(&model, &name, &study, files, out).map_err(failed)?;
        predictions.insert(study, prediction);
    }
    let path = out.join("predictions.json");
    let text = serde_json::to_string_pretty(&predictions).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| MlcubeError::Io { path, source })?;
    Ok(predictions)
}

fn read_parameters(path: &Path) -> Result<Parameters, MlcubeError> {
    let text = std::fs::read_to_string(path).map_err(|source| MlcubeError::Io { path: path.to_owned(), source })?;
    if text.trim().is_empty() {
        return Ok(Parameters::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|e| MlcubeError::Parameters { path: path.to_owned(), reason: e.to_string() })
}

/// One study through the model: its label file and its prediction entry.
fn predict(model: &Model, name: &str, study: &str, files: Vec<Bytes>, out: &Path) -> Result<Value, String> {
    let (files, nifti) = match files.as_slice() {
        [one] if !arterys_gateway::looks_like_dicom(one) => {
            match Upload::read(one.clone(), InflateLimits::default(), None).map_err(|e| e.to_string())? {
                Upload::Nifti(mut n) => (std::mem::take(&mut n.slices), Some(n)),
                Upload::Dicom(f) => (f, None),
            }
        }
        _ => (files, None),
    };
    let (response, read) = answer_files(model, files.clone()).map_err(|e| e.message())?;
    let mut label = label_of(&response, &read, &files);
    if let (Some(l), Some(n)) = (&mut label, &nifti) {
        *l = in_input_order(l, &read, n.dims);
    }
    let json = response.json();
    let mut entry = json!({"model": name});
    if let Some(l) = &label {
        let bytes = nifti_io::write_label(l, nifti.as_ref().map(|n| &n.header)).map_err(|e| e.to_string())?;
        let file = format!("{study}.nii.gz");
        std::fs::write(out.join(&file), bytes).map_err(|e| format!("{file}: {e}"))?;
        entry["label"] = json!(file);
        entry["label_names"] = json!(l.names);
        entry["series_instance_uid"] = json!(l.series_instance_uid);
    }
    if let Some(v) = &json.study_ml_json {
        entry["classification"] = v.clone();
    }
    if let Some(v) = &json.series_ml_json {
        entry["series_classification"] = serde_json::to_value(v).unwrap_or_default();
    }
    if let Some(v) = &json.bounding_boxes_2d {
        entry["boxes"] = serde_json::to_value(v).unwrap_or_default();
    }
    Ok(entry)
}

/// The studies of `data`, by name: each folder (its DICOM files, recursively), the DICOM
/// files lying in `data` itself, each NIfTI volume.
fn studies(data: &Path) -> Result<BTreeMap<String, Vec<Bytes>>, MlcubeError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MlcubeError::Io { path, source }
    };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(data).map_err(io(data))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    let mut studies = BTreeMap::new();
    let mut loose = Vec::new();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            let files = dicom_below(&path)?;
            if !files.is_empty() {
                studies.insert(name, files);
            }
        } else if let Some(stem) = name.strip_suffix(".nii.gz").or_else(|| name.strip_suffix(".nii")) {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            studies.insert(stem.to_owned(), vec![Bytes::from(bytes)]);
        } else {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            if arterys_gateway::looks_like_dicom(&bytes) {
                loose.push(Bytes::from(bytes));
            }
        }
    }
    if !loose.is_empty() {
        let name = data.file_name().map_or_else(|| "study".into(), |n| n.to_string_lossy().into_owned());
        studies.insert(name, loose);
    }
    Ok(studies)
}

/// Every DICOM file below `dir`, in path order.
fn dicom_below(dir: &Path) -> Result<Vec<Bytes>, MlcubeError> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| MlcubeError::Io { path: d.clone(), source })?;
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|source| MlcubeError::Io { path: p.clone(), source })?;
        if arterys_gateway::looks_like_dicom(&bytes) {
            files.push(Bytes::from(bytes));
        }
    }
    Ok(files)
}
