//! Minimal writer for NumPy `.npy` files holding `uint8` arrays.

/// A .npy file (format version 1.0) of uint8 data with the given C-order shape, which numpy.load opens with that
/// shape and dtype uint8. Header padded so the data starts at a multiple of 64 bytes, ending in '\n'. 1-D shape must
/// be written as "(n,)".
///
/// `data` must hold exactly the product of `shape` bytes (an empty shape is a 0-d array of one byte); it is
/// written as given.
pub fn npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "npy data length does not match shape {shape:?}");
    const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";
    // Magic (6) + version (2) + header length (2).
    const PREFIX_LEN: usize = MAGIC.len() + 2;
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad with spaces so that the data (after the terminating '\n') starts at a multiple of 64 bytes.
    let unpadded = PREFIX_LEN + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    // Version 1.0 stores the header length as u16; shapes needing more than 64 KiB of header do not occur here.
    let header_len = u16::try_from(header.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(PREFIX_LEN + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn header_for_2x3_is_exact() {
        let data = [1u8, 2, 3, 4, 5, 6];
        let npy = npy_u8(&[2, 3], &data);
        // Byte-identical to what numpy.save writes for a (2, 3) uint8 array.
        let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }";
        let mut expected = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        expected.extend_from_slice(dict.as_bytes());
        expected.extend(std::iter::repeat_n(b' ', 128 - 10 - dict.len() - 1));
        expected.push(b'\n');
        assert_eq!(expected.len(), 128);
        assert_eq!(&npy[..128], &expected[..]);
        assert_eq!(u16::from_le_bytes([npy[8], npy[9]]), 118);
        assert_eq!(&npy[128..], &data);
        assert_eq!(npy.len(), 128 + 6);
    }

    #[test]
    fn shapes_and_alignment() {
        let one_d = npy_u8(&[5], &[0; 5]);
        let header = String::from_utf8_lossy(&one_d[10..128]).to_string();
        assert!(header.contains("'shape': (5,), }"), "{header}");
        assert_eq!(one_d.len(), 128 + 5);
        let scalar = npy_u8(&[], &[7]);
        assert!(String::from_utf8_lossy(&scalar[10..128]).contains("'shape': (), }"));
        assert_eq!(scalar.len(), 128 + 1);
        // A long shape still keeps the data aligned to 64 bytes with '\n' right before it.
        let mut shape = vec![1usize; 40];
        shape.push(2);
        let npy = npy_u8(&shape, &[8, 9]);
        let header_len = usize::from(u16::from_le_bytes([npy[8], npy[9]]));
        assert_eq!((10 + header_len) % 64, 0);
        assert!(10 + header_len > 128);
        assert_eq!(npy[10 + header_len - 1], b'\n');
        assert_eq!(&npy[10 + header_len..], &[8, 9]);
    }

    #[test]
    fn numpy_loads_it() {
        let numpy_ok =
            Command::new("python3").args(["-c", "import numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
        if !numpy_ok {
            println!("note: python3 with numpy is not available; skipping the numpy.load check");
            return;
        }
        let shape = [1usize, 2, 3, 4];
        let data: Vec<u8> = (0..24u8).map(|i| i.wrapping_mul(37).wrapping_add(200)).collect();
        let dir = std::env::temp_dir().join(format!(
            "npy-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        std::fs::write(&path, npy_u8(&shape, &data)).unwrap();
        let script = "import sys, numpy\n\
                      a = numpy.load(sys.argv[1])\n\
                      print(a.shape, a.dtype, a.flags['C_CONTIGUOUS'], int(a[0, 1, 2, 3]))\n\
                      print(a.tobytes().hex())";
        let out = Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        assert_eq!(lines.next().unwrap(), format!("(1, 2, 3, 4) uint8 True {}", data[23]));
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lines.next().unwrap(), hex);
    }
}
