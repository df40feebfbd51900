//! The client against broken and hostile servers: real HTTP on loopback, from
//! small servers that answer what a test tells them to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arterys_open_inference::{Client, ClientOptions, Datatype, Error, ErrorKind, InputTensor, RemoteModel, TensorSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with each connection it accepts.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Reads the request, then writes these bytes and closes.
    Answer(&'static [u8]),
    /// Reads the request, sends a chunked 200 and then chunks without end (until the client leaves).
    EndlessChunks,
    /// Reads the request and never answers.
    Silent,
    /// Closes the connection without a word.
    Hangup,
    /// Answers every request on the connection with these bytes, keeping it open.
    KeepAlive(&'static [u8]),
    /// Answers each request with the bytes of the first route whose request line starts
    /// with the route's prefix (404 if none), keeping the connection open.
    Routes(&'static [(&'static str, &'static [u8])]),
}

/// Starts a server; returns its URL and a count of the connections it accepted.
async fn serve(behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream, behaviour));
        }
    });
    (url, accepted)
}

/// Reads up to the end of a request's headers (enough to know it arrived); `None` when the
/// peer left, else the headers.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut byte = [0u8; 1];
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => seen.push(byte[0]),
        }
    }
    Some(seen)
}

async fn read_request(stream: &mut TcpStream) -> bool {
    read_head(stream).await.is_some()
}

