//! House rules of the test suite that code review alone kept missing (docs/architecture.md, "Testing").
//!
//! Tests find the shared data only through `glassbox_core::testdata`, which prints why a test skips and
//! fails it under CI; a test reading `GLASSBOX_DATA` or `GLASSBOX_WEIGHTS` itself is how seven tests
//! once passed without running.

use std::path::{Path, PathBuf};

/// `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The test code of a file: all of it under a `tests/` directory, else what follows `#[cfg(test)]`.
fn test_code(path: &Path, text: &str) -> Option<String> {
    if path.components().any(|c| c.as_os_str() == "tests") {
        return Some(text.to_string());
    }
    text.find("#[cfg(test)]").map(|at| text[at..].to_string())
}

#[test]
fn tests_read_the_data_variables_only_through_testdata() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under {root:?}",
        files.len()
    );
    let helper = Path::new("crates/glassbox-core/src/testdata.rs");
    let this = Path::new(file!()).file_name().unwrap();
    let variables = ["GLASSBOX_DATA", "GLASSBOX_WEIGHTS"].map(|v| format!("\"{v}\""));
    let mut offenders = Vec::new();
    for path in &files {
        if path.ends_with(helper) || path.file_name() == Some(this) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let Some(code) = test_code(path, &text) else {
            continue;
        };
        for line in code.lines() {
            let reads = line.contains("var_os(") || line.contains("var(");
            if reads && variables.iter().any(|v| line.contains(v.as_str())) {
                offenders.push(format!("{}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests must find shared data through glassbox_core::testdata (a note when skipped, a failure \
         under CI), not read the variables themselves:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_rule_catches_a_direct_read() {
    let sample =
        "fn t() {\n    let Some(d) = std::env::var_os(\"GLASSBOX_DATA\") else { return };\n}\n";
    let code = test_code(Path::new("crates/x/tests/t.rs"), sample).unwrap();
    assert!(code
        .lines()
        .any(|l| l.contains("var_os(") && l.contains("\"GLASSBOX_DATA\"")));
    let src = "pub fn f() {}\n#[cfg(test)]\nmod tests { fn g() { std::env::var(\"GLASSBOX_WEIGHTS\"); } }";
    assert!(test_code(Path::new("crates/x/src/lib.rs"), src)
        .unwrap()
        .contains("GLASSBOX_WEIGHTS"));
    assert!(test_code(Path::new("crates/x/src/lib.rs"), "pub fn f() {}").is_none());
}
