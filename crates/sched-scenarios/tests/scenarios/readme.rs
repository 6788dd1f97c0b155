//! README.md is what a newcomer copies: its first screen says what sched is, gives
//! the two commands and a short example; every Rust block is a whole program (a real
//! `main`, no rustdoc-hidden lines; the doc tests of this crate compile them all and
//! run the first); its `[dependencies]` lines name crates, versions and features that
//! exist; it links only inside the repository.

#![allow(missing_docs)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of a Markdown text: (info string, body, first line number).
fn blocks(text: &str) -> Vec<(String, String, usize)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new(), n + 2)),
            (Some(_), Some("")) => blocks.push(open.take().expect("open block")),
            (Some((_, body, _)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    blocks
}

fn rust_blocks(text: &str) -> Vec<(String, String, usize)> {
    blocks(text)
        .into_iter()
        .filter(|(info, _, _)| info.split(',').next() == Some("rust"))
        .collect()
}

#[test]
fn the_first_screen_says_what_it_is_gives_the_two_commands_and_an_example() {
    let readme = read("README.md");
    let first_screen: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("job scheduler"), "what it is");
    for command in ["cargo run --example persistence", "cargo test --workspace"] {
        assert!(first_screen.contains(command), "{command}");
    }
    let (info, body, line) = rust_blocks(&readme)
        .into_iter()
        .next()
        .expect("a Rust block");
    assert!(line < 40, "the first example starts at line {line}");
    assert_eq!(info, "rust", "the first example runs as a doc test");
    let lines = body.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 15, "the first example has {lines} lines");
    let example = root().join("examples/persistence.rs");
    assert!(
        example.exists(),
        "the main example is examples/persistence.rs"
    );
}

#[test]
fn every_rust_block_is_a_whole_program_without_hidden_lines() {
    let readme = read("README.md");
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 3, "{} Rust blocks", blocks.len());
    for (info, body, line) in blocks {
        assert!(
            !info.contains("ignore"),
            "line {line}: `{info}` is not compiled"
        );
        assert!(
            body.contains("#[tokio::main]") && body.contains("fn main()"),
            "line {line}: no main"
        );
        for (i, code) in body.lines().enumerate() {
            assert!(
                !(code.trim_start().starts_with("# ") || code.trim() == "#"),
                "line {}: a rustdoc-hidden line: {code}",
                line + i
            );
        }
    }
}

#[test]
fn links_stay_inside_the_repository_and_resolve() {
    let readme = read("README.md");
    for scheme in ["http://", "https://"] {
        for (n, line) in readme.lines().enumerate() {
            if let Some(at) = line.find(scheme) {
                let rest = &line[at + scheme.len()..];
                assert!(
                    rest.starts_with("127.0.0.1") || rest.starts_with("localhost"),
                    "line {}: a link outside the repository: {line}",
                    n + 1
                );
            }
        }
    }
    let mut rest = readme.as_str();
    let mut links = 0;
    while let Some(at) = rest.find("](") {
        let tail = &rest[at + 2..];
        let end = tail.find(')').expect("a closed link");
        let target = tail[..end].split('#').next().unwrap_or_default();
        if !target.is_empty() {
            assert!(
                root().join(target).exists(),
                "link to a missing file: {target}"
            );
            links += 1;
        }
        rest = &tail[end..];
    }
    assert!(links > 0);
}

/// `(name, features)` of each dependency line `name = "v"` / `name = { version = "v", … }`.
fn dependency_lines(toml: &str) -> Vec<(String, String, Vec<String>)> {
    toml.lines()
        .filter(|l| !l.starts_with('[') && l.contains(" = "))
        .map(|line| {
            let (name, spec) = line.split_once(" = ").expect("name = spec");
            let quoted = |key: &str| -> Option<String> {
                // `features = `, not the end of `default-features = `
                let pattern = format!("{key} = ");
                let at = spec
                    .match_indices(&pattern)
                    .find(|(i, _)| !spec[..*i].ends_with('-'))?
                    .0
                    + pattern.len();
                let rest = &spec[at..];
                if let Some(list) = rest.strip_prefix('[') {
                    return Some(list[..list.find(']')?].to_owned());
                }
                let rest = rest.strip_prefix('"')?;
                Some(rest[..rest.find('"')?].to_owned())
            };
            let version = if spec.starts_with('"') {
                spec.trim_matches('"').to_owned()
            } else {
                quoted("version").expect("a version")
            };
            let features = quoted("features")
                .map(|list| {
                    list.split(',')
                        .map(|f| f.trim().trim_matches('"').to_owned())
                        .filter(|f| !f.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            (name.trim().to_owned(), version, features)
        })
        .collect()
}

/// The names in a manifest's `[features]` table.
fn features_of(manifest: &str) -> Vec<String> {
    let Some(at) = manifest.find("\n[features]\n") else {
        return Vec::new();
    };
    manifest[at + 12..]
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.trim().to_owned()))
        .filter(|name| !name.starts_with('#'))
        .collect()
}

#[test]
fn the_dependency_lines_name_real_crates_versions_and_features() {
    let readme = read("README.md");
    let workspace = read("Cargo.toml");
    let version = workspace
        .lines()
        .skip_while(|l| *l != "[workspace.package]")
        .find_map(|l| l.strip_prefix("version = "))
        .expect("the workspace version")
        .trim_matches('"')
        .to_owned();
    let tomls: Vec<String> = blocks(&readme)
        .into_iter()
        .filter(|(info, _, _)| info == "toml")
        .map(|(_, body, _)| body)
        .collect();
    assert!(tomls.len() >= 3, "memory, SQLite and Postgres");
    let lines: Vec<_> = tomls.iter().flat_map(|t| dependency_lines(t)).collect();
    let mut ours = 0;
    for (name, wanted, features) in &lines {
        let manifest = root().join("crates").join(name).join("Cargo.toml");
        if name == "tokio" {
            assert!(
                features.iter().any(|f| f == "macros"),
                "tokio needs `macros` for #[tokio::main]"
            );
            continue;
        }
        assert!(manifest.exists(), "{name} is not a crate of this workspace");
        let manifest = read(&manifest);
        assert!(
            !manifest.contains("publish = false"),
            "{name} is not published"
        );
        assert!(
            version.starts_with(wanted.as_str()),
            "{name} = {wanted}, the crates are {version}"
        );
        let known = features_of(&manifest);
        for feature in features {
            assert!(
                known.contains(feature),
                "{name} has no feature {feature}: {known:?}"
            );
        }
        ours += 1;
    }
    assert!(ours >= 3, "{lines:?}");
    let postgres = lines
        .iter()
        .any(|(n, _, f)| n == "sched-store-sqlx" && f == &["postgres"]);
    let sqlite = lines
        .iter()
        .any(|(n, _, f)| n == "sched-store-sqlx" && f == &["sqlite"]);
    assert!(postgres && sqlite, "{lines:?}");
}
