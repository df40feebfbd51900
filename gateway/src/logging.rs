//! Logging as the Arterys log pipeline reads it, configured from `logging.yaml`.
//!
//! Lines look like the reference's:
//! `[2026-11-21 20:15:09,123] [INFO] arterys_gateway.service.server {"input_hash": "ab12…"} - start processing`
//! — the tags are the fields of the enclosing spans as sorted JSON. The gateway opens a span
//! per request with `input_hash` (and `output_hash` once the response is sent), so every line
//! a handler logs while serving a request carries them. With `format: json` each line is one
//! JSON object instead.
//!
//! `logging.yaml` (every key optional; a Python `dictConfig` file's `root` and `loggers`
//! levels are understood, its `version`, `formatters`, `handlers`, `filters`,
//! `disable_existing_loggers` and `incremental` accepted and ignored; any other key, or a
//! level that is not one, stops start-up with the file, line and key named):
//!
//! ```yaml
//! format: arterys        # or json
//! root:
//!   level: INFO
//! loggers:
//!   mock_server: DEBUG   # per target; dots or :: both work
//!   hyper: WARNING
//! ```
//!
//! `RUST_LOG`, when set, replaces these levels with a tracing-subscriber
//! [`tracing_subscriber::EnvFilter`] (`RUST_LOG=warn`,
//! `RUST_LOG=info,arterys_gateway=debug`). JSON lines carry `time` in RFC 3339 UTC
//! (`2026-11-21T20:15:09.123Z`).

mod clock;
#[cfg(feature = "otel")]
mod otel;

pub use clock::asctime;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// A level filter on the subscriber: the file's levels or `RUST_LOG`'s.
pub type BoxedFilter = Box<dyn Layer<Registry> + Send + Sync + 'static>;

/// Line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `[time] [LEVEL] name {tags} - message`, as the reference wrote.
    #[default]
    Arterys,
    /// One JSON object per line.
    Json,
}

/// A level name, checked where it is read (so an error has its line).
#[derive(Debug, Clone, Copy)]
struct LevelName(LevelFilter);

impl<'de> Deserialize<'de> for LevelName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_level(&s).map(LevelName).map_err(serde::de::Error::custom)
    }
}

/// A `dictConfig` logger: its level; the Python-only keys are accepted and ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggerDict {
    #[serde(default)]
    level: Option<LevelName>,
    #[serde(default)]
    #[allow(dead_code)] // read to accept the key
    handlers: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    propagate: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    filters: IgnoredAny,
}

/// `hyper: WARNING` or `hyper: {level: WARNING}`.
#[derive(Debug, Clone, Copy)]
struct LevelEntry(Option<LevelFilter>);

impl<'de> Deserialize<'de> for LevelEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LevelEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a level name or a map with `level`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<LevelEntry, E> {
                parse_level(s).map(|l| LevelEntry(Some(l))).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<LevelEntry, A::Error> {
                let dict = LoggerDict::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(LevelEntry(dict.level.map(|l| l.0)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The contents of `logging.yaml`.
///
/// ```
/// let c = arterys_gateway::logging::LoggingConfig::from_yaml("root: {level: DEBUG}\nloggers:\n  hyper: WARNING\n").unwrap();
/// assert_eq!(c.format, arterys_gateway::logging::Format::Arterys);
/// assert!(c.filter().is_ok());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// Line format.
    #[serde(default)]
    pub format: Format,
    /// Default level (also read from `root.level`).
    #[serde(default)]
    level: Option<LevelName>,
    #[serde(default)]
    root: Option<LevelEntry>,
    #[serde(default)]
    loggers: BTreeMap<String, LevelEntry>,
    // A Python dictConfig file's other keys: accepted, not used.
    #[serde(default)]
    #[allow(dead_code)]
    version: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    formatters: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    handlers: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    filters: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    disable_existing_loggers: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    incremental: IgnoredAny,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed, or has a key or value that is not understood.
    #[error("logging config: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The file is malformed, or has a key or value that is not understood: the message
    /// names the file, the key and the line.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// What and where.
        source: serde_yaml_ng::Error,
    },
    /// The OTLP exporter could not be set up (feature `otel`).
    #[error("OpenTelemetry export: {0}")]
    Otel(String),
    /// `RUST_LOG` is not a valid filter.
    #[error("RUST_LOG: {0}")]
    RustLog(String),
    /// A level name is unknown.
    #[error("unknown log level {0:?} (use DEBUG, INFO, WARNING, ERROR, CRITICAL)")]
    Level(String),
    /// A global subscriber is already installed.
    #[error("logging is already initialised")]
    AlreadySet,
    /// A logging config named on the command line is not there.
    #[error("logging config {0} not found")]
    NotFound(String),
}

fn parse_level(s: &str) -> Result<LevelFilter, LoggingError> {
    Ok(match s.trim().to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" | "NOTSET" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "ERROR" | "CRITICAL" | "FATAL" => LevelFilter::ERROR,
        "OFF" => LevelFilter::OFF,
        _ => return Err(LoggingError::Level(s.to_owned())),
    })
}

impl LoggingConfig {
    /// Parses YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, LoggingError> {
        Ok(serde_yaml_ng::from_str(text)?)
    }

