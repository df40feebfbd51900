//! OpenTelemetry trace export (feature `otel`): spans go over OTLP/HTTP (protobuf) to the
//! collector named by the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) variable; no variable, no export. The request span
//! carries `input_hash` (and `output_hash`) as attributes, so a trace finds its log lines.
//! The service name is `OTEL_SERVICE_NAME`, else the binary's name.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use super::LoggingError;

fn configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// The export layer, when an endpoint is configured.
pub(super) fn layer<S>() -> Result<Option<OpenTelemetryLayer<S, SdkTracer>>, LoggingError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !configured() {
        return Ok(None);
    }
    // The endpoint, headers and timeout come from the OTEL_EXPORTER_OTLP_* variables.
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|e| LoggingError::Otel(e.to_string()))?;
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .or_else(|| std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name.unwrap_or_else(|| "arterys-gateway".into())).build())
        .build();
    let tracer = provider.tracer("arterys-gateway");
    opentelemetry::global::set_tracer_provider(provider);
    Ok(Some(tracing_opentelemetry::layer().with_tracer(tracer)))
}
