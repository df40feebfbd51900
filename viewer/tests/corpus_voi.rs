//! What the viewer shows of a grayscale image against pydicom, on the corpus of tests/corpus.rs
//! (pydicom's and pydicom-data's test files) and on files pydicom writes for the VOI cases that
//! corpus lacks (LINEAR_EXACT, SIGMOID, a VOI LUT beside a window, a VOI LUT on signed values, a
//! window too narrow for LINEAR): `scripts/pydicom-reference --voi`.
//!
//! - A file with a window or a VOI LUT: our 8-bit display (`display::render_object`) against
//!   pydicom's `apply_voi_lut` on its modality values, scaled to 0..255 the same way (a window's
//!   output range, or 2^n - 1 for an n-bit VOI LUT) and inverted for MONOCHROME1, within one
//!   level. Both compute in f64 and round to nearest (half up), so a level apart can only come
//!   from a reference within float error of a half level (pydicom scales to the window's output
//!   range and back, we scale once; none on this corpus), or from another decoder of a lossy
//!   stream (there: a mean within a level, at most 1% of the pixels further).
//! - A file without a window and a VOI LUT, or with a window pydicom refuses (LINEAR with a width
//!   under 1): our documented default, a min–max window over each frame's modality values
//!   (`display` module docs), checked against the min–max of pydicom's modality values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod reference;

use std::path::{Path, PathBuf};

use arterys_viewer::display;

/// One line of voi.tsv.
struct VoiReference {
    path: PathBuf,
    ok: bool,
    frames: usize,
    rows: usize,
    cols: usize,
    lossy: bool,
    monochrome1: bool,
    /// `window`, `lut`, `none` or `invalid`.
    voi: String,
    what: String,
    values: PathBuf,
}

fn references(out: &Path) -> Vec<VoiReference> {
    let manifest = std::fs::read_to_string(out.join("voi.tsv")).unwrap();
    manifest
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "voi.tsv line {n}: {line}");
            VoiReference {
                path: PathBuf::from(f[0]),
                ok: f[1] == "ok",
                frames: f[2].parse().unwrap(),
                rows: f[3].parse().unwrap(),
                cols: f[4].parse().unwrap(),
                lossy: f[5] == "1",
                monochrome1: f[6] == "1",
                voi: f[7].to_owned(),
                what: f[8].to_owned(),
                values: out.join(format!("{n}.voi.bin")),
            }
        })
        .collect()
}

/// Our default where there is no usable VOI: the frame's lowest modality value black, its
/// highest white, rounded to nearest; a uniform frame black. Inverted for MONOCHROME1.
fn min_max(values: &[f64], monochrome1: bool) -> Vec<f64> {
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    values
        .iter()
        .map(|&v| if hi > lo { (v - lo) / (hi - lo) * 255.0 } else { 0.0 })
        .map(|v| if monochrome1 { 255.0 - v } else { v })
        .collect()
}

/// The expected display levels (0..255, unrounded) of every frame.
fn expected(r: &VoiReference) -> Vec<f64> {
    let bytes = std::fs::read(&r.values).unwrap();
    let values: Vec<f64> = bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    match r.voi.as_str() {
        "window" | "lut" => values,
        _ => values.chunks(r.rows * r.cols).flat_map(|frame| min_max(frame, r.monochrome1)).collect(),
    }
}

/// Our gray levels of every frame (R of R=G=B).
fn ours(r: &VoiReference) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(&r.path).map_err(|e| e.to_string())?;
    let obj = display::open(&bytes).map_err(|e| e.to_string())?;
    let frames = display::render_object(&obj).map_err(|e| e.to_string())?;
    if frames.len() != r.frames || frames.iter().any(|f| (f.width as usize, f.height as usize) != (r.cols, r.rows)) {
        return Err(format!("{} frame(s), not {} of {}x{}", frames.len(), r.frames, r.cols, r.rows));
    }
    Ok(frames.iter().flat_map(|f| f.rgb.chunks_exact(3).map(|p| p[0])).collect())
}

/// How our levels compare with the expected ones.
#[derive(Debug, Default)]
struct Compared {
    max: f64,
    mean: f64,
    /// Pixels one level from the reference rounded to nearest.
    one_level: usize,
    /// Pixels further.
    further: usize,
    count: usize,
}

fn compare(ours: &[u8], expected: &[f64]) -> Compared {
    let mut c = Compared { count: expected.len(), ..Compared::default() };
    for (&a, &e) in ours.iter().zip(expected) {
        let d = (f64::from(a) - e).abs();
        c.max = c.max.max(d);
        c.mean += d / expected.len() as f64;
        match a.abs_diff((e + 0.5).floor().clamp(0.0, 255.0) as u8) {
            0 => {}
            1 => c.one_level += 1,
            _ => c.further += 1,
        }
    }
    c
}