    /// Reads a YAML file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoggingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| LoggingError::Read { path: path.display().to_string(), source })?;
        serde_yaml_ng::from_str(&text)
            .map_err(|source| LoggingError::Invalid { path: path.display().to_string(), source })
    }

    /// The per-target level filter of the file.
    pub fn filter(&self) -> Result<Targets, LoggingError> {
        let default = self.level.map(|l| l.0).or(self.root.and_then(|r| r.0)).unwrap_or(LevelFilter::INFO);
        let mut t = Targets::new().with_default(default);
        for (name, entry) in &self.loggers {
            if let Some(level) = entry.0 {
                t = t.with_target(name.replace('.', "::"), level);
            }
        }
        Ok(t)
    }

    /// The filter in force: `rust_log` (the `RUST_LOG` value) when set and not empty,
    /// replacing the file's levels; the file's levels otherwise.
    ///
    /// ```
    /// use arterys_gateway::logging::LoggingConfig;
    /// use tracing_subscriber::Layer;
    /// let c = LoggingConfig::from_yaml("root: {level: DEBUG}").unwrap();
    /// let f = c.effective_filter(Some("warn")).unwrap();
    /// assert_eq!(f.max_level_hint(), Some(tracing::level_filters::LevelFilter::WARN));
    /// assert!(c.effective_filter(Some("[")).is_err());
    /// ```
    pub fn effective_filter(&self, rust_log: Option<&str>) -> Result<BoxedFilter, LoggingError> {
        match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Ok(Box::new(EnvFilter::try_new(v).map_err(|e| LoggingError::RustLog(e.to_string()))?)),
            None => Ok(Box::new(self.filter()?)),
        }
    }

    /// Installs the global subscriber, writing to stdout.
    pub fn init(&self) -> Result<(), LoggingError> {
        self.init_with_writer(std::io::stdout)
    }

    /// Installs the global subscriber, writing lines to `writer` (e.g. a file or a test
    /// buffer), and routes panics through it ([`crate::panics::log_through_tracing`]).
    pub fn init_with_writer<W>(&self, writer: W) -> Result<(), LoggingError>
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        let rust_log = std::env::var("RUST_LOG").ok();
        let filter = self.effective_filter(rust_log.as_deref())?;
        let fmt = tracing_subscriber::fmt::layer().event_format(LineFormat { format: self.format }).with_writer(writer);
        let registry = tracing_subscriber::registry().with(filter).with(TagLayer).with(fmt);
        #[cfg(feature = "otel")]
        let registry = registry.with(otel::layer()?);
        registry.try_init().map_err(|_| LoggingError::AlreadySet)?;
        crate::panics::log_through_tracing();
        Ok(())
    }
}

/// Loads `path` if it exists (default settings otherwise) and installs logging.
pub fn init_from_file(path: impl AsRef<Path>) -> Result<(), LoggingError> {
    let path = path.as_ref();
    let config = if path.exists() { LoggingConfig::load(path)? } else { LoggingConfig::default() };
    config.init()
}

/// The file `--logging-config` names by default; where it is absent the defaults apply.
pub const DEFAULT_FILE: &str = "logging.yaml";

