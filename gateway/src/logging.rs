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
//! levels are understood, its other keys ignored):
//!
//! ```yaml
//! format: arterys        # or json
//! root:
//!   level: INFO
//! loggers:
//!   mock_server: DEBUG   # per target; dots or :: both work
//!   hyper: WARNING
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum LevelEntry {
    Plain(String),
    Dict { level: String },
}

impl LevelEntry {
    fn level(&self) -> &str {
        match self {
            Self::Plain(l) | Self::Dict { level: l } => l,
        }
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
pub struct LoggingConfig {
    /// Line format.
    #[serde(default)]
    pub format: Format,
    /// Default level (also read from `root.level`).
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    root: Option<LevelEntry>,
    #[serde(default)]
    loggers: BTreeMap<String, LevelEntry>,
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
    /// The YAML is malformed.
    #[error("logging config: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A level name is unknown.
    #[error("unknown log level {0:?} (use DEBUG, INFO, WARNING, ERROR, CRITICAL)")]
    Level(String),
    /// A global subscriber is already installed.
    #[error("logging is already initialised")]
    AlreadySet,
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
        Self::from_yaml(&text)
    }

    /// The per-target level filter.
    pub fn filter(&self) -> Result<Targets, LoggingError> {
        let default = self.level.as_deref().or(self.root.as_ref().map(LevelEntry::level)).unwrap_or("INFO");
        let mut t = Targets::new().with_default(parse_level(default)?);
        for (name, entry) in &self.loggers {
            t = t.with_target(name.replace('.', "::"), parse_level(entry.level())?);
        }
        Ok(t)
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
        let fmt = tracing_subscriber::fmt::layer().event_format(LineFormat { format: self.format }).with_writer(writer);
        tracing_subscriber::registry()
            .with(TagLayer)
            .with(fmt)
            .with(self.filter()?)
            .try_init()
            .map_err(|_| LoggingError::AlreadySet)?;
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

/// Keeps each span's fields as [`Tags`], updated when a field is recorded later
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
        let time = asctime(std::time::SystemTime::now());
        match self.format {
            Format::Arterys => {
                write!(w, "[{time}] [{}] {name} ", python_level(meta.level()))?;
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
                obj.insert("time".into(), time.into());
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

/// `2026-11-21 20:15:09,123` (UTC), Python's `asctime`.
pub fn asctime(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02},{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_matches_known_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_292_109_123);
        assert_eq!(asctime(t), "2026-11-21 20:15:09,123");
        assert_eq!(asctime(std::time::UNIX_EPOCH), "1970-01-01 00:00:00,000");
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&asctime(leap)[..10], "2000-02-29");
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
        assert!(LoggingConfig::from_yaml("level: LOUD").unwrap().filter().is_err());
    }
}
