//! `/readyz` on the real binary: 503 with the reason during a start-up delay (while
//! `/healthcheck` keeps the protocol's 200 `LOADING`), 200 once ready.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET path` over HTTP/1.0: status and body, or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_owned()))
}

#[test]
fn readyz_is_503_during_the_startup_delay_then_200() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--startup-delay-ms", "3000"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut loading_seen = false;
    let ready = loop {
        match get(port, "/readyz") {
            Some((503, body)) => {
                assert_eq!(body, "not ready: LOADING\n");
                assert_eq!(get(port, "/livez").map(|r| r.0), Some(200));
                let health = get(port, "/healthcheck");
                if health == Some((200, "LOADING".into())) {
                    loading_seen = true;
                } else {
                    // The delay ended between the two requests: /readyz must agree now.
                    assert_eq!(health, Some((200, "READY".into())));
                    assert_eq!(get(port, "/readyz").map(|r| r.0), Some(200));
                }
            }
            Some(other) => break other,
            None => {}
        }
        if Instant::now() > deadline {
            break (0, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let healthcheck = get(port, "/healthcheck");
    let _ = child.kill();
    let _ = child.wait();
    assert!(loading_seen, "/readyz never said 503 during the start-up delay");
    assert_eq!(ready, (200, "ready\n".into()));
    assert_eq!(healthcheck, Some((200, "READY".into())));
}
