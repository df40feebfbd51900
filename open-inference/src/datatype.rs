//! [`Datatype`]: the protocol's tensor element types, below both the tensors and the errors
//! that name them.

use std::fmt;

/// A tensor element type as the protocol names it (`"FP32"`, `"INT64"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The variants are the protocol's names.
pub enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Bf16,
    Fp32,
    Fp64,
    /// Variable-length byte strings, each prefixed with its 4-byte little-endian length.
    Bytes,
}

const DATATYPES: [(Datatype, &str, usize); 14] = [
    (Datatype::Bool, "BOOL", 1),
    (Datatype::Uint8, "UINT8", 1),
    (Datatype::Uint16, "UINT16", 2),
    (Datatype::Uint32, "UINT32", 4),
    (Datatype::Uint64, "UINT64", 8),
    (Datatype::Int8, "INT8", 1),
    (Datatype::Int16, "INT16", 2),
    (Datatype::Int32, "INT32", 4),
    (Datatype::Int64, "INT64", 8),
    (Datatype::Fp16, "FP16", 2),
    (Datatype::Bf16, "BF16", 2),
    (Datatype::Fp32, "FP32", 4),
    (Datatype::Fp64, "FP64", 8),
    (Datatype::Bytes, "BYTES", 0),
];

impl Datatype {
    /// The protocol's name (`"FP32"`).
    pub fn as_str(self) -> &'static str {
        DATATYPES.iter().find(|(d, _, _)| *d == self).map_or("?", |(_, name, _)| name)
    }

    /// Parses the protocol's name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Datatype> {
        DATATYPES.iter().find(|(_, n, _)| *n == name).map(|(d, _, _)| *d)
    }

    /// Bytes per element; `None` for [`Datatype::Bytes`], whose elements vary.
    pub fn element_size(self) -> Option<usize> {
        DATATYPES.iter().find(|(d, _, _)| *d == self).map(|(_, _, size)| *size).filter(|size| *size > 0)
    }
}

impl fmt::Display for Datatype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatype_names_round_trip() {
        for (datatype, name, _) in DATATYPES {
            assert_eq!(Datatype::parse(name), Some(datatype));
            assert_eq!(datatype.to_string(), name);
        }
        assert_eq!(Datatype::parse("FP8"), None);
        assert_eq!(Datatype::Bytes.element_size(), None);
        assert_eq!(Datatype::Fp64.element_size(), Some(8));
    }
}
