//! The codec over byte fixtures: bodies captured from a real Triton server, and hand-made broken ones.

use super::*;
use crate::error::ErrorKind;

/// `POST /v2/models/demo_body/infer` of a 1x1x2x2 image, outputs `class_logits`
/// and `probability` asked for in binary, as Triton 2.51 answered it.
const TRITON_BINARY: &[u8] = include_bytes!("../tests/fixtures/triton_infer_binary.bin");
const TRITON_BINARY_HEADER_LENGTH: usize = 246;
/// The same request with JSON data and no outputs named: Triton answers in JSON.
const TRITON_JSON: &[u8] = include_bytes!("../tests/fixtures/triton_infer_json.json");
const TRITON_METADATA: &[u8] = include_bytes!("../tests/fixtures/triton_metadata.json");

const CLASS_LOGITS: [f32; 2] = [-1.509_766_6, 1.509_766_6];
const PROBABILITY: [f32; 4] = [0.021_179_11, 0.192_579_8, 0.021_179_11, 0.999_945_4];

fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-6, "{actual:?} != {expected:?}");
    }
}

fn protocol_error(result: Result<Vec<OutputTensor>>) -> String {
    match result {
        Err(e @ Error::Protocol(_)) => {
            assert_eq!(e.kind(), ErrorKind::BadGateway);
            e.to_string()
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn decodes_triton_binary_outputs() {
    let outputs = decode_response(Bytes::from_static(TRITON_BINARY), Some(TRITON_BINARY_HEADER_LENGTH)).unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0].name, "class_logits");
    assert_eq!(outputs[0].shape, [1, 2]);
    assert_eq!(outputs[0].datatype, Datatype::Fp32);
    assert_close(&outputs[0].to_f32().unwrap(), &CLASS_LOGITS);
    assert_eq!(outputs[1].name, "probability");
    assert_eq!(outputs[1].shape, [1, 1, 2, 2]);
    assert_close(&outputs[1].to_f32().unwrap(), &PROBABILITY);
}

#[test]
fn decodes_triton_json_outputs() {
    let outputs = decode_response(Bytes::from_static(TRITON_JSON), None).unwrap();
    let names: Vec<_> = outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["tissue_logits", "class_logits", "probability"]);
    assert_eq!(outputs[0].shape, [1, 2, 2, 2]);
    assert_eq!(outputs[0].data.len(), 32);
    assert_close(&outputs[1].to_f32().unwrap(), &CLASS_LOGITS);
    assert_close(&outputs[2].to_f32().unwrap(), &PROBABILITY);
}

#[test]
fn json_data_of_other_datatypes_and_nested_arrays() {
    let body = br#"{"outputs":[
        {"name":"a","datatype":"INT64","shape":[2,2],"data":[[1,-2],[3,9007199254740993]]},
        {"name":"b","datatype":"UINT8","shape":[3],"data":[0,1,255]},
        {"name":"c","datatype":"BOOL","shape":[2],"data":[true,false]},
        {"name":"d","datatype":"BYTES","shape":[1],"data":["hi"]}]}"#;
    let outputs = decode_response(Bytes::from_static(body), None).unwrap();
    let a: Vec<i64> = outputs[0].data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(a, [1, -2, 3, 9_007_199_254_740_993]);
    assert_eq!(&outputs[1].data[..], [0, 1, 255]);
    assert_eq!(&outputs[2].data[..], [1, 0]);
    assert_eq!(&outputs[3].data[..], [2, 0, 0, 0, b'h', b'i']);
    let err = outputs[0].to_f32().unwrap_err();
    assert!(matches!(err, Error::OutputType { actual: Datatype::Int64, .. }), "{err}");
}

