//! The engine's modules form layers: no module reaches, through the
//! `crate::` paths its code names, back to itself. Read from the sources
//! (test code excluded), so a new import that closes a circle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The top-level modules named by `crate::` paths in `code`.
fn named(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.insert(ident(rest));
            continue;
        };
        // `crate::{a::{b, c}, d}`: the first name of each item at depth 0.
        let (mut depth, mut item_start) = (0, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    out.insert(ident(&group[item_start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.insert(ident(&group[item_start..i]));
                    item_start = i + 1;
                }
                _ => {}
            }
        }
    }
    out.remove("");
    out
}

fn walk(
    dir: &Path,
    root: &Path,
    graph: &mut BTreeMap<String, BTreeSet<String>>,
) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, root, graph);
            continue;
        }
        // A module's unit tests may sit in its `tests.rs` and reach
        // anywhere.
        if p.extension().is_none_or(|x| x != "rs")
            || p.file_name().is_some_and(|n| n == "tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        // Unit tests sit at the end of a file and may reach anywhere.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let m = module_of(p.strip_prefix(root).unwrap());
        let deps = graph.entry(m.clone()).or_default();
        for n in named(&code) {
            if n != m {
                deps.insert(n);
            }
        }
    }
}

#[test]
fn paths_are_read_as_modules() {
    let n = named(
        "use crate::{heur::{self, Heur}, scan};\nlet x = crate::pe::pe_offset(d);",
    );
    assert_eq!(n.into_iter().collect::<Vec<_>>(), ["heur", "pe", "scan"]);
}

#[test]
fn engine_modules_import_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    walk(&root, &root, &mut graph);
    // An item re-exported at the crate root (`crate::Database`) stands
    // for the module that defines it.
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let mut home: BTreeMap<String, String> = BTreeMap::new();
    for stmt in lib.split("pub use ").skip(1) {
        let stmt = &stmt[..stmt.find(';').unwrap_or(stmt.len())];
        let Some((m, items)) = stmt.split_once("::") else { continue };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let item = item.trim().rsplit("::").next().unwrap_or_default();
            home.insert(item.to_string(), m.trim().to_string());
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (m, deps) in graph.iter_mut() {
        let named: Vec<String> = deps.iter().cloned().collect();
        deps.clear();
        for d in named {
            let d = home.get(&d).cloned().unwrap_or(d);
            if modules.contains(&d) && d != "lib" && &d != m {
                deps.insert(d);
            }
        }
    }
    assert!(modules.len() > 10, "read the engine's modules: {modules:?}");
    // Depth-first search for a path from a module back to itself.
    fn reach(
        g: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == from) {
            return Some(
                path[i..].iter().cloned().chain([from.to_string()]).collect(),
            );
        }
        if done.contains(from) {
            return None;
        }
        path.push(from.to_string());
        for d in g.get(from).into_iter().flatten() {
            if let Some(c) = reach(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(from.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        if let Some(circle) = reach(&graph, m, &mut Vec::new(), &mut done) {
            panic!("import circle: {}\n{graph:#?}", circle.join(" -> "));
        }
    }
    // What the layers are, for a reader of the test output.
    for (m, deps) in &graph {
        println!(
            "{m}: {}",
            deps.iter().cloned().collect::<Vec<_>>().join(" ")
        );
    }
}
