//! The architecture, pinned: which crate may depend on which (read from cargo's resolved
//! graph, so a dependency gained through another crate counts too), and no import cycle among
//! the modules of `domain` and of `api` (read from their sources with a Rust parser).

use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};
use syn::{
    Attribute, Item, UseTree,
    visit::{self, Visit},
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Every package `package` depends on for its library, directly or not (dev and build
/// dependencies aside), by name.
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // This platform's packages only: the others' sources need not be here.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host)
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .expect("a resolve graph");
    let packages = metadata["packages"].as_array().expect("packages");
    let name_of = |id: &str| {
        let package = packages.iter().find(|p| p["id"] == id).expect("a package");
        package["name"].as_str().expect("a name").to_owned()
    };
    let id_of = |name: &str| {
        let workspace_package = |p: &&Value| p["name"] == name && p["source"].is_null();
        let package = packages.iter().find(workspace_package);
        let id = package.and_then(|p| p["id"].as_str());
        id.unwrap_or_else(|| panic!("no workspace package {name}"))
            .to_owned()
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec![id_of(package)];
    while let Some(id) = todo.pop() {
        let node = nodes
            .iter()
            .find(|n| n["id"] == id.as_str())
            .expect("a node");
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null());
            let dep_id = dep["pkg"].as_str().expect("a package id").to_owned();
            if normal && seen.insert(name_of(&dep_id)) {
                todo.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn domain_depends_on_no_web_sql_or_runtime_crate_even_through_another() {
    let dependencies = normal_dependencies("domain");
    assert!(dependencies.contains("chrono"), "read: {dependencies:?}");
    for forbidden in [
        "poem",
        "poem-openapi",
        "sea-orm",
        "sqlx-core",
        "tokio",
        "hyper",
        "reqwest",
        "persistence",
        "api",
    ] {
        assert!(
            !dependencies.contains(forbidden),
            "domain depends on {forbidden}"
        );
    }
}

#[test]
fn api_depends_on_no_storage_crate_even_through_another() {
    let dependencies = normal_dependencies("api");
    assert!(dependencies.contains("domain"), "read: {dependencies:?}");
    for forbidden in ["persistence", "sea-orm", "sqlx-core", "app"] {
        assert!(
            !dependencies.contains(forbidden),
            "api depends on {forbidden}"
        );
    }
}

/// A crate's modules (`crate`, `accounts`, `files::name`, …) and, for each, the modules whose
/// items its code outside tests names: the paths it `use`s and writes, resolved to the module
/// that declares them (through the crate root's re-exports, which are not edges themselves,
/// and to the module that defines an exported macro, which the root holds in name only).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    collect_modules(src, &src.join("lib.rs"), "crate", &mut files);
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let root = files.get("crate").expect("lib.rs");
    let mut reexports = root_reexports(root, &modules);
    for (module, file) in &files {
        for item in &file.items {
            if let Item::Macro(defined) = item
                && let Some(name) = &defined.ident
                && defined
                    .attrs
                    .iter()
                    .any(|a| a.path().is_ident("macro_export"))
            {
                reexports.insert(name.to_string(), module.clone());
            }
        }
    }
    files
        .iter()
        .map(|(module, file)| {
            let mut paths = Paths::default();
            for item in &file.items {
                // The root's `use` items are its re-exports: paths through it, not its own.
                let reexport = module == "crate" && matches!(item, Item::Use(_));
                if !reexport && !is_test(item_attrs(item)) {
                    paths.visit_item(item);
                }
            }
            let targets = paths
                .0
                .iter()
                .filter_map(|path| resolve(module, path, &modules, &reexports))
                .filter(|target| target != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// Parses `file`, the module `module`, and every module it declares outside tests, into
/// `files`.
fn collect_modules(src: &Path, file: &Path, module: &str, files: &mut BTreeMap<String, syn::File>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let dir = match module {
        "crate" => src.to_path_buf(),
        _ => src.join(module.replace("::", "/")),
    };
    for item in &parsed.items {
        if let Item::Mod(declared) = item
            && declared.content.is_none()
            && !is_test(&declared.attrs)
        {
            let name = declared.ident.to_string();
            let child = match module {
                "crate" => name.clone(),
                _ => format!("{module}::{name}"),
            };
            let path = [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ]
            .into_iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("module {child} has no file"));
            collect_modules(src, &path, &child, files);
        }
    }
    files.insert(module.to_owned(), parsed);
}

/// What the crate root re-exports: each name to the module it comes from.
fn root_reexports(root: &syn::File, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for item in &root.items {
        if let Item::Use(used) = item {
            let mut paths = Vec::new();
            use_paths(&used.tree, Vec::new(), &mut paths);
            for path in paths {
                let (Some(name), Some(target)) = (
                    path.last().cloned(),
                    resolve("crate", &path, modules, &BTreeMap::new()),
                ) else {
                    continue;
                };
                names.insert(name, target);
            }
        }
    }
    names
}

/// The module a path names, when it is one of this crate's: `crate::a::b::C` is `a::b` when
/// that module exists, else `a`; `super::` and `self::` count from `module`; a first segment
/// that is a child module of `module` counts from there.
fn resolve(
    module: &str,
    path: &[String],
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let mut base: Vec<&str> = match module {
        "crate" => Vec::new(),
        _ => module.split("::").collect(),
    };
    let mut rest = path.iter().map(String::as_str).peekable();
    match rest.peek().copied()? {
        "crate" => {
            rest.next();
            base.clear();
        }
        "self" => {
            rest.next();
        }
        "super" => {
            while rest.peek() == Some(&"super") {
                rest.next();
                base.pop();
            }
        }
        first => {
            let child = base
                .iter()
                .copied()
                .chain([first])
                .collect::<Vec<_>>()
                .join("::");
            if !modules.contains(&child) {
                return None; // Another crate, the prelude, or a local name.
            }
        }
    }
    let mut deepest = (!base.is_empty()).then(|| base.join("::"));
    for segment in rest {
        base.push(segment);
        let candidate = base.join("::");
        if modules.contains(&candidate) {
            deepest = Some(candidate);
        } else {
            if deepest.is_none() {
                // An item of the root: a re-export stands for its source module.
                return Some(
                    reexports
                        .get(segment)
                        .cloned()
                        .unwrap_or_else(|| "crate".into()),
                );
            }
            break;
        }
    }
    deepest.or(Some("crate".into()))
}

/// The paths a piece of code names: `use` trees expanded, and every other path written.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast Item) {
        if !is_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    /// `pub(crate)` and `pub(super)` name no item.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_item_use(&mut self, used: &'ast syn::ItemUse) {
        use_paths(&used.tree, Vec::new(), &mut self.0);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.0
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        visit::visit_path(self, path);
    }
}

fn use_paths(tree: &UseTree, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let with = |name: String| prefix.iter().cloned().chain([name]).collect::<Vec<_>>();
    match tree {
        UseTree::Path(path) => use_paths(&path.tree, with(path.ident.to_string()), out),
        UseTree::Name(name) => out.push(with(name.ident.to_string())),
        UseTree::Rename(rename) => out.push(with(rename.ident.to_string())),
        UseTree::Glob(_) => out.push(prefix),
        UseTree::Group(group) => {
            for tree in &group.items {
                use_paths(tree, prefix.clone(), out);
            }
        }
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Whether the attributes make an item test-only: `#[cfg(test)]`.
fn is_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

/// The cycles of `graph`: each strongly connected group of more than one module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(module) = todo.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reaches(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (module, reached) in &reach {
        let group: BTreeSet<String> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
            .cloned()
            .collect();
        if group.len() > 1 && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

fn assert_no_cycles(krate: &str) {
    let graph = module_graph(&workspace().join(krate).join("src"));
    assert!(graph.len() > 10, "{krate}: read only {graph:?}");
    let found = cycles(&graph);
    let shown: Vec<String> = found
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|m| {
                    format!(
                        "{m} -> {:?}",
                        graph[m].intersection(group).collect::<Vec<_>>()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "{krate} has import cycles:\n{}",
        shown.join("\n")
    );
}

#[test]
fn the_modules_of_domain_import_each_other_without_cycles() {
    assert_no_cycles("domain");
}

#[test]
fn the_modules_of_api_import_each_other_without_cycles() {
    assert_no_cycles("api");
}

#[test]
fn the_cycle_check_finds_a_cycle_through_use_super_and_crate_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use b::Thing;\n").unwrap();
    std::fs::write(
        src.join("a.rs"),
        "mod inner;\nfn f() -> crate::Thing { todo!() }\n",
    )
    .unwrap();
    std::fs::write(src.join("a/inner.rs"), "use super::super::c;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\nfn g() { crate::a::f(); }\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    )
    .unwrap();
    let graph = module_graph(src);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned()]), "{graph:?}");
    assert_eq!(graph["b"], BTreeSet::from(["a".to_owned()]), "{graph:?}");
    assert!(
        graph["crate"].is_empty(),
        "re-exports are not edges: {graph:?}"
    );
    assert_eq!(
        cycles(&graph),
        [BTreeSet::from(["a".to_owned(), "b".to_owned()])]
    );
}
