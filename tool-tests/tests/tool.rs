//! The real `send-inference-request` binary against the workspace's mock server (started
//! in-process on a loopback port) and against hand-made servers; the PNGs it writes are
//! decoded and checked pixel by pixel against the plain rendering of the same images.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arterys_gateway::dicom::display::{render, DisplayFrame};
use arterys_gateway::dicom::InstanceInfo;
use arterys_gateway::multipart::{boundary_from_content_type, hex, MultipartDecoder};
use arterys_gateway::ResponseJson;
use arterys_mock_server::Mode;
use bytes::Bytes;
use common::{mock, mock_gateway, out_dir, serve, test_dicom, text, tool};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};

/// PNGs written, by the input file name they were drawn from (`<index>_<name>.png`).
fn pngs(out: &Path) -> HashMap<String, (usize, image::RgbImage)> {
    let mut m = HashMap::new();
    for e in std::fs::read_dir(out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".png") {
            let (index, file) = stem.split_once('_').unwrap();
            let img = image::open(out.join(&name)).unwrap().to_rgb8();
            m.insert(file.to_owned(), (index.parse().unwrap(), img));
        }
    }
    m
}

fn response(out: &Path) -> ResponseJson {
    serde_json::from_slice(&std::fs::read(out.join("response.json")).unwrap()).unwrap()
}

/// (shape, data) of an .npy written by the tool.
fn npy(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '|u1'"), "{header}");
    let shape = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape = shape.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    (shape, b[10 + hlen..].to_vec())
}

fn plain(file: &Path) -> DisplayFrame {
    render(&std::fs::read(file).unwrap()).unwrap().remove(0)
}

fn px(f: &DisplayFrame, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * f.width + x) * 3) as usize;
    [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]]
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (i16::from(*x) - i16::from(y)).abs() <= 1)
}

fn blend(orig: [u8; 3], color: [u8; 3], alpha: f32) -> [u8; 3] {
    let mut o = [0; 3];
    for c in 0..3 {
        o[c] = (f32::from(orig[c]) * (1.0 - alpha) + f32::from(color[c]) * alpha).round() as u8;
    }
    o
}

/// Every pixel of a grid: where `expected(value)` is Some, the PNG shows that blend; elsewhere
/// the plain image, untouched. Returns how many pixels were tinted.
fn check_overlay(
    png: &image::RgbImage,
    orig: &DisplayFrame,
    mask: &[u8],
    tint: impl Fn(u8) -> Option<([u8; 3], f32)>,
) -> usize {
    let (w, h) = (orig.width, orig.height);
    assert_eq!((png.width(), png.height()), (w, h));
    assert_eq!(mask.len(), (w * h) as usize, "mask matches the image size");
    let mut tinted = 0;
    for y in (0..h).step_by(5) {
        for x in (0..w).step_by(5) {
            let got = png.get_pixel(x, y).0;
            let o = px(orig, x, y);
            match tint(mask[(y * w + x) as usize]) {
                Some((c, a)) => {
                    assert!(near(got, blend(o, c, a)), "({x},{y}): {got:?} is not {o:?} tinted {c:?} at {a}");
                    tinted += 1;
                }
                None => assert_eq!(got, o, "({x},{y}) outside the mask is untouched"),
            }
        }
    }
    tinted
}

