//! The transport: HTTP/1.1 with pooled keep-alive connections, a deadline per
//! call, bounded retries and bounded response bodies.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::codec::{self, HEADER_LENGTH};
use crate::error::{Error, Result};
use crate::tensor::{InputTensor, ModelMetadata, OutputTensor};

/// How a [`Client`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The deadline of one call, retries included: past it the call fails with
    /// [`Error::Timeout`].
    pub timeout: Duration,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How many times a call is tried again after a failure to connect (any
    /// call) or a dropped connection (reads only: an inference is never sent twice).
    pub retries: u32,
    /// The largest response body accepted; a server that declares or sends
    /// more gets [`Error::TooLarge`], and nothing larger is allocated. Binary
    /// tensor data is not copied again once read.
    pub max_response_bytes: u64,
    /// The largest JSON part of a response accepted (the header before binary
    /// data, or a whole JSON answer). JSON `data` arrays take up to about 25
    /// times their text's size while they are decoded, so this bounds that.
    pub max_json_bytes: u64,
}

impl Default for ClientOptions {
    /// 60 s per call, 3 s per connection attempt, 2 retries, 1 GiB responses
    /// of which 64 MiB JSON.
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            retries: 2,
            max_response_bytes: 1 << 30,
            max_json_bytes: 64 << 20,
        }
    }
}

/// Error bodies are read up to this size for their message.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// An Open Inference Protocol (KServe v2) REST client for one server.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    base: String,
    options: ClientOptions,
}

/// A response read whole (within the limit).
struct Reply {
    status: StatusCode,
    header_length: Option<usize>,
    body: Bytes,
}

