//! [`MaskShape`]: the shape of a mask buffer and its wire form, below both the masks and
//! the response's validation, which names shapes in its errors.

use crate::response::json::BinaryDataShape;

/// The shape of a mask: one image, or a series (a volume, possibly over time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaskShape {
    /// A 2D mask for one image (`binary_data_shape` = `{width, height}`).
    Image {
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
    },
    /// A 3D mask for a series (`binary_data_shape` = `{timepoints, depth, width, height}`).
    Volume {
        /// Timepoints (1 for a plain volume).
        timepoints: u32,
        /// Slices.
        depth: u32,
        /// Rows.
        height: u32,
        /// Columns.
        width: u32,
    },
}

impl MaskShape {
    /// A 2D shape.
    pub fn image(width: u32, height: u32) -> Self {
        Self::Image { width, height }
    }

    /// A 3D shape with one timepoint.
    pub fn volume(depth: u32, height: u32, width: u32) -> Self {
        Self::Volume { timepoints: 1, depth, height, width }
    }

    /// `(timepoints, depth, height, width)`, 1 for the dimensions a 2D shape lacks.
    pub fn dims(&self) -> (u32, u32, u32, u32) {
        match *self {
            Self::Image { width, height } => (1, 1, height, width),
            Self::Volume { timepoints, depth, height, width } => (timepoints, depth, height, width),
        }
    }

    /// Whether this is a 2D (single image) shape.
    pub fn is_image(&self) -> bool {
        matches!(self, Self::Image { .. })
    }

    /// Number of voxels (= bytes of the buffer), or `None` if it does not fit in `usize`.
    pub fn voxel_count(&self) -> Option<usize> {
        let (t, d, h, w) = self.dims();
        [t, d, h, w].into_iter().try_fold(1usize, |acc, v| acc.checked_mul(usize::try_from(v).ok()?))
    }

    /// The wire form of the shape.
    pub fn to_binary_data_shape(&self) -> BinaryDataShape {
        match *self {
            Self::Image { width, height } => BinaryDataShape { timepoints: None, depth: None, width, height },
            Self::Volume { timepoints, depth, height, width } => {
                BinaryDataShape { timepoints: Some(timepoints), depth: Some(depth), width, height }
            }
        }
    }

    /// The shape a wire `binary_data_shape` describes: 3D when it has a depth or timepoints.
    pub fn from_binary_data_shape(s: &BinaryDataShape) -> Self {
        match (s.timepoints, s.depth) {
            (None, None) => Self::Image { width: s.width, height: s.height },
            (t, d) => {
                Self::Volume { timepoints: t.unwrap_or(1), depth: d.unwrap_or(1), height: s.height, width: s.width }
            }
        }
    }
}
