//! Our pixels against pydicom's on a broad public corpus: every `.dcm` file of pydicom's own
//! test files and of the pydicom-data package (both from PyPI, pinned in
//! scripts/requirements-test.txt; compressed data decoded by pylibjpeg). For every file pydicom
//! decodes, grayscale modality values (`display::modality_values`) and colour display pixels
//! (`display::render_object`) must match pydicom's: exactly for lossless transfer syntaxes (up
//! to f32 rounding, and one level for a YBR to RGB conversion), within a small tolerance for
//! lossy ones (two independent decoders). Every file pydicom decodes must decode here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod reference;

use std::path::{Path, PathBuf};

use arterys_viewer::display;

/// JPEG Extended (12-bit lossy JPEG).
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Files whose pydicom reference is wrong, compared with the reference of the same image in
/// another file instead: pydicom 3.0 reads Big Endian palette LUT data as Little Endian (its
/// colours come out of the low bytes), where the Little Endian twin of the file is right.
const REFERENCE_FROM_TWIN: &[(&str, &str)] =
    &[("OBXXXX1A_expb.dcm", "OBXXXX1A.dcm"), ("OBXXXX1A_expb_2frame.dcm", "OBXXXX1A_2frame.dcm")];

/// One line of the reference manifest.
struct Reference {
    path: PathBuf,
    ok: bool,
    gray: bool,
    frames: u32,
    rows: usize,
    cols: usize,
    lossy: bool,
    ts: String,
    reason: String,
    values: PathBuf,
}

/// Runs scripts/pydicom-reference into a fresh folder and reads its manifest.
fn references() -> (reference::TempDir, Vec<Reference>) {
    let dir = reference::run("pydicom-reference", &[]);
    let out = dir.0.clone();
    let manifest = std::fs::read_to_string(out.join("manifest.tsv")).unwrap();
    let refs = manifest
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "manifest line {n}: {line}");
            Reference {
                path: PathBuf::from(f[0]),
                ok: f[1] == "ok",
                gray: f[2] == "gray",
                frames: f[3].parse().unwrap(),
                rows: f[4].parse().unwrap(),
                cols: f[5].parse().unwrap(),
                lossy: f[6] == "1",
                ts: f[7].to_owned(),
                reason: f[8].to_owned(),
                values: out.join(format!("{n}.bin")),
            }
        })
        .collect();
    (dir, refs)
}

/// How far our values are from the reference: the largest and the mean absolute difference,
/// and the reference's range.
#[derive(Debug, Default)]
struct Diff {
    max: f64,
    mean: f64,
    range: f64,
    count: usize,
}

/// Grayscale modality values, or RGB8 (kept as bytes: some files have 10^8 samples).
enum Values {
    Gray(Vec<f64>),
    Rgb(Vec<u8>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Gray(v) => v.len(),
            Values::Rgb(v) => v.len(),
        }
    }

    fn at(&self, i: usize) -> f64 {
        match self {
            Values::Gray(v) => v[i],
            Values::Rgb(v) => f64::from(v[i]),
        }
    }

    fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }
}

fn diff(ours: &Values, reference: &Values) -> Diff {
    let (lo, hi) = reference.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    let mut d = Diff { range: (hi - lo).max(1.0), count: reference.len(), ..Diff::default() };
    for (a, b) in ours.iter().zip(reference.iter()) {
        let e = (a - b).abs();
        d.max = d.max.max(e);
        d.mean += e / reference.len() as f64;
    }
    d
}

/// Our values for a file, as the reference lays them out (all frames).
fn ours(r: &Reference) -> Result<Values, String> {
    let bytes = std::fs::read(&r.path).map_err(|e| e.to_string())?;
    let obj = display::open(&bytes).map_err(|e| e.to_string())?;
    if r.gray {
        let mut out = Vec::new();
        for frame in 0..r.frames {
            let (w, h, values) = display::modality_values(&obj, frame).map_err(|e| e.to_string())?;
            if (w as usize, h as usize) != (r.cols, r.rows) {
                return Err(format!("frame {frame} is {w}x{h}"));
            }
            out.extend(values.into_iter().map(f64::from));
        }
        // And it is shown: every frame, at its size.
        let shown = display::render_object(&obj).map_err(|e| e.to_string())?;
        if shown.len() != r.frames as usize || shown.iter().any(|f| f.rgb.len() != r.rows * r.cols * 3) {
            return Err(format!("drawn as {} frame(s) of the wrong size", shown.len()));
        }
        Ok(Values::Gray(out))
    } else {
        let frames = display::render_object(&obj).map_err(|e| e.to_string())?;
        if frames.len() != r.frames as usize {
            return Err(format!("{} frames where pydicom has {}", frames.len(), r.frames));
        }
        Ok(Values::Rgb(frames.into_iter().flat_map(|f| f.rgb).collect()))
    }
}

