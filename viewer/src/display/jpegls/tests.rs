use super::decode;

/// A 4x2 8-bit grayscale lossless stream: SOI, SOF55, SOS, scan data, EOI.
fn stream(sof: &[u8], sos: &[u8], data: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, 0xD8, 0xFF, 0xF7];
    s.extend((sof.len() as u16 + 2).to_be_bytes());
    s.extend(sof);
    s.extend([0xFF, 0xDA]);
    s.extend((sos.len() as u16 + 2).to_be_bytes());
    s.extend(sos);
    s.extend(data);
    s.extend([0xFF, 0xD9]);
    s
}

const SOF: [u8; 9] = [8, 0, 2, 0, 4, 1, 1, 0x11, 0];
const SOS: [u8; 6] = [1, 1, 0, 0, 0, 0];

#[test]
fn a_flat_image_is_one_run() {
    // Each line: run mode from the start; a 1 bit per run of 2^J[index] (1, 1, 1, 1 at
    // indexes 0..3) fills the line of four, and the second line likewise (from index 4: 2, 2).
    let s = stream(&SOF, &SOS, &[0b1111_1100, 0]);
    assert_eq!(decode(&s, 2, 4, 1, 8).unwrap(), vec![0; 8]);
}

#[test]
fn the_frame_header_must_match_the_dataset() {
    let s = stream(&SOF, &SOS, &[0b1111_1100, 0]);
    let e = decode(&s, 2, 5, 1, 8).unwrap_err();
    assert!(e.contains("4x2 with 1 component(s) where the dataset says 5x2 with 1"), "{e}");
    assert!(decode(&s, 2, 4, 3, 8).is_err());
    // 8-bit samples do not fit in BitsAllocated 4; 12 is not a width the output has.
    assert!(decode(&s, 2, 4, 1, 12).unwrap_err().contains("BitsAllocated 12"));
}

#[test]
fn malformed_headers_are_refused_with_a_reason() {
    let cases: [(&[u8], &[u8], &str); 6] = [
        (&[8, 0, 2, 0, 4, 2, 1, 0x11, 0], &SOS, "SOF55 segment"),
        (&[17, 0, 2, 0, 4, 1, 1, 0x11, 0], &SOS, "17-bit samples"),
        (&[8, 0, 0, 0, 4, 1, 1, 0x11, 0], &SOS, "without its size"),
        (&SOF, &[1, 9, 0, 0, 0, 0], "scan component 9 not in the frame"),
        (&SOF, &[1, 1, 0, 200, 0, 0], "NEAR 200"),
        (&SOF, &[1, 1, 0, 0, 0, 1], "point transform"),
    ];
    for (sof, sos, reason) in cases {
        let e = decode(&stream(sof, sos, &[0b1111_1100, 0]), 2, 4, 1, 8).unwrap_err();
        assert!(e.contains(reason), "{reason}: {e}");
    }
    assert!(decode(b"not jpeg-ls", 2, 4, 1, 8).unwrap_err().contains("SOI"));
}

#[test]
fn a_scan_cut_short_or_missing_is_an_error() {
    // Regular-mode samples need more bits than one byte of zeros holds.
    let s = stream(&SOF, &SOS, &[0]);
    assert!(decode(&s, 2, 4, 1, 8).unwrap_err().contains("scan data"));
    let mut no_scan = vec![0xFF, 0xD8, 0xFF, 0xF7, 0, 11];
    no_scan.extend(SOF);
    no_scan.extend([0xFF, 0xD9]);
    assert!(decode(&no_scan, 2, 4, 1, 8).unwrap_err().contains("has no scan"));
    // Without EOI after the last scan the image is complete; cut inside a segment, it is not.
    let s = stream(&SOF, &SOS, &[0b1111_1100, 0]);
    assert_eq!(decode(&s[..s.len() - 2], 2, 4, 1, 8).unwrap(), vec![0; 8]);
    assert!(decode(&s[..8], 2, 4, 1, 8).unwrap_err().contains("cut short"));
}

/// The JPEG-LS stream inside a test file (from SOI to the end of its pixel data).
fn stream_of(rel: &str) -> Vec<u8> {
    let bytes = std::fs::read(format!("{}/../testdata/dicom/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = bytes.windows(4).position(|w| w == [0xFF, 0xD8, 0xFF, 0xF7]).unwrap();
    let end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]).unwrap() + 2;
    bytes[start..end].to_vec()
}

/// Real streams (grayscale, and colour by plane, line and sample) with a byte flipped (each
/// of the headers and the scans' first bytes, then every 17th) or cut short (every 11th
/// length): each gives an image of the declared size or an error, never a panic.
#[test]
fn damaged_streams_give_an_error_or_an_image_never_a_panic() {
    let files = [
        ("pydicom/MR_small_jpeg_ls_lossless.dcm", 64, 64, 1, 16),
        ("encoders/dcmtk_rgb_jpegls_near3_ilv_none.dcm", 256, 256, 3, 8),
        ("encoders/dcmtk_rgb_jpegls_ilv_line.dcm", 256, 256, 3, 8),
        ("pydicom/SC_rgb_jls_lossy_sample.dcm", 100, 100, 3, 8),
    ];
    for (rel, rows, cols, spp, bits) in files {
        let good = stream_of(rel);
        let expected = usize::from(rows) * usize::from(cols) * usize::from(spp) * usize::from(bits / 8);
        assert_eq!(decode(&good, rows, cols, spp, bits).unwrap().len(), expected, "{rel}");
        for i in (0..good.len()).filter(|i| *i < 200 || i % 17 == 0) {
            let mut bad = good.clone();
            bad[i] ^= 0xA5;
            if let Ok(image) = decode(&bad, rows, cols, spp, bits) {
                assert_eq!(image.len(), expected, "{rel}: byte {i}");
            }
        }
        for len in (0..good.len()).step_by(11) {
            let _ = decode(&good[..len], rows, cols, spp, bits);
        }
    }
}
