//! The real `send-inference-request` binary given files that declare far more than they
//! have: each is reported by name with the reason and skipped, the rest of the study is sent,
//! and the tool's peak memory stays small.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use arterys_gateway::dicom::hostile::{self, Encoding};
use arterys_mock_server::Mode;
use common::{mock, test_dicom};

/// VmHWM of a running process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bomb_files_are_skipped_by_name_and_the_tool_stays_small() {
    let addr = mock(Mode::Seg2d).await;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = [
        ("ob.dcm", hostile::declared_element(Encoding::ExplicitOb, hostile::BOMB), "element (0009,1010)"),
        ("un.dcm", hostile::declared_element(Encoding::ExplicitUn, hostile::BOMB), "element (0011,1010)"),
        ("implicit.dcm", hostile::declared_element(Encoding::Implicit, hostile::BOMB), "element (0010,0010)"),
        ("pixels.dcm", hostile::declared_element(Encoding::PixelData, hostile::BOMB), "element (7FE0,0010)"),
        ("unseq.dcm", hostile::undefined_length_un_sequence(), "element (0019,1011)"),
        ("frames.dcm", hostile::frames("2147483647"), "2147483647 frames"),
        ("frames7.dcm", hostile::frames("10000000"), "10000000 frames"),
        ("nopixels.dcm", hostile::image_without_pixels(65535, 65535), "65535x65535 pixels but has no pixel data"),
    ];
    for (name, bytes, _) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::copy(test_dicom("arterys/test_2d/1.dcm"), dir.join("real.dcm")).unwrap();
    let out = dir.join("out");

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_send-inference-request-under-test"))
        .args(["--host", "127.0.0.1", "-p", &addr.port().to_string(), "-o", out.to_str().unwrap()])
        .args(["-i", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // VmHWM only grows: the last reading before exit is the peak (to within the poll).
    let watch = tokio::task::spawn_blocking(move || {
        let mut peak = 0;
        while let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    });
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let peak_mib = watch.await.unwrap() >> 10;
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?} {}\n{err}", output.status, String::from_utf8_lossy(&output.stdout));
    for (name, _, reason) in &files {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} not reported:\n{err}"));
        assert!(line.contains(reason), "{line}");
    }
    // The real image was sent and answered (one 2D mask part).
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("response.json")).unwrap()).unwrap();
    assert_eq!(json["parts"].as_array().unwrap().len(), 1, "{json}");
    println!("send-inference-request peak RSS with the bomb files: {peak_mib} MiB");
    assert!(peak_mib > 0 && peak_mib < 256, "peak RSS {peak_mib} MiB");
}
