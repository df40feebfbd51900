//! The README as a new user meets it: what the project is with a screenshot of the gallery,
//! then the quickstart (start the mock server, run the tests, send a study, open the gallery),
//! then which server to use, then the library; build and CI requirements in one later section.
//! The quickstart's send command is run against the mock server, and the screenshots are real
//! PNGs, small enough to keep in the repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use arterys_mock_server::Mode;
use common::{mock, out_dir, text, tool};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The fenced code blocks, in order.
fn code_blocks(text: &str) -> Vec<String> {
    text.split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.split_once('\n').map_or("", |(_, body)| body).trim().to_owned())
        .collect()
}

fn at(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("README lacks {needle:?}"))
}

#[test]
fn the_opening_says_what_it_is_then_the_quickstart() {
    let text = readme();
    let blocks = code_blocks(&text);
    // The two commands a reader meets first, verbatim: the service on its defaults, the tests.
    assert_eq!(blocks[0], "cargo run --release --bin mock-server");
    assert_eq!(blocks[1], "scripts/test");
    assert!(blocks[2].starts_with("cargo run --release --bin send-inference-request -- -i "), "{}", blocks[2]);
    assert!(blocks[2].contains("# open output/index.html"), "{}", blocks[2]);
    // What it is: two sentences and the gallery, before anything else.
    let intro = &text[at(&text, "\n") + 1..at(&text, "## Quickstart")];
    let prose = intro[..at(intro, "![")].trim_end();
    let sentences =
        prose.matches(". ").count() + prose.matches(".\n").count() + usize::from(prose.ends_with(['.', ':']));
    assert_eq!(sentences, 2, "{prose:?}");
    assert!(intro.contains("](docs/gallery-after.png)"), "{intro}");
    // Then which server, then the library; the requirements only later, in one section.
    let order = ["## Quickstart", "## Mock server or model server", "## The library", "## Build and test requirements"];
    let positions: Vec<usize> = order.iter().map(|h| at(&text, h)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{order:?} at {positions:?}");
    assert_eq!(text.matches("## Build and test requirements").count(), 1);
    let requirements = positions[3];
    for word in ["cmake", "CharLS", "checkov", "apt-get", "450 MB", ".ci/run", "rust-toolchain.toml"] {
        assert!(text.find(word).is_none_or(|p| p > requirements), "{word:?} before the requirements section");
    }
    assert!(text.contains("[docs/gallery-before.png](docs/gallery-before.png)"));
}

#[test]
fn the_screenshots_are_small_real_pngs() {
    for name in ["gallery-before.png", "gallery-after.png"] {
        let path = root().join("docs").join(name);
        let size = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).len();
        assert!(size < 300_000, "{name}: {size} bytes");
        let png = image::open(&path).unwrap();
        assert_eq!(png.width(), 1280, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_send_command_works_against_the_mock_server() {
    let doc = readme();
    let block = code_blocks(&doc).into_iter().nth(2).unwrap();
    let command = block.lines().next().unwrap();
    let args: Vec<&str> = command.split(" -- ").nth(1).unwrap().split_whitespace().collect();
    // Run from the repository root, as the README does; the output folder and the port are this
    // test's (the mock server listens on a free port, not the default the command relies on).
    let out = out_dir("quickstart");
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let o = args.iter().position(|a| a == "-o").unwrap();
    args.drain(o..o + 2);
    for a in args.iter_mut().filter(|a| a.starts_with("testdata/")) {
        *a = root().join(a.as_str()).display().to_string();
    }
    let addr = mock(Mode::Auto).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = tool(addr, &args, &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Mock segmentation: probability mask"), "the mock's mask in the gallery");
    assert!(html.contains("id=\"show-results\""));
}
