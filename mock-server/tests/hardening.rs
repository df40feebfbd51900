//! The real mock-server under sustained mixed load, SIGTERM in the middle of a large study,
//! DEBUG logging with patient data in the files, and broken DICOM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use arterys_gateway::dicom::InstanceInfo;
use arterys_gateway::multipart::hex;
use arterys_gateway::DecodedResponse;
use bytes::Bytes;
use common::*;
use sha2::{Digest, Sha256};

fn files() -> Vec<Vec<u8>> {
    let mut f = study("arterys/test_2d");
    f.extend(
        ["pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "pydicom/MR_small_RLE.dcm"]
            .map(|p| std::fs::read(test_dicom(p)).unwrap()),
    );
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_mixed_load_never_mixes_up_answers_and_memory_stays_flat() {
    let server = std::sync::Arc::new(MockServer::start(&["--mode", "boxes", "--max-concurrent", "4"]).await);
    let files = std::sync::Arc::new(files());
    let uids: Vec<String> = files.iter().map(|f| InstanceInfo::read(f).unwrap().sop_instance_uid).collect();
    let uids = std::sync::Arc::new(uids);
    let mut rss = Vec::new();
    for round in 0..8 {
        let tasks: Vec<_> = (0..32)
            .map(|client| {
                let (server, files, uids) = (server.clone(), files.clone(), uids.clone());
                tokio::spawn(async move {
                    let (mut ok, mut refused) = (0, 0);
                    for i in 0..10usize {
                        let tag = format!("{round}-{client}-{i}");
                        if (client + i) % 3 == 0 {
                            // Invalid: a part that is not DICOM.
                            let (status, _, _) =
                                server.infer("/", &format!(r#"{{"tag": "{tag}"}}"#), &[b"not dicom".to_vec()]).await;
                            assert_eq!(status, 422, "{tag}");
                            refused += 1;
                            continue;
                        }
                        // Valid: 1 to 3 images picked for this request.
                        let pick: Vec<usize> =
                            (0..1 + (client + i) % 3).map(|k| (client * 7 + i * 3 + k) % files.len()).collect();
                        let sent: Vec<Vec<u8>> = pick.iter().map(|&k| files[k].clone()).collect();
                        let json = format!(r#"{{"tag": "{tag}"}}"#);
                        let (status, ct, body) = server.infer("/", &json, &sent).await;
                        let r = parse_ok(status, ct.clone(), &body);
                        // Its own input hash...
                        let mut h = Sha256::new();
                        h.update(json.as_bytes());
                        sent.iter().for_each(|s| h.update(s));
                        let decoded = DecodedResponse::decode(&ct.unwrap(), &body).unwrap();
                        let (input_hash, _) = decoded.stated_hashes().unwrap();
                        assert_eq!(input_hash, hex(&h.finalize()), "{tag}: answer for another request");
                        // ...and its own images.
                        let boxed: HashSet<String> =
                            r.json().bounding_boxes_2d.iter().flatten().map(|b| b.sop_instance_uid.clone()).collect();
                        let expected: HashSet<String> = pick.iter().map(|&k| uids[k].clone()).collect();
                        assert_eq!(boxed, expected, "{tag}");
                        ok += 1;
                    }
                    (ok, refused)
                })
            })
            .collect();
        let mut totals = (0, 0);
        for t in tasks {
            let (ok, refused) = t.await.unwrap();
            totals = (totals.0 + ok, totals.1 + refused);
        }
        assert_eq!(totals.0 + totals.1, 32 * 10);
        rss.push(server.rss_kib());
        assert_eq!(server.try_get("/healthcheck").await.unwrap().1, "READY");
    }
    println!("server RSS after each round (KiB): {rss:?}");
    let (first, last) = (rss[1], rss[rss.len() - 1]);
    assert!(last <= first + first / 4 + 4096, "RSS grew across rounds: {rss:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_large_study_finishes_it_and_refuses_new_connections() {
    let mut server = MockServer::start(&["--mode", "seg3d"]).await;
    let slices: Vec<Vec<u8>> = (0..120)
        .map(|i| arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.77", i, 256, 256).unwrap())
        .collect();
    let addr = server.addr;
    // Stream the study slowly enough that SIGTERM lands in the middle of it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = ChannelBody(rx);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let req = http::Request::post(format!("http://{addr}/"))
        .header("content-type", "multipart/related; boundary=sig")
        .body(body)
        .unwrap();
    let response = tokio::spawn(async move { client.request(req).await });
    let sender = tokio::spawn({
        let slices = slices.clone();
        async move {
            let _ = tx.send(Bytes::from_static(b"--sig\r\n\r\n{}")).await;
            for s in slices {
                let mut part = b"\r\n--sig\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
                part.extend_from_slice(&s);
                let _ = tx.send(Bytes::from(part)).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = tx.send(Bytes::from_static(b"\r\n--sig--\r\n")).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "new connections are refused after SIGTERM");
    sender.await.unwrap();
    let resp = response.await.unwrap().expect("the in-flight request gets its answer");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    let r = parse_ok(200, Some(ct), &body);
    let shape = r.json().parts[0].binary_data_shape.unwrap();
    assert_eq!(shape.depth, Some(120), "the whole study was processed");
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "exits cleanly after finishing: {}",
        server.log_text()
    );
    assert!(server.log_text().contains("shutting down"));
}

/// A request body fed through a channel, frame by frame.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_patient_data_in_the_logs_at_any_level() {
    // Run from a folder whose logging.yaml asks for everything, in JSON lines and the
    // reference format, through every mode.
    for format in ["arterys", "json"] {
        let tmp = tempfile::Builder::new().prefix(&format!("mock-privacy-{format}-")).tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("logging.yaml"), format!("format: {format}\nroot: {{level: TRACE}}\n")).unwrap();
        let server = MockServer::start_in(&[], dir.to_str().unwrap()).await;
        let slices: Vec<Vec<u8>> = (0..3)
            .map(|i| arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.55", i, 64, 64).unwrap())
            .collect();
        let info = arterys_gateway::dicom::open(&slices[0]).unwrap();
        assert_eq!(
            arterys_gateway::dicom::string(&info, arterys_gateway::dicom::dicom_object::Tag(0x0010, 0x0010)).as_deref(),
            Some("Synthetic^Phantom")
        );
        for route in [
            "/",
            "/boxes",
            "/seg2d",
            "/seg3d",
            "/heatmap",
            "/numeric-labels",
            "/classification",
            "/measurements",
            "/secondary-capture",
        ] {
            let (status, _, _) = server.infer(route, r#"{"inference_command": "get-probability-mask"}"#, &slices).await;
            assert_eq!(status, 200, "{route}");
        }
        let (status, _, _) = server.infer("/", "{}", &[slices[0][..600].to_vec()]).await;
        assert_eq!(status, 422);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = server.log_text();
        assert!(log.lines().count() > 30, "{format}: the log is busy: {log}");
        for secret in ["Synthetic", "Phantom", "SYNTH-0001", "19470312", "1947"] {
            assert!(!log.contains(secret), "{format}: {secret:?} is in the log:\n{log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_garbage_dicom_get_422_and_the_server_stays_healthy() {
    let server = MockServer::start(&["--mode", "secondary-capture"]).await;
    let ct = std::fs::read(test_dicom("pydicom/CT_small.dcm")).unwrap();
    // Cut inside the header: cannot be read at all.
    let (status, _, body) = server.infer("/", "{}", &[ct[..400].to_vec()]).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    // Cut inside the pixel data: headers are fine, the capture cannot be drawn.
    let truncated = std::fs::read(test_dicom("pydicom/MR_truncated.dcm")).unwrap();
    let (status, _, body) = server.infer("/", "{}", &[truncated]).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("truncated"));
    let (status, ct_, body) = server.infer("/", "{}", &[ct]).await;
    parse_ok(status, ct_, &body);
}
