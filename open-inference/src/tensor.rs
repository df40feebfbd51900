//! Tensors sent and received, model metadata, and checking metadata against expectations.

use bytes::Bytes;

use crate::datatype::Datatype;
use crate::error::{Error, Mismatch, Result};

/// The data of an input tensor, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum TensorData<'a> {
    /// 32-bit floats, sent as little-endian `FP32`.
    F32(&'a [f32]),
    /// Raw little-endian bytes of the tensor's datatype, sent as they are.
    Raw(&'a [u8]),
}

/// One input of an inference request.
#[derive(Debug, Clone, Copy)]
pub struct InputTensor<'a> {
    /// The model's input name.
    pub name: &'a str,
    /// The element type.
    pub datatype: Datatype,
    /// The shape (row-major).
    pub shape: &'a [u64],
    /// The elements.
    pub data: TensorData<'a>,
}

impl<'a> InputTensor<'a> {
    /// An `FP32` input.
    pub fn f32(name: &'a str, shape: &'a [u64], data: &'a [f32]) -> Self {
        InputTensor { name, datatype: Datatype::Fp32, shape, data: TensorData::F32(data) }
    }

    /// An input of any fixed-size datatype from its raw little-endian bytes.
    pub fn raw(name: &'a str, datatype: Datatype, shape: &'a [u64], bytes: &'a [u8]) -> Self {
        InputTensor { name, datatype, shape, data: TensorData::Raw(bytes) }
    }

    /// Size of the data in bytes.
    pub fn byte_len(&self) -> usize {
        match self.data {
            TensorData::F32(values) => values.len() * 4,
            TensorData::Raw(bytes) => bytes.len(),
        }
    }

    /// Checks that the data holds exactly `product(shape)` elements of the datatype.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidInput { tensor: self.name.to_owned(), reason };
        if matches!(self.data, TensorData::F32(_)) && self.datatype != Datatype::Fp32 {
            return Err(invalid(format!("f32 data declared as {}", self.datatype)));
        }
        let Some(size) = self.datatype.element_size() else {
            return Ok(()); // BYTES: variable-length elements, the server checks them.
        };
        let expected = element_count(self.shape).and_then(|n| n.checked_mul(size as u64));
        if expected != Some(self.byte_len() as u64) {
            return Err(invalid(format!(
                "shape {:?} of {} needs {} bytes, the data has {}",
                self.shape,
                self.datatype,
                expected.map_or_else(|| "too many".to_owned(), |n| n.to_string()),
                self.byte_len()
            )));
        }
        Ok(())
    }
}

/// The product of the dimensions; `None` on overflow.
pub(crate) fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// One output of an inference response.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// The output's name.
    pub name: String,
    /// The element type.
    pub datatype: Datatype,
    /// The shape (row-major).
    pub shape: Vec<u64>,
    /// The elements as little-endian bytes (checked against shape and datatype).
    pub data: Bytes,
}

impl OutputTensor {
    /// The elements of an `FP32` output.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        if self.datatype != Datatype::Fp32 {
            return Err(Error::OutputType {
                tensor: self.name.clone(),
                expected: Datatype::Fp32,
                actual: self.datatype,
            });
        }
        Ok(self.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// A tensor as `/v2/models/{name}` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMetadata {
    /// The tensor's name.
    pub name: String,
    /// The element type.
    pub datatype: Datatype,
    /// The shape; -1 marks a dimension of any size.
    pub shape: Vec<i64>,
}

/// What `/v2/models/{name}` says of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMetadata {
    /// The model's name.
    pub name: String,
    /// The versions the server has.
    pub versions: Vec<String>,
    /// The server's platform string (e.g. `"onnxruntime_onnx"`, `"python"`).
    pub platform: String,
    /// The inputs.
    pub inputs: Vec<TensorMetadata>,
    /// The outputs.
    pub outputs: Vec<TensorMetadata>,
}

/// What the caller expects of one tensor: checked by [`ModelMetadata::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name.
    pub name: String,
    /// The element type.
    pub datatype: Datatype,
    /// The shape; -1 marks a dimension the caller does not fix.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(name: impl Into<String>, datatype: Datatype, shape: impl Into<Vec<i64>>) -> Self {
        TensorSpec { name: name.into(), datatype, shape: shape.into() }
    }
}

