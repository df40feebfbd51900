//! Segmented palette colour lookup tables (PS3.3 C.7.9.2): discrete, linear and indirect
//! segments expanded to a plain table, rounding as pydicom does.

/// Most entries a palette can have.
const MAX_ENTRIES: usize = 65536;
/// Indirect segments may point at indirect segments; a bound keeps bad data from looping.
const MAX_DEPTH: u32 = 8;

/// The table `data` (16-bit words, or bytes widened to words for 8-bit tables) describes.
pub(super) fn expand(data: &[u16]) -> Result<Vec<u16>, String> {
    let mut lut = Vec::new();
    segments(data, None, None, &mut lut, 0)?;
    Ok(lut)
}

fn segments(
    data: &[u16],
    max_segments: Option<usize>,
    last: Option<u16>,
    lut: &mut Vec<u16>,
    depth: u32,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("segmented LUT: indirect segments nested too deep".into());
    }
    let word = |i: usize| data.get(i).copied().ok_or("segmented LUT: a segment runs past the data");
    let (mut offset, mut read) = (0, 0);
    while offset + 1 < data.len() {
        let (opcode, length) = (data[offset], usize::from(data[offset + 1]));
        offset += 2;
        match opcode {
            0 => {
                let values =
                    data.get(offset..offset + length).ok_or("segmented LUT: a discrete segment runs past the data")?;
                lut.extend_from_slice(values);
                offset += length;
            }
            1 => {
                let y0 = f64::from(lut.last().copied().or(last).ok_or("segmented LUT: starts with a linear segment")?);
                let y1 = f64::from(word(offset)?);
                offset += 1;
                let n = length as f64;
                // numpy's linspace(y0 + step, y1, n), rounded half to even.
                let start = y0 + (y1 - y0) / n;
                lut.extend((0..length).map(|i| {
                    let v = if length == 1 { start } else { start + (y1 - start) * i as f64 / (n - 1.0) };
                    v.round_ties_even().clamp(0.0, 65535.0) as u16
                }));
            }
            2 => {
                let previous = *lut.last().ok_or("segmented LUT: starts with an indirect segment")?;
                let at = (usize::from(word(offset + 1)?) << 16) | usize::from(word(offset)?);
                offset += 2;
                let target = data.get(at..).ok_or("segmented LUT: an indirect segment points past the data")?;
                segments(target, Some(length), Some(previous), lut, depth + 1)?;
            }
            other => return Err(format!("segmented LUT: unknown segment type {other}")),
        }
        if lut.len() > MAX_ENTRIES {
            return Err(format!("segmented LUT: more than {MAX_ENTRIES} entries"));
        }
        read += 1;
        if Some(read) == max_segments {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn discrete_linear_and_indirect_segments_expand() {
        // Discrete 0, 10; linear to 20 over 2 entries; indirect: the first segment again.
        let data = [0, 2, 0, 10, 1, 2, 20, 2, 1, 0, 0];
        assert_eq!(expand(&data).unwrap(), vec![0, 10, 15, 20, 0, 10]);
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(expand(&[1, 2, 20]).unwrap_err().contains("linear"));
        assert!(expand(&[0, 5, 1]).unwrap_err().contains("past the data"));
        // An indirect segment that points at itself.
        assert!(expand(&[0, 1, 1, 2, 1, 7, 0, 2, 1, 0, 0]).unwrap_err().contains("too deep"));
    }
}