impl Client {
    /// A client for the server at `base_url` (`http://host:port`, optionally
    /// with a path prefix that the server's routes follow). Connects lazily;
    /// calls must run inside a Tokio runtime.
    pub fn new(base_url: &str, options: ClientOptions) -> Result<Client> {
        let invalid = |reason| Error::InvalidUrl { url: base_url.to_owned(), reason };
        let uri: Uri = base_url.parse().map_err(|_| invalid("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(invalid("https is not supported: use http, or a TLS-terminating proxy")),
            _ => return Err(invalid("the scheme must be http")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if uri.query().is_some() {
            return Err(invalid("a query string is not allowed"));
        }
        let base = format!("http://{authority}{}", uri.path().trim_end_matches('/'));

        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(options.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Client { http, base, options })
    }

    /// The server's URL as the client uses it (`http://host:port[/prefix]`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// `GET /v2/health/live`: whether the server is alive.
    pub async fn server_live(&self) -> Result<bool> {
        Ok(self.get("/v2/health/live").await?.status == StatusCode::OK)
    }

    /// `GET /v2/health/ready`: whether the server is ready. Errors when it
    /// cannot be reached (see [`Error::is_unavailable`]).
    pub async fn server_ready(&self) -> Result<bool> {
        Ok(self.get("/v2/health/ready").await?.status == StatusCode::OK)
    }

    /// `GET /v2/models/{name}[/versions/{version}]/ready`: whether the model is
    /// ready (false as well when the server does not know it).
    pub async fn model_ready(&self, name: &str, version: Option<&str>) -> Result<bool> {
        let path = format!("{}/ready", model_path(name, version));
        Ok(self.get(&path).await?.status == StatusCode::OK)
    }

    /// Server and model both ready; any error counts as not ready.
    pub async fn ready(&self, name: &str, version: Option<&str>) -> bool {
        matches!(self.server_ready().await, Ok(true)) && matches!(self.model_ready(name, version).await, Ok(true))
    }

    /// `GET /v2/models/{name}[/versions/{version}]`: the model's inputs and outputs.
    pub async fn model_metadata(&self, name: &str, version: Option<&str>) -> Result<ModelMetadata> {
        let path = model_path(name, version);
        let reply = self.get(&path).await?;
        if reply.status != StatusCode::OK {
            return Err(self.status_error(&path, name, version, &reply));
        }
        self.check_json_size(reply.body.len())?;
        codec::decode_metadata(&reply.body)
    }

    /// `POST /v2/models/{name}[/versions/{version}]/infer` with the binary
    /// tensor data extension. Returns the `outputs` named, in that order (all
    /// of the model's outputs, in the server's order, when none are named).
    pub async fn infer(
        &self,
        name: &str,
        version: Option<&str>,
        inputs: &[InputTensor<'_>],
        outputs: &[&str],
    ) -> Result<Vec<OutputTensor>> {
        let request = codec::encode_request(inputs, outputs)?;
        let path = format!("{}/infer", model_path(name, version));
        let reply = self.call(Method::POST, &path, Some((request.body, request.header_length))).await?;
        if reply.status != StatusCode::OK {
            return Err(self.status_error(&path, name, version, &reply));
        }
        self.check_json_size(reply.header_length.unwrap_or(reply.body.len()))?;
        let mut decoded = codec::decode_response(reply.body, reply.header_length)?;
        if outputs.is_empty() {
            return Ok(decoded);
        }
        let mut ordered = Vec::with_capacity(outputs.len());
        for &wanted in outputs {
            let Some(at) = decoded.iter().position(|o| o.name == wanted) else {
                return Err(Error::Protocol(format!("the answer lacks the requested output {wanted:?}")));
            };
            ordered.push(decoded.swap_remove(at));
        }
        Ok(ordered)
    }

    fn check_json_size(&self, size: usize) -> Result<()> {
        let (size, limit) = (size as u64, self.options.max_json_bytes);
        if size > limit {
            return Err(Error::TooLarge { what: "JSON part of the response", size, limit });
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn status_error(&self, path: &str, model: &str, version: Option<&str>, reply: &Reply) -> Error {
        let message = codec::error_message(&reply.body);
        // KServe answers 404; Triton 404 for metadata and inference, older releases 400.
        let unknown = reply.status == StatusCode::NOT_FOUND
            || (reply.status == StatusCode::BAD_REQUEST && message.contains("unknown model"));
        if unknown {
            return Error::ModelNotFound { model: model.to_owned(), version: version.map(str::to_owned), message };
        }
        Error::Status { url: self.url(path), status: reply.status.as_u16(), message }
    }

    async fn get(&self, path: &str) -> Result<Reply> {
        self.call(Method::GET, path, None).await
    }

    /// One call under the deadline, retried while retrying is safe.
    async fn call(&self, method: Method, path: &str, body: Option<(Bytes, usize)>) -> Result<Reply> {
        let url = self.url(path);
        let idempotent = method == Method::GET;
        let attempts = async {
            let mut attempt = 0;
            loop {
                let result = self.exchange(&method, &url, body.clone()).await;
                let retry = match &result {
                    Err(Error::Connect { .. }) => true,
                    Err(Error::Transport { .. }) => idempotent,
                    _ => false,
                };
                if !retry || attempt >= self.options.retries {
                    return result;
                }
                tokio::time::sleep(Duration::from_millis(50u64 << attempt.min(4))).await;
                attempt += 1;
            }
        };
        match tokio::time::timeout(self.options.timeout, attempts).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { url, after: self.options.timeout }),
        }
    }

    async fn exchange(&self, method: &Method, url: &str, body: Option<(Bytes, usize)>) -> Result<Reply> {
        let mut request = Request::builder().method(method.clone()).uri(url);
        let payload = match body {
            Some((bytes, header_length)) => {
                request = request.header(CONTENT_TYPE, "application/octet-stream").header(HEADER_LENGTH, header_length);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| Error::InvalidUrl { url: url.to_owned(), reason: build_error_reason(&e) })?;
        let response = self.http.request(request).await.map_err(|e| {
            let reason = chain(&e);
            if e.is_connect() {
                Error::Connect { url: url.to_owned(), reason }
            } else {
                Error::Transport { url: url.to_owned(), reason }
            }
        })?;
        let status = response.status();
        let header_length = match response.headers().get(HEADER_LENGTH) {
            Some(value) => Some(codec::parse_header_length(value.as_bytes())?),
            None => None,
        };
        let declared = match response.headers().get(CONTENT_LENGTH) {
            Some(value) => Some(
                std::str::from_utf8(value.as_bytes())
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| Error::Protocol("bad Content-Length".to_owned()))?,
            ),
            None => None,
        };
        let body = if status.is_success() {
            read_body(response.into_body(), declared, self.options.max_response_bytes, url).await?
        } else {
            // An error body is only read for its message: a bounded start of it.
            let limit = MAX_ERROR_BODY.min(self.options.max_response_bytes);
            match read_body(response.into_body(), declared, limit, url).await {
                Err(Error::TooLarge { .. }) => Bytes::from_static(b"(error body too large to show)"),
                other => other?,
            }
        };
        Ok(Reply { status, header_length, body })
    }
}

/// A static reason for a request that `http` refused to build (the URL came from
/// the caller's base URL and model name, both checked or percent-encoded).
fn build_error_reason(_: &http::Error) -> &'static str {
    "cannot build a request for this URL"
}

async fn read_body(mut body: Incoming, declared: Option<u64>, limit: u64, url: &str) -> Result<Bytes> {
    if let Some(size) = declared.filter(|&size| size > limit) {
        return Err(Error::TooLarge { what: "declared response body", size, limit });
    }
    let capacity = usize::try_from(declared.unwrap_or(0)).unwrap_or(0);
    let mut buffer = BytesMut::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Transport { url: url.to_owned(), reason: chain(&e) })?;
        if let Ok(data) = frame.into_data() {
            let size = (buffer.len() + data.len()) as u64;
            if size > limit {
                return Err(Error::TooLarge { what: "response body", size, limit });
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

/// `/v2/models/{name}[/versions/{version}]`, percent-encoded.
fn model_path(name: &str, version: Option<&str>) -> String {
    let mut path = format!("/v2/models/{}", encode_segment(name));
    if let Some(version) = version {
        path.push_str("/versions/");
        path.push_str(&encode_segment(version));
    }
    path
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An error and its sources, joined.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let client = Client::new("http://127.0.0.1:8000/", ClientOptions::default()).unwrap();
        assert_eq!(client.url("/v2"), "http://127.0.0.1:8000/v2");
        let client = Client::new("http://models.local/kserve/", ClientOptions::default()).unwrap();
        assert_eq!(client.url("/v2"), "http://models.local/kserve/v2");
        for bad in ["https://x", "ftp://x", "127.0.0.1:8000", "http://x/?a=1", "not a url"] {
            let error = Client::new(bad, ClientOptions::default()).unwrap_err();
            assert!(matches!(error, Error::InvalidUrl { .. }), "{bad}: {error}");
        }
    }

    #[test]
    fn client_and_errors_cross_threads() {
        fn send_sync_static<T: Send + Sync + 'static>() {}
        send_sync_static::<Client>();
        send_sync_static::<Error>();
    }

    #[test]
    fn model_paths_are_percent_encoded() {
        assert_eq!(model_path("demo_body", None), "/v2/models/demo_body");
        assert_eq!(model_path("a b/c", Some("1")), "/v2/models/a%20b%2Fc/versions/1");
        assert_eq!(model_path("é", None), "/v2/models/%C3%A9");
    }
}