#[test]
fn rejects_json_data_that_contradicts_its_declaration() {
    let cases: [(&[u8], &str); 4] = [
        (br#"{"outputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2]}]}"#, "does not match 2 elements"),
        (br#"{"outputs":[{"name":"x","datatype":"UINT8","shape":[1],"data":[256]}]}"#, "does not fit"),
        (br#"{"outputs":[{"name":"x","datatype":"FP32","shape":[1],"data":["a"]}]}"#, "does not fit"),
        (br#"{"outputs":[{"name":"x","datatype":"FP32","shape":[1]}]}"#, "neither binary data nor data"),
    ];
    for (body, message) in cases {
        let error = protocol_error(decode_response(Bytes::from_static(body), None));
        assert!(error.contains(message), "{error}");
    }
}

/// A JSON header and binary parts glued together, as a server would send them.
fn binary_body(header: &str, data: &[u8]) -> (Bytes, usize) {
    let mut body = header.as_bytes().to_vec();
    body.extend_from_slice(data);
    (Bytes::from(body), header.len())
}

#[test]
fn rejects_binary_sizes_that_contradict_the_body() {
    let header = |size: u64, shape: &str| {
        format!(
            r#"{{"outputs":[{{"name":"x","datatype":"FP32","shape":{shape},"parameters":{{"binary_data_size":{size}}}}}]}}"#
        )
    };
    // Declares more than the body holds: no slice past the end, no allocation of the declared size.
    let (body, len) = binary_body(&header(u64::MAX, "[1]"), &[0; 4]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("only 4 remain"));
    let (body, len) = binary_body(&header(1 << 40, "[1]"), &[0; 4]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("only 4 remain"));
    // Size that disagrees with the shape.
    let (body, len) = binary_body(&header(4, "[2]"), &[0; 4]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("needs 8 bytes"));
    // A shape whose byte count overflows.
    let (body, len) = binary_body(&header(4, "[18446744073709551615,2]"), &[0; 4]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("impossible shape"));
    // Trailing bytes nobody declared.
    let (body, len) = binary_body(&header(4, "[1]"), &[0; 8]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("4 bytes after"));
    // Header length beyond the body, or splitting the JSON.
    let (body, _) = binary_body(&header(4, "[1]"), &[0; 4]);
    let too_long = body.len() + 1;
    assert!(protocol_error(decode_response(body.clone(), Some(too_long))).contains("has only"));
    assert!(protocol_error(decode_response(body, Some(10))).contains("not valid JSON"));
    // Unknown datatype.
    let (body, len) = binary_body(&header(4, "[1]").replace("FP32", "FP8"), &[0; 4]);
    assert!(protocol_error(decode_response(body, Some(len))).contains("unknown datatype"));
}

#[test]
fn header_length_must_be_a_plain_number() {
    assert_eq!(parse_header_length(b"246").unwrap(), 246);
    for bad in [&b""[..], b"-1", b"+5", b"1e3", b" 7", b"99999999999999999999999", b"\xff"] {
        assert!(matches!(parse_header_length(bad), Err(Error::Protocol(_))), "{bad:?}");
    }
}

#[test]
fn encodes_binary_inputs_and_outputs() {
    let data = [1.0f32, -2.5, 0.0, 3.25];
    let raw = [7u8, 8];
    let inputs =
        [InputTensor::f32("image", &[1, 1, 2, 2], &data), InputTensor::raw("mask", Datatype::Uint8, &[2], &raw)];
    let request = encode_request(&inputs, &["probability", "class_logits"]).unwrap();
    let (header, tail) = request.body.split_at(request.header_length);
    let header: Value = serde_json::from_slice(header).unwrap();
    assert_eq!(
        header,
        serde_json::json!({
            "inputs": [
                {"name": "image", "shape": [1, 1, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                {"name": "mask", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}},
            ],
            "outputs": [
                {"name": "probability", "parameters": {"binary_data": true}},
                {"name": "class_logits", "parameters": {"binary_data": true}},
            ],
        })
    );
    let mut expected: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    expected.extend_from_slice(&raw);
    assert_eq!(tail, expected);
}

#[test]
fn encoding_with_no_outputs_asks_for_all_in_binary() {
    let data = [0.5f32];
    let request = encode_request(&[InputTensor::f32("x", &[1], &data)], &[]).unwrap();
    let header: Value = serde_json::from_slice(&request.body[..request.header_length]).unwrap();
    assert_eq!(header["parameters"], serde_json::json!({"binary_data_output": true}));
    assert!(header.get("outputs").is_none());
}

#[test]
fn encoding_refuses_data_that_contradicts_its_shape() {
    let data = [0.5f32; 3];
    let error = encode_request(&[InputTensor::f32("image", &[2, 2], &data)], &[]).unwrap_err();
    assert!(matches!(&error, Error::InvalidInput { tensor, .. } if tensor == "image"), "{error}");
}

#[test]
fn decodes_triton_metadata() {
    let metadata = decode_metadata(TRITON_METADATA).unwrap();
    assert_eq!(metadata.name, "demo_body");
    assert_eq!(metadata.versions, ["1"]);
    assert_eq!(metadata.platform, "python");
    assert_eq!(metadata.inputs.len(), 1);
    assert_eq!(metadata.inputs[0].name, "image");
    assert_eq!(metadata.inputs[0].datatype, Datatype::Fp32);
    assert_eq!(metadata.inputs[0].shape, [-1, 1, -1, -1]);
    let outputs: Vec<_> = metadata.outputs.iter().map(|o| (o.name.as_str(), o.shape.clone())).collect();
    assert_eq!(
        outputs,
        [("probability", vec![-1, 1, -1, -1]), ("class_logits", vec![-1, 2]), ("tissue_logits", vec![-1, 2, -1, -1])]
    );
}

#[test]
fn rejects_bad_metadata() {
    for (body, message) in [
        (&br#"{"name":"m","inputs":[{"name":"x","datatype":"FP99","shape":[1]}]}"#[..], "unknown datatype"),
        (br#"{"name":"m","outputs":[{"name":"x","datatype":"FP32","shape":[-2]}]}"#, "dimension -2"),
        (br#"{"inputs":[]}"#, "not valid"),
        (b"<html>", "not valid"),
    ] {
        let error = decode_metadata(body).unwrap_err();
        assert!(matches!(error, Error::Protocol(_)) && error.to_string().contains(message), "{error}");
    }
}

#[test]
fn error_messages_from_json_or_text() {
    assert_eq!(
        error_message(br#"{"error":"Request for unknown model: 'nope' is not found"}"#),
        "Request for unknown model: 'nope' is not found"
    );
    assert_eq!(error_message(b"  upstream connect error  "), "upstream connect error");
    assert_eq!(error_message(&[b'x'; 2000]).len(), 512);
}

/// Every truncation and many one-byte corruptions of a real answer: never a panic, and
/// whatever decodes has exactly the bytes its shape and datatype need.
#[test]
fn corrupted_answers_never_panic_and_never_lie_about_sizes() {
    let check = |body: Vec<u8>, header_length: Option<usize>| {
        if let Ok(outputs) = decode_response(Bytes::from(body), header_length) {
            for output in outputs {
                let size = output.datatype.element_size().unwrap_or(1) as u64;
                let expected = element_count(&output.shape).and_then(|n| n.checked_mul(size));
                if output.datatype != Datatype::Bytes {
                    assert_eq!(expected, Some(output.data.len() as u64), "{}", output.name);
                }
            }
        }
    };
    for end in 0..=TRITON_BINARY.len() {
        let body = TRITON_BINARY[..end].to_vec();
        check(body.clone(), Some(TRITON_BINARY_HEADER_LENGTH.min(end)));
        check(body, None);
    }
    for at in 0..TRITON_BINARY.len() {
        for value in [b'0', b'9', b'-', b'"', b'[', b'}', b' ', 0xff] {
            let mut body = TRITON_BINARY.to_vec();
            body[at] = value;
            check(body, Some(TRITON_BINARY_HEADER_LENGTH));
        }
    }
    for at in 0..TRITON_JSON.len() {
        for value in [b'0', b'9', b'-', b'.', b'e', b'[', b']', b','] {
            let mut body = TRITON_JSON.to_vec();
            body[at] = value;
            check(body, None);
        }
    }
}
