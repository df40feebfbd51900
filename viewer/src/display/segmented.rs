//! Segmented palette colour lookup tables (PS3.3 C.7.9.2): discrete, linear and indirect
//! segments expanded to a plain table, rounding as pydicom does.
//!
//! Indirect segments replay segments elsewhere in the data, and may point at indirect
//! segments themselves: nested a few levels deep, each pointing many times at the next, a
//! table of a thousand words asks for K^depth segment reads. Segments that add entries are
//! bounded by the table's size, empty ones are not, so the reads themselves are counted: a
//! table may read at most as many segments as it has words plus entries, which every table
//! that does not replay empty segments stays under.

use arterys_protocol::cancel;

/// Most entries a palette can have.
const MAX_ENTRIES: usize = 65536;
/// Indirect segments may point at indirect segments; a bound keeps bad data from looping.
const MAX_DEPTH: u32 = 8;

/// Why a segmented table cannot be expanded (one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SegmentedError {
    /// The data is not a valid segmented table.
    #[error("segmented LUT: {0}")]
    Invalid(&'static str),
    /// A segment type PS3.3 does not define.
    #[error("segmented LUT: unknown segment type {0}")]
    UnknownType(u16),
    /// More entries than any palette has.
    #[error("segmented LUT: more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    /// More segment reads than the table's words plus its entries.
    #[error(
        "segmented LUT: more than {limit} segment reads for {words} words (indirect segments replay empty segments)"
    )]
    TooManyReads {
        /// The bound: words plus entries.
        limit: usize,
        /// The data's words.
        words: usize,
    },
    /// The request went away during the expansion.
    #[error(transparent)]
    Cancelled(#[from] cancel::Cancelled),
}

