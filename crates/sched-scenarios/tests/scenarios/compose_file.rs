//! `compose.yaml` is what README and docs/stores.md say it is: Postgres 16 with trust
//! authentication, database `test`, on 127.0.0.1:5432 — the URL the docs give for
//! `DATABASE_URL`, which is also the one the local cluster (and CI) answers at.
//!
//! There is no Docker daemon here, so the file is read by a strict reader of the
//! subset of YAML it uses (anything else is an error, never skipped), and the URL it
//! implies is checked against a real server.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use sched_test_support::database_url;
use sqlx::Connection;

/// A YAML value of the subset compose files use here.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Scalar(String),
    List(Vec<Yaml>),
    Map(BTreeMap<String, Yaml>),
}

impl Yaml {
    fn get(&self, key: &str) -> &Yaml {
        match self {
            Yaml::Map(map) => map
                .get(key)
                .unwrap_or_else(|| panic!("no key {key:?} in {self:?}")),
            other => panic!("not a mapping (looking for {key:?}): {other:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Scalar(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn strs(&self) -> Vec<&str> {
        match self {
            Yaml::List(items) => items.iter().map(Yaml::str).collect(),
            other => panic!("not a list: {other:?}"),
        }
    }
}

/// Lines without comments and blank lines: (indent, text, line number).
fn lines(text: &str) -> Vec<(usize, String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, raw)| {
            assert!(!raw.contains('\t'), "line {}: a tab", n + 1);
            let content = match raw.find(" #") {
                Some(i) => &raw[..i],
                None if raw.trim_start().starts_with('#') => "",
                None => raw,
            };
            let trimmed = content.trim_end();
            (!trimmed.trim().is_empty()).then(|| {
                let indent = trimmed.len() - trimmed.trim_start().len();
                (indent, trimmed.trim_start().to_owned(), n + 1)
            })
        })
        .collect()
}

fn scalar(text: &str, line: usize) -> Yaml {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .unwrap_or_else(|| panic!("line {line}: unclosed flow list"));
        return Yaml::List(inner.split(',').map(|item| scalar(item, line)).collect());
    }
    assert!(
        !text.starts_with(['{', '&', '*', '!', '|', '>']),
        "line {line}: YAML this reader does not handle: {text}"
    );
    let unquoted = match (text.chars().next(), text.chars().last()) {
        (Some('"'), Some('"')) | (Some('\''), Some('\'')) if text.len() >= 2 => {
            &text[1..text.len() - 1]
        }
        _ => text,
    };
    Yaml::Scalar(unquoted.to_owned())
}

/// Parses the block at `lines[*at..]` indented exactly `indent`.
fn block(lines: &[(usize, String, usize)], at: &mut usize, indent: usize) -> Yaml {
    let is_list = lines[*at].1.starts_with("- ");
    if is_list {
        let mut items = Vec::new();
        while *at < lines.len() && lines[*at].0 == indent {
            let (_, text, line) = &lines[*at];
            let item = text
                .strip_prefix("- ")
                .unwrap_or_else(|| panic!("line {line}: a list item expected"));
            assert!(
                !item.contains(": "),
                "line {line}: mappings in lists are not handled"
            );
            items.push(scalar(item, *line));
            *at += 1;
        }
        return Yaml::List(items);
    }
    let mut map = BTreeMap::new();
    while *at < lines.len() && lines[*at].0 == indent {
        let (_, text, line) = lines[*at].clone();
        let (key, rest) = text
            .split_once(':')
            .unwrap_or_else(|| panic!("line {line}: `key: value` expected, got {text}"));
        assert!(
            rest.is_empty() || rest.starts_with(' '),
            "line {line}: `key: value` expected"
        );
        *at += 1;
        let value = if rest.trim().is_empty() {
            let child = lines
                .get(*at)
                .filter(|(i, _, _)| *i > indent)
                .unwrap_or_else(|| panic!("line {line}: {key} has no value"));
            block(lines, at, child.0)
        } else {
            scalar(rest, line)
        };
        assert!(
            map.insert(key.trim().to_owned(), value).is_none(),
            "line {line}: {key} twice"
        );
    }
    if let Some((i, text, line)) = lines.get(*at) {
        assert!(*i < indent, "line {line}: unexpected indentation: {text}");
    }
    Yaml::Map(map)
}

