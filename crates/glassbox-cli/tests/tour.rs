//! `glassbox tour` and `glassbox report`: the page from a fixture of lesson directories (sections in the
//! course's order, a skipped step with the command that fetches its input, a failed one with its error
//! and log), a real tour of cheap lessons with one made to fail, and the page in headless Chromium
//! (every image loaded, every section there, nothing wider than a phone; a screenshot).

mod common;

use std::path::{Path, PathBuf};

use common::{glassbox, text};

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A small PNG with a gradient, `w` x `h`.
fn png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
    })
    .save(path)
    .unwrap();
}

fn page(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("index.html")).expect("index.html written")
}

/// The section of the page with this id, up to the next section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The `src` of every image on the page, resolved against the page's directory.
fn image_files(html: &str, dir: &Path) -> Vec<PathBuf> {
    html.split("<img src=\"")
        .skip(1)
        .map(|rest| dir.join(&rest[..rest.find('"').unwrap()]))
        .collect()
}

/// Lesson directories as a tour writes them: mnist ran, vgg's classify was skipped, style failed, and
/// a directory that holds no lesson.
fn fixture(root: &Path) {
    write(
        &root.join("mnist/tour-lesson.json"),
        r#"{"lesson": "mnist", "mode": "quick", "seconds": 31.5, "steps": [
            {"dir": "train", "status": "ok", "seconds": 31.2,
             "command": "glassbox mnist train --epochs 1 --out t/mnist/train",
             "full_command": "glassbox mnist train --out out/mnist/train"}]}"#,
    );
    write(
        &root.join("mnist/train/metrics.json"),
        r#"{"epochs": [{"epoch": 1, "eval": {"test_accuracy": 0.9364}}], "test": {"accuracy": 0.9512},
            "parameters": 1199882}"#,
    );
    png(&root.join("mnist/train/confusion.png"), 40, 30);
    png(&root.join("mnist/train/mistakes.png"), 20, 20);
    write(
        &root.join("vgg/tour-lesson.json"),
        r#"{"lesson": "vgg", "mode": "quick", "seconds": 2.0, "steps": [
            {"dir": "classify", "status": "skipped", "seconds": 0.0, "command": "", "full_command": "x",
             "skip": {"reason": "needs the full VGG16", "fetch": "cargo xtask fetch-weights --model vgg16"}},
            {"dir": "responses", "status": "ok", "seconds": 0.4, "command": "glassbox vgg responses a.png",
             "full_command": "glassbox vgg responses a.png --out out/vgg/responses"}]}"#,
    );
    png(
        &root.join("vgg/responses/responses-block1_conv2.png"),
        30,
        30,
    );
    write(
        &root.join("style/tour-lesson.json"),
        r#"{"lesson": "style", "mode": "quick", "seconds": 1.0, "steps": [
            {"dir": "starry-night", "status": "failed", "seconds": 1.0, "command": "glassbox style",
             "full_command": "glassbox style", "error": "the painting <x> is not a JPEG"}]}"#,
    );
    write(
        &root.join("style/log.txt"),
        "loading VGG16\nerror: the painting <x> is not a JPEG\n",
    );
    std::fs::create_dir_all(root.join("not-a-lesson")).unwrap();
}

