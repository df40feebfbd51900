//! Mask buffers: uint8 voxels in the protocol's column-row-slice order.
//!
//! The order is numpy's C order of an array indexed `[timepoint][slice][row][col]`: the first
//! bytes are (col0,row0,slice0), (col1,row0,slice0), ..., then row 1, ..., then slice 1.
//! [`Mask`] owns that order so that a handler never computes an offset by hand, and it
//! checks the buffer's length against the shape when it is built.

pub use crate::shape::MaskShape;

use crate::response::validation::ValidationError;

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

/// The buffer length of `shape`, or the error naming a shape too large to hold.
fn checked_len(shape: &MaskShape) -> Result<usize, ValidationError> {
    shape.voxel_count().ok_or(ValidationError::ShapeTooLarge(*shape))
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
        let expected = checked_len(&shape)?;
        if data.len() != expected {
            return Err(ValidationError::MaskLength { part: None, expected, actual: data.len() });
        }
        Ok(Self { shape, data })
    }

    /// An all-zero mask.
    pub fn zeros(shape: MaskShape) -> Result<Self, ValidationError> {
        Ok(Self { shape, data: vec![0; checked_len(&shape)?] })
    }

    /// A mask whose every voxel is `f(voxel)`, called in buffer order.
    pub fn from_fn(shape: MaskShape, mut f: impl FnMut(Voxel) -> u8) -> Result<Self, ValidationError> {
        let len = checked_len(&shape)?;
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
        let expected = checked_len(&shape)?;
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
