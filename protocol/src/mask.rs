//! Mask buffers: uint8 voxels in the protocol's column-row-slice order.
//!
//! The order is numpy's C order of an array indexed `[timepoint][slice][row][col]`: the first
//! bytes are (col0,row0,slice0), (col1,row0,slice0), ..., then row 1, ..., then slice 1.
//! [`Mask`] owns that order so that a handler never computes an offset by hand, and it
//! checks the buffer's length against the shape when it is built.

use crate::response::{BinaryDataShape, ValidationError};

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

/// The position of one voxel, handed to [`Mask::from_fn`]. For a 2D mask `t` and `z` are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voxel {
    /// Timepoint.
    pub t: u32,
    /// Slice.
    pub z: u32,
    /// Row.
    pub y: u32,
    /// Column.
    pub x: u32,
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

    fn checked_len(&self) -> Result<usize, ValidationError> {
        self.voxel_count().ok_or(ValidationError::ShapeTooLarge(*self))
    }
}

/// A uint8 mask with its shape; the length always matches the shape.
///
/// ```
/// use arterys_protocol::{Mask, MaskShape};
/// // A 2-slice volume of 4x3 with the right half of slice 1 set.
/// let m = Mask::from_fn(MaskShape::volume(2, 3, 4), |v| if v.z == 1 && v.x >= 2 { 255 } else { 0 }).unwrap();
/// assert_eq!(m.data().len(), 2 * 3 * 4);
/// assert_eq!(m.get(0, 1, 0, 3), 255);
/// assert_eq!(m.data()[12 + 3], 255); // column-row-slice order: slice 1 starts at byte 12
/// assert!(Mask::new(MaskShape::image(4, 4), vec![0; 15]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    shape: MaskShape,
    data: Vec<u8>,
}

impl Mask {
    /// A mask from a buffer already in column-row-slice order; fails if its length is not the
    /// shape's voxel count.
    pub fn new(shape: MaskShape, data: Vec<u8>) -> Result<Self, ValidationError> {
        let expected = shape.checked_len()?;
        if data.len() != expected {
            return Err(ValidationError::MaskLength { part: None, expected, actual: data.len() });
        }
        Ok(Self { shape, data })
    }

    /// An all-zero mask.
    pub fn zeros(shape: MaskShape) -> Result<Self, ValidationError> {
        Ok(Self { shape, data: vec![0; shape.checked_len()?] })
    }

    /// A mask whose every voxel is `f(voxel)`, called in buffer order.
    pub fn from_fn(shape: MaskShape, mut f: impl FnMut(Voxel) -> u8) -> Result<Self, ValidationError> {
        let len = shape.checked_len()?;
        let (tn, dn, hn, wn) = shape.dims();
        let mut data = Vec::with_capacity(len);
        for t in 0..tn {
            for z in 0..dn {
                for y in 0..hn {
                    data.extend((0..wn).map(|x| f(Voxel { t, z, y, x })));
                }
            }
        }
        Ok(Self { shape, data })
    }

    /// A probability mask from `f32` probabilities in buffer order, mapped linearly from
    /// 0.0..=1.0 to 0..=255 (values outside are clamped, NaN is 0).
    pub fn from_probabilities(shape: MaskShape, probabilities: &[f32]) -> Result<Self, ValidationError> {
        let expected = shape.checked_len()?;
        if probabilities.len() != expected {
            return Err(ValidationError::MaskLength { part: None, expected, actual: probabilities.len() });
        }
        // `as u8` saturates and maps NaN to 0, which is what we want.
        let data = probabilities.iter().map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        Ok(Self { shape, data })
    }

    /// The shape.
    pub fn shape(&self) -> MaskShape {
        self.shape
    }

    /// The buffer, in column-row-slice order.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The buffer, mutable (its length cannot change).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The buffer's offset of voxel (t, z, y, x); panics if it is outside the shape.
    pub fn index(&self, t: u32, z: u32, y: u32, x: u32) -> usize {
        let (tn, dn, hn, wn) = self.shape.dims();
        assert!(t < tn && z < dn && y < hn && x < wn, "voxel ({t},{z},{y},{x}) outside the mask");
        (((t as usize * dn as usize + z as usize) * hn as usize + y as usize) * wn as usize) + x as usize
    }

    /// The value at (t, z, y, x); panics if it is outside the shape.
    pub fn get(&self, t: u32, z: u32, y: u32, x: u32) -> u8 {
        self.data[self.index(t, z, y, x)]
    }

    /// Sets the value at (t, z, y, x); panics if it is outside the shape.
    pub fn set(&mut self, t: u32, z: u32, y: u32, x: u32, value: u8) {
        let i = self.index(t, z, y, x);
        self.data[i] = value;
    }

    /// Whether any voxel is non-zero.
    pub fn any(&self) -> bool {
        self.data.iter().any(|&v| v != 0)
    }

    /// The buffer, taken out.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}
