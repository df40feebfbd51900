//! `--port 0`: the binary binds a port the system picks and names it in its READY line, so
//! nothing can take the port between choosing it and binding it (the tests start every
//! server this way).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::MockServer;

#[tokio::test]
async fn port_0_binds_a_free_port_named_in_the_ready_line() {
    let (a, b) = (MockServer::start(&[]).await, MockServer::start(&[]).await);
    assert_ne!(a.addr.port(), 0);
    assert_ne!(a.addr, b.addr, "each its own port");
    for s in [&a, &b] {
        let want = format!("READY on http://{}", s.addr);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.log_text().lines().any(|l| l.ends_with(&want)) {
            assert!(Instant::now() < deadline, "no {want:?} line: {}", s.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.try_get("/healthcheck").await, Some((200, "READY".to_owned())));
    }
}
