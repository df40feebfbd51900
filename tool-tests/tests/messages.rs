//! What a person reads: defaults that meet the servers, a refused connection that says where
//! it went and where the servers listen, the output folder checked before anything is sent,
//! a 404 that names the routes, the service's refusals apart from protocol violations, counts
//! in the right number, and a spinner with the time waited (on a terminal only).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arterys_gateway::{Gateway, InferenceResponse};
use arterys_mock_server::Mode;
use common::{mock, out_dir, serve, test_dicom, text, tool};

const TOOL: &str = env!("CARGO_BIN_EXE_send-inference-request-under-test");

/// A server whose only route counts the requests it gets and answers with no results after
/// `delay`.
async fn counting(delay: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    let addr = serve(Gateway::new().route("/", move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(delay);
        Ok(InferenceResponse::new())
    }))
    .await;
    (addr, hits)
}

#[test]
fn the_defaults_are_where_the_servers_listen() {
    let o = Command::new(TOOL).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    let line = |flag: &str| help.lines().skip_while(|l| !l.contains(flag)).take(5).collect::<Vec<_>>().join(" ");
    assert!(line("--host <HOST>").contains("[default: 127.0.0.1]"), "{help}");
    // mock-server's and model-server's default port.
    assert!(line("--port <PORT>").contains("[default: 8000]"), "{help}");
    assert!(help.contains("5 the service refused or failed the request"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_names_the_address_and_the_servers_port() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let out = out_dir("refused");
    // No --host: the default one.
    let o = Command::new(TOOL)
        .args(["-p", &closed.port().to_string(), "-i", dcm.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("cannot reach http://127.0.0.1:{}/", closed.port())), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(err.contains("listen on port 8000 by default"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_output_folder_is_found_before_anything_is_sent() {
    let (addr, hits) = counting(Duration::ZERO).await;
    let out = out_dir("stray");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.png"), "a user's picture").unwrap();
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap()], &out).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds 1 file like this tool's outputs"), "{}", text(&o));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the study was sent: {}", text(&o));
    assert!(!text(&o).contains("sent "), "{}", text(&o));
    // A folder that is a file.
    let file = out.join("mine.png");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap()], &file).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a folder"), "{}", text(&o));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_names_the_routes_and_is_a_service_error() {
    let addr = mock(Mode::Boxes).await;
    let out = out_dir("no-route");
    let o = tool(addr, &["-i", test_dicom("pydicom/CT_small.dcm").to_str().unwrap(), "-r", "/nosuch"], &out).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let line =
        err.lines().find(|l| l.contains("the service answered 404 Not Found")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("no inference route at /nosuch; the inference routes are /, /auto, "), "{line}");
    for route in ["/boxes", "/seg3d", "/heatmap", "/gsps"] {
        assert!(line.contains(route), "{route} named: {line}");
    }
    assert!(err.contains("-r chooses the route"), "{err}");
    assert!(!err.contains("protocol violation"), "a service error, not a violation: {err}");
    assert!(!out.exists(), "nothing written for a refused request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_in_the_right_number() {
    let addr = mock(Mode::Auto).await;
    // One image, one 3D mask.
    let o = tool(addr, &["-i", test_dicom("pydicom/CT_small.dcm").to_str().unwrap(), "-r", "/seg3d"], &out_dir("one"))
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("sent 1 image and 0 attachments ("), "{t}");
    assert!(t.contains("received: 1 probability mask (3D)\n"), "{t}");
    assert!(t.contains("wrote response.json, 1 PNG, 1 mask, index.html to "), "{t}");
    // Many 2D masks: one entry per kind, counted; an image not drawn, counted.
    let o = tool(addr, &["-i", test_dicom("pydicom").to_str().unwrap(), "-r", "/seg2d"], &out_dir("many")).await;
    let t = text(&o);
    let received = t.lines().find(|l| l.starts_with("received: ")).unwrap_or_else(|| panic!("{t}"));
    assert!(received.ends_with(" probability masks (2D)") && !received.contains(','), "{received}");
    assert!(t.contains("1 image could not be drawn"), "{t}");
    for wrong in ["(s)", "1 images", "1 masks", "1 PNGs", " 0 DICOM outputs"] {
        assert!(!t.contains(wrong), "{wrong:?} in {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinner_shows_the_time_waited_on_a_terminal_only() {
    let (addr, hits) = counting(Duration::from_millis(2500)).await;
    let dcm = test_dicom("pydicom/CT_small.dcm");
    let out = out_dir("spinner-tty");
    let args = format!("{TOOL} -p {} -i {} -o {}", addr.port(), dcm.display(), out.display());
    // `script` runs the tool on a pseudo-terminal and copies what it draws.
    let o = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qefc", &args, "/dev/null"])
            .env("COLUMNS", "120")
            .output()
            .expect("this test runs the tool on a pseudo-terminal with `script` (Debian: bsdutils)")
    })
    .await
    .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{screen}");
    assert!(screen.contains("waiting for the answer 1s") || screen.contains("waiting for the answer 2s"), "{screen}");
    // Without a terminal: no spinner in what a script reads.
    let o = tool(addr, &["-i", dcm.to_str().unwrap()], &out_dir("spinner-pipe")).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("waiting for the answer"), "{}", text(&o));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
