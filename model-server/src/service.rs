//! The gateway around the models: one route per model, `/healthcheck` READY only once every
//! model is loaded and warmed up, engine failures as HTTP statuses. The one place that wires
//! models into `arterys_gateway`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arterys_gateway::{Gateway, HandlerError, InferenceInput, Readiness};
use tracing::{info, warn};

use crate::config::{ModelConfig, ServerConfig};
use crate::engine::LoadError;
use crate::model::Model;

/// A model's place in the service: its route, and the model once loaded.
#[derive(Clone)]
pub struct ModelSlot {
    /// The route answering with it.
    pub route: String,
    /// Set once loaded and warmed up; requests before get 503.
    pub model: Arc<OnceLock<Model>>,
}

/// A model that could not be started: which route, and why.
#[derive(Debug, thiserror::Error)]
#[error("model for {route}: {error}")]
pub struct StartupError {
    /// The model's route.
    pub route: String,
    /// Why.
    pub error: LoadError,
}

/// Empty slots, one per configured model.
pub fn slots(config: &ServerConfig) -> Vec<ModelSlot> {
    config
        .models
        .iter()
        .map(|m| ModelSlot { route: m.route.clone().unwrap_or_else(|| "/".into()), model: Arc::new(OnceLock::new()) })
        .collect()
}

/// Adds a route per slot to `gw`.
pub fn routes(mut gw: Gateway, slots: &[ModelSlot]) -> Gateway {
    for slot in slots {
        let model = Arc::clone(&slot.model);
        gw = gw.route(&slot.route, move |input: InferenceInput| match model.get() {
            Some(m) => {
                info!("running the model on {} images", input.dicom.len());
                m.answer(&input)
            }
            None => Err(HandlerError::unavailable("the model is still loading")),
        });
    }
    gw
}

/// `/healthcheck`: `LOADING` until `ready` is set; then `READY` while `healthy` (see
/// [`watch`]), `UNAVAILABLE` while a remote model's server is not ready.
pub fn readiness(gw: Gateway, ready: Arc<AtomicBool>, healthy: Arc<AtomicBool>) -> Gateway {
    gw.readiness(move || {
        if !ready.load(Ordering::Acquire) {
            Readiness::NotReady("LOADING".into())
        } else if healthy.load(Ordering::Acquire) {
            Readiness::Ready
        } else {
            Readiness::NotReady("UNAVAILABLE".into())
        }
    })
}

/// Re-checks every `interval`, on a thread of its own, whether every loaded model's engine
/// can take requests (remote engines ask their server), into `healthy`; logs each change.
pub fn watch(slots: Vec<ModelSlot>, healthy: Arc<AtomicBool>, interval: Duration) {
    std::thread::spawn(move || loop {
        let ok = slots.iter().all(|s| s.model.get().is_some_and(Model::ready));
        match (healthy.swap(ok, Ordering::AcqRel), ok) {
            (true, false) => warn!("a remote model is not ready: /healthcheck says UNAVAILABLE"),
            (false, true) => info!("every model is ready again: /healthcheck says READY"),
            _ => {}
        }
        std::thread::sleep(interval);
    });
}

/// Loads and warms up one model into its slot (blocking: run it off the async runtime).
pub fn load_into(config: ModelConfig, slot: &ModelSlot) -> Result<(), StartupError> {
    let failed = |error| StartupError { route: slot.route.clone(), error };
    let started = std::time::Instant::now();
    let path = config.model.clone().unwrap_or_default();
    let model = Model::load(config).map_err(failed)?;
    let loaded = started.elapsed();
    let warm = model.warm_up().map_err(failed)?;
    info!(
        "model {} on {}: {}; loaded in {} ms, warm-up batch {} ms",
        path.display(),
        slot.route,
        model.describe(),
        loaded.as_millis(),
        warm.as_millis()
    );
    // A slot is filled once: a second load of the same slot keeps the first model.
    let _ = slot.model.set(model);
    Ok(())
}

/// Loads every model of `config` into `slots`, in order; the first failure stops.
pub fn load_all(config: ServerConfig, slots: &[ModelSlot]) -> Result<(), StartupError> {
    config.models.into_iter().zip(slots).try_for_each(|(m, slot)| load_into(m, slot))
}
