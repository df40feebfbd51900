//! The config schema's own rules, without a model.

use super::*;

fn parse(text: &str) -> Result<ServerConfig, String> {
    ServerConfig::parse(text, Path::new("/cfg"), true).map_err(|e| match e {
        ParseError::Yaml(e) => e.to_string(),
        ParseError::Key(k) => k.to_string(),
    })
}

const ONE: &str = "model: m.onnx\ninput: {layout: NCHW, size: [64, 64]}\noutputs: [{name: p, kind: heatmap}]\n";

#[test]
fn one_model_is_served_on_the_root_and_paths_follow_the_file() {
    let c = parse(ONE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models.len(), 1);
    assert_eq!(c.models[0].route.as_deref(), Some("/"));
    assert_eq!(c.models[0].model.as_deref(), Some(Path::new("/cfg/m.onnx")));
    assert_eq!(c.models[0].engine, EngineKind::Tract);
    assert_eq!(c.models[0].input.shape(), vec![1, 1, 64, 64]);
}

#[test]
fn lists_need_distinct_routes() {
    let block = "input: {layout: NCHW, size: [8, 8]}\n    outputs: [{name: p, kind: heatmap}]";
    let two = format!("models:\n  - route: /a\n    model: a.onnx\n    {block}\n  - route: /b\n    model: b.onnx\n    engine: onnxruntime\n    device: cuda:1\n    fallback: cpu\n    {block}\n");
    let c = parse(&two).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models[1].device, Some(Device::Cuda(1)));
    let same = two.replace("/b", "/a");
    assert_eq!(parse(&same).err().as_deref(), Some("models[1].route: /a is used by an earlier model"));
    let missing = two.replace("route: /b\n    ", "");
    assert_eq!(parse(&missing).err().as_deref(), Some("models[1].route: every model of a list needs its route"));
}

#[test]
fn keys_and_values_are_checked() {
    let e = parse(&ONE.replace("model:", "modle:")).err().unwrap_or_default();
    assert!(e.contains("unknown field `modle`"), "{e}");
    let e = parse(&format!("{ONE}device: gpu\n")).err().unwrap_or_default();
    assert!(e.contains("expected cpu, cuda or cuda:N"), "{e}");
    assert_eq!(
        parse(&format!("{ONE}device: cuda\n")).err().as_deref(),
        Some("device: applies to engine onnxruntime, not Tract")
    );
    assert_eq!(parse(&format!("{ONE}threads: 0\n")).err().as_deref(), Some("threads: must be at least 1"));
    assert_eq!(parse(&format!("{ONE}max_images: 0\n")).err().as_deref(), Some("max_images: must be at least 1"));
    assert_eq!(parse(ONE).map(|c| c.models[0].max_images).ok(), Some(DEFAULT_MAX_IMAGES));
    assert_eq!(
        parse(&ONE.replace("[64, 64]", "[64]")).err().as_deref(),
        Some("input.size: must be 2 positive numbers for Nchw")
    );
    assert_eq!(
        parse(&ONE.replace("heatmap", "classification")).err().as_deref(),
        Some("outputs[0].classes: Classification needs classes")
    );
    assert_eq!(
        parse(&ONE.replace("model: m.onnx\n", "")).err().as_deref(),
        Some("model: missing: the .onnx file to serve")
    );
    let remote = ONE.replace("model: m.onnx", "engine: remote\nremote: {url: 'http://h:8000', model: unet}");
    let c = parse(&remote).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models[0].remote.as_ref().map(|r| r.model.as_str()), Some("unet"));
    assert_eq!(
        parse(&ONE.replace("model: m.onnx", "engine: remote")).err().as_deref(),
        Some("remote: engine remote needs a remote block")
    );
}

#[test]
fn the_box_size_cut_is_a_key_of_box_outputs() {
    let boxes = ONE.replace("kind: heatmap", "kind: boxes, min_box_pixels: 4");
    let c = parse(&boxes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models[0].outputs[0].min_box_pixels(), 4);
    let c = parse(&ONE.replace("kind: heatmap", "kind: boxes")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models[0].outputs[0].min_box_pixels(), DEFAULT_MIN_BOX_PIXELS);
    assert_eq!(
        parse(&ONE.replace("kind: heatmap", "kind: heatmap, min_box_pixels: 4")).err().as_deref(),
        Some("outputs[0].min_box_pixels: applies to kind boxes, not Heatmap")
    );
}

#[test]
fn a_fixed_window_is_written_as_the_readme_shows() {
    let window = format!("{ONE}preprocess: {{normalize: {{window: {{center: 40, width: 400}}}}}}\n");
    let c = parse(&window).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.models[0].preprocess.normalize, Normalize::Window { center: 40.0, width: 400.0 }));
    let c = parse(&format!("{ONE}preprocess: {{normalize: zscore}}\n")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.models[0].preprocess.normalize, Normalize::Zscore));
}
