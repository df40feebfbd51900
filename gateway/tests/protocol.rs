//! The protocol model against the JSON of PROTOCOL.md and the reference README: serde
//! round-trips exactly, validation names what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_gateway::{InferenceRequest, InferenceResponse, ResponseJson};
use serde_json::{json, Value};

fn round_trip(v: Value) {
    let parsed: ResponseJson = serde_json::from_value(v.clone()).expect("parses");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), v);
}

#[test]
fn examples_round_trip_exactly() {
    // Bounding boxes (reference README).
    round_trip(json!({"protocol_version": "1.0", "parts": [], "bounding_boxes_2d": [{"label": "Lesion #1",
        "SOPInstanceUID": "2.25.336451217722347364678629652826931415692", "top_left": [102, 64], "bottom_right": [118, 74]}]}));
    // 3D probability mask.
    round_trip(
        json!({"protocol_version": "1.0", "parts": [{"label": "Segmentation #1", "binary_type": "probability_mask",
        "binary_data_shape": {"timepoints": 1, "depth": 130, "width": 512, "height": 512},
        "SeriesInstanceUID": "1.2.3", "probability_threshold": 0.4}]}),
    );
    // 2D mask with its image and frame.
    round_trip(
        json!({"protocol_version": "1.0", "parts": [{"label": "Segmentation #1", "binary_type": "probability_mask",
        "binary_data_shape": {"width": 512, "height": 512},
        "dicom_image": {"SOPInstanceUID": "2.25.336451217722347364678629652826931415692", "frame_number": 1}}]}),
    );
    // Heatmap with a palette; numeric labels; boolean; conformance.
    round_trip(json!({"protocol_version": "1.0",
        "palettes": {"hot": {"type": "anchorpoints", "data": [
            {"threshold": 0.0, "color": [0, 0, 0, 0]}, {"threshold": 0.5, "color": [255, 0, 0, 128]},
            {"threshold": 1.0, "color": [255, 255, 0, 255]}]}},
        "parts": [
            {"label": "Heat", "binary_type": "heatmap", "palette": "hot",
             "binary_data_shape": {"timepoints": 1, "depth": 2, "width": 4, "height": 4}, "SeriesInstanceUID": "1.2"},
            {"label": "Organs", "binary_type": "numeric_label_mask", "label_map": {"1": "Liver", "2": "Spleen"},
             "binary_data_shape": {"timepoints": 1, "depth": 2, "width": 4, "height": 4}, "SeriesInstanceUID": "1.2"},
            {"label": "Disc", "binary_type": "boolean_mask", "binary_data_shape": {"width": 4, "height": 4},
             "dicom_image": {"SOPInstanceUID": "1.2.3"},
             "dicomConformance": {"recommended": [{"description": "Slice thickness under 3 mm", "compliant": false}]}}]}));
    // DICOM outputs of every kind.
    round_trip(json!({"protocol_version": "1.0", "parts": [
        {"label": "SC", "binary_type": "dicom_secondary_capture", "SeriesInstanceUID": "1.2"},
        {"label": "SR", "binary_type": "dicom", "SeriesInstanceUID": "1.2"},
        {"label": "SR2", "binary_type": "dicom_structured_report"},
        {"label": "PS", "binary_type": "dicom_gsps"}]}));
    // Classification and measurements, with keys the protocol does not name.
    round_trip(json!({"protocol_version": "1.0", "parts": [],
        "study_ml_json": {"label": "Pneumothorax", "score": 0.87, "nested": {"a": [1, 2]}},
        "series_ml_json": {"1.2.3": {"label": "Abnormal"}},
        "linear_measurements_2d": [{"SOPInstanceUID": "1.2.3", "frame_number": 2, "label": "Length",
            "coordinates_type": "world", "start": [1.5, 2.25], "end": [30.0, 40.5]}],
        "vendor_extension": {"x": 1}}));
}

#[test]
fn request_json_round_trips_with_free_options() {
    let v = json!({"inference_command": "get-bounding-box-2d", "studyUID": "1.2", "depth": 3, "height": 512,
        "width": 512, "studyPath": "/mnt/study", "model_variant": "fast"});
    let r: InferenceRequest = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
    let unknown: InferenceRequest = serde_json::from_value(json!({"inference_command": "count-nodules"})).unwrap();
    assert_eq!(serde_json::to_value(&unknown).unwrap(), json!({"inference_command": "count-nodules"}));
}

#[test]
fn parsed_responses_are_validated_with_named_violations() {
    let json: ResponseJson = serde_json::from_value(json!({"protocol_version": "1.0",
        "bounding_boxes_2d": [{"label": "x", "SOPInstanceUID": "1", "top_left": [10, 10], "bottom_right": [5, 20]}],
        "parts": [
            {"label": "a", "binary_type": "probability_mask", "binary_data_shape": {"width": 2, "height": 2}},
            {"label": "b", "binary_type": "heatmap", "palette": "nope",
             "binary_data_shape": {"timepoints": 1, "depth": 1, "width": 2, "height": 2}},
            {"label": "c", "binary_type": "numeric_label_mask", "label_map": {"1": "A", "2": "A"},
             "binary_data_shape": {"timepoints": 1, "depth": 1, "width": 2, "height": 2}},
            {"label": "d", "binary_type": "dicom_secondary_capture"},
            {"label": "e", "binary_type": "probability_mask", "probability_threshold": 1.5,
             "binary_data_shape": {"timepoints": 1, "depth": 1, "width": 2, "height": 2}},
            {"label": "f", "binary_type": "sparkles"}]}))
    .unwrap();
    let bufs = vec![
        vec![0u8; 4].into(),
        vec![0u8; 4].into(),
        vec![0u8; 4].into(),
        b"not dicom".to_vec().into(),
        vec![0u8; 4].into(),
        vec![].into(),
    ];
    let r = InferenceResponse::from_parts(json.clone(), bufs).unwrap();
    let v: Vec<String> = r.violations().iter().map(ToString::to_string).collect();
    let expect = [
        "bounding box 0",
        "part 0: 2D mask has no dicom_image",
        "part 1: palette \"nope\" is not in the response's palettes",
        "part 2: label_map name \"A\" is used twice",
        "part 3: dicom_secondary_capture buffer is not a DICOM Part 10 file",
        "part 4: probability_threshold 1.5 is outside 0..1",
        "part 5: unknown binary_type \"sparkles\"",
    ];
    assert_eq!(v.len(), expect.len(), "{v:#?}");
    for (got, want) in v.iter().zip(expect) {
        assert!(got.contains(want), "{got:?} should say {want:?}");
    }
    assert!(InferenceResponse::from_parts(json, vec![])
        .unwrap_err()
        .to_string()
        .contains("6 parts but 0 binary buffers"));
}

/// Found by fuzzing (request_json): free options must survive parse and re-serialize exactly,
/// floats included (serde_json's float_roundtrip).
#[test]
fn free_option_numbers_round_trip_exactly() {
    let text = br#"{"":44444444447777777777777777777777777777777744}"#;
    let r: InferenceRequest = serde_json::from_slice(text).unwrap();
    let again: InferenceRequest = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(r, again);
    let crash =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/request_json_float.json")).unwrap();
    let r: InferenceRequest = serde_json::from_slice(&crash).unwrap();
    assert_eq!(r, serde_json::from_slice::<InferenceRequest>(&serde_json::to_vec(&r).unwrap()).unwrap());
}
