//! `logging.yaml` mistakes stop start-up with the file, line and key named; `RUST_LOG`
//! replaces the file's levels; JSON lines carry RFC 3339 UTC times.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::logging::LoggingConfig;
use common::LogBuf;

fn load_error(name: &str, yaml: &str) -> (String, String) {
    let path = std::env::temp_dir().join(format!("gateway-logging-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let err = LoggingConfig::load(&path).expect_err("must be refused").to_string();
    let _ = std::fs::remove_file(&path);
    (path.display().to_string(), err)
}

#[test]
fn an_unknown_key_is_refused_with_file_line_and_key() {
    let (path, err) = load_error("key", "format: json\nroot:\n  level: INFO\nlevle: DEBUG\n");
    assert!(err.starts_with(&format!("{path}: ")), "{err}");
    assert!(err.contains("unknown field `levle`") && err.contains("line 4"), "{err}");
    let (_, err) = load_error("nested", "loggers:\n  hyper:\n    level: INFO\n    lvl: DEBUG\n");
    assert!(err.contains("unknown field `lvl`") && err.contains("line 4"), "{err}");
}

#[test]
fn a_bad_value_is_refused_with_file_line_and_key() {
    let (path, err) = load_error("level", "root:\n  level: INFO\nloggers:\n  hyper: LOUD\n");
    assert!(err.starts_with(&format!("{path}: ")), "{err}");
    assert!(err.contains("loggers.hyper") && err.contains("\"LOUD\"") && err.contains("line 4"), "{err}");
    let (_, err) = load_error("format", "format: xml\n");
    assert!(err.contains("format") && err.contains("xml") && err.contains("line 1"), "{err}");
}

#[test]
fn the_repository_logging_yaml_and_python_dictconfig_keys_load() {
    LoggingConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../logging.yaml")).unwrap();
    let dict = "version: 1\ndisable_existing_loggers: false\nformatters: {simple: {format: x}}\nhandlers: {console: {class: logging.StreamHandler}}\nroot: {level: WARNING, handlers: [console]}\nloggers: {inference: {level: DEBUG, propagate: false}}\n";
    LoggingConfig::from_yaml(dict).unwrap();
}

/// The one test of this binary that installs the global subscriber.
#[test]
fn rust_log_overrides_the_file_and_json_times_are_rfc3339_utc() {
    // The file asks for DEBUG everywhere; RUST_LOG=warn wins.
    std::env::set_var("RUST_LOG", "warn");
    let config = LoggingConfig::from_yaml("format: json\nroot: {level: DEBUG}\n").unwrap();
    let buf = LogBuf::default();
    config.init_with_writer(buf.clone()).unwrap();
    let before = std::time::SystemTime::now();
    tracing::info!("an info line");
    tracing::debug!("a debug line");
    tracing::warn!("a warning");
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["message"], "a warning");
    assert_eq!(lines[0]["level"], "WARNING");
    let time = lines[0]["time"].as_str().unwrap();
    // 2026-11-21T20:15:09.123Z, between the clock before and after (as asctime says them).
    let rfc = |t| arterys_gateway::logging::asctime(t).replacen(' ', "T", 1).replacen(',', ".", 1) + "Z";
    let (earliest, latest) = (rfc(before), rfc(std::time::SystemTime::now()));
    assert_eq!(time.len(), 24, "{time}");
    assert!(earliest.as_str() <= time && time <= latest.as_str(), "{time} not in {earliest}..{latest}");

    // A RUST_LOG that does not parse is an error, not a silent default.
    assert!(config.effective_filter(Some("info,[")).is_err());
}
