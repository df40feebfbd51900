//! The wire format, without I/O: request bodies out, response bodies in.
//!
//! An inference request or response with the binary tensor data extension is
//! a JSON header followed by the raw little-endian bytes of each tensor that
//! is marked binary, in the order the header lists them. The HTTP header
//! `Inference-Header-Content-Length` gives the JSON header's length; without
//! it the whole body is JSON. Each binary tensor carries
//! `parameters.binary_data_size`; an output is asked for in binary with its
//! own `parameters.binary_data: true`, or all outputs at once with the
//! request's `parameters.binary_data_output: true`.
//!
//! Everything here checks what the server declares against what it sent, so
//! a broken or hostile server gets an [`Error::Protocol`], never a panic or an
//! allocation larger than its own (already bounded) body.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::datatype::Datatype;
use crate::error::{Error, Result};
use crate::tensor::{element_count, InputTensor, ModelMetadata, OutputTensor, TensorData, TensorMetadata};

/// The HTTP header that gives the length of the JSON part of a body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// An encoded inference request body.
#[derive(Debug, Clone)]
pub struct EncodedRequest {
    /// The JSON header followed by the binary tensor data.
    pub body: Bytes,
    /// The JSON header's length: the value of `Inference-Header-Content-Length`.
    pub header_length: usize,
}

#[derive(Serialize)]
struct RequestHeader<'a> {
    inputs: Vec<RequestInput<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outputs: Vec<RequestOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryOutput>,
}

#[derive(Serialize)]
struct RequestInput<'a> {
    name: &'a str,
    shape: &'a [u64],
    datatype: &'static str,
    parameters: BinarySize,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

#[derive(Serialize)]
struct RequestOutput<'a> {
    name: &'a str,
    parameters: BinaryData,
}

#[derive(Serialize)]
struct BinaryData {
    binary_data: bool,
}

#[derive(Serialize)]
struct BinaryOutput {
    binary_data_output: bool,
}