/// Installs logging from a server's `--logging-config`: the file if it exists, the defaults
/// where [`DEFAULT_FILE`] is absent, [`LoggingError::NotFound`] for any other missing path.
pub fn init_from_flag(path: &Path) -> Result<(), LoggingError> {
    if !path.exists() && path.as_os_str() != DEFAULT_FILE {
        return Err(LoggingError::NotFound(path.display().to_string()));
    }
    init_from_file(path)
}

/// The fields of a span, kept for the lines logged inside it.
#[derive(Debug, Default, Clone)]
struct Tags(BTreeMap<&'static str, Value>);

impl Visit for Tags {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), Value::from(format!("{value:?}")));
    }
}

/// Keeps each span's fields as `Tags`, updated when a field is recorded later
/// (`output_hash`).
pub struct TagLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TagLayer {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let mut tags = Tags::default();
        attrs.record(&mut tags);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(tags);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(tags) = ext.get_mut::<Tags>() {
                values.record(tags);
            }
        }
    }
}

/// An event's message and other fields.
#[derive(Default)]
struct EventFields {
    message: String,
    fields: Vec<(&'static str, Value)>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push((field.name(), Value::from(value)));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push((field.name(), Value::from(format!("{value:?}"))));
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), Value::from(value)));
    }
}

/// The event formatter for both formats.
pub struct LineFormat {
    format: Format,
}

fn python_level(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// Python's `json.dumps(tags, sort_keys=True)`: `{"a": 1, "b": "x"}`.
fn python_json(tags: &BTreeMap<&str, Value>) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}: {}", Value::from(*k), v);
    }
    s.push('}');
    s
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let meta = event.metadata();
        let mut tags = BTreeMap::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(t) = span.extensions().get::<Tags>() {
                    tags.extend(t.0.iter().map(|(k, v)| (*k, v.clone())));
                }
            }
        }
        let mut f = EventFields::default();
        event.record(&mut f);
        let name = meta.target().replace("::", ".");
        let now = std::time::SystemTime::now();
        match self.format {
            Format::Arterys => {
                write!(w, "[{}] [{}] {name} ", asctime(now), python_level(meta.level()))?;
                if !tags.is_empty() {
                    write!(w, "{} - ", python_json(&tags))?;
                }
                w.write_str(&f.message)?;
                for (k, v) in &f.fields {
                    match v {
                        Value::String(s) => write!(w, " {k}={s}")?,
                        other => write!(w, " {k}={other}")?,
                    }
                }
                writeln!(w)
            }
            Format::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("time".into(), clock::rfc3339(now).into());
                obj.insert("level".into(), python_level(meta.level()).into());
                obj.insert("name".into(), name.into());
                obj.insert("message".into(), f.message.into());
                for (k, v) in tags.into_iter().chain(f.fields) {
                    obj.insert(k.into(), v);
                }
                writeln!(w, "{}", Value::Object(obj))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_logging_config_other_than_the_default_is_named() {
        let e = init_from_flag(Path::new("no/such/logging.yaml")).unwrap_err();
        assert!(matches!(e, LoggingError::NotFound(_)), "{e:?}");
        assert_eq!(e.to_string(), "logging config no/such/logging.yaml not found");
    }

    #[test]
    fn tags_render_like_python_json_dumps() {
        let mut t = BTreeMap::new();
        t.insert("output_hash", Value::from("b"));
        t.insert("input_hash", Value::from("a"));
        assert_eq!(python_json(&t), r#"{"input_hash": "a", "output_hash": "b"}"#);
    }

    #[test]
    fn reads_a_python_dictconfig_file() {
        let yaml = "version: 1\nformatters:\n  simple:\n    format: '[%(asctime)s] %(message)s'\nhandlers:\n  console:\n    class: logging.StreamHandler\nroot:\n  level: WARNING\n  handlers: [console]\nloggers:\n  inference:\n    level: DEBUG\n";
        let c = LoggingConfig::from_yaml(yaml).unwrap();
        let f = c.filter().unwrap();
        assert!(f.would_enable("inference", &Level::DEBUG));
        assert!(!f.would_enable("other", &Level::INFO));
        assert!(LoggingConfig::from_yaml("level: LOUD").is_err());
    }
}
