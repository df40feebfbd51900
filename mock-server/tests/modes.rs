//! The real mock-server binary in every mode, on the test studies in testdata/.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use arterys_gateway::dicom::InstanceInfo;
use arterys_gateway::{BinaryType, MaskShape};
use common::*;

fn sop_uids(files: &[Vec<u8>]) -> HashSet<String> {
    files.iter().map(|f| InstanceInfo::read(f).unwrap().sop_instance_uid).collect()
}

fn series_uids(files: &[Vec<u8>]) -> HashSet<String> {
    files.iter().map(|f| InstanceInfo::read(f).unwrap().series_instance_uid).collect()
}

/// Masks are non-empty, 2D ones name input images, 3D ones name input series with one slice
/// per image.
fn check_masks(r: &arterys_gateway::InferenceResponse, files: &[Vec<u8>], expect_3d: bool) {
    assert!(!r.json().parts.is_empty(), "no mask parts");
    let (sops, series) = (sop_uids(files), series_uids(files));
    for (p, buf) in r.json().parts.iter().zip(r.buffers()) {
        assert!(p.binary_type.is_mask());
        assert!(buf.iter().any(|&v| v != 0), "empty mask {:?}", p.label);
        let shape = MaskShape::from_binary_data_shape(&p.binary_data_shape.unwrap());
        if expect_3d {
            let uid = p.series_instance_uid.as_ref().expect("3D part names its series");
            assert!(series.contains(uid));
            let (_, depth, _, _) = shape.dims();
            assert_eq!(depth as usize, files.len());
            // Every slice holds some of the region (it grows from the centre slice).
            let per_slice = buf.len() / depth as usize;
            assert!(buf.chunks(per_slice).all(|s| s.iter().any(|&v| v != 0)));
        } else {
            assert!(shape.is_image());
            assert!(sops.contains(&p.dicom_image.as_ref().expect("2D part names its image").sop_instance_uid));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_answers_by_the_protocol() {
    let server = MockServer::start(&["--mode", "boxes"]).await;
    let (s2d, s3d) = (study("arterys/test_2d"), study("arterys/test_3d"));

    // Boxes: one on every image.
    let r = parse_ok_at(&server, "/boxes", "{}", &s2d).await;
    let boxes = r.json().bounding_boxes_2d.as_ref().unwrap();
    assert_eq!(boxes.iter().map(|b| b.sop_instance_uid.clone()).collect::<HashSet<_>>(), sop_uids(&s2d));
    assert!(boxes.iter().all(|b| b.top_left[0] < b.bottom_right[0] && b.top_left[1] < b.bottom_right[1]));

    // 2D probability masks: one per X-ray.
    let r = parse_ok_at(&server, "/seg2d", "{}", &s2d).await;
    assert_eq!(r.json().parts.len(), 3);
    check_masks(&r, &s2d, false);

    // 3D: one part for the MR series, slices in geometric order.
    let r = parse_ok_at(&server, "/seg3d", "{}", &s3d).await;
    assert_eq!(r.json().parts.len(), 1);
    check_masks(&r, &s3d, true);

    for route in ["/boolean", "/heatmap", "/numeric-labels"] {
        let r = parse_ok_at(&server, route, "{}", &s3d).await;
        check_masks(&r, &s3d, true);
        let r = parse_ok_at(&server, route, "{}", &s2d).await;
        check_masks(&r, &s2d, false);
        assert_eq!(r.json().parts.len(), 3, "{route}: one 2D part per X-ray");
    }
    let r = parse_ok_at(&server, "/heatmap", "{}", &s3d).await;
    assert_eq!(r.json().parts[0].palette.as_deref(), Some("heat"));
    assert!(r.json().palettes.as_ref().unwrap()["heat"].check().is_ok());
    let r = parse_ok_at(&server, "/numeric-labels", "{}", &s3d).await;
    let values: HashSet<u8> = r.buffers()[0].iter().copied().collect();
    assert_eq!(values, HashSet::from([0, 1, 2, 3]), "every label is used");

    let r = parse_ok_at(&server, "/classification", "{}", &s3d).await;
    assert!(r.json().study_ml_json.as_ref().unwrap()["label"].is_string());
    assert_eq!(r.json().series_ml_json.as_ref().unwrap().keys().cloned().collect::<HashSet<_>>(), series_uids(&s3d));

    let r = parse_ok_at(&server, "/measurements", "{}", &s2d).await;
    assert_eq!(r.json().linear_measurements_2d.as_ref().unwrap().len(), 3);

    // Secondary capture: valid Part 10 that dicom-object reads back, in the input's study.
    let captures = tempfile::tempdir().unwrap();
    for files in [&s2d, &s3d] {
        let r = parse_ok_at(&server, "/secondary-capture", "{}", files).await;
        let inputs = series_uids(files);
        assert_eq!(r.json().parts.len(), inputs.len(), "one capture per series");
        for (p, buf) in r.json().parts.iter().zip(r.buffers()) {
            assert_eq!(p.binary_type, BinaryType::DicomSecondaryCapture);
            assert!(inputs.contains(p.series_instance_uid.as_ref().unwrap()));
            let info = InstanceInfo::read(buf).expect("capture reads back");
            assert_eq!(info.sop_class_uid.as_deref(), Some("1.2.840.10008.5.1.4.1.1.7"));
            let src = files
                .iter()
                .map(|f| InstanceInfo::read(f).unwrap())
                .find(|i| Some(&i.series_instance_uid) == p.series_instance_uid.as_ref())
                .unwrap();
            assert_eq!(info.study_instance_uid, src.study_instance_uid);
            assert_eq!((info.rows, info.columns), (src.rows, src.columns));
            let frames = arterys_gateway::dicom::display::render(buf).expect("capture renders");
            // The burned-in red frame is there.
            let f = &frames[0];
            let (x, y) = (f.width as usize * 3 / 8, f.height as usize / 2);
            let i = (y * f.width as usize + x) * 3;
            assert_eq!(&f.rgb[i..i + 3], &[255, 0, 0]);
            write_for_pydicom(captures.path(), buf);
        }
    }
    check_with_pydicom(captures.path());
}

async fn parse_ok_at(
    server: &MockServer,
    route: &str,
    json: &str,
    files: &[Vec<u8>],
) -> arterys_gateway::InferenceResponse {
    let (status, ct, body) = server.infer(route, json, files).await;
    parse_ok(status, ct, &body)
}

fn write_for_pydicom(dir: &std::path::Path, buf: &[u8]) {
    let n = std::fs::read_dir(dir).unwrap().count();
    std::fs::write(dir.join(format!("sc_{n}.dcm")), buf).unwrap();
}

/// pydicom reads every capture in `dir` (`scripts/test` installs pydicom and numpy into `.venv`).
fn check_with_pydicom(dir: &std::path::Path) {
    let script = "import sys, glob, pydicom\nfor f in sorted(glob.glob(sys.argv[1] + '/*.dcm')):\n    ds = pydicom.dcmread(f)\n    a = ds.pixel_array\n    assert a.shape == (ds.Rows, ds.Columns, 3), a.shape\n    print(f, ds.SOPClassUID.name)\n";
    let has =
        std::process::Command::new("python3").args(["-c", "import pydicom, numpy"]).status().is_ok_and(|s| s.success());
    assert!(
        has,
        "python3 lacks pydicom or numpy: run scripts/test (it installs them into .venv) or pip install pydicom numpy"
    );
    let out = std::process::Command::new("python3").args(["-c", script]).arg(dir).output().unwrap();
    assert!(out.status.success(), "pydicom: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("Secondary Capture Image Storage").count(), 4, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_command_overrides_the_startup_mode_and_legacy_flags_work() {
    let server = MockServer::start(&["-cl"]).await;
    let (s2d, s3d) = (study("arterys/test_2d"), study("arterys/test_3d"));
    let r = parse_ok_at(&server, "/", "{}", &s3d).await;
    assert!(r.json().study_ml_json.is_some(), "-cl starts in classification mode");
    let r = parse_ok_at(&server, "/", r#"{"inference_command": "get-bounding-box-2d"}"#, &s3d).await;
    assert_eq!(r.json().bounding_boxes_2d.as_ref().unwrap().len(), 3);
    let r = parse_ok_at(&server, "/", r#"{"inference_command": "get-probability-mask"}"#, &s3d).await;
    check_masks(&r, &s3d, true);
    let r = parse_ok_at(&server, "/", r#"{"inference_command": "get-probability-mask"}"#, &s2d).await;
    check_masks(&r, &s2d, false);
    let r = parse_ok_at(&server, "/", r#"{"inference_command": "something-else"}"#, &s2d).await;
    assert!(r.json().study_ml_json.is_some(), "unknown command: startup mode");
    // Multi-series request (the MR series plus three X-ray series): one 3D part per series.
    let mut both = s3d.clone();
    both.extend(s2d.iter().cloned());
    let server3 = MockServer::start(&["-s3D"]).await;
    let r = parse_ok_at(&server3, "/", "{}", &both).await;
    assert_eq!(r.json().parts.len(), 4);
    let named: HashSet<String> = r.json().parts.iter().map(|p| p.series_instance_uid.clone().unwrap()).collect();
    assert_eq!(named, series_uids(&both));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parts_get_422_and_nothing_breaks() {
    let server = MockServer::start(&[]).await;
    // DICM magic, then garbage: the gateway takes it for DICOM, the mock cannot read it.
    let mut fake = vec![0u8; 128];
    fake.extend_from_slice(b"DICM\x02\x00\x10\x00UI\xff\xffgarbage");
    let (status, _, body) = server.infer("/", "{}", &[fake]).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("part 1 is not usable DICOM"));
    let (status, _, _) = server.infer("/", "{}", &[b"plain text, not an image".to_vec()]).await;
    assert_eq!(status, 422);
    // A structured report has no pixels: no results, but no error either.
    let sr = std::fs::read(test_dicom("pydicom/test-SR.dcm")).unwrap();
    let (status, ct, body) = server.infer("/seg2d", "{}", &[sr]).await;
    assert!(parse_ok(status, ct, &body).json().parts.is_empty());
    // Still serving.
    let (status, ct, body) = server.infer("/", "{}", &study("arterys/test_2d")).await;
    parse_ok(status, ct, &body);
    assert_eq!(server.try_get("/ping").await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_is_not_ready_during_startup_and_logs_carry_the_hash() {
    let server = MockServer::spawn(&["--startup-delay-ms", "1500"]);
    let mut saw_loading = false;
    for _ in 0..100 {
        match server.try_get("/healthcheck").await {
            Some((200, body)) if body == "READY" => break,
            Some((200, body)) => {
                assert_eq!(body, "LOADING");
                saw_loading = true;
            }
            _ => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(saw_loading, "healthcheck said READY before start-up work was done");
    assert_eq!(server.try_get("/healthcheck").await.unwrap().1, "READY");
    let (status, ct, body) = server.infer("/", "{}", &study("arterys/test_3d")).await;
    assert_eq!(status, 200);
    let decoded = arterys_gateway::DecodedResponse::decode(&ct.unwrap(), &body).unwrap();
    let (input_hash, _) = decoded.stated_hashes().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = server.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("mock_server") && l.contains("answering")).collect();
    assert!(!lines.is_empty(), "{log}");
    assert!(lines.iter().all(|l| l.contains(&format!("{{\"input_hash\": \"{input_hash}\"}}"))), "{log}");
}
