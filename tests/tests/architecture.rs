//! The shape of the code, checked on its sources (the engine's import
//! layers are checked by `crates/engine/tests/layering.rs`).

use std::path::Path;

/// Every binary's `main.rs` is a few lines over its library's `run`:
/// the program can be read, tested and linked into the multi-call
/// executable as a library.
#[test]
fn every_main_is_thin() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut mains = Vec::new();
    for e in std::fs::read_dir(&crates).unwrap().flatten() {
        let main = e.path().join("src/main.rs");
        if main.exists() {
            let lines =
                std::fs::read_to_string(&main).unwrap().lines().count();
            mains.push((main, lines));
        }
    }
    assert!(mains.len() >= 6, "{mains:?}");
    let fat: Vec<_> = mains.iter().filter(|(_, n)| *n > 40).collect();
    assert!(fat.is_empty(), "main.rs over 40 lines: {fat:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// No source file outside `tests/` is over 800 lines: each can be read
/// whole.
#[test]
fn no_source_file_over_800_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for d in ["crates", "xtask", "fuzz"] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 50, "{} files", files.len());
    let over: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 800).then(|| {
                format!(
                    "{}: {n} lines",
                    f.strip_prefix(&root).unwrap().display()
                )
            })
        })
        .collect();
    assert!(over.is_empty(), "{over:#?}");
}
