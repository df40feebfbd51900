//! Reading and dropping the rest of a request body the service will not use, so a client
//! still sending it reads the answer instead of a broken pipe (a "lingering close", as
//! nginx's `lingering_time` and `lingering_timeout`).
//!
//! The bound is time, not bytes: a client that writes its whole body before it reads
//! (Python's `http.client`, many scripts) must get to the end of a 150 MB upload to see the
//! 503 sent at its first byte. Each frame is dropped as soon as it is read, so draining holds
//! no more memory than the connection's read buffer, however much is drained.

use std::time::Duration;

use axum::body::Body;
use http::HeaderMap;
use http_body_util::BodyExt;
use tokio::time::{timeout, Instant};

/// Longest time spent draining one body.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(30);
/// Longest wait for the next bytes of it: a client that stopped sending is not waited for.
pub(crate) const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// Reads and drops `body` until it ends, for at most [`DRAIN_TIME`] and while each read gets
/// data within [`DRAIN_IDLE`]; the number of bytes drained. Past either bound the connection
/// is closed when the body is dropped.
pub(crate) async fn drain(mut body: Body) -> u64 {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut seen = 0u64;
    loop {
        // A client that always has bytes ready would never meet the idle bound.
        if Instant::now() >= deadline {
            return seen;
        }
        let wait = deadline.saturating_duration_since(Instant::now()).min(DRAIN_IDLE);
        match timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return seen,
        }
    }
}

/// Drains `body` in the background while the early answer is written. Not when the client
/// asked `Expect: 100-continue` and has not been told to send: it will not send a body, and
/// reading would tell the server to invite one after the final answer.
pub(crate) fn drain_after_answer(headers: &HeaderMap, body: Body) {
    let expects = headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects && !http_body::Body::is_end_stream(&body) {
        tokio::spawn(async move {
            let drained = drain(body).await;
            tracing::debug!("drained {drained} bytes of a refused body");
        });
    }
}
