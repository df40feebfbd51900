//! Files that declare far more than they have, sent to the real binary: each gets a 422 with
//! a one-line reason, the server's peak memory stays small, and it goes on serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::dicom::hostile::{self, Encoding};
use common::{parse_ok, study, MockServer};

/// The server's peak resident memory so far, in MiB.
fn peak_rss_mib(server: &MockServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    kib >> 10
}

async fn refused(server: &MockServer, route: &str, file: Vec<u8>, reason: &str) {
    let (status, _, body) = server.infer(route, "{}", &[file]).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 422, "{route}: {text}");
    assert!(text.contains(reason), "{route}: {text}");
    assert!(!text.trim_end().contains('\n'), "one line: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bomb_files_get_422_without_allocating_what_they_declare() {
    let server = MockServer::start(&["--mode", "seg2d"]).await;
    let bombs = [
        (hostile::declared_element(Encoding::ExplicitOb, hostile::BOMB), "(0009,1010)"),
        (hostile::declared_element(Encoding::ExplicitUn, hostile::BOMB), "(0011,1010)"),
        (hostile::declared_element(Encoding::Implicit, hostile::BOMB), "(0010,0010)"),
        (hostile::declared_element(Encoding::PixelData, hostile::BOMB), "(7FE0,0010)"),
        (hostile::undefined_length_un_sequence(), "(0019,1011)"),
    ];
    for (file, tag) in bombs {
        assert!(file.len() < 1024, "{}", file.len());
        refused(&server, "/", file, &format!("element {tag} at byte")).await;
    }
    let nested = hostile::nested_sequences(100_000);
    refused(&server, "/", nested, "nested deeper than 64").await;
    let peak = peak_rss_mib(&server);
    assert!(peak < 256, "peak RSS {peak} MiB");
    println!("mock-server peak RSS after the bomb files: {peak} MiB");
    let (status, ct, body) = server.infer("/", "{}", &study("arterys/test_2d")).await;
    parse_ok(status, ct, &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_counts_the_pixel_data_does_not_hold_are_refused() {
    let server = MockServer::start(&["--mode", "boxes"]).await;
    for route in ["/", "/seg2d", "/seg3d", "/boxes", "/measurements"] {
        for frames in ["2147483647", "10000000"] {
            refused(
                &server,
                route,
                hostile::frames(frames),
                &format!("{frames} frames, 1 samples of 8 bits) but has 256"),
            )
            .await;
        }
    }
    let peak = peak_rss_mib(&server);
    assert!(peak < 256, "peak RSS {peak} MiB");
    // The same image with the frame it has is answered.
    let (status, ct, body) = server.infer("/seg2d", "{}", &[hostile::frames("1")]).await;
    assert_eq!(parse_ok(status, ct, &body).json().parts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_size_without_pixel_data_is_refused() {
    let server = MockServer::start(&["--mode", "seg2d"]).await;
    for route in ["/seg2d", "/seg3d", "/boxes", "/"] {
        let file = hostile::image_without_pixels(65535, 65535);
        refused(&server, route, file, "the image declares 65535x65535 pixels but has no pixel data").await;
    }
    assert!(peak_rss_mib(&server) < 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_whose_first_instance_has_no_pixels_gets_its_masks() {
    let server = MockServer::start(&["--mode", "seg3d"]).await;
    let series = hostile::series_with_an_instance_without_pixels().to_vec();
    for route in ["/seg3d", "/seg2d", "/boolean", "/heatmap", "/numeric-labels", "/"] {
        let (status, ct, body) = server.infer(route, "{}", &series).await;
        let r = parse_ok(status, ct, &body);
        assert!(!r.json().parts.is_empty(), "{route}");
    }
    // Mask parts are sized from the image: 16 x 16 per slice.
    let (status, ct, body) = server.infer("/seg3d", "{}", &series).await;
    let r = parse_ok(status, ct, &body);
    assert_eq!(r.buffers()[0].len(), 2 * 16 * 16);
    assert!(!server.log_text().contains("panic"), "{}", server.log_text());
}