impl From<SegmentedError> for super::DisplayError {
    fn from(e: SegmentedError) -> Self {
        match e {
            SegmentedError::Cancelled(c) => Self::Cancelled(c),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// The table `data` (16-bit words, or bytes widened to words for 8-bit tables) describes,
/// for a palette of `entries` entries.
pub(super) fn expand(data: &[u16], entries: usize) -> Result<Vec<u16>, SegmentedError> {
    let limit = data.len() + entries.min(MAX_ENTRIES);
    let mut expander = Expander { lut: Vec::new(), reads: 0, limit, words: data.len() };
    expander.segments(data, None, None, 0)?;
    Ok(expander.lut)
}

struct Expander {
    lut: Vec<u16>,
    /// Segments read so far, at every level.
    reads: usize,
    /// Most segments the table may read.
    limit: usize,
    /// The table's words.
    words: usize,
}

impl Expander {
    /// Reads the segments of `data` from its start (at most `max_segments` of them), appending
    /// to the table. Indirect offsets count from the start of `data`, as pydicom reads them.
    fn segments(
        &mut self,
        data: &[u16],
        max_segments: Option<usize>,
        last: Option<u16>,
        depth: u32,
    ) -> Result<(), SegmentedError> {
        use SegmentedError::Invalid;
        if depth > MAX_DEPTH {
            return Err(Invalid("indirect segments nested too deep"));
        }
        cancel::checkpoint()?;
        let word = |i: usize| data.get(i).copied().ok_or(Invalid("a segment runs past the data"));
        let (mut offset, mut read) = (0, 0);
        while offset + 1 < data.len() {
            self.reads += 1;
            if self.reads > self.limit {
                return Err(SegmentedError::TooManyReads { limit: self.limit, words: self.words });
            }
            let (opcode, length) = (data[offset], usize::from(data[offset + 1]));
            offset += 2;
            match opcode {
                0 => {
                    let values =
                        data.get(offset..offset + length).ok_or(Invalid("a discrete segment runs past the data"))?;
                    self.lut.extend_from_slice(values);
                    offset += length;
                }
                1 => {
                    let y0 = self.lut.last().copied().or(last).ok_or(Invalid("starts with a linear segment"))?;
                    let y1 = word(offset)?;
                    offset += 1;
                    linear(&mut self.lut, f64::from(y0), f64::from(y1), length);
                }
                2 => {
                    let previous = *self.lut.last().ok_or(Invalid("starts with an indirect segment"))?;
                    let at = (usize::from(word(offset + 1)?) << 16) | usize::from(word(offset)?);
                    offset += 2;
                    let target = data.get(at..).ok_or(Invalid("an indirect segment points past the data"))?;
                    self.segments(target, Some(length), Some(previous), depth + 1)?;
                }
                other => return Err(SegmentedError::UnknownType(other)),
            }
            if self.lut.len() > MAX_ENTRIES {
                return Err(SegmentedError::TooManyEntries);
            }
            read += 1;
            if Some(read) == max_segments {
                break;
            }
        }
        Ok(())
    }
}

/// numpy's linspace(y0 + step, y1, n), rounded half to even.
fn linear(lut: &mut Vec<u16>, y0: f64, y1: f64, length: usize) {
    let n = length as f64;
    let start = y0 + (y1 - y0) / n;
    lut.extend((0..length).map(|i| {
        let v = if length == 1 { start } else { start + (y1 - start) * i as f64 / (n - 1.0) };
        v.round_ties_even().clamp(0.0, 65535.0) as u16
    }));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn discrete_linear_and_indirect_segments_expand() {
        // Discrete 0, 10; linear to 20 over 2 entries; indirect: the first segment again.
        let data = [0, 2, 0, 10, 1, 2, 20, 2, 1, 0, 0];
        assert_eq!(expand(&data, 6).unwrap(), vec![0, 10, 15, 20, 0, 10]);
    }

    #[test]
    fn bad_tables_are_refused() {
        let message = |data: &[u16]| expand(data, 256).unwrap_err().to_string();
        assert!(message(&[1, 2, 20]).contains("linear"));
        assert!(message(&[0, 5, 1]).contains("past the data"));
        assert!(message(&[7, 0]).contains("unknown segment type 7"));
        // An indirect segment that points at itself.
        assert!(message(&[0, 1, 1, 2, 1, 7, 0, 2, 1, 0, 0]).contains("too deep"));
    }

    /// The reads an expansion of `data` made, and how it ended.
    fn reads(data: &[u16], entries: usize) -> (usize, Result<usize, SegmentedError>) {
        let mut expander = Expander { lut: Vec::new(), reads: 0, limit: data.len() + entries, words: data.len() };
        let result = expander.segments(data, None, None, 0).map(|()| expander.lut.len());
        (expander.reads, result)
    }

    #[test]
    fn nested_indirect_segments_stop_at_a_linear_number_of_reads() {
        for k in [2, 8, 32] {
            let data = crate::hostile::nested_segments(k);
            let (reads, result) = reads(&data, 1);
            // Unbounded, these tables ask for about k^9 reads (512, 134 million, 3.5e13).
            assert_eq!(reads, data.len() + 2, "k = {k}");
            assert_eq!(result, Err(SegmentedError::TooManyReads { limit: data.len() + 1, words: data.len() }));
        }
    }

    #[test]
    fn tables_that_replay_entries_stay_under_the_bound() {
        // 256 entries, one discrete segment, then 255 indirect segments each replaying it.
        let mut data = vec![0, 1, 100];
        for _ in 0..255 {
            data.extend([2, 1, 0, 0]);
        }
        let (reads, result) = reads(&data, 256);
        assert_eq!(result, Ok(256));
        assert!(reads <= data.len() + 256, "{reads} reads");
        assert_eq!(expand(&data, 256).unwrap(), vec![100; 256]);
    }

    #[test]
    fn a_cancelled_request_stops_the_expansion() {
        let token = cancel::Cancellation::new();
        token.cancel();
        let data = [0, 2, 0, 10, 1, 2, 20];
        assert_eq!(token.scope(|| expand(&data, 4)), Err(SegmentedError::Cancelled(cancel::Cancelled)));
        assert_eq!(expand(&data, 4).unwrap(), vec![0, 10, 15, 20]);
    }
}
