//! What a client uploads as "the image": one DICOM file, a zip of a DICOM series, or a NIfTI
//! volume; recognised by content, not by name.

use std::io::{Cursor, Read};

use arterys_gateway::budget::{BudgetError, Reservation};
use axum::http::StatusCode;
use bytes::Bytes;

use super::nifti_io::{self, NiftiError, NiftiInput};

/// How far an upload may inflate (a gzip-compressed NIfTI volume, a zip of DICOM files):
/// compression bombs are refused by the ratio long before the absolute limit or the memory
/// budget is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Most bytes the whole upload may inflate to.
    pub max_bytes: u64,
    /// Most times its compressed size the upload may inflate to (beyond [`RATIO_FLOOR`]).
    pub max_ratio: u64,
}

/// Inflated bytes allowed whatever the ratio: a small file of a uniform image compresses far
/// better than a study does.
pub const RATIO_FLOOR: u64 = 16 << 20;

impl Default for InflateLimits {
    /// 4 GiB, and 100 times the compressed size: DICOM and image volumes compress a few times
    /// (a mostly empty volume some tens of times); bombs a thousand times and more.
    fn default() -> Self {
        Self { max_bytes: 4 << 30, max_ratio: 100 }
    }
}

/// Inflates in steps of this many bytes, each reserved before it is read.
const STEP: usize = 4 << 20;

/// An uploaded image, ready for the model.
pub enum Upload {
    /// DICOM files (one, or a series from a zip).
    Dicom(Vec<Bytes>),
    /// A NIfTI volume, as DICOM slices plus its header.
    Nifti(Box<NiftiInput>),
}

/// An upload that is none of the accepted kinds, or inflates too far.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a zip of DICOM files, a DICOM file, or NIfTI.
    #[error("the image is not DICOM, a zip of DICOM files, or NIfTI (.nii, .nii.gz)")]
    Unknown,
    /// A zip that cannot be read.
    #[error("the zip cannot be read: {0}")]
    Zip(String),
    /// A zip without DICOM files.
    #[error("the zip holds no DICOM file")]
    EmptyZip,
    /// A NIfTI volume that cannot be used.
    #[error(transparent)]
    Nifti(#[from] NiftiError),
    /// A compressed stream that cannot be inflated.
    #[error("the upload cannot be inflated: {0}")]
    Inflate(String),
    /// Inflates past the absolute limit.
    #[error("the upload inflates past the {0}-byte limit")]
    InflatesTooFar(u64),
    /// Inflates more than the ratio limit allows (a compression bomb).
    #[error("the upload inflates more than {ratio} times its {compressed}-byte size")]
    InflatesTooMuch {
        /// The ratio limit.
        ratio: u64,
        /// The compressed size.
        compressed: u64,
    },
    /// No room in the memory budget for what it inflates or decodes to.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}

impl UploadError {
    /// The status it is answered with: 413 for what inflates or decodes past a limit or the
    /// whole memory budget, 503 while the budget has no room, 422 for content that cannot be
    /// used.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Budget(b) | Self::Nifti(NiftiError::Budget(b)) => match b {
                BudgetError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
                BudgetError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            },
            Self::InflatesTooFar(_) | Self::InflatesTooMuch { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl Upload {
    /// Recognises `bytes`: zip, gzip (NIfTI), NIfTI-1, else DICOM. What it inflates and
    /// decodes to is held within `limits` and reserved in `memory` (when given) before it is
    /// made.
    pub fn read(
        bytes: Bytes,
        limits: InflateLimits,
        mut memory: Option<&mut Reservation>,
    ) -> Result<Self, UploadError> {
        let mut inflater = Inflater { limits, compressed: bytes.len() as u64, total: 0, memory: memory.as_deref_mut() };
        if bytes.starts_with(b"PK\x03\x04") {
            return unzip(&bytes, &mut inflater).map(Self::Dicom);
        }
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let raw = inflater.inflate(flate2::read::GzDecoder::new(&bytes[..]), "gzip")?;
            drop(bytes);
            return Ok(Self::Nifti(Box::new(nifti_io::read_raw(raw, memory)?)));
        }
        if bytes.get(344..348).is_some_and(|m| m == b"n+1\0") {
            return Ok(Self::Nifti(Box::new(nifti_io::read_raw(bytes.to_vec(), memory)?)));
        }
        if arterys_gateway::looks_like_dicom(&bytes) {
            return Ok(Self::Dicom(vec![bytes]));
        }
        Err(UploadError::Unknown)
    }
}

/// Inflates an upload's streams within its limits, reserving each step before reading it.
struct Inflater<'a> {
    limits: InflateLimits,
    compressed: u64,
    /// Inflated so far, over all streams.
    total: u64,
    memory: Option<&'a mut Reservation>,
}

impl Inflater<'_> {
    fn allowed(&self) -> Result<u64, UploadError> {
        let by_ratio = self.compressed.saturating_mul(self.limits.max_ratio).max(RATIO_FLOOR);
        if self.total > self.limits.max_bytes {
            return Err(UploadError::InflatesTooFar(self.limits.max_bytes));
        }
        if self.total > by_ratio {
            return Err(UploadError::InflatesTooMuch { ratio: self.limits.max_ratio, compressed: self.compressed });
        }
        Ok(self.limits.max_bytes.min(by_ratio) - self.total)
    }

    /// The whole of `reader`; `what` names it in errors.
    fn inflate(&mut self, mut reader: impl Read, what: &str) -> Result<Vec<u8>, UploadError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let room = self.allowed()?;
            // One byte past what is allowed tells "exactly at the limit" from "past it".
            let step = (STEP as u64).min(room + 1) as usize;
            if out.capacity() - out.len() < step {
                let want = (out.capacity() * 2).max(out.len() + step).min(out.len() + room as usize + 1);
                let old = out.capacity() as u64;
                // Growing copies into a new buffer while the old one lives: both are held.
                if let Some(m) = self.memory.as_deref_mut() {
                    m.try_grow(want as u64)?;
                }
                out.reserve_exact(want - out.len());
                if let Some(m) = self.memory.as_deref_mut() {
                    m.shrink_to(m.bytes().saturating_sub(old));
                }
            }
            let len = out.len();
            out.resize(len + step, 0);
            let n =
                read_some(&mut reader, &mut out[len..]).map_err(|e| UploadError::Inflate(format!("{what}: {e}")))?;
            out.truncate(len + n);
            self.total += n as u64;
            if n == 0 {
                return Ok(out);
            }
        }
    }
}

/// Fills `buf` as far as `reader` goes; the count read (short only at its end).
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Every DICOM file of a zip (folders included, other files skipped), in name order.
fn unzip(bytes: &[u8], inflater: &mut Inflater<'_>) -> Result<Vec<Bytes>, UploadError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| UploadError::Zip(e.to_string()))?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| UploadError::Zip(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let data = inflater.inflate(entry, &name)?;
        if arterys_gateway::looks_like_dicom(&data) {
            files.push((name, Bytes::from(data)));
        } else if let Some(m) = inflater.memory.as_deref_mut() {
            // Skipped: its room goes back.
            m.shrink_to(m.bytes().saturating_sub(data.capacity() as u64));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(UploadError::EmptyZip);
    }
    Ok(files.into_iter().map(|(_, b)| b).collect())
}