fn parse(text: &str) -> Yaml {
    let lines = lines(text);
    let mut at = 0;
    let doc = block(&lines, &mut at, 0);
    assert_eq!(at, lines.len(), "unparsed lines from {:?}", lines.get(at));
    doc
}

fn workspace_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `DATABASE_URL` the compose file's Postgres answers at.
fn compose_url() -> String {
    let doc = parse(&workspace_file("compose.yaml"));
    let postgres = doc.get("services").get("postgres");
    assert_eq!(postgres.get("image").str(), "postgres:16");
    let env = postgres.get("environment");
    assert_eq!(env.get("POSTGRES_HOST_AUTH_METHOD").str(), "trust");
    let user = match env {
        Yaml::Map(map) => map.get("POSTGRES_USER").map_or("postgres", Yaml::str),
        _ => unreachable!("checked above"),
    };
    let database = env.get("POSTGRES_DB").str();
    let ports = postgres.get("ports").strs();
    let [port] = ports.as_slice() else {
        panic!("one published port expected: {ports:?}")
    };
    let parts: Vec<&str> = port.split(':').collect();
    let (host, published, container) = match parts.as_slice() {
        [host, published, container] => (*host, *published, *container),
        other => panic!("HOST_IP:PORT:5432 expected (reachable from this machine only): {other:?}"),
    };
    assert_eq!(container, "5432");
    format!("postgres://{user}@{host}:{published}/{database}")
}

const DOCUMENTED_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[test]
fn the_reader_refuses_what_it_does_not_understand() {
    for bad in [
        "a:\n\tb: 1\n",
        "a: {b: 1}\n",
        "a:\n  - b: 1\n",
        "a: 1\na: 2\n",
        "a:\n",
        "a:\n  b: 1\n c: 2\n",
        "just text\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
    let good = parse("# c\na:\n  b: \"x\" # note\n  c: [\"1\", '2']\n  d:\n    - e\n");
    assert_eq!(good.get("a").get("b").str(), "x");
    assert_eq!(good.get("a").get("c").strs(), ["1", "2"]);
    assert_eq!(good.get("a").get("d").strs(), ["e"]);
}

#[test]
fn compose_runs_postgres_16_where_the_docs_point_database_url() {
    assert_eq!(compose_url(), DOCUMENTED_URL);
    for doc in ["README.md", "docs/stores.md", "compose.yaml", ".ci/run"] {
        assert!(
            workspace_file(doc).contains(DOCUMENTED_URL),
            "{doc} does not give {DOCUMENTED_URL}"
        );
    }
    for doc in ["README.md", "docs/stores.md"] {
        assert!(
            workspace_file(doc).contains("docker compose up -d"),
            "{doc} does not say `docker compose up -d`"
        );
    }
}

/// The address, user and database compose gives are the ones the local Postgres
/// answers at, without a password (trust), as `DATABASE_URL` in the docs says.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn the_local_cluster_answers_at_the_compose_url() {
    let _ = database_url("the_local_cluster_answers_at_the_compose_url");
    let url = compose_url();
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let (user, database): (String, String) =
        sqlx::query_as("SELECT current_user::text, current_database()::text")
            .fetch_one(&mut conn)
            .await
            .expect("query");
    assert_eq!((user.as_str(), database.as_str()), ("postgres", "test"));
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut conn)
        .await
        .expect("version");
    assert!(version >= 150_000, "server {version}");
    conn.close().await.expect("close");
}