impl ModelMetadata {
    /// Checks the server's model against the caller's expectations: every
    /// expected tensor exists with the same datatype and rank, and every
    /// dimension fixed on both sides is equal (-1 on either side matches any
    /// size). Returns the first difference as [`Error::Mismatch`].
    pub fn check(&self, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<()> {
        check_side(&self.name, "input", &self.inputs, inputs)?;
        check_side(&self.name, "output", &self.outputs, outputs)
    }
}

fn check_side(
    model: &str,
    tensor_kind: &'static str,
    actual: &[TensorMetadata],
    expected: &[TensorSpec],
) -> Result<()> {
    for spec in expected {
        let error =
            |mismatch| Error::Mismatch { model: model.to_owned(), tensor_kind, tensor: spec.name.clone(), mismatch };
        let Some(found) = actual.iter().find(|t| t.name == spec.name) else {
            return Err(error(Mismatch::Missing { available: actual.iter().map(|t| t.name.clone()).collect() }));
        };
        if found.datatype != spec.datatype {
            return Err(error(Mismatch::Datatype { expected: spec.datatype, actual: found.datatype }));
        }
        if found.shape.len() != spec.shape.len() {
            return Err(error(Mismatch::Rank { expected: spec.shape.clone(), actual: found.shape.clone() }));
        }
        for (axis, (&want, &have)) in spec.shape.iter().zip(&found.shape).enumerate() {
            if want >= 0 && have >= 0 && want != have {
                return Err(error(Mismatch::Dimension { axis, expected: want, actual: have }));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn metadata() -> ModelMetadata {
        ModelMetadata {
            name: "body".into(),
            versions: vec!["1".into()],
            platform: "python".into(),
            inputs: vec![TensorMetadata { name: "image".into(), datatype: Datatype::Fp32, shape: vec![-1, 1, -1, -1] }],
            outputs: vec![TensorMetadata {
                name: "logits".into(),
                datatype: Datatype::Fp32,
                shape: vec![-1, 2, 64, 64],
            }],
        }
    }

    #[test]
    fn check_accepts_compatible_shapes() {
        let m = metadata();
        m.check(
            &[TensorSpec::new("image", Datatype::Fp32, [4, 1, 256, 256])],
            &[TensorSpec::new("logits", Datatype::Fp32, [-1, 2, 64, -1])],
        )
        .unwrap();
    }

    #[test]
    fn check_names_the_tensor_and_the_difference() {
        let m = metadata();
        let fp16 = m.check(&[TensorSpec::new("image", Datatype::Fp16, [4, 1, 256, 256])], &[]).unwrap_err();
        assert!(matches!(
            &fp16,
            Error::Mismatch { tensor, mismatch: Mismatch::Datatype { expected: Datatype::Fp16, actual: Datatype::Fp32 }, .. }
                if tensor == "image"
        ));
        assert_eq!(fp16.kind(), ErrorKind::BadGateway);
        assert_eq!(fp16.to_string(), "model \"body\": input \"image\": datatype is FP32 on the server, expected FP16");
        let rank = m.check(&[TensorSpec::new("image", Datatype::Fp32, [1, 256, 256])], &[]).unwrap_err();
        assert!(matches!(rank, Error::Mismatch { mismatch: Mismatch::Rank { .. }, .. }));
        let dim = m.check(&[], &[TensorSpec::new("logits", Datatype::Fp32, [-1, 3, 64, 64])]).unwrap_err();
        assert!(matches!(
            &dim,
            Error::Mismatch {
                tensor_kind: "output",
                mismatch: Mismatch::Dimension { axis: 1, expected: 3, actual: 2, .. },
                ..
            }
        ));
        let missing = m.check(&[TensorSpec::new("img", Datatype::Fp32, [1])], &[]).unwrap_err();
        assert!(missing.to_string().contains("missing on the server (it has [\"image\"])"), "{missing}");
    }

    #[test]
    fn input_validation_checks_length_against_shape() {
        let data = [0.0f32; 6];
        InputTensor::f32("x", &[2, 3], &data).validate().unwrap();
        let short = InputTensor::f32("x", &[2, 4], &data).validate().unwrap_err();
        assert!(short.to_string().contains("needs 32 bytes, the data has 24"), "{short}");
        assert_eq!(short.kind(), ErrorKind::Internal);
        let huge = InputTensor::f32("x", &[u64::MAX, 2], &data).validate().unwrap_err();
        assert!(huge.to_string().contains("too many"), "{huge}");
        let mislabelled = InputTensor { datatype: Datatype::Int32, ..InputTensor::f32("x", &[6], &data) };
        assert!(mislabelled.validate().is_err());
        InputTensor::raw("b", Datatype::Uint8, &[2, 2], &[1, 2, 3, 4]).validate().unwrap();
    }
}
