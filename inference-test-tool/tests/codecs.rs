//! The real `send-inference-request` binary draws the images that need the codecs beyond the
//! viewer's default build: JPEG-LS (CharLS; the tool is always built with it) and 12-bit
//! lossy JPEG. Each is sent to the mock server, the run exits 0, and each PNG decodes to the
//! viewer's rendering of its file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arterys_gateway::dicom::display::render;
use arterys_mock_server::Mode;

const FILES: [&str; 4] =
    ["MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm", "JPGExtended.dcm"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_ls_and_12_bit_jpeg_studies_are_drawn() {
    // Classification without -l: nothing is drawn over the images.
    let server = arterys_mock_server::service(Mode::Classification, Arc::new(AtomicBool::new(true)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));

    let base = std::env::temp_dir().join(format!("tool-codecs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (study, out) = (base.join("study"), base.join("out"));
    std::fs::create_dir_all(&study).unwrap();
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom/pydicom");
    for name in FILES {
        std::fs::copy(testdata.join(name), study.join(name)).unwrap();
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_send-inference-request"));
    cmd.args(["--host", "127.0.0.1", "-p", &addr.port().to_string(), "-o", out.to_str().unwrap()]);
    cmd.args(["-i", study.to_str().unwrap()]);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?}\n{}\n{stderr}", o.status, String::from_utf8_lossy(&o.stdout));

    for name in FILES {
        let png = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().ends_with(&format!("_{name}.png")))
            .unwrap_or_else(|| panic!("no PNG for {name}:\n{stderr}"));
        let drawn = image::open(&png).unwrap().to_rgb8();
        let expected = render(&std::fs::read(study.join(name)).unwrap()).unwrap().remove(0);
        assert_eq!((drawn.width(), drawn.height()), (expected.width, expected.height), "{name}");
        assert!(drawn.as_raw() == &expected.rgb, "{name}: the PNG is not the file's image");
    }
    let _ = std::fs::remove_dir_all(&base);
}