fn sorted_files(rel: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(test_dicom(rel)).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn gallery_lists_every_png(out: &Path) {
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".png") {
            assert!(html.contains(&format!("href=\"{name}\"")), "index.html lacks {name}");
            n += 1;
        }
    }
    assert!(n > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boxes_are_red_and_the_rest_untouched() {
    let addr = mock(Mode::Boxes).await;
    let out = out_dir("boxes");
    let o = tool(addr, &["-i", test_dicom("arterys/test_2d").to_str().unwrap()], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let r = response(&out);
    let pngs = pngs(&out);
    assert_eq!(pngs.len(), 3);
    for file in sorted_files("arterys/test_2d") {
        let info = InstanceInfo::read(&std::fs::read(&file).unwrap()).unwrap();
        let b = r.bounding_boxes_2d.iter().flatten().find(|b| b.sop_instance_uid == info.sop_instance_uid).unwrap();
        let (_, png) = &pngs[file.file_name().unwrap().to_str().unwrap()];
        let orig = plain(&file);
        let [x0, y0] = b.top_left.map(|v| v as u32);
        let [x1, y1] = b.bottom_right.map(|v| v as u32);
        for (x, y) in [(x0, (y0 + y1) / 2), (x1, (y0 + y1) / 2), ((x0 + x1) / 2, y0), ((x0 + x1) / 2, y1)] {
            assert_eq!(png.get_pixel(x, y).0, [255, 0, 0], "box edge at ({x},{y})");
        }
        for (x, y) in [((x0 + x1) / 2, (y0 + y1) / 2), (x0 + 10, y0 + 10), (5, 500), (1000, 1000)] {
            assert_eq!(png.get_pixel(x, y).0, px(&orig, x, y), "untouched at ({x},{y})");
        }
    }
    gallery_lists_every_png(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_tint_exactly_their_voxels() {
    let files = sorted_files("arterys/test_3d");
    for (mode, route) in [
        (Mode::Seg3d, "/seg3d"),
        (Mode::NumericLabels, "/numeric-labels"),
        (Mode::Heatmap, "/heatmap"),
        (Mode::Boolean, "/boolean"),
    ] {
        let addr = mock(mode).await;
        let out = out_dir(route.trim_start_matches('/'));
        let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap(), "-r", route], &out).await;
        assert!(o.status.success(), "{route}: {}", text(&o));
        let r = response(&out);
        let part = &r.parts[0];
        let (shape, data) = npy(&out.join("output_masks_0.npy"));
        assert_eq!(shape, vec![1, 3, 512, 512], "{route}: npy has the mask's real shape");
        let pngs = pngs(&out);
        // The palette's colours, transparent below its lowest anchor that is not.
        let lut = r.palettes.as_ref().and_then(|p| p.get("heat")).map(|p| {
            let floor = p.data.iter().find(|a| a.color[3] > 0).unwrap().threshold;
            assert_eq!(floor, 0.3);
            let mut lut = p.lookup_table();
            lut.iter_mut().enumerate().filter(|(v, _)| (*v as f64) / 255.0 < floor).for_each(|(_, e)| e[3] = 0);
            lut
        });
        let mut tinted = 0;
        for file in &files {
            let (index, png) = &pngs[file.file_name().unwrap().to_str().unwrap()];
            // Slice k of the mask is on the k-th image of the sorted series (= send order).
            let slice = &data[index * 512 * 512..(index + 1) * 512 * 512];
            let orig = plain(file);
            tinted += match mode {
                Mode::Seg3d => {
                    let cut = (part.probability_threshold.unwrap_or(0.5) * 255.0).ceil() as u8;
                    check_overlay(png, &orig, slice, |v| (v > 0 && v >= cut).then_some(([255, 0, 0], 0.5)))
                }
                Mode::Boolean => check_overlay(png, &orig, slice, |v| (v != 0).then_some(([255, 0, 0], 0.5))),
                Mode::NumericLabels => check_overlay(png, &orig, slice, |v| {
                    let colors = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
                    (v != 0).then(|| (colors[usize::from(v) - 1], 0.5))
                }),
                Mode::Heatmap => {
                    let lut = lut.expect("heat palette");
                    check_overlay(png, &orig, slice, |v| {
                        let [r, g, b, a] = lut[usize::from(v)];
                        (a > 0).then_some(([r, g, b], f32::from(a) / 255.0))
                    })
                }
                _ => unreachable!(),
            };
        }
        assert!(tinted > 500, "{route}: the mask is visible ({tinted} sampled pixels)");
        gallery_lists_every_png(&out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_d_masks_measurements_labels_and_captures() {
    let files = sorted_files("arterys/test_2d");
    let addr = mock(Mode::Seg2d).await;
    let out = out_dir("seg2d");
    let o = tool(addr, &["-i", test_dicom("arterys/test_2d").to_str().unwrap()], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let r = response(&out);
    let pngs_ = pngs(&out);
    for (n, part) in r.parts.iter().enumerate() {
        let (shape, data) = npy(&out.join(format!("output_masks_{n}.npy")));
        assert_eq!(shape, vec![1024, 1024]);
        let sop = &part.dicom_image.as_ref().unwrap().sop_instance_uid;
        let file = files
            .iter()
            .find(|f| &InstanceInfo::read(&std::fs::read(f).unwrap()).unwrap().sop_instance_uid == sop)
            .unwrap();
        let (_, png) = &pngs_[file.file_name().unwrap().to_str().unwrap()];
        // One finding on every image: one colour (the legend names it once).
        assert_eq!(part.label.as_deref(), Some("Mock segmentation"));
        let color = [255, 0, 0];
        let tinted = check_overlay(png, &plain(file), &data, |v| (v >= 128).then_some((color, 0.5)));
        assert!(tinted > 100);
    }

    // Measurements: the middle of each line is drawn; with -l, the labels are written.
    let addr = mock(Mode::Measurements).await;
    let out = out_dir("measure");
    let o = tool(addr, &["-i", test_dicom("arterys/test_2d").to_str().unwrap(), "-l"], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    for (_, png) in pngs(&out).values() {
        assert_eq!(png.get_pixel(512, 512).0, [0, 255, 255], "measurement line");
    }

    let addr = mock(Mode::Classification).await;
    let out = out_dir("classify");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap(), "-l"], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    for file in sorted_files("arterys/test_3d") {
        let (_, png) = &pngs(&out)[file.file_name().unwrap().to_str().unwrap()];
        let orig = plain(&file);
        let changed: Vec<(u32, u32)> = (0..512)
            .flat_map(|y| (0..512).map(move |x| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y).0 != px(&orig, x, y))
            .collect();
        assert!(changed.len() > 300, "study and series labels drawn ({} pixels)", changed.len());
        // Off the anatomy: in the corners, at a size that leaves most of the image alone, and
        // not where the body is (the middle of the image).
        assert!(changed.len() < 512 * 512 / 10, "labels cover {} pixels", changed.len());
        assert!(changed.iter().all(|&(x, y)| !(128..384).contains(&x) || !(128..384).contains(&y)), "over the middle");
        let bright = |&(x, y): &(u32, u32)| px(&orig, x, y)[0] > 100;
        let on_anatomy = changed.iter().filter(|p| bright(p)).count();
        assert!(on_anatomy * 10 < changed.len(), "{on_anatomy} of {} label pixels on bright anatomy", changed.len());
    }
    // Without -l, no text.
    let out2 = out_dir("classify-nolabel");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap()], &out2).await;
    assert!(o.status.success());
    for file in sorted_files("arterys/test_3d") {
        let (_, png) = &pngs(&out2)[file.file_name().unwrap().to_str().unwrap()];
        let orig = plain(&file);
        assert!((0..512).all(|y| (0..512).all(|x| png.get_pixel(x, y).0 == px(&orig, x, y))));
    }

    let addr = mock(Mode::SecondaryCapture).await;
    let out = out_dir("sc");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap()], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let sc = std::fs::read(out.join("sc_0.dcm")).unwrap();
    assert_eq!(InstanceInfo::read(&sc).unwrap().sop_class_uid.as_deref(), Some("1.2.840.10008.5.1.4.1.1.7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_test_file_renders_or_is_reported_by_name() {
    let addr = mock(Mode::Boxes).await;
    let out = out_dir("all");
    let o = tool(addr, &["-i", test_dicom("").to_str().unwrap(), "-c", "get-bounding-box-2d"], &out).await;
    // Images that cannot be shown fail the run (a structured report has none: not counted; a
    // truncated file is skipped before sending, by name, with its reason).
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // Only JPEG-lossy.dcm, whose 12-bit stream is broken (libjpeg refuses it too).
    assert!(err.contains("1 image could not be drawn"), "{err}");
    let reported = [
        ("JPEG-lossy.dcm", "12-bit"),
        ("MR_truncated.dcm", "truncated"),
        ("test-SR.dcm", "no pixel data"),
        ("README.md", "not a readable DICOM file"),
    ];
    for (name, reason) in reported {
        let line = err.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} not reported:\n{err}"));
        assert!(line.contains(reason), "{line}");
    }
    let pngs = pngs(&out);
    // 2 + 15 frames for the multi-frame files, one PNG for each other image.
    let rendered = [
        "CT_small.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG2000.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "liver_1frame.dcm",
        "no_meta.dcm",
        "1.dcm",
        // JPEG-LS: grayscale lossless, RGB near-lossless by line and by sample.
        "MR_small_jpeg_ls_lossless.dcm",
        "SC_rgb_jls_lossy_line.dcm",
        "SC_rgb_jls_lossy_sample.dcm",
        // 12-bit lossy JPEG.
        "JPGExtended.dcm",
    ];
    for name in rendered {
        assert!(pngs.contains_key(name), "{name} rendered: {:?}", pngs.keys().collect::<Vec<_>>());
    }
    assert_eq!(pngs.keys().filter(|k| k.starts_with("rtdose.dcm_frame")).count(), 15);
    assert_eq!(pngs.keys().filter(|k| k.starts_with("SC_rgb_rle_2frame.dcm_frame")).count(), 2);
    // Colour stays colour.
    let (_, rgb) = &pngs["SC_rgb_rle.dcm"];
    assert!(rgb.pixels().any(|p| p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60), "a red band");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_drawn_fails_the_run_by_name() {
    let addr = mock(Mode::Boxes).await;
    let file = test_dicom("pydicom/JPEG-lossy.dcm");
    let o = tool(addr, &["-i", file.to_str().unwrap(), "-c", "get-bounding-box-2d"], &out_dir("undrawable")).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().find(|l| l.starts_with("not drawn:")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("JPEG-lossy.dcm") && line.contains("12-bit"), "{line}");
    assert!(err.contains("1 image could not be drawn"), "{err}");
    // An object without pixels is not an image that failed.
    let sr = test_dicom("pydicom/test-SR.dcm");
    let o = tool(addr, &["-i", sr.to_str().unwrap()], &out_dir("sr-only")).await;
    assert!(o.status.success(), "{}", text(&o));
}

type Canned = Arc<dyn Fn(&str) -> (String, Vec<u8>) + Send + Sync>;

/// A server that decodes the request, computes its input hash, and answers what `answer`
/// makes of it: (Content-Type, body).
async fn canned(answer: Canned) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = Arc::clone(&answer);
                    async move {
                        let ct = req.headers()["content-type"].to_str().unwrap().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (_, digest) =
                            MultipartDecoder::decode(&boundary_from_content_type(&ct).unwrap(), &body).unwrap();
                        let (ct, body) = answer(&hex(&digest));
                        let resp = hyper::Response::builder()
                            .header("content-type", ct)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A response body as the reference Flask server wrote it: `b'…'` boundary, form-data
/// Content-Disposition headers, the hashes part last.
fn reference_body(boundary: &str, json: &str, buffers: &[(&str, Vec<u8>)], input_hash: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut h = Sha256::new();
    h.update(json.as_bytes());
    out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\nContent-Type: application/json\r\n\r\n{json}\r\n").as_bytes());
    for (i, (ct, b)) in buffers.iter().enumerate() {
        h.update(b);
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"buffer{i}\"\r\nContent-Type: {ct}\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    }
    let hashes = format!("{input_hash}:{}", hex(&h.finalize()));
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\n{hashes}\r\n--{boundary}--\r\n").as_bytes(),
    );
    out
}

fn mask_json(parts: usize, sop: &str) -> String {
    let part = format!(
        r#"{{"label": "m", "binary_type": "boolean_mask", "binary_data_shape": {{"width": 64, "height": 64}}, "dicom_image": {{"SOPInstanceUID": "{sop}"}}}}"#
    );
    format!(r#"{{"protocol_version": "1.0", "parts": [{}]}}"#, vec![part; parts].join(", "))
}

/// The reference server's answer under `boundary`: `parts` boolean mask parts on image `sop`,
/// one buffer of `bytes` bytes, and `input_hash` (the request's own when `None`).
fn mask_answer(boundary: &'static str, parts: usize, sop: &str, bytes: usize, input_hash: Option<String>) -> Canned {
    let json = mask_json(parts, sop);
    Arc::new(move |input| {
        let hash = input_hash.as_deref().unwrap_or(input);
        let body = reference_body(boundary, &json, &[("application/binary", vec![1; bytes])], hash);
        (format!("multipart/related; boundary={boundary}"), body)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_server_quirks_are_accepted() {
    let file = test_dicom("pydicom/MR_small.dcm");
    let sop = InstanceInfo::read(&std::fs::read(&file).unwrap()).unwrap().sop_instance_uid;
    for literal_in_body in [true, false] {
        let sop = sop.clone();
        let addr = canned(Arc::new(move |input| {
            let body_boundary = if literal_in_body { "b'1d2f3e'" } else { "1d2f3e" };
            let body =
                reference_body(body_boundary, &mask_json(1, &sop), &[("application/binary", vec![1; 64 * 64])], input);
            ("multipart/related; boundary=b'1d2f3e'".to_owned(), body)
        }))
        .await;
        let out = out_dir(&format!("reference-{literal_in_body}"));
        let o = tool(addr, &["-i", file.to_str().unwrap()], &out).await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Python bytes notation"));
        assert_eq!(response(&out).parts.len(), 1);
        assert_eq!(npy(&out.join("output_masks_0.npy")).0, vec![64, 64]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_fail_the_run_by_name() {
    let file = test_dicom("pydicom/MR_small.dcm");
    let sop = InstanceInfo::read(&std::fs::read(&file).unwrap()).unwrap().sop_instance_uid;
    let cases: Vec<(&str, Canned, Vec<&str>)> = vec![
        ("missing buffer", mask_answer("x1", 2, &sop, 4096, None), vec!["2 parts in the JSON but 1 binary parts"]),
        (
            "short mask",
            mask_answer("x2", 1, &sop, 4000, None),
            vec!["part 0 buffer has 4000 bytes, its shape needs 4096"],
        ),
        ("wrong hashes", mask_answer("x3", 1, &sop, 4096, Some("0".repeat(64))), vec!["input hash 000"]),
        (
            "unknown image",
            mask_answer("x4", 1, "9.9.9", 4096, None),
            vec!["names SOPInstanceUID 9.9.9 that was not sent"],
        ),
        (
            "not multipart",
            Arc::new(|_| ("text/html".into(), b"<h1>Internal Server Error</h1>".to_vec())),
            vec!["not multipart/related"],
        ),
    ];
    for (name, answer, expected) in cases {
        let addr = canned(answer).await;
        let out = out_dir(&name.replace(' ', "-"));
        let o = tool(addr, &["-i", file.to_str().unwrap()], &out).await;
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        for e in expected {
            assert!(err.contains(e), "{name}: stderr should name {e:?}:\n{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_send_and_no_server_are_clear_errors() {
    let addr = mock(Mode::Boxes).await;
    let empty = out_dir("empty-input");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not an image").unwrap();
    let o = tool(addr, &["-i", empty.to_str().unwrap()], &out_dir("empty-out")).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no DICOM or image files to send"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let o = tool(closed, &["-i", test_dicom("pydicom/CT_small.dcm").to_str().unwrap()], &out_dir("closed")).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot reach"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_model_masks_follow_the_anatomy() {
    use arterys_model_server::service;
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mock-server/models");
    let config = arterys_model_server::ServerConfig::load(&models.join("demo_body.yaml")).unwrap();
    let slots = service::slots(&config);
    service::load_all(config, &slots).unwrap();
    let addr = serve(service::routes(arterys_gateway::Gateway::new(), &slots)).await;

    let out = out_dir("model");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap(), "-l"], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let r = response(&out);
    assert_eq!(r.parts.len(), 1);
    assert_eq!(r.study_ml_json.as_ref().unwrap()["label"], "Body");
    let (shape, mask) = npy(&out.join("output_masks_0.npy"));
    assert_eq!(shape, vec![1, 3, 512, 512]);
    let cut = 128u8;
    let inside = mask.iter().filter(|&&v| v >= cut).count();
    let frac = inside as f64 / mask.len() as f64;
    assert!(frac > 0.05 && frac < 0.95, "mask covers {:.1}% of the volume: neither empty nor full", frac * 100.0);
    // Foreground is brighter than background in the image itself.
    let pngs = pngs(&out);
    let (mut fg, mut bg) = ((0f64, 0usize), (0f64, 0usize));
    for file in sorted_files("arterys/test_3d") {
        let (index, _) = &pngs[file.file_name().unwrap().to_str().unwrap()];
        let orig = plain(&file);
        let slice = &mask[index * 512 * 512..(index + 1) * 512 * 512];
        for (i, &m) in slice.iter().enumerate() {
            let v = f64::from(orig.rgb[i * 3]);
            if m >= cut {
                fg = (fg.0 + v, fg.1 + 1);
            } else {
                bg = (bg.0 + v, bg.1 + 1);
            }
        }
    }
    let (fg_mean, bg_mean) = (fg.0 / fg.1 as f64, bg.0 / bg.1 as f64);
    assert!(fg_mean > bg_mean + 20.0, "foreground {fg_mean:.1} vs background {bg_mean:.1}");

    // An image that cannot be decoded gets a 422 naming it.
    let o = tool(addr, &["-i", test_dicom("pydicom/JPEG-lossy.dcm").to_str().unwrap()], &out_dir("model-422")).await;
    // The service's own refusal with its reason: exit 5, not a protocol violation.
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the service answered 422 Unprocessable Entity: ") && err.contains("cannot be decoded"),
        "{err}"
    );
    assert!(!err.contains("protocol violation"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_carries_every_flag_in_protocol_order() {
    // A server that records the request it got and answers with no results.
    let seen: Arc<std::sync::Mutex<Vec<(String, String, Bytes)>>> = Arc::default();
    let s = Arc::clone(&seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let s = Arc::clone(&s);
            async move {
                let path = req.uri().path().to_owned();
                let ct = req.headers()["content-type"].to_str().unwrap().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let (parts, digest) =
                    MultipartDecoder::decode(&boundary_from_content_type(&ct).unwrap(), &body).unwrap();
                for p in &parts {
                    s.lock().unwrap().push((path.clone(), p.headers.essence().unwrap_or_default(), p.body.clone()));
                }
                let answer = reference_body("ok1", r#"{"protocol_version": "1.0", "parts": []}"#, &[], &hex(&digest));
                Ok::<_, Infallible>(
                    hyper::Response::builder()
                        .header("content-type", "multipart/related; boundary=ok1")
                        .body(Full::new(Bytes::from(answer)))
                        .unwrap(),
                )
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
            .await;
    });
    let license = out_dir("license.txt");
    std::fs::write(&license, b"LICENSE KEY 42").unwrap();
    let o = tool(
        addr,
        &[
            "-i",
            test_dicom("arterys/test_3d").to_str().unwrap(),
            "-r",
            "v2/infer",
            "-c",
            "get-probability-mask",
            "-S",
            "-a",
            license.to_str().unwrap(),
            "-R",
            "model=fast",
            "tier=gold",
        ],
        &out_dir("flags"),
    )
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|(path, _, _)| path == "/v2/infer"), "the route");
    let kinds: Vec<&str> = seen.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "application/json",
            "application/octet-stream",
            "application/dicom",
            "application/dicom",
            "application/dicom"
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&seen[0].2).unwrap();
    assert_eq!(json["inference_command"], "get-probability-mask");
    assert_eq!(
        (json["depth"].as_u64(), json["height"].as_u64(), json["width"].as_u64()),
        (Some(3), Some(512), Some(512))
    );
    assert_eq!((json["model"].as_str(), json["tier"].as_str()), (Some("fast"), Some("gold")));
    assert!(json["studyUID"].is_string());
    assert_eq!(&seen[1].2[..], b"LICENSE KEY 42");
    // Slices go in geometric order along the normal.
    let z: Vec<f64> =
        seen[2..].iter().map(|(_, _, b)| InstanceInfo::read(b).unwrap().slice_position().unwrap()).collect();
    assert!(z.windows(2).all(|w| w[0] < w[1]), "{z:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_and_png_inputs_become_dicom_and_study_path_requests_work() {
    let addr = mock(Mode::Boxes).await;
    let dir = out_dir("images-in");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let mut img = image::RgbImage::new(96, 64);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 2) as u8, (y * 3) as u8, 200]);
    }
    img.save(dir.join("photo.png")).unwrap();
    image::DynamicImage::ImageRgb8(img).to_luma8().save(dir.join("nested/scan.jpg")).unwrap();
    let out = out_dir("images-out");
    let o = tool(addr, &["-i", dir.to_str().unwrap()], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let written = pngs(&out);
    assert_eq!(written.len(), 2, "{:?}", written.keys().collect::<Vec<_>>());
    let (_, photo) = &written["photo.png"];
    assert_eq!((photo.width(), photo.height()), (96, 64));
    assert_eq!(photo.get_pixel(5, 5).0, [10, 15, 200], "colour kept outside the box");
    assert_eq!(response(&out).bounding_boxes_2d.unwrap().len(), 2);

    // studyPath: the JSON-only request; the server reads the study below its root.
    let root = test_dicom("arterys");
    let sp_addr = serve(mock_gateway(Mode::Boxes).study_root(&root)).await;
    let out = out_dir("study-path");
    let o = tool(
        sp_addr,
        &["--request_study_path", "test_2d", "-i", test_dicom("arterys/test_2d").to_str().unwrap()],
        &out,
    )
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(response(&out).bounding_boxes_2d.unwrap().len(), 3);
    assert_eq!(pngs(&out).len(), 3, "drawn with the local copy of the study");
    let o = tool(sp_addr, &["--request_study_path", "../../etc"], &out_dir("study-path-bad")).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the service answered 403 Forbidden: "), "{}", text(&o));
}
