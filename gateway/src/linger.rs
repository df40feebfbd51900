//! Reading and dropping the rest of a request body the service will not use, so a client
//! still sending it reads the answer instead of a broken pipe (a "lingering close").

use std::time::Duration;

use axum::body::Body;
use http::HeaderMap;
use http_body_util::BodyExt;

/// Most bytes of an unused body read (and dropped) after an early answer.
pub(crate) const DRAIN_LIMIT: usize = 64 << 20;
/// Longest time spent draining it.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads and drops `body` up to [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`]; past either, the
/// connection is closed when the body is dropped.
pub(crate) async fn drain(mut body: Body) {
    let read = async {
        let mut seen = 0;
        while seen < DRAIN_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// Drains `body` in the background while the early answer is written. Not when the client
/// asked `Expect: 100-continue` and has not been told to send: it will not send a body, and
/// reading would tell the server to invite one after the final answer.
pub(crate) fn drain_after_answer(headers: &HeaderMap, body: Body) {
    let expects = headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects && !http_body::Body::is_end_stream(&body) {
        tokio::spawn(drain(body));
    }
}
