//! The module map in DESIGN.md holds: the crate's top-level modules import each other without
//! cycles, so each can be read (and changed) knowing only the modules below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc examples mention other modules freely).
fn code(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The identifiers right after each `crate::` (also inside `crate::{a, b::c}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                out.push(first.to_owned());
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
        }
    }
    out
}

/// Module → the other top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    // Items re-exported at the crate root (`crate::Json`) belong to the module they come from.
    let lib = code(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut root_items = BTreeMap::new();
    for line in lib.lines().map(str::trim).filter(|l| l.starts_with("pub use ")) {
        let path = line.trim_start_matches("pub use ").trim_end_matches(';');
        let module = path.split("::").next().unwrap_or("");
        if !modules.contains(module) {
            continue;
        }
        let items = path.rsplit("::").next().unwrap_or("");
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            root_items.insert(item.trim().to_owned(), module.to_owned());
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" {
            continue;
        }
        for name in crate_paths(&code(&std::fs::read_to_string(&file).unwrap())) {
            let target = if modules.contains(&name) { Some(name) } else { root_items.get(&name).cloned() };
            if let Some(target) = target.filter(|t| *t != top) {
                graph.get_mut(&top).unwrap().insert(target);
            }
        }
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    assert!(graph.len() >= 10, "the module scan found too little: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module import cycle: {}\nthe whole graph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn routing_and_openapi_stay_low() {
    // A route's metadata holds the function that describes it for the OpenAPI document, so
    // `routing` names `openapi`; `openapi` may then name only the leaves, and each extractor
    // describes itself beside its definition.
    let graph = module_graph();
    assert_eq!(graph["routing"], BTreeSet::from(["openapi".to_owned()]), "routing names only openapi");
    let allowed = BTreeSet::from(["config".to_owned(), "error".to_owned()]);
    assert!(
        graph["openapi"].is_subset(&allowed),
        "openapi imports {:?}; it may import config and error",
        graph["openapi"]
    );
}

#[test]
fn leaf_modules_import_no_other_module() {
    let graph = module_graph();
    for leaf in ["config", "error", "semconv"] {
        assert!(graph[leaf].is_empty(), "{leaf} is a leaf in DESIGN.md's module map but imports {:?}", graph[leaf]);
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}
