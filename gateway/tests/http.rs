//! The gateway over a real loopback socket with a real HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arterys_gateway::{
    AnchorPoint, BinaryType, BoundingBox, ConformanceCheck, DicomConformance, Gateway, HandlerError, InferenceInput,
    InferenceResponse, LinearMeasurement, Mask, MaskPart, MaskShape, Palette,
};
use common::*;
use serde_json::json;

/// The dataset of a Part 10 file without its preamble and file meta group (as some archives
/// store them).
fn bare_dataset(p10: &[u8]) -> Vec<u8> {
    assert_eq!(&p10[128..132], b"DICM");
    assert_eq!(&p10[132..136], &[2, 0, 0, 0], "starts with (0002,0000) group length");
    let meta_len = u32::from_le_bytes(p10[140..144].try_into().unwrap()) as usize;
    let rest = p10[144 + meta_len..].to_vec();
    assert_eq!(&rest[..2], &[8, 0], "dataset starts in group 0008");
    rest
}

/// Every kind of result the protocol has, built the same way each time.
fn every_kind(sop: &str, series: &str, sc: &[u8]) -> InferenceResponse {
    let mut r = InferenceResponse::new();
    r.add_bounding_box(BoundingBox::new("Lesion #1", sop, [102, 64], [118, 74]));
    r.set_study_ml_json(json!({"label": "Normal", "score": 0.93}));
    r.add_series_ml_json(series, json!({"finding": "none"}));
    r.add_measurement(LinearMeasurement {
        sop_instance_uid: sop.into(),
        frame_number: Some(1),
        label: "Diameter".into(),
        coordinates_type: arterys_gateway::CoordinatesType::Pixel,
        start: [10.5, 20.0],
        end: [40.25, 22.0],
        extra: Default::default(),
    });
    r.add_palette(
        "hot",
        Palette::anchorpoints(vec![
            AnchorPoint { threshold: 0.0, color: [0, 0, 0, 0] },
            AnchorPoint { threshold: 0.5, color: [255, 0, 0, 128] },
            AnchorPoint { threshold: 1.0, color: [255, 255, 0, 255] },
        ])
        .expect("palette"),
    );
    let vol = MaskShape::Volume { timepoints: 1, depth: 3, height: 16, width: 16 };
    r.add_mask(
        MaskPart::probability("Segmentation #1", Mask::from_fn(vol, |v| (v.x * 16 + v.z) as u8).expect("mask"))
            .threshold(0.4)
            .for_series(series),
    );
    r.add_mask(
        MaskPart::boolean("Disc", Mask::from_fn(MaskShape::image(8, 4), |v| (v.x > 3) as u8).expect("mask"))
            .for_image(sop, Some(1))
            .conformance(DicomConformance {
                recommended: vec![ConformanceCheck { description: "slice thickness <= 3mm".into(), compliant: false }],
                extra: Default::default(),
            }),
    );
    r.add_mask(
        MaskPart::heatmap("Heat", Mask::from_fn(vol, |v| (v.y * 10) as u8).expect("mask"))
            .palette("hot")
            .for_series(series),
    );
    r.add_mask(
        MaskPart::numeric_labels(
            "Organs",
            Mask::from_fn(vol, |v| (v.x % 3) as u8).expect("mask"),
            [(1, "Liver"), (2, "Spleen")],
        )
        .for_series(series),
    );
    r.add_dicom_output(BinaryType::DicomSecondaryCapture, "Capture", Some(series.into()), sc.to_vec()).expect("sc");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_kind_round_trips_with_correct_hashes() {
    let sc = read_dicom("arterys/test_3d/1.dcm");
    let sc2 = sc.clone();
    let addr = start(Gateway::new().route("/", move |_input| Ok(every_kind("1.2.3", "1.2.9", &sc2)))).await;
    let dcm = read_dicom("arterys/test_3d/2.dcm");
    let json = r#"{"inference_command": "get-probability-mask"}"#;
    let reply = send(addr, "POST", "/", Some(&ct()), request(json, &[&dcm])).await;
    let parsed = parse_response(&reply);
    // The boundary is the request's, written plainly.
    assert_eq!(reply.content_type.as_deref(), Some(ct().as_str()));

    let expected = every_kind("1.2.3", "1.2.9", &sc);
    assert_eq!(serde_json::to_value(&parsed.json).unwrap(), serde_json::to_value(expected.json()).unwrap());
    assert_eq!(parsed.buffers.len(), expected.buffers().len());
    for ((ct, got), (want, part)) in parsed.buffers.iter().zip(expected.buffers().iter().zip(&expected.json().parts)) {
        assert_eq!(got, want);
        assert_eq!(ct, part.binary_type.mime_type());
    }
    // input: every request part body, JSON included; output: JSON bytes then every buffer.
    let input = sha256_hex(&[json.as_bytes(), &dcm]);
    let mut out: Vec<&[u8]> = vec![&parsed.json_bytes];
    out.extend(parsed.buffers.iter().map(|(_, b)| &b[..]));
    assert_eq!(parsed.hashes, format!("{input}:{}", sha256_hex(&out)));
    assert_eq!(parsed.hashes.len(), 129);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_gets_hash_json_dicom_and_attachments_apart_in_order() {
    let seen: Arc<Mutex<Option<InferenceInput>>> = Arc::default();
    let s = Arc::clone(&seen);
    let addr = start(Gateway::new().route("/", move |input| {
        *s.lock().unwrap() = Some(input);
        Ok(InferenceResponse::new())
    }))
    .await;
    let (d1, d2, d3) = (
        read_dicom("arterys/test_3d/1.dcm"),
        read_dicom("arterys/test_2d/1.dcm"),
        bare_dataset(&read_dicom("pydicom/MR_small_implicit.dcm")),
    );
    let json = br#"{"studyUID": "1.2", "depth": "3", "height": 512, "width": 512, "license_tier": "gold"}"#;
    // A quoted boundary with a charset; parts without Content-Disposition or with it, an
    // attachment between images, an unlabelled image (sniffed), and a bare dataset.
    let body = multipart(
        "quoted b=1",
        &[
            RawPart { headers: "Content-Type: text/json\r\n", body: json },
            RawPart { headers: "Content-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"license\"; filename=\"lic.txt\"\r\n", body: b"LICENSE-1" },
            RawPart { headers: "Content-Type: application/dicom\r\nContent-Disposition: form-data; name=\"file\"; filename=\"1.dcm\"\r\n", body: &d1 },
            RawPart { headers: "", body: &d2 },
            RawPart { headers: "Content-Type: application/octet-stream\r\n", body: b"second attachment" },
            RawPart { headers: "Content-Type: application/dicom\r\n", body: &d3 },
        ],
    );
    let reply = send(addr, "POST", "/", Some(r#"multipart/related; boundary="quoted b=1"; charset=utf-8"#), body).await;
    let parsed = parse_response(&reply);
    let input = seen.lock().unwrap().take().expect("handler called");
    let independent = sha256_hex(&[json, b"LICENSE-1", &d1, &d2, b"second attachment", &d3]);
    assert_eq!(input.input_hash, independent);
    assert!(parsed.hashes.starts_with(&independent));
    assert_eq!(input.request.study_uid.as_deref(), Some("1.2"));
    assert_eq!((input.request.depth, input.request.width), (Some(3), Some(512)));
    assert_eq!(input.request.option("license_tier"), Some("gold"));
    assert_eq!(&input.json[..], json);
    assert_eq!(input.dicom.iter().map(|p| p.index).collect::<Vec<_>>(), vec![2, 3, 5]);
    assert_eq!(&input.dicom[0].body[..], &d1[..]);
    assert_eq!(&input.dicom[1].body[..], &d2[..]);
    assert_eq!(&input.dicom[2].body[..], &d3[..]);
    assert_eq!(input.dicom[0].headers.filename.as_deref(), Some("1.dcm"));
    assert_eq!(
        input.attachments.iter().map(|p| &p.body[..]).collect::<Vec<_>>(),
        vec![&b"LICENSE-1"[..], b"second attachment"]
    );
    assert_eq!(input.parts_in_order().iter().map(|p| p.index).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_responses_are_caught_before_anything_is_sent() {
    let addr = start(
        Gateway::new()
            .route("/short-mask", |_| {
                let mut r = InferenceResponse::new();
                // A part whose buffer is one byte short, smuggled past the builder.
                r.add_mask(MaskPart::probability("m", Mask::zeros(MaskShape::volume(2, 4, 4))?).for_series("1"));
                let (json, mut bufs) = r.into_parts();
                bufs[0] = bufs[0].slice(1..);
                Ok(InferenceResponse::from_parts(json, bufs)?)
            })
            .route("/bad-palette", |_| {
                let mut r = InferenceResponse::new();
                r.add_palette(
                    "p",
                    Palette { kind: "anchorpoints".into(), data: vec![AnchorPoint { threshold: 0.2, color: [0; 4] }] },
                );
                r.add_mask(MaskPart::heatmap("h", Mask::zeros(MaskShape::volume(1, 2, 2))?).palette("p"));
                Ok(r)
            })
            .route("/unnamed-label", |_| {
                let mut r = InferenceResponse::new();
                let m = Mask::from_fn(MaskShape::volume(1, 2, 2), |v| v.x as u8 * 3)?;
                r.add_mask(MaskPart::numeric_labels("l", m, [(1, "One")]));
                Ok(r)
            }),
    )
    .await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    for (route, reason) in [
        ("/short-mask", "part 0 buffer has 31 bytes, its shape needs 32"),
        ("/bad-palette", "palette \"p\": needs at least two anchor points"),
        ("/unnamed-label", "part 0: mask value 3 has no name in label_map"),
    ] {
        let reply = send(addr, "POST", route, Some(&ct()), request("{}", &[&dcm])).await;
        assert_eq!(reply.status, 500, "{route}");
        assert!(reply.text().contains(reason), "{route}: {}", reply.text());
        assert!(
            reply.content_type.as_deref().unwrap_or_default().starts_with("text/plain"),
            "nothing multipart on the wire"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_their_4xx() {
    let addr = start(Gateway::new().route("/", |_| Ok(InferenceResponse::new())).body_limit(2_000_000)).await;
    let dcm = read_dicom("pydicom/MR_small.dcm");
    let good = request("{}", &[&dcm]);
    let unterminated = good[..good.len() - 30].to_vec();
    type Case<'a> = (&'a str, &'a str, Option<String>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("wrong content type", "POST", Some("application/xml".into()), good.clone(), 415, "not multipart/related"),
        ("no content type", "POST", None, good.clone(), 415, "missing Content-Type"),
        ("no boundary", "POST", Some("multipart/related".into()), good.clone(), 400, "no boundary"),
        ("empty body", "POST", Some(ct()), vec![], 400, "empty body"),
        ("unterminated", "POST", Some(ct()), unterminated, 400, "before its closing boundary"),
        ("garbage", "POST", Some(ct()), b"hello world".to_vec(), 400, "no multipart boundary"),
        ("first part not JSON", "POST", Some(ct()), request("not json", &[&dcm]), 400, "first part is not JSON"),
        ("first part an array", "POST", Some(ct()), request("[1, 2]", &[&dcm]), 400, "first part is not a JSON object"),
        ("bad size", "POST", Some(ct()), request(r#"{"depth": "many"}"#, &[&dcm]), 400, "expected a size"),
        ("no images", "POST", Some(ct()), request("{}", &[]), 400, "no DICOM images"),
        (
            "not DICOM",
            "POST",
            Some(ct()),
            request("{}", &[b"\x89PNG\r\n\x1a\n not dicom at all"]),
            422,
            "labelled application/dicom but is not DICOM",
        ),
        ("wrong method", "GET", None, vec![], 405, "GET not allowed on /"),
        ("wrong method on health", "PUT", None, vec![], 405, "use GET or POST"),
        ("no route", "POST", Some(ct()), good.clone(), 404, "no inference route"),
    ];
    for (name, method, ctype, body, status, reason) in cases {
        let path = if name == "no route" {
            "/nowhere"
        } else if name == "wrong method on health" {
            "/healthcheck"
        } else {
            "/"
        };
        let reply = send(addr, method, path, ctype.as_deref(), body).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        let text = reply.text();
        assert!(text.contains(reason), "{name}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{name}: one-line reason");
    }
    // Over the limit: refused from Content-Length before the body is read, and counted
    // while streaming when the client sends no length (chunked).
    let big = request("{}", &[&vec![0u8; 2_100_000]]);
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ct(),
        big.len()
    );
    let (status, text) = send_raw(addr, head, big.clone()).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("exceeds the 2000000-byte limit"), "{text}");
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        ct()
    );
    let (status, text) = send_raw(addr, head, chunked).await;
    assert_eq!(status, 413, "{text}");
    // After all that the service still answers properly.
    let parsed = parse_response(&send(addr, "POST", "/", Some(&ct()), good).await);
    assert!(parsed.json.parts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_errors_give_5xx_and_the_service_keeps_serving() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let addr = start(
        Gateway::new()
            .route("/", move |_| {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("model exploded");
                }
                Ok(InferenceResponse::new())
            })
            .async_route("/async", |input: InferenceInput| async move {
                if input.request.option("fail").is_some() {
                    return Err(HandlerError::unprocessable("cannot segment a chest X-ray"));
                }
                if input.request.option("panic").is_some() {
                    panic!("async panic");
                }
                Ok(InferenceResponse::new())
            }),
    )
    .await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let first = send(addr, "POST", "/", Some(&ct()), request("{}", &[&dcm])).await;
    assert_eq!(first.status, 500);
    assert!(first.text().contains("panicked"));
    assert_eq!(send(addr, "POST", "/", Some(&ct()), request("{}", &[&dcm])).await.status, 200);
    let r = send(addr, "POST", "/async", Some(&ct()), request(r#"{"fail": "1"}"#, &[&dcm])).await;
    assert_eq!((r.status, r.text().trim()), (422, "cannot segment a chest X-ray"));
    assert_eq!(send(addr, "POST", "/async", Some(&ct()), request(r#"{"panic": "1"}"#, &[&dcm])).await.status, 500);
    assert_eq!(send(addr, "POST", "/async", Some(&ct()), request("{}", &[&dcm])).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_flips_to_ready_and_ping_always_answers() {
    let (addr, ready) = start_loading().await;
    for method in ["GET", "POST"] {
        let h = send(addr, method, "/healthcheck", None, vec![]).await;
        assert_eq!((h.status, h.text()), (200, "LOADING".to_owned()));
        let p = send(addr, method, "/ping", None, vec![]).await;
        assert_eq!(p.status, 200);
        assert!(p.text().contains("up"));
    }
    ready.store(true, Ordering::SeqCst);
    assert_eq!(send(addr, "GET", "/healthcheck", None, vec![]).await.text(), "READY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_path_reads_below_the_root_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("studies");
    let study = root.join("study1");
    std::fs::create_dir_all(&study).unwrap();
    let d1 = read_dicom("arterys/test_3d/1.dcm");
    std::fs::write(study.join("a.dcm"), &d1).unwrap();
    std::fs::write(study.join("notes.txt"), b"not an image").unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("b.dcm"), &d1).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();

    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let s = Arc::clone(&seen);
    let addr = start(Gateway::new().study_root(&root).route("/", move |input| {
        s.lock().unwrap().push((input.dicom.len(), input.attachments.len()));
        Ok(InferenceResponse::new())
    }))
    .await;
    let ok = send(addr, "POST", "/", Some("application/json"), br#"{"studyPath": "study1"}"#.to_vec()).await;
    let parsed = parse_response(&ok);
    assert_eq!(*seen.lock().unwrap(), vec![(1, 1)]);
    let body = br#"{"studyPath": "study1"}"#;
    // The input hash is that of what the client sent: the JSON body.
    assert!(parsed.hashes.starts_with(&sha256_hex(&[body])));
    let abs = format!(r#"{{"studyPath": "{}"}}"#, study.display());
    assert_eq!(send(addr, "POST", "/", Some("application/json"), abs.into_bytes()).await.status, 200);

    let refused = [
        (r#"{"studyPath": "../"}"#.to_owned(), 403),
        (r#"{"studyPath": "study1/../../"}"#.to_owned(), 403),
        (format!(r#"{{"studyPath": "{}"}}"#, outside.display()), 403),
        (r#"{"studyPath": "escape"}"#.to_owned(), 403),
        (r#"{"studyPath": "missing"}"#.to_owned(), 404),
        (r#"{"studyPath": "study1/a.dcm"}"#.to_owned(), 400),
        (r#"{"inference_command": "x"}"#.to_owned(), 400),
    ];
    for (body, status) in refused {
        let r = send(addr, "POST", "/", Some("application/json"), body.clone().into_bytes()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "refused requests never reach the handler");
    // Without a root, studyPath requests are refused.
    let addr2 = start(Gateway::new().route("/", |_| Ok(InferenceResponse::new()))).await;
    let r = send(addr2, "POST", "/", Some("application/json"), br#"{"studyPath": "study1"}"#.to_vec()).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not enabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_makes_requests_wait() {
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
    let addr = start(Gateway::new().max_concurrent_inferences(1).route("/", move |_| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        r.fetch_sub(1, Ordering::SeqCst);
        Ok(InferenceResponse::new())
    }))
    .await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let reqs = (0..4).map(|_| {
        let body = request("{}", &[&dcm]);
        tokio::spawn(async move { send(addr, "POST", "/", Some(&ct()), body).await.status })
    });
    for r in reqs.collect::<Vec<_>>() {
        assert_eq!(r.await.unwrap(), 200);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let gw = Gateway::new().route("/", |_| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        let mut r = InferenceResponse::new();
        r.set_study_ml_json(json!({"done": true}));
        Ok(r)
    });
    let (addr, stop, running) = start_stoppable(gw).await;
    let dcm = read_dicom("pydicom/CT_small.dcm");
    let in_flight = tokio::spawn(async move { send(addr, "POST", "/", Some(&ct()), request("{}", &[&dcm])).await });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "new connections are refused");
    let reply = in_flight.await.unwrap();
    let parsed = parse_response(&reply);
    assert_eq!(parsed.json.study_ml_json, Some(json!({"done": true})));
    tokio::time::timeout(std::time::Duration::from_secs(5), running).await.unwrap().unwrap().unwrap();
}
