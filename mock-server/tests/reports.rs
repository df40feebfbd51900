//! The structured-report, presentation-state and conformance modes of the real server binary,
//! on the 2D and 3D test studies: one DICOM output per series that pydicom reads, with the
//! SOP Class of its kind, in the input's study, every reference an input image; and
//! `dicomConformance` on every part, its outcomes true to the study.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use arterys_gateway::dicom::InstanceInfo;
use arterys_gateway::BinaryType;
use common::*;

fn infos(files: &[Vec<u8>]) -> Vec<InstanceInfo> {
    files.iter().map(|f| InstanceInfo::read(f).unwrap()).collect()
}

/// pydicom (an independent reader) checks each output against the input folder.
fn pydicom_check(input: &str, outputs: &[PathBuf]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-dicom-outputs.py");
    let o = std::process::Command::new("python3")
        .arg(script)
        .arg(test_dicom(input))
        .args(outputs)
        .output()
        .expect("python3 with pydicom (scripts/requirements-test.txt; scripts/test installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "pydicom: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_presentation_states_are_real_dicom_referencing_the_input() {
    let server = MockServer::start(&[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for input in ["arterys/test_2d", "arterys/test_3d"] {
        let files = study(input);
        let series: HashSet<String> = infos(&files).into_iter().map(|i| i.series_instance_uid).collect();
        for (route, kind, class, name) in [
            ("/structured-report", BinaryType::DicomStructuredReport, "1.2.840.10008.5.1.4.1.1.88.33", "SR"),
            ("/gsps", BinaryType::DicomGsps, "1.2.840.10008.5.1.4.1.1.11.1", "GSPS"),
        ] {
            let (status, ct, body) = server.infer(route, "{}", &files).await;
            let r = parse_ok(status, ct, &body);
            assert_eq!(r.json().parts.len(), series.len(), "{input}{route}: one output per series");
            let mut written = Vec::new();
            for (n, (p, buf)) in r.json().parts.iter().zip(r.buffers()).enumerate() {
                assert_eq!(p.binary_type, kind);
                assert!(series.contains(p.series_instance_uid.as_deref().unwrap()), "{input}{route}: its series");
                let info = InstanceInfo::read(buf).unwrap();
                assert_eq!(info.sop_class_uid.as_deref(), Some(class), "{input}{route}");
                assert!(!series.contains(&info.series_instance_uid), "{input}{route}: a series of its own");
                let path = dir.join(format!("{}-{n}-{}.dcm", input.replace('/', "_"), route.trim_start_matches('/')));
                std::fs::write(&path, buf).unwrap();
                written.push(path);
            }
            let text = pydicom_check(input, &written);
            assert_eq!(text.matches(&format!(": {name} {class}")).count(), written.len(), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_checks_travel_on_every_part_and_tell_the_truth() {
    let server = MockServer::start(&[]).await;
    for (input, depth, geometry) in [("arterys/test_3d", 3, true), ("arterys/test_2d", 1, false)] {
        let files = study(input);
        let infos = infos(&files);
        let (status, ct, body) = server.infer("/conformance", "{}", &files).await;
        let r = parse_ok(status, ct, &body);
        assert!(!r.json().parts.is_empty());
        for p in &r.json().parts {
            let checks = &p.dicom_conformance.as_ref().expect("every part carries dicomConformance").recommended;
            let outcome = |prefix: &str| checks.iter().find(|c| c.description.starts_with(prefix)).unwrap().compliant;
            let ct = infos.iter().all(|i| i.modality.as_deref() == Some("CT"));
            assert_eq!(outcome("Modality is CT"), ct, "{input}");
            assert!(checks.iter().any(|c| c.description == format!("At least 16 slices in the series ({depth} sent)")));
            assert!(!outcome("At least 16 slices"), "{input}: a handful of slices");
            assert_eq!(outcome("Every image has a position"), geometry, "{input}");
        }
    }
}
