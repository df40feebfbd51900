//! Every mock mode's answer, as `send-inference-request` writes it, opened in a real headless
//! browser (Debian's `chromium`): the gallery loads with no console message and every image
//! decodes; a screenshot of each is kept in the test output folder
//! (`target/tmp/gallery-screenshots/<mode>.png`). The DICOM outputs are read back with pydicom,
//! and a second run into the same folder replaces the first one's files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arterys_mock_server::Mode;
use clap::ValueEnum;
use common::{mock, out_dir, serve, test_dicom, text, tool};

/// Debian's chromium, or a clear failure naming how to get it.
fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser"] {
        if let Ok(o) = Command::new(c).arg("--version").output() {
            if o.status.success() {
                return PathBuf::from(c);
            }
        }
    }
    panic!(
        "the gallery test needs a headless browser: `apt-get install -y chromium` (.ci/run installs it when CI=true)"
    );
}

/// A page that opens index.html in a frame and reports, line by line: each image and whether
/// it decoded; per series, its figures, placeholders and the count its header gives; its legend
/// entries; the results switch before and after a click (which thumbnails are visible); and
/// every pair of text boxes that overlap on the page.
const CHECKER: &str = r#"<!DOCTYPE html><html><body><pre id="r">not loaded</pre>
<iframe id="f" src="index.html" width="1280" height="900"></iframe>
<script>
function visible(el) { return el.getClientRects().length > 0; }
function toggle(d) {
  var box = d.getElementById('show-results');
  var shown = function (sel) { return Array.prototype.filter.call(d.querySelectorAll(sel), visible).length; };
  return 'TOGGLE checked=' + (box && box.checked) + ' results=' + shown('img.with-results') + ' plain=' + shown('img.plain');
}
function textBoxes(d) {
  var walk = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT), boxes = [], n;
  while ((n = walk.nextNode())) {
    // Text in a folded block (or otherwise hidden) is not on the page.
    if (!n.textContent.trim() || !n.parentElement.checkVisibility()) continue;
    var range = d.createRange(); range.selectNodeContents(n);
    var rects = range.getClientRects();
    for (var i = 0; i < rects.length; i++) {
      if (rects[i].width > 0 && rects[i].height > 0) boxes.push({ r: rects[i], t: n.textContent.trim().slice(0, 40), n: n });
    }
  }
  return boxes;
}
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument, out = [];
  if (!d) { out.push('NO ACCESS'); } else {
    out.push('IMAGES ' + d.images.length);
    for (var i = 0; i < d.images.length; i++) {
      var im = d.images[i];
      out.push((im.complete && im.naturalWidth > 0 ? 'OK ' : 'BROKEN ') + im.getAttribute('src'));
    }
    d.querySelectorAll('section.series').forEach(function (s) {
      var uid = s.getAttribute('data-series');
      var count = s.querySelector('p.count');
      out.push('SERIES ' + uid + ' FIGURES ' + s.querySelectorAll('figure').length + ' PLACEHOLDERS ' +
        s.querySelectorAll('figure.not-drawn').length + ' HEADING ' + s.querySelector('h3').textContent +
        ' COUNT ' + (count ? count.textContent : ''));
      s.querySelectorAll('ul.legend > li').forEach(function (li) {
        out.push('LEGEND ' + uid + ' ' + li.textContent.replace(/\s+/g, ' ').trim());
      });
    });
    out.push(toggle(d));
    var box = d.getElementById('show-results');
    if (box) { box.click(); }
    out.push(toggle(d));
    if (box) { box.click(); }
    var boxes = textBoxes(d);
    for (var a = 0; a < boxes.length; a++) {
      for (var b = a + 1; b < boxes.length; b++) {
        if (boxes[a].n === boxes[b].n) continue;
        var p = boxes[a].r, q = boxes[b].r;
        var w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        var h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        if (w > 1 && h > 1) out.push('OVERLAP ' + boxes[a].t + ' | ' + boxes[b].t);
      }
    }
    out.push('TEXT BOXES ' + boxes.length);
  }
  document.getElementById('r').textContent = out.join('\n');
});
</script></body></html>"#;

