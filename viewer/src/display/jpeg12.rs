//! Sequential DCT JPEG with 12-bit samples (JPEG Extended, PS3.5 A.4.2; T.81 SOF1), which
//! jpeg-decoder refuses (it decodes 8-bit DCT samples only). Decoded by `openreadout-codecs`
//! (pure Rust, T.81 annex A inverse DCT in double precision: within a grey level of libjpeg's
//! integer transform), grayscale only: 12-bit colour JPEG is left to the usual path, which
//! names it as unsupported.

/// Whether some frame is a 12-bit DCT JPEG stream, colour included.
pub(super) fn any_12_bit(frames: &[Vec<u8>]) -> bool {
    frames.iter().any(|f| openreadout_codecs::jpeg_markers(f, None).is_ok_and(|m| m.precision == 12 && m.process != 3))
}

/// Whether every frame is a grayscale 12-bit DCT JPEG stream (judged by its frame header alone).
pub(super) fn all_12_bit(frames: &[Vec<u8>]) -> bool {
    !frames.is_empty()
        && frames.iter().all(|f| {
            openreadout_codecs::jpeg_markers(f, None)
                // Lossless JPEG (process 3) can also be 12-bit: jpeg-decoder handles it.
                .is_ok_and(|m| m.precision == 12 && m.process != 3 && m.component_ids.len() == 1)
        })
}

/// Frame `n`'s samples as little-endian u16. The frame must be `cols` x `rows`: the decoder
/// refuses, before allocating, a frame header that declares more than that (`rows` x `cols` x
/// 2 bytes), so a small stream cannot claim a huge image.
pub(super) fn decode(n: usize, frame: &[u8], rows: u16, cols: u16) -> Result<Vec<u8>, String> {
    let frame_bytes = usize::from(rows) * usize::from(cols) * 2;
    let raster = openreadout_codecs::jpeg_decode_limited(frame, frame_bytes)
        .map_err(|e| format!("frame {n}: {}", super::error_chain(&e)))?;
    if (raster.width, raster.height, raster.channels) != (u32::from(cols), u32::from(rows), 1) {
        return Err(format!(
            "frame {n}: the JPEG stream is {}x{} with {} component(s) where the dataset says {cols}x{rows} grayscale",
            raster.width, raster.height, raster.channels
        ));
    }
    if raster.bits_per_sample != 16 || raster.data.len() != frame_bytes {
        return Err(format!("frame {n}: the decoder gave {} bytes where {frame_bytes} are needed", raster.data.len()));
    }
    Ok(raster.data)
}