/// Encodes an inference request: every input in binary, every requested output
/// asked for in binary (with no outputs named, the server returns all of them,
/// in binary by the request-level parameter).
pub fn encode_request(inputs: &[InputTensor<'_>], outputs: &[&str]) -> Result<EncodedRequest> {
    for input in inputs {
        input.validate()?;
    }
    let header = RequestHeader {
        inputs: inputs
            .iter()
            .map(|t| RequestInput {
                name: t.name,
                shape: t.shape,
                datatype: t.datatype.as_str(),
                parameters: BinarySize { binary_data_size: t.byte_len() },
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(|&name| RequestOutput { name, parameters: BinaryData { binary_data: true } })
            .collect(),
        parameters: outputs.is_empty().then_some(BinaryOutput { binary_data_output: true }),
    };
    let json = serde_json::to_vec(&header).map_err(|e| Error::InvalidInput {
        tensor: String::new(),
        reason: format!("cannot encode the request header: {e}"),
    })?;
    let data_len: usize = inputs.iter().map(InputTensor::byte_len).sum();
    let mut body = BytesMut::with_capacity(json.len() + data_len);
    body.put_slice(&json);
    for input in inputs {
        match input.data {
            TensorData::Raw(bytes) => body.put_slice(bytes),
            TensorData::F32(values) => {
                let start = body.len();
                body.resize(start + values.len() * 4, 0);
                for (out, value) in body[start..].chunks_exact_mut(4).zip(values) {
                    out.copy_from_slice(&value.to_le_bytes());
                }
            }
        }
    }
    Ok(EncodedRequest { body: body.freeze(), header_length: json.len() })
}

#[derive(Deserialize)]
struct ResponseHeader {
    #[serde(default)]
    outputs: Vec<ResponseOutput>,
}

#[derive(Deserialize)]
struct ResponseOutput {
    name: String,
    datatype: String,
    shape: Vec<u64>,
    #[serde(default)]
    parameters: Option<OutputParameters>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct OutputParameters {
    #[serde(default)]
    binary_data_size: Option<u64>,
}

/// Parses an `Inference-Header-Content-Length` value.
pub fn parse_header_length(value: &[u8]) -> Result<usize> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("bad {HEADER_LENGTH}: {:?}", String::from_utf8_lossy(value))))
}

/// Decodes an inference response body. `header_length` is the value of
/// `Inference-Header-Content-Length` (`None`: the whole body is JSON).
/// The outputs come back in the server's order; their data slices `body`
/// without copying.
pub fn decode_response(body: Bytes, header_length: Option<usize>) -> Result<Vec<OutputTensor>> {
    let header_length = header_length.unwrap_or(body.len());
    if header_length > body.len() {
        return Err(Error::Protocol(format!(
            "{HEADER_LENGTH} is {header_length} but the body has only {} bytes",
            body.len()
        )));
    }
    let header: ResponseHeader = serde_json::from_slice(&body[..header_length])
        .map_err(|e| Error::Protocol(format!("response header is not valid JSON: {e}")))?;
    let mut offset = header_length;
    let mut tensors = Vec::with_capacity(header.outputs.len());
    for output in header.outputs {
        let datatype = Datatype::parse(&output.datatype).ok_or_else(|| {
            Error::Protocol(format!("output {:?} has unknown datatype {:?}", output.name, output.datatype))
        })?;
        let expected = expected_size(&output.name, datatype, &output.shape)?;
        let binary = output.parameters.as_ref().and_then(|p| p.binary_data_size);
        let data = match (binary, output.data) {
            (Some(size), _) => {
                let end = usize::try_from(size).ok().and_then(|s| offset.checked_add(s)).filter(|&e| e <= body.len());
                let Some(end) = end else {
                    return Err(Error::Protocol(format!(
                        "output {:?} declares {size} binary bytes but only {} remain in the body",
                        output.name,
                        body.len() - offset
                    )));
                };
                if expected.is_some_and(|n| n != size) {
                    return Err(Error::Protocol(format!(
                        "output {:?} of shape {:?} {} needs {} bytes, the server declares {size}",
                        output.name,
                        output.shape,
                        datatype,
                        expected.unwrap_or_default()
                    )));
                }
                let data = body.slice(offset..end);
                offset = end;
                data
            }
            (None, Some(values)) => json_data(&output.name, datatype, &output.shape, &values)?,
            (None, None) => {
                return Err(Error::Protocol(format!("output {:?} has neither binary data nor data", output.name)))
            }
        };
        tensors.push(OutputTensor { name: output.name, datatype, shape: output.shape, data });
    }
    if offset != body.len() {
        return Err(Error::Protocol(format!("{} bytes after the declared tensor data", body.len() - offset)));
    }
    Ok(tensors)
}

/// Bytes that `shape` of `datatype` needs (`None` for `BYTES`); an error when it overflows.
fn expected_size(name: &str, datatype: Datatype, shape: &[u64]) -> Result<Option<u64>> {
    let Some(size) = datatype.element_size() else {
        return Ok(None);
    };
    element_count(shape)
        .and_then(|n| n.checked_mul(size as u64))
        .map(Some)
        .ok_or_else(|| Error::Protocol(format!("output {name:?} has an impossible shape {shape:?}")))
}

/// Converts a JSON `data` array (flat or nested) to little-endian bytes.
fn json_data(name: &str, datatype: Datatype, shape: &[u64], values: &Value) -> Result<Bytes> {
    let bad = |what: &str| Error::Protocol(format!("output {name:?} ({datatype}): {what}"));
    let mut flat = Vec::new();
    flatten(values, &mut flat);
    let mut out = BytesMut::with_capacity(flat.len() * datatype.element_size().unwrap_or(8));
    for value in &flat {
        let ok = match datatype {
            Datatype::Fp32 => value.as_f64().map(|v| out.put_f32_le(v as f32)),
            Datatype::Fp64 => value.as_f64().map(|v| out.put_f64_le(v)),
            Datatype::Bool => value.as_bool().map(|v| out.put_u8(u8::from(v))),
            Datatype::Int8 => int(value).and_then(|v| i8::try_from(v).ok()).map(|v| out.put_i8(v)),
            Datatype::Int16 => int(value).and_then(|v| i16::try_from(v).ok()).map(|v| out.put_i16_le(v)),
            Datatype::Int32 => int(value).and_then(|v| i32::try_from(v).ok()).map(|v| out.put_i32_le(v)),
            Datatype::Int64 => int(value).and_then(|v| i64::try_from(v).ok()).map(|v| out.put_i64_le(v)),
            Datatype::Uint8 => int(value).and_then(|v| u8::try_from(v).ok()).map(|v| out.put_u8(v)),
            Datatype::Uint16 => int(value).and_then(|v| u16::try_from(v).ok()).map(|v| out.put_u16_le(v)),
            Datatype::Uint32 => int(value).and_then(|v| u32::try_from(v).ok()).map(|v| out.put_u32_le(v)),
            Datatype::Uint64 => int(value).and_then(|v| u64::try_from(v).ok()).map(|v| out.put_u64_le(v)),
            Datatype::Bytes => value.as_str().and_then(|s| {
                let len = u32::try_from(s.len()).ok()?;
                out.put_u32_le(len);
                out.put_slice(s.as_bytes());
                Some(())
            }),
            Datatype::Fp16 | Datatype::Bf16 => return Err(bad("JSON data is not supported for this datatype")),
        };
        if ok.is_none() {
            return Err(bad(&format!("element {value} does not fit the datatype")));
        }
    }
    let count = element_count(shape);
    if count != Some(flat.len() as u64) {
        return Err(bad(&format!("shape {shape:?} does not match {} elements", flat.len())));
    }
    Ok(out.freeze())
}

fn int(value: &Value) -> Option<i128> {
    value.as_i64().map(i128::from).or_else(|| value.as_u64().map(i128::from))
}

fn flatten<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

#[derive(Deserialize)]
struct MetadataJson {
    name: String,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    inputs: Vec<TensorJson>,
    #[serde(default)]
    outputs: Vec<TensorJson>,
}

#[derive(Deserialize)]
struct TensorJson {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

/// Decodes the body of `GET /v2/models/{name}[/versions/{version}]`.
pub fn decode_metadata(body: &[u8]) -> Result<ModelMetadata> {
    let json: MetadataJson =
        serde_json::from_slice(body).map_err(|e| Error::Protocol(format!("model metadata is not valid: {e}")))?;
    let tensors = |list: Vec<TensorJson>| {
        list.into_iter()
            .map(|t| {
                let datatype = Datatype::parse(&t.datatype).ok_or_else(|| {
                    Error::Protocol(format!("tensor {:?} has unknown datatype {:?}", t.name, t.datatype))
                })?;
                if let Some(d) = t.shape.iter().find(|&&d| d < -1) {
                    return Err(Error::Protocol(format!("tensor {:?} has dimension {d}", t.name)));
                }
                Ok(TensorMetadata { name: t.name, datatype, shape: t.shape })
            })
            .collect::<Result<Vec<_>>>()
    };
    Ok(ModelMetadata {
        name: json.name,
        versions: json.versions,
        platform: json.platform,
        inputs: tensors(json.inputs)?,
        outputs: tensors(json.outputs)?,
    })
}

/// The message of an error body (`{"error": "..."}`), or the start of the body as text.
pub fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorJson {
        error: String,
    }
    if let Ok(json) = serde_json::from_slice::<ErrorJson>(body) {
        return json.error;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    text.trim().to_owned()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