fn browser(args: &[&str], url: &str) -> Output {
    let profile = tempfile::Builder::new().prefix("gallery-test-profile-").tempdir().unwrap();
    let dir = profile.path();
    Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files"])
        .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"])
        .arg(format!("--user-data-dir={}", dir.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap()
}

/// What the checker page saw of one gallery.
struct Seen {
    /// Images that decoded.
    images: usize,
    /// Every line of the report.
    lines: Vec<String>,
}

impl Seen {
    fn with(&self, prefix: &str) -> Vec<&str> {
        self.lines.iter().filter_map(|l| l.strip_prefix(prefix)).collect()
    }
}

/// Loads `out/index.html` in chromium: no console message, every image decodes, no two text
/// boxes overlap; a full-page screenshot goes to the test output folder.
fn open_in_browser(out: &Path, name: &str) -> Seen {
    std::fs::write(out.join("check.html"), CHECKER).unwrap();
    let o = browser(&["--dump-dom"], &format!("file://{}", out.join("check.html").display()));
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "{name}: console messages: {console:#?}");
    let result = dom.split("<pre id=\"r\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap_or("");
    let result = result.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    assert!(result.starts_with("IMAGES "), "{name}: the gallery did not load: {result}\n{log}");
    let seen = Seen {
        images: result.lines().filter(|l| l.starts_with("OK ")).count(),
        lines: result.lines().map(str::to_owned).collect(),
    };
    let broken: Vec<&str> = result.lines().filter(|l| l.starts_with("BROKEN ")).collect();
    assert!(broken.is_empty(), "{name}: images that do not decode: {broken:?}");
    let overlaps = seen.with("OVERLAP ");
    assert!(overlaps.is_empty(), "{name}: text boxes that overlap: {overlaps:#?}");
    assert!(seen.with("TEXT BOXES ").first().is_some_and(|n| n.parse::<usize>().unwrap() > 20), "{name}: {result}");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gallery-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let index = format!("file://{}", out.join("index.html").display());
    browser(&["--window-size=1280,2000", &format!("--screenshot={}", shot.display())], &index);
    let png = image::open(&shot).unwrap_or_else(|e| panic!("{name}: no screenshot at {}: {e}", shot.display()));
    assert_eq!(png.width(), 1280);
    seen
}

fn count_color(path: &Path, color: [u8; 3]) -> usize {
    image::open(path).unwrap().to_rgb8().pixels().filter(|p| p.0 == color).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_is_visible_in_a_real_browser() {
    let addr = mock(Mode::Auto).await;
    let input = test_dicom("arterys/test_3d");
    for mode in Mode::value_variants() {
        let name = mode.name();
        let out = out_dir(&name);
        let o = tool(addr, &["-i", input.to_str().unwrap(), "-r", &format!("/{name}"), "-l"], &out).await;
        assert!(o.status.success(), "{name}: {}", text(&o));
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        // Three slices in slice order (3.dcm, 2.dcm, 1.dcm sorted along the normal), each
        // captioned with its series, instance number and position.
        for caption in ["Series 704 \u{b7} Image 217 \u{b7} slice at -36.73 mm", "Image 37 \u{b7} slice at 143.27 mm"] {
            assert!(html.contains(caption), "{name}: caption {caption:?} missing");
        }
        assert!(html.find("thumbs/0_3.dcm.png").unwrap() < html.find("thumbs/2_1.dcm.png").unwrap());
        assert!(html.contains("request SHA-256") && html.contains("response SHA-256"), "{name}: hashes");
        match mode {
            Mode::Conformance => {
                assert!(stdout.contains("DICOM conformance warning: part 0"), "{name}: {stdout}");
                assert!(stdout.contains("check not met: At least 16 slices in the series (3 sent)"), "{stdout}");
                assert!(html.contains("DICOM conformance warnings (2)"), "{name}");
            }
            Mode::StructuredReport => {
                assert!(stdout.contains("Length: 160.00 mm"), "{name}: {stdout}");
                assert!(html.contains("Imaging Measurement Report") && html.contains("Finding: Lesion"), "{name}");
                // The measured region on the middle slice (2.dcm), in the report's colour: the
                // line from column 128 to 384 on row 256 of the 512 x 512 image, and at the
                // thumbnail's size; the other slices have none.
                let sr = arterys_inference_test_tool::sr::SR_COLOR;
                let full = image::open(out.join("1_2.dcm.png")).unwrap().to_rgb8();
                let on_line = (128..=384).filter(|&x| (255..=257).any(|y| full.get_pixel(x, y).0 == sr)).count();
                assert_eq!(on_line, 257, "{name}: the SR line along row 256");
                let thumb = image::open(out.join("thumbs/1_2.dcm.png")).unwrap().to_rgb8();
                let (w, h) = (thumb.width(), thumb.height());
                let row = (h / 2).saturating_sub(2)..=(h / 2 + 1);
                let on_line = (w / 4 + 1..w * 3 / 4).filter(|&x| row.clone().any(|y| thumb.get_pixel(x, y).0 == sr));
                assert_eq!(
                    on_line.count() as u32,
                    w * 3 / 4 - w / 4 - 1,
                    "{name}: the SR line on the {w}x{h} thumbnail"
                );
                for other in ["0_3.dcm.png", "2_1.dcm.png", "thumbs/0_3.dcm.png"] {
                    assert_eq!(count_color(&out.join(other), sr), 0, "{name}: SR colour on {other}");
                }
                assert!(html.contains("structured report measurements (SR image regions)"), "{name}: legend");
                assert!(html.contains("1 measured image region, drawn with their values"), "{name}");
            }
            Mode::Gsps => {
                let full = count_color(&out.join("0_3.dcm.png"), [255, 160, 0]);
                let thumb = count_color(&out.join("thumbs/0_3.dcm.png"), [255, 160, 0]);
                assert!(full > 500 && thumb > 300, "{name}: GSPS graphics drawn ({full} / {thumb} px)");
                assert!(html.contains("presentation state graphics (GSPS)"), "{name}: legend");
            }
            Mode::SecondaryCapture => assert!(html.contains("<img src=\"outputs/sc_0.png\""), "{name}"),
            Mode::NumericLabels => assert!(html.contains("1 = Core") && html.contains("3 = Halo"), "{name}"),
            Mode::Heatmap => assert!(html.contains("class=\"bar\"") && html.contains("palette heat"), "{name}"),
            Mode::Measurements => {
                // 256 px across at the images' 0.625 mm Pixel Spacing.
                assert!(html.contains("Mock length: 160.0 mm"), "{name}");
            }
            Mode::Classification => {
                assert!(html.contains("Study classification"), "{name}");
                assert!(html.contains("<td>Mock classification: no acute finding</td>"), "{name}");
                assert!(html.contains("<td>Series looks fine</td>"), "{name}");
            }
            Mode::Boxes | Mode::Auto => {
                // Thumbnails are drawn at the size they are shown: the box edge survives.
                assert!(count_color(&out.join("thumbs/0_3.dcm.png"), [255, 0, 0]) > 300, "{name}");
            }
            _ => {}
        }
        let seen = open_in_browser(&out, &name);
        // Each image with its results and without; a capture once.
        let expected = 2 * 3 + usize::from(*mode == Mode::SecondaryCapture);
        assert_eq!(seen.images, expected, "{name}: images in the gallery");
        // One series, its real number, and a count that is what it shows.
        let series = seen.with("SERIES ");
        assert_eq!(series.len(), 1, "{name}: {series:?}");
        assert!(
            series[0].contains(" FIGURES 3 PLACEHOLDERS 0 HEADING Series 704 COUNT 3 images \u{b7} 1.2.826."),
            "{name}: {series:?}"
        );
        // The switch: results shown at first, the plain images after a click.
        assert_eq!(
            seen.with("TOGGLE "),
            ["checked=true results=3 plain=0", "checked=false results=0 plain=3"],
            "{name}"
        );
        // One legend entry per finding, each once.
        let legend: Vec<&str> = seen.with("LEGEND ").into_iter().map(|l| l.split_once(' ').unwrap().1).collect();
        let mut distinct = legend.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), legend.len(), "{name}: an entry twice: {legend:#?}");
        let expected: &[&str] = match mode {
            Mode::Auto | Mode::Boxes => &["Mock finding: 3 boxes"],
            Mode::Seg2d | Mode::Seg3d | Mode::Conformance => {
                &["Mock segmentation: probability mask, shown where p \u{2265} 0.50"]
            }
            Mode::Boolean => &["Mock region: mask"],
            Mode::Classification | Mode::SecondaryCapture => &[],
            Mode::Gsps => &["presentation state graphics (GSPS)"],
            Mode::StructuredReport => &["structured report measurements (SR image regions)"],
            Mode::Measurements => &["Mock length: length (mm with Pixel Spacing, else px)"],
            Mode::NumericLabels => &["Mock organs: labels 1 = Core 2 = Rim 3 = Halo"],
            Mode::Heatmap => &["Mock attention: heatmap, palette heat, transparent below 0.300.00.250.50.751.0"],
        };
        assert_eq!(legend, expected, "{name}: legend");
        if matches!(mode, Mode::StructuredReport | Mode::Gsps | Mode::SecondaryCapture) {
            let file = match mode {
                Mode::StructuredReport => "sr_0.dcm",
                Mode::Gsps => "gsps_0.dcm",
                _ => "sc_0.dcm",
            };
            let o = Command::new("python3")
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-dicom-outputs.py"))
                .arg(&input)
                .arg(out.join(file))
                .output()
                .expect("python3 with pydicom (scripts/requirements-test.txt) must be on PATH");
            assert!(o.status.success(), "{name}: pydicom: {}", text(&o));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_replaces_the_first_and_leaves_other_files_alone() {
    let addr = mock(Mode::Auto).await;
    let out = out_dir("rerun");
    let o = tool(addr, &["-i", test_dicom("arterys/test_3d").to_str().unwrap(), "-r", "/seg3d"], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = tool(addr, &["-i", test_dicom("arterys/test_2d").to_str().unwrap(), "-r", "/boxes"], &out).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("replacing the "), "{}", text(&o));
    let mut pngs: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png") || n.ends_with(".npy"))
        .collect();
    pngs.sort();
    let mut expected: Vec<String> = std::fs::read_dir(test_dicom("arterys/test_2d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    assert_eq!(pngs.len(), 3, "only the second run's PNGs, no mask of the first: {pngs:?}");
    for name in &expected {
        assert!(pngs.iter().any(|p| p.ends_with(&format!("_{name}.png"))), "{name} in {pngs:?}");
        assert!(out.join("thumbs").join(pngs.iter().find(|p| p.ends_with(&format!("_{name}.png"))).unwrap()).exists());
    }
    let thumbs = |dir: &Path| std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count();
    assert_eq!(thumbs(&out.join("thumbs")), 3, "no stale thumbnail");
    assert_eq!(thumbs(&out.join("thumbs/plain")), 3, "no stale thumbnail without results");
    // 1024-px images shown at 320 px: the box is drawn on the thumbnail at 2 px, so its
    // edges survive (a 3-px line scaled down by 3.2 would not).
    for p in &pngs {
        let thumb = image::open(out.join("thumbs").join(p)).unwrap().to_rgb8();
        assert_eq!((thumb.width(), thumb.height()), (320, 320));
        let red = thumb.pixels().filter(|p| p.0 == [255, 0, 0]).count();
        assert!(red > 4 * 80 * 2 - 20, "{p}: the box's four 80-px edges, 2 px wide: {red} red pixels");
    }
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine", "a user's file stays");

    // A file like the tool's outputs that no run recorded: refused, nothing removed.
    std::fs::write(out.join("mine.png"), "not the tool's").unwrap();
    let before = std::fs::read_dir(&out).unwrap().count();
    let o = tool(addr, &["-i", test_dicom("arterys/test_2d").to_str().unwrap(), "-r", "/boxes"], &out).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no earlier run recorded writing (e.g. mine.png)"), "{err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), before);
    assert!(out.join("mine.png").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_misdirected_dicom_outputs_fail_the_run() {
    use arterys_gateway::{BinaryType, Gateway, InferenceInput, InferenceResponse};
    // A presentation state made for another study (synthetic slices), and a file that is not DICOM.
    let other: Vec<bytes::Bytes> = (0..2)
        .map(|i| arterys_gateway::dicom::synthetic::ct_slice("1.2.826.0.1.3680043.10.543.9", i, 32, 32).unwrap().into())
        .collect();
    let misdirected =
        arterys_mock_server::answer(Mode::Gsps, InferenceInput::from_dicom(Default::default(), other)).unwrap();
    let server = Gateway::new().route("/misdirected", move |_| Ok(misdirected.clone())).route("/garbage", |_| {
        // A Part 10 preamble, then no valid meta group.
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICMnot a meta group");
        let mut r = InferenceResponse::new();
        r.add_dicom_output(BinaryType::DicomStructuredReport, "Broken report", None, file)
            .map_err(arterys_gateway::HandlerError::internal)?;
        Ok(r)
    });
    let addr = serve(server).await;
    let input = test_dicom("arterys/test_3d");
    for (route, expected) in [
        ("/misdirected", "part 0 (gsps_0.dcm) annotates 2 images that were not sent"),
        ("/garbage", "part 0 (dicom_structured_report) is not readable DICOM"),
    ] {
        let out = out_dir(route.trim_start_matches('/'));
        let o = tool(addr, &["-i", input.to_str().unwrap(), "-r", route], &out).await;
        assert_eq!(o.status.code(), Some(1), "{route}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(expected), "{route}: {}", text(&o));
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(html.contains("Violations (1)"), "{route}: the gallery names it");
    }
}