#[test]
fn report_shows_each_lesson_in_order_with_skips_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    fixture(&runs);
    // The page elsewhere than the runs: images are referenced relatively across directories.
    let out = dir.path().join("page");
    let o = glassbox(
        &[
            "report",
            runs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let html = page(&out);
    let at = |id: &str| html.find(&format!("<section id=\"{id}\"")).unwrap();
    assert!(
        at("mnist") < at("vgg") && at("vgg") < at("style"),
        "course order"
    );
    assert!(
        !html.contains("<section id=\"conv\""),
        "no directory, no section"
    );
    assert!(
        html.contains("3 lessons: 2 ran, 0 skipped, 1 failed"),
        "{html}"
    );

    let mnist = section(&html, "mnist");
    assert!(mnist.contains("data-status=\"ok\""));
    // The numbers come from metrics.json, formatted, beside the full run's and the course's.
    assert!(
        mnist.contains("93.64%") && mnist.contains("95.12%"),
        "{mnist}"
    );
    assert!(
        mnist.contains("98.37%"),
        "the course's first epoch: {mnist}"
    );
    assert!(mnist.contains("glassbox mnist train --out out/mnist/train"));

    let vgg = section(&html, "vgg");
    assert!(vgg.contains("data-status=\"ok\""), "one step ran: {vgg}");
    assert!(vgg.contains("needs the full VGG16"));
    assert!(vgg.contains("cargo xtask fetch-weights --model vgg16"));

    let style = section(&html, "style");
    assert!(style.contains("data-status=\"failed\""));
    assert!(
        style.contains("the painting &lt;x&gt; is not a JPEG"),
        "escaped: {style}"
    );
    assert!(style.contains("loading VGG16"), "the log's tail: {style}");

    let images = image_files(&html, &out);
    assert_eq!(images.len(), 3, "{images:?}");
    for img in &images {
        let decoded = image::open(img).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
        assert!(decoded.width() >= 20);
    }
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "static page: no network, no script"
    );

    // A directory without lessons is an error that says what was expected.
    let o = glassbox(
        &[
            "report",
            runs.join("not-a-lesson").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no lesson directories"), "{}", text(&o));
}

/// A tour of the cheap lessons with the MNIST lesson fed broken files: it fails, the page and the exit
/// status say so, and the lessons around it still run.
#[test]
fn tour_runs_the_lessons_and_reports_a_failing_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        write(&data.join("mnist").join(f), "not an IDX file");
    }
    let out = dir.path().join("tour");
    let o = glassbox(
        &[
            "tour",
            "--only",
            "rl,mnist,conv",
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        None,
    );
    let said = text(&o);
    assert!(
        !o.status.success(),
        "a failed lesson fails the tour: {said}"
    );
    assert!(said.contains("mnist failed"), "{said}");
    assert!(
        said.contains("3 lessons: 2 ran, 0 skipped, 1 failed"),
        "{said}"
    );
    let html = page(&out);
    let mnist = section(&html, "mnist");
    assert!(mnist.contains("data-status=\"failed\""), "{mnist}");
    assert!(mnist.contains("wrong magic number"), "{mnist}");
    // The lesson's own output went to its log, not to the tour's terminal.
    let log = std::fs::read_to_string(out.join("mnist/log.txt")).unwrap();
    assert!(log.contains("wrong magic number"), "{log}");
    for id in ["conv", "rl"] {
        assert!(section(&html, id).contains("data-status=\"ok\""), "{id}");
    }
    // No photos in this data directory: the photo steps are skipped, saying where photos come from.
    let conv = section(&html, "conv");
    assert!(
        conv.contains("images/photos/astronaut.png is not in any data directory"),
        "{conv}"
    );
    // The record the report reads, and figures that exist and decode.
    let record = common::json(&out.join("rl/tour-lesson.json"));
    assert_eq!(record["status"], "ok");
    assert_eq!(record["steps"][0]["dir"], "flippers");
    let images = image_files(&html, &out);
    assert!(images.len() >= 7, "{images:?}");
    for img in &images {
        image::open(img).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    }
    // The same numbers as the lesson's own metrics.json.
    let flippers = common::json(&out.join("rl/flippers/metrics.json"));
    let solved = flippers["metrics"]["evaluation"]["solved"]
        .as_u64()
        .unwrap();
    let row = format!("<td>Flippers: starts solved (of 512)</td><td class=\"num\">{solved}</td>");
    assert!(section(&html, "rl").contains(&row), "{row}");
    // A second tour into the same directory starts the lessons over; any other directory is refused.
    std::fs::create_dir_all(out.join("gan")).unwrap();
    std::fs::write(out.join("gan/mine.txt"), "keep").unwrap();
    let o = glassbox(
        &["tour", "--only", "gan", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("was not written by the tour"),
        "{}",
        text(&o)
    );
    assert!(out.join("gan/mine.txt").exists());
    let o = glassbox(
        &["tour", "--only", "nope", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(text(&o).contains("no lesson \"nope\""), "{}", text(&o));
}

/// Headless Chromium, where it is installed (`.ci/run` installs it): `chromium` on the PATH, or the
/// browser named by GLASSBOX_CHROMIUM.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GLASSBOX_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

fn headless(browser: &Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(args)
        .output()
        .expect("the browser starts")
}

/// The page with a script that, once everything has loaded, lists the images that did not load, the
/// sections and how wide the page is, in a `<pre id="tour-check">` that --dump-dom shows.
const CHECK_SCRIPT: &str = r#"<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.getAttribute('src'); });
  var sections = Array.prototype.slice.call(document.querySelectorAll('section'))
                      .map(function (s) { return s.id + ':' + s.getAttribute('data-status'); });
  var pre = document.createElement('pre');
  pre.id = 'tour-check';
  pre.textContent = JSON.stringify({images: images.length, broken: broken, sections: sections,
                                    scroll_width: document.documentElement.scrollWidth,
                                    window_width: window.innerWidth});
  document.body.appendChild(pre);
});
</script>
"#;

#[test]
fn the_page_loads_in_a_browser() {
    let Some(browser) = chromium() else {
        // Under CI a browser is required unless `.ci/run` said why it could not install one, so that a
        // passing CI run means the page was opened.
        let ci = std::env::var("CI").is_ok_and(|v| v != "false" && v != "0");
        let excused = std::env::var("GLASSBOX_NO_BROWSER").unwrap_or_default();
        assert!(
            !ci || !excused.is_empty(),
            "CI is set but no Chromium was found and .ci/run gave no reason (GLASSBOX_NO_BROWSER)"
        );
        println!(
            "SKIPPED: no Chromium found (apt-get install -y chromium; .ci/run installs it where it can), \
             so the page was not opened in a browser{}",
            if excused.is_empty() { String::new() } else { format!(": {excused}") }
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tour");
    let o = glassbox(
        &["tour", "--only", "conv,rl", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let html = page(&out);
    let check = out.join("check.html");
    std::fs::write(
        &check,
        html.replace("</body>", &format!("{CHECK_SCRIPT}</body>")),
    )
    .unwrap();
    // A phone's width (headless Chromium makes the window at least 500 px wide): the page must fit it.
    let o = headless(
        &browser,
        &[
            "--window-size=390,844",
            "--virtual-time-budget=10000",
            "--dump-dom",
            &format!("file://{}", check.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&o.stdout);
    let start = dom
        .find("<pre id=\"tour-check\">")
        .unwrap_or_else(|| panic!("the check did not run: {}", text(&o)))
        + "<pre id=\"tour-check\">".len();
    let json = dom[start..start + dom[start..].find("</pre>").unwrap()]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let result: serde_json::Value = serde_json::from_str(&json).expect("the check's JSON");
    assert_eq!(
        result["broken"],
        serde_json::json!([]),
        "images that did not load"
    );
    let on_page = image_files(&html, &out).len() as u64;
    assert!(on_page >= 7, "{on_page} images");
    assert_eq!(result["images"], on_page, "{result}");
    assert_eq!(
        result["sections"],
        serde_json::json!(["conv:ok", "rl:ok"]),
        "{result}"
    );
    assert!(
        result["scroll_width"].as_u64() <= result["window_width"].as_u64(),
        "wider than a phone: {result}"
    );
    // A screenshot, decoded: the page's size, and not blank.
    let shot = dir.path().join("tour.png");
    let o = headless(
        &browser,
        &[
            "--window-size=1000,1400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", out.join("index.html").display()),
        ],
    );
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", text(&o)))
        .to_rgb8();
    assert_eq!(img.dimensions(), (1000, 1400));
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 100,
        "a blank screenshot: {} colours",
        colours.len()
    );
    if let Some(figs) = glassbox_core::testdata::figures_dir() {
        std::fs::create_dir_all(&figs).unwrap();
        std::fs::copy(&shot, figs.join("tour.png")).unwrap();
    }
}