fn reference_values(r: &Reference) -> Values {
    let bytes = std::fs::read(&r.values).unwrap();
    if r.gray {
        Values::Gray(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
    } else {
        Values::Rgb(bytes)
    }
}

/// Whether the difference is within what the comparison allows (see the module docs).
fn acceptable(r: &Reference, d: &Diff, reference: &Values) -> bool {
    if r.lossy && r.ts == JPEG_EXTENDED && r.gray {
        // 12-bit JPEG: a double-precision inverse DCT against libjpeg's integer one, at most
        // one stored value apart (no file of the corpus has a rescale slope with it).
        return d.max <= 1.0 && d.mean <= 0.05;
    }
    if r.lossy {
        // Two decoders of the same lossy stream: IDCT/wavelet rounding and chroma upsampling.
        return d.mean <= 0.01 * d.range && d.max <= 0.1 * d.range;
    }
    if r.gray {
        // f32 against f64.
        let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        d.max <= scale * 1e-6
    } else {
        d.max <= 1.0
    }
}

fn name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[test]
fn our_pixels_match_pydicom_on_its_corpus() {
    let (_dir, refs) = references();
    let (mut matching, mut differing, mut not_ours, mut not_pydicom) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in &refs {
        let file = name(&r.path);
        if !r.ok {
            not_pydicom.push(format!("{file}: {}", r.reason));
            continue;
        }
        let reference = match REFERENCE_FROM_TWIN.iter().find(|(f, _)| *f == file) {
            Some((_, twin)) => {
                let twin = refs.iter().find(|t| name(&t.path) == *twin && t.ok).expect("the twin is decoded");
                reference_values(twin)
            }
            None => reference_values(r),
        };
        match ours(r) {
            Err(e) => not_ours.push((file, e)),
            Ok(values) if values.len() != reference.len() => {
                differing.push(format!("{file}: {} values where pydicom has {}", values.len(), reference.len()))
            }
            Ok(values) => {
                let d = diff(&values, &reference);
                let line = format!(
                    "{file} ({}, {}{}): max {:.4} mean {:.4} of range {:.1} over {} values",
                    r.ts,
                    if r.gray { "modality values" } else { "RGB" },
                    if r.lossy { ", lossy" } else { "" },
                    d.max,
                    d.mean,
                    d.range,
                    d.count
                );
                if acceptable(r, &d, &reference) {
                    matching.push(line);
                } else {
                    let at = values.iter().zip(reference.iter()).position(|(a, b)| (a - b).abs() > 1e-6).unwrap_or(0);
                    let end = (at + 4).min(values.len());
                    let (ours, theirs): (Vec<f64>, Vec<f64>) =
                        (at..end).map(|i| (values.at(i), reference.at(i))).unzip();
                    differing.push(format!("{line}; from value {at}: ours {ours:?}, pydicom {theirs:?}"));
                }
            }
        }
    }
    println!("corpus: {} files; decoded by pydicom: {}", refs.len(), refs.len() - not_pydicom.len());
    println!("matching ours: {}", matching.len());
    matching.iter().for_each(|l| println!("  = {l}"));
    println!("differing: {}", differing.len());
    differing.iter().for_each(|l| println!("  ! {l}"));
    println!("decoded by pydicom, not by us: {}", not_ours.len());
    not_ours.iter().for_each(|(f, e)| println!("  x {f}: {e}"));
    println!("not decoded by pydicom: {}", not_pydicom.len());
    not_pydicom.iter().for_each(|l| println!("  - {l}"));

    assert!(refs.len() > 100, "the corpus is too small ({} files): is pydicom-data installed?", refs.len());
    assert!(differing.is_empty(), "{} file(s) differ from pydicom:\n{}", differing.len(), differing.join("\n"));
    let unexpected: Vec<String> = not_ours.iter().map(|(f, e)| format!("{f}: {e}")).collect();
    assert!(unexpected.is_empty(), "pydicom decodes these, we do not:\n{}", unexpected.join("\n"));
}
