//! Panics, should one happen despite everything: reported through `tracing` (so inside the
//! request's span, with its `input_hash`) rather than as bare text on stderr, and caught at
//! the pipeline so the client gets a 500 and the server goes on serving.

use std::any::Any;
use std::sync::Once;

/// The text a panic was raised with (empty when it carries something else).
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Installs (once) a panic hook that logs the panic at `ERROR` through `tracing`, with where
/// it happened. A panic on a request's thread is logged in that request's span, so the line
/// carries its `input_hash`. Where no subscriber is installed, the previous hook runs
/// instead (the default prints to stderr). The `logging` feature's `init` calls it.
///
/// ```
/// arterys_gateway::panics::log_through_tracing();
/// ```
pub fn log_through_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !tracing::dispatcher::has_been_set() {
                return previous(info);
            }
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            tracing::error!("panic at {at}: {}", message(info.payload()));
        }));
    });
}
