//! What a client uploads as "the image": one DICOM file, a zip of a DICOM series, or a NIfTI
//! volume; recognised by content, not by name.

use std::io::{Cursor, Read};

use bytes::Bytes;

use super::nifti_io::{self, NiftiError, NiftiInput};

/// Largest uncompressed size read from a zip (a bomb stops here).
const ZIP_LIMIT: u64 = 4 << 30;

/// An uploaded image, ready for the model.
pub enum Upload {
    /// DICOM files (one, or a series from a zip).
    Dicom(Vec<Bytes>),
    /// A NIfTI volume, as DICOM slices plus its header.
    Nifti(Box<NiftiInput>),
}

/// An upload that is none of the accepted kinds.
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
}

impl Upload {
    /// Recognises `bytes`: zip, gzip (NIfTI), NIfTI-1, else DICOM.
    pub fn read(bytes: Bytes) -> Result<Self, UploadError> {
        if bytes.starts_with(b"PK\x03\x04") {
            return unzip(&bytes).map(Self::Dicom);
        }
        let nifti_magic = bytes.get(344..348).is_some_and(|m| m == b"n+1\0");
        if bytes.starts_with(&[0x1f, 0x8b]) || nifti_magic {
            return Ok(Self::Nifti(Box::new(nifti_io::read(&bytes)?)));
        }
        if arterys_gateway::looks_like_dicom(&bytes) {
            return Ok(Self::Dicom(vec![bytes]));
        }
        Err(UploadError::Unknown)
    }
}

/// Every DICOM file of a zip (folders included, other files skipped), in name order.
fn unzip(bytes: &[u8]) -> Result<Vec<Bytes>, UploadError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| UploadError::Zip(e.to_string()))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| UploadError::Zip(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let mut data = Vec::new();
        let read = (&mut entry).take(ZIP_LIMIT - total).read_to_end(&mut data);
        read.map_err(|e| UploadError::Zip(format!("{name}: {e}")))?;
        total += data.len() as u64;
        if total >= ZIP_LIMIT {
            return Err(UploadError::Zip(format!("more than {} GiB uncompressed", ZIP_LIMIT >> 30)));
        }
        if arterys_gateway::looks_like_dicom(&data) {
            files.push((name, Bytes::from(data)));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(UploadError::EmptyZip);
    }
    Ok(files.into_iter().map(|(_, b)| b).collect())
}
