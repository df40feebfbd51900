//! The client against a real Open Inference Protocol server: Triton Inference
//! Server 2.51 from the `nvidia-pytriton` wheel, CPU only, started per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use arterys_open_inference::{
    Client, ClientOptions, Datatype, Error, ErrorKind, InputTensor, Mismatch, RemoteModel, TensorMetadata, TensorSpec,
};
use common::{demo_model, onnxruntime_reference, test_image, Triton};

const SHAPE: [u64; 4] = [4, 1, 256, 256];
const OUTPUTS: [&str; 3] = ["probability", "class_logits", "tissue_logits"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metadata() {
    let server = Triton::start(None).await;
    let client = server.client();

    assert!(client.server_live().await.unwrap());
    assert!(client.server_ready().await.unwrap());
    assert!(client.model_ready("demo_body", None).await.unwrap());
    assert!(client.model_ready("demo_body", Some("1")).await.unwrap());
    assert!(!client.model_ready("demo_body", Some("7")).await.unwrap());
    assert!(!client.model_ready("no_such_model", None).await.unwrap());
    assert!(client.ready("demo_body", None).await);
    assert!(!client.ready("no_such_model", None).await);

    let metadata = client.model_metadata("demo_body", None).await.unwrap();
    assert_eq!(metadata.name, "demo_body");
    assert_eq!(metadata.versions, ["1"]);
    assert_eq!(
        metadata.inputs,
        [TensorMetadata { name: "image".into(), datatype: Datatype::Fp32, shape: vec![-1, 1, -1, -1] }]
    );
    let outputs: Vec<_> = metadata.outputs.iter().map(|t| (t.name.as_str(), t.datatype, t.shape.clone())).collect();
    assert_eq!(
        outputs,
        [
            ("probability", Datatype::Fp32, vec![-1, 1, -1, -1]),
            ("class_logits", Datatype::Fp32, vec![-1, 2]),
            ("tissue_logits", Datatype::Fp32, vec![-1, 2, -1, -1]),
        ]
    );
    assert_eq!(client.model_metadata("demo_body", Some("1")).await.unwrap(), metadata);

    // What a model-server configuration would expect: accepted.
    let image = TensorSpec::new("image", Datatype::Fp32, [4, 1, 256, 256]);
    let probability = TensorSpec::new("probability", Datatype::Fp32, [4, 1, 256, 256]);
    metadata.check(std::slice::from_ref(&image), std::slice::from_ref(&probability)).unwrap();
    // Configurations that contradict the server's model: refused, naming tensor and difference.
    let fp16 = metadata.check(&[TensorSpec::new("image", Datatype::Fp16, [4, 1, 256, 256])], &[]).unwrap_err();
    assert_eq!(fp16.to_string(), "model \"demo_body\": input \"image\": datatype is FP32 on the server, expected FP16");
    let channels = metadata.check(&[TensorSpec::new("image", Datatype::Fp32, [4, 3, 256, 256])], &[]).unwrap_err();
    assert!(
        matches!(&channels, Error::Mismatch { tensor, mismatch: Mismatch::Dimension { axis: 1, expected: 3, actual: 1, .. }, .. } if tensor == "image"),
        "{channels}"
    );
    let rank = metadata.check(&[], &[TensorSpec::new("class_logits", Datatype::Fp32, [2])]).unwrap_err();
    assert!(matches!(&rank, Error::Mismatch { tensor_kind: "output", mismatch: Mismatch::Rank { .. }, .. }), "{rank}");
    let missing = metadata.check(&[image], &[TensorSpec::new("mask", Datatype::Uint8, [-1])]).unwrap_err();
    assert!(matches!(&missing, Error::Mismatch { mismatch: Mismatch::Missing { .. }, .. }), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_model_checks_at_start_up_and_per_answer() {
    let server = Triton::start(None).await;
    let image = [TensorSpec::new("image", Datatype::Fp32, [-1, 1, 256, 256])];
    let outputs = [
        TensorSpec::new("tissue_logits", Datatype::Fp32, [-1, 2, 256, 256]),
        TensorSpec::new("class_logits", Datatype::Fp32, [-1, 2]),
    ];
    let model = RemoteModel::connect(server.client(), "demo_body", Some("1"), &image, &outputs).await.unwrap();
    assert_eq!(model.metadata().inputs[0].name, "image");
    assert!(model.ready().await);
    let data = test_image(2 * 256 * 256);
    let answer = model.infer(&[InputTensor::f32("image", &[2, 1, 256, 256], &data)]).await.unwrap();
    let shapes: Vec<_> = answer.iter().map(|o| (o.name.as_str(), o.shape.clone())).collect();
    assert_eq!(shapes, [("tissue_logits", vec![2, 2, 256, 256]), ("class_logits", vec![2, 2])]);

    // The server's dimensions are free (-1), so only the answer shows that 128x128 images give
    // 128x128 outputs, not the 256x256 the caller expects.
    let small = test_image(2 * 128 * 128);
    let error = model.infer(&[InputTensor::f32("image", &[2, 1, 128, 128], &small)]).await.unwrap_err();
    assert!(
        matches!(&error, Error::Mismatch { tensor, mismatch: Mismatch::Dimension { axis: 2, expected: 256, actual: 128 }, .. } if tensor == "tissue_logits"),
        "{error}"
    );
    assert_eq!(error.kind().http_status(), 502);

    // Start-up refusals, each naming what is wrong.
    let error = RemoteModel::connect(server.client(), "no_such_model", None, &image, &outputs).await.unwrap_err();
    assert!(matches!(error, Error::ModelNotFound { .. }) && error.is_unavailable(), "{error}");
    let uint8 = [TensorSpec::new("image", Datatype::Uint8, [-1, 1, 256, 256])];
    let error = RemoteModel::connect(server.client(), "demo_body", None, &uint8, &outputs).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "model \"demo_body\": input \"image\": datatype is FP32 on the server, expected UINT8"
    );
}

fn assert_close(name: &str, actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{name}: length");
    let worst = actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "{name}: largest difference {worst}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_matches_onnxruntime() {
    let server = Triton::start(None).await;
    let client = server.client();
    let image = test_image(SHAPE.iter().product::<u64>() as usize);
    let reference = onnxruntime_reference(&demo_model(), &image, &SHAPE);
    assert_eq!(reference.len(), 3);

    let input = [InputTensor::f32("image", &SHAPE, &image)];
    // The outputs come back in the order asked for, whatever the server's order.
    for order in [OUTPUTS, [OUTPUTS[2], OUTPUTS[0], OUTPUTS[1]]] {
        let outputs = client.infer("demo_body", None, &input, &order).await.unwrap();
        let names: Vec<_> = outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, order);
        for output in &outputs {
            let (_, shape, expected) = reference.iter().find(|(n, _, _)| *n == output.name).unwrap();
            assert_eq!(&output.shape, shape, "{}", output.name);
            assert_eq!(output.datatype, Datatype::Fp32);
            assert_close(&output.name, &output.to_f32().unwrap(), expected);
        }
    }

    // One output only; and all of them (none named), on a named version.
    let one = client.infer("demo_body", None, &input, &["class_logits"]).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].shape, [4, 2]);
    let all = client.infer("demo_body", Some("1"), &input, &[]).await.unwrap();
    let mut names: Vec<_> = all.iter().map(|o| o.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["class_logits", "probability", "tissue_logits"]);
    for output in &all {
        let (_, _, expected) = reference.iter().find(|(n, _, _)| *n == output.name).unwrap();
        assert_close(&output.name, &output.to_f32().unwrap(), expected);
    }

    // Concurrent calls through one client (pooled connections).
    let calls = (0..4).map(|_| {
        let client = client.clone();
        let image = image.clone();
        tokio::spawn(async move {
            let input = [InputTensor::f32("image", &SHAPE, &image)];
            client.infer("demo_body", None, &input, &["probability"]).await.map(|o| o[0].to_f32())
        })
    });
    let (_, _, expected) = reference.iter().find(|(n, _, _)| n == "probability").unwrap();
    for call in calls {
        assert_close("probability", &call.await.unwrap().unwrap().unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed() {
    let server = Triton::start(Some(3.0)).await;
    let client = server.client();
    let image = test_image(SHAPE.iter().product::<u64>() as usize);
    let input = [InputTensor::f32("image", &SHAPE, &image)];

    // A model or version the server does not have: 503.
    let error = client.model_metadata("no_such_model", None).await.unwrap_err();
    assert!(matches!(&error, Error::ModelNotFound { model, .. } if model == "no_such_model"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    let error = client.model_metadata("demo_body", Some("7")).await.unwrap_err();
    assert!(matches!(&error, Error::ModelNotFound { version: Some(v), .. } if v == "7"), "{error}");
    let error = client.infer("no_such_model", None, &input, &OUTPUTS).await.unwrap_err();
    assert!(matches!(error, Error::ModelNotFound { .. }), "{error}");

    // A shape the model cannot take: the server refuses it, 502 with its message.
    let flat = [4, 256, 256];
    let error = client.infer("demo_body", None, &[InputTensor::f32("image", &flat, &image)], &[]).await.unwrap_err();
    assert!(
        matches!(&error, Error::Status { status: 400, message, .. } if message.contains("unexpected shape for input 'image'")),
        "{error}"
    );
    assert_eq!(error.kind().http_status(), 502);
    // An output the model does not have.
    let error = client.infer("demo_body", None, &input, &["mask"]).await.unwrap_err();
    assert!(matches!(&error, Error::Status { status: 400, .. }), "{error}");
    // Data that contradicts its own shape never leaves the client.
    let error = client.infer("demo_body", None, &[InputTensor::f32("image", &SHAPE, &image[1..])], &[]).await;
    assert!(matches!(error, Err(Error::InvalidInput { .. })), "{error:?}");

    // An answer larger than the client accepts (probability alone is 1 MiB).
    let small = Client::new(&server.url(), ClientOptions { max_response_bytes: 64 * 1024, ..ClientOptions::default() })
        .unwrap();
    let error = small.infer("demo_body", None, &input, &["probability"]).await.unwrap_err();
    assert!(matches!(error, Error::TooLarge { size: 1_048_576.., limit: 65_536, .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    assert!(small.infer("demo_body", None, &input, &["class_logits"]).await.is_ok());

    // A model slower than the deadline: 504, on time.
    let hurried =
        Client::new(&server.url(), ClientOptions { timeout: Duration::from_millis(500), ..ClientOptions::default() })
            .unwrap();
    let x = [1.0f32, 2.0, 3.0];
    let start = Instant::now();
    let error = hurried.infer("slow", None, &[InputTensor::f32("x", &[3], &x)], &["y"]).await.unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(error, Error::Timeout { after, .. } if after == Duration::from_millis(500)), "{error}");
    assert!(error.is_timeout() && error.kind().http_status() == 504);
    // The model takes 3 s: the deadline's error (above) says it was not waited for; a bound
    // of 10x the deadline catches a hang.
    assert!(waited < Duration::from_secs(5), "the timeout took {waited:?}");
    // With time enough, the same model answers (so the timeout was the deadline's doing).
    let y = client.infer("slow", None, &[InputTensor::f32("x", &[3], &x)], &["y"]).await.unwrap();
    assert_eq!(y[0].to_f32().unwrap(), x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_is_unavailable_and_recovers() {
    let mut server = Triton::start(Some(3.0)).await;
    let client = server.client();
    let image = test_image(SHAPE.iter().product::<u64>() as usize);
    let input = [InputTensor::f32("image", &SHAPE, &image)];
    let before = client.infer("demo_body", None, &input, &["probability"]).await.unwrap();

    // The server dies in the middle of a request: the call fails at once (502), no hang.
    let slow_call = {
        let client = client.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let x = [1.0f32];
            (client.infer("slow", None, &[InputTensor::f32("x", &[1], &x)], &["y"]).await, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    let (result, waited) = slow_call.await.unwrap();
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    // An error, not the model's answer 3 s in; the bound only catches a hang.
    assert!(waited < Duration::from_secs(15), "failing took {waited:?}");

    // Gone: readiness says so, calls fail as unavailable (503), quickly.
    let start = Instant::now();
    let error = client.server_ready().await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }) && error.is_unavailable(), "{error}");
    assert!(!client.ready("demo_body", None).await);
    let error = client.infer("demo_body", None, &input, &["probability"]).await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }) && error.is_unavailable(), "{error}");
    let error = client.model_metadata("demo_body", None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(start.elapsed() < Duration::from_secs(5), "failing took {:?}", start.elapsed());

    // Back on the same port: the same client recovers.
    server.restart().await;
    assert!(client.ready("demo_body", None).await);
    let after = client.infer("demo_body", None, &input, &["probability"]).await.unwrap();
    assert_eq!(after, before);
}