async fn handle(mut stream: TcpStream, behaviour: Behaviour) {
    match behaviour {
        Behaviour::Hangup => {}
        Behaviour::Routes(routes) => {
            while let Some(head) = read_head(&mut stream).await {
                let answer = routes
                    .iter()
                    .find(|(prefix, _)| head.starts_with(prefix.as_bytes()))
                    .map_or(&b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"[..], |(_, bytes)| bytes);
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
        Behaviour::KeepAlive(bytes) => {
            while read_request(&mut stream).await {
                if stream.write_all(bytes).await.is_err() {
                    return;
                }
            }
        }
        Behaviour::Answer(bytes) => {
            read_request(&mut stream).await;
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
        }
        Behaviour::Silent => {
            read_request(&mut stream).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Behaviour::EndlessChunks => {
            read_request(&mut stream).await;
            let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head).await.is_err() {
                return;
            }
            let chunk = [b'7'; 65536];
            // Bounded by count, so the test ends even if the client did not stop reading.
            for _ in 0..1024 {
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                if stream.write_all(&frame).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn client(url: &str, options: ClientOptions) -> Client {
    Client::new(url, options).unwrap()
}

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(1),
        retries: 2,
        max_response_bytes: 1 << 20,
        max_json_bytes: 1 << 10,
    }
}

async fn infer(client: &Client) -> Result<Vec<arterys_open_inference::OutputTensor>, Error> {
    let x = [1.0f32, 2.0];
    client.infer("m", None, &[InputTensor::f32("x", &[2], &x)], &["y"]).await
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let (url, accepted) = serve(Behaviour::KeepAlive(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
    let client = client(&url, options());
    for _ in 0..5 {
        assert!(client.server_ready().await.unwrap());
    }
    assert!(client.clone().model_ready("m", Some("1")).await.unwrap());
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "six calls over one connection");
}

#[tokio::test]
async fn declared_body_over_the_limit_is_refused_before_reading() {
    let (url, _) = serve(Behaviour::Answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1099511627776\r\n\r\n{")).await;
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert!(
        matches!(error, Error::TooLarge { what: "declared response body", size: 1_099_511_627_776, limit: 1_048_576 }),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::BadGateway);
}

#[tokio::test]
async fn json_part_over_its_limit_is_refused() {
    // 2 KiB of JSON (one FP32 output of 1000 zeros) against a 1 KiB JSON limit.
    static ANSWER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let zeros = vec!["0"; 1000].join(",");
        let json = format!(r#"{{"outputs":[{{"name":"y","datatype":"FP32","shape":[1000],"data":[{zeros}]}}]}}"#);
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{json}", json.len()).into_bytes()
    });
    let (url, _) = serve(Behaviour::Answer(answer)).await;
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert!(matches!(error, Error::TooLarge { what: "JSON part of the response", limit: 1024, .. }), "{error}");
    // Within the limit, the same answer decodes.
    let roomy = ClientOptions { max_json_bytes: 1 << 20, ..options() };
    let outputs = infer(&client(&url, roomy)).await.unwrap();
    assert_eq!(outputs[0].to_f32().unwrap(), vec![0.0; 1000]);
}

#[tokio::test]
async fn endless_body_is_cut_at_the_limit() {
    let (url, _) = serve(Behaviour::EndlessChunks).await;
    let start = Instant::now();
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert!(matches!(error, Error::TooLarge { what: "response body", limit: 1_048_576, .. }), "{error}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn silent_server_times_out_on_time() {
    let (url, _) = serve(Behaviour::Silent).await;
    let options = ClientOptions { timeout: Duration::from_millis(300), ..options() };
    let start = Instant::now();
    let error = client(&url, options).server_ready().await.unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(error, Error::Timeout { .. }) && error.is_timeout(), "{error}");
    // Not before the deadline; and not hanging on the silent server (a bound of 10x).
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn reads_are_retried_a_bounded_number_of_times_and_inference_never() {
    let (url, accepted) = serve(Behaviour::Hangup).await;
    let client = client(&url, options());
    let error = client.server_ready().await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "one try and two retries");

    accepted.store(0, Ordering::SeqCst);
    let error = infer(&client).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "an inference that may have been received is not sent again");
}

#[tokio::test]
async fn refused_connection_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(&format!("http://127.0.0.1:{port}"), options());
    let start = Instant::now();
    for error in [client.server_ready().await.unwrap_err(), infer(&client).await.unwrap_err()] {
        assert!(matches!(error, Error::Connect { .. }), "{error}");
        assert_eq!(error.kind().http_status(), 503);
    }
    assert!(!client.ready("m", None).await);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors() {
    let cases: [(&'static [u8], &str); 5] = [
        // Header length past the body.
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ninference-header-content-length: 99\r\n\r\n{}",
            "has only 2 bytes",
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ninference-header-content-length: -1\r\n\r\n{}", "bad inference"),
        // A binary output larger than what follows the header.
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 96\r\ninference-header-content-length: 92\r\n\r\n\
              {\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[2],\"parameters\":{\"binary_data_size\":8}}]}abcd",
            "only 4 remain",
        ),
        // Not the requested output.
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 67\r\n\r\n{\"outputs\":[{\"name\":\"z\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
            "lacks the requested output \"y\"",
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!", "not valid JSON"),
    ];
    for (answer, message) in cases {
        let (url, _) = serve(Behaviour::Answer(answer)).await;
        let error = infer(&client(&url, options())).await.unwrap_err();
        assert!(error.to_string().contains(message) && error.kind() == ErrorKind::BadGateway, "{message}: {error}");
    }
}

#[tokio::test]
async fn error_statuses_carry_the_message() {
    let (url, _) = serve(Behaviour::Answer(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 25\r\n\r\n{\"error\":\"out of memory\"}",
    ))
    .await;
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert!(matches!(&error, Error::Status { status: 500, message, .. } if message == "out of memory"), "{error}");
    assert_eq!(error.kind().http_status(), 502);

    let (url, _) = serve(Behaviour::Answer(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")).await;
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert_eq!(error.kind().http_status(), 503, "{error}");

    // A huge error body is not read whole.
    let (url, _) = serve(Behaviour::Answer(b"HTTP/1.1 500 Oops\r\ncontent-length: 1000000000\r\n\r\nxx")).await;
    let error = infer(&client(&url, options())).await.unwrap_err();
    assert!(matches!(&error, Error::Status { status: 500, message, .. } if message.contains("too large")), "{error}");
}

const METADATA: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 123\r\n\r\n\
{\"name\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1]}],\
\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";

#[tokio::test]
async fn remote_model_start_up_waits_for_readiness() {
    let x = [TensorSpec::new("x", Datatype::Fp32, [-1])];
    let y = [TensorSpec::new("y", Datatype::Fp32, [-1])];
    for (routes, what) in [
        (
            &[("GET /v2/models/m/ready ", OK), ("GET /v2/models/m ", METADATA), ("GET /v2/health/ready ", UNAVAILABLE)]
                [..],
            "the server at http://",
        ),
        (
            &[("GET /v2/models/m/ready ", UNAVAILABLE), ("GET /v2/models/m ", METADATA), ("GET /v2/health/ready ", OK)]
                [..],
            "model \"m\"",
        ),
    ] {
        let (url, _) = serve(Behaviour::Routes(routes)).await;
        let error = RemoteModel::connect(client(&url, options()), "m", None, &x, &y).await.unwrap_err();
        assert!(matches!(&error, Error::NotReady { what: w } if w.starts_with(what)), "{error}");
        assert_eq!(error.kind().http_status(), 503);
    }
    let (url, _) = serve(Behaviour::Routes(&[
        ("GET /v2/models/m/ready ", OK),
        ("GET /v2/models/m ", METADATA),
        ("GET /v2/health/ready ", OK),
    ]))
    .await;
    let model = RemoteModel::connect(client(&url, options()), "m", None, &x, &y).await.unwrap();
    assert!(model.ready().await);
}