fn acceptable(r: &VoiReference, c: &Compared) -> bool {
    if r.lossy {
        // Another decoder of the same lossy stream, amplified by the window's slope.
        c.mean <= 1.0 && c.further * 100 <= c.count
    } else {
        // Within one level: only a rounding of a value within float error of a half level.
        c.further == 0 && c.max < 1.0 + 1e-6
    }
}

fn name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[test]
fn displayed_grayscale_matches_pydicom_voi() {
    let started = std::time::Instant::now();
    let dir = reference::run("pydicom-voi-reference", &["--voi"]);
    let reference_time = started.elapsed();
    let refs = references(&dir.0);
    let (mut matching, mut differing, mut not_ours, mut not_pydicom) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for r in &refs {
        let file = name(&r.path);
        if !r.ok {
            not_pydicom += 1; // tests/corpus.rs lists these
            continue;
        }
        let expected = expected(r);
        match ours(r) {
            Err(e) => not_ours.push(format!("{file}: {e}")),
            Ok(levels) if levels.len() != expected.len() => {
                differing.push(format!("{file}: {} levels where pydicom has {}", levels.len(), expected.len()))
            }
            Ok(levels) => {
                let c = compare(&levels, &expected);
                let line = format!(
                    "{file} ({}{}{}: {}): max {:.3} mean {:.4}, {} of {} pixels a level apart, {} further",
                    r.voi,
                    if r.monochrome1 { ", MONOCHROME1" } else { "" },
                    if r.lossy { ", lossy" } else { "" },
                    r.what,
                    c.max,
                    c.mean,
                    c.one_level,
                    c.count,
                    c.further
                );
                if acceptable(r, &c) {
                    *kinds.entry(r.voi.clone()).or_default() += 1;
                    matching.push(line);
                } else {
                    let at =
                        levels.iter().zip(&expected).position(|(a, e)| (f64::from(*a) - e).abs() >= 1.0).unwrap_or(0);
                    let end = (at + 4).min(levels.len());
                    differing.push(format!(
                        "{line}; from pixel {at}: ours {:?}, expected {:?}",
                        &levels[at..end],
                        &expected[at..end]
                    ));
                }
            }
        }
    }
    println!("reference (--voi) took {:.1} s", reference_time.as_secs_f64());
    println!(
        "grayscale files: {}; decoded by pydicom: {}; compared: {}",
        refs.len(),
        refs.len() - not_pydicom,
        matching.len() + differing.len()
    );
    println!("matching: {} ({kinds:?})", matching.len());
    matching.iter().for_each(|l| println!("  = {l}"));
    println!("differing: {}", differing.len());
    differing.iter().for_each(|l| println!("  ! {l}"));
    println!("not drawn by us (tests/corpus.rs lists why): {}", not_ours.len());
    not_ours.iter().for_each(|l| println!("  x {l}"));

    assert!(refs.len() > 50, "too few grayscale files ({}): is pydicom-data installed?", refs.len());
    for kind in ["window", "lut", "none", "invalid"] {
        assert!(kinds.get(kind).is_some_and(|&n| n > 0), "no file with VOI `{kind}` was compared: {kinds:?}");
    }
    // The cases this comparison is for, each compared and matching.
    for file in [
        "MR-SIEMENS-DICOM-WithOverlays.dcm", // two windows: the first
        "RG1_UNCR.dcm",                      // MONOCHROME1
        "eCT_Supplemental.dcm",              // windows per frame in the functional groups
        "vlut_04.dcm",                       // a VOI LUT
        "mlut_18.dcm",                       // a modality LUT, no VOI: min-max
        "ct_linear_exact_2frames.dcm",
        "ct_sigmoid_two_windows.dcm",
        "mono1_voi_lut_and_window.dcm",
        "signed_voi_lut_8bit.dcm",
        "linear_width_below_1.dcm",
        "float32_2frames_explicit.dcm",
    ] {
        assert!(matching.iter().any(|l| l.starts_with(&format!("{file} "))), "{file} was not compared and matching");
    }
    assert!(
        differing.is_empty(),
        "{} file(s) shown differently from pydicom:\n{}",
        differing.len(),
        differing.join("\n")
    );
    // Decoding failures are the pixel comparison's business (tests/corpus.rs): only the kinds it
    // lists as not decodable here may be missing.
    let unexpected: Vec<&String> = not_ours
        .iter()
        .filter(|e| !e.contains("no decoder for it in this build") && !e.contains("12-bit lossy JPEG"))
        .collect();
    assert!(unexpected.is_empty(), "not drawn:\n{unexpected:#?}");
}
