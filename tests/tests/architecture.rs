//! The shape of the code, checked on its sources: the engine's top-level
//! modules import each other without a circle, so that each can be read
//! (and moved) after the ones it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The names a source uses through `crate::` (one path, or each name of
/// a `crate::{…}` group), unit tests left out.
fn crate_uses(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// Each top-level module of the engine with the top-level modules it
/// uses (a `mod.rs` folder counts as one module).
fn engine_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/engine/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first =
            rel.components().next().unwrap().as_os_str().to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> =
        files.iter().map(|p| module_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(f);
        let uses = crate_uses(&std::fs::read_to_string(f).unwrap());
        let e = graph.entry(m.clone()).or_default();
        e.extend(uses.into_iter().filter(|u| modules.contains(u) && *u != m));
    }
    graph
}

/// A circle in `graph`, as the modules along it, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut c = path[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

#[test]
fn the_engine_has_no_import_circle() {
    let g = engine_graph();
    // The reader sees what it is made of; a module the scanner uses must
    // be there, or the reading has gone wrong.
    assert!(
        g["scan"].contains("unpack") && g["scan"].contains("module"),
        "{g:?}"
    );
    assert_eq!(
        circle(&g),
        None,
        "engine modules import each other in a circle: {g:#?}"
    );
}

#[test]
fn a_circle_is_seen() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(circle(&g), None);
    assert_eq!(
        crate_uses(
            "use crate::{heur::Heur, pe};\nlet x = crate::mime::y;\n#[cfg(test)]\nuse crate::scan;"
        ),
        BTreeSet::from([
            "heur".to_string(),
            "pe".to_string(),
            "mime".to_string()
        ])
    );
}

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
