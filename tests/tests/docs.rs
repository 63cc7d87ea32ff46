//! The project's own docs stay true to the code and inside the repository: every route of the
//! table has its section in `docs/api.md`, every error code the service answers and every
//! `STAMPS_` setting the code reads is documented there, and every link in `README.md` and
//! `docs/` points at a file (and heading) of this repository.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use shared::http::ROUTES;

const API_REFERENCE: &str = "docs/api.md";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut in_code = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            lines.push(line);
        }
    }
    lines
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn headings(text: &str) -> Vec<String> {
    prose_lines(text)
        .into_iter()
        .filter_map(|line| line.strip_prefix('#').map(|rest| rest.trim_start_matches('#')))
        .filter(|rest| rest.starts_with(' '))
        .map(|rest| rest.trim().to_string())
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    headings(text).iter().map(|heading| slug(heading)).collect()
}

/// The targets of the inline links `[text](target)` outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// `path` with `.` and `..` resolved lexically; `None` when it climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// The Markdown files whose links must stay inside the repository.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).unwrap_or_else(|e| panic!("docs/: {e}"));
    for entry in docs {
        let path = entry.unwrap_or_else(|e| panic!("docs/: {e}")).path();
        if path.extension().is_some_and(|ext| ext == "md") {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            files.push(Path::new("docs").join(name));
        }
    }
    files.sort();
    files
}

/// The Rust sources under `dirs`.
fn rust_sources(dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for dir in dirs {
        walk(&root().join(dir), &mut found);
    }
    found
}

#[test]
fn every_route_has_its_section_in_the_api_reference() {
    let reference = read(&root().join(API_REFERENCE));
    let headings = headings(&reference);
    for route in ROUTES {
        let title = format!("`POST {}`", route.path);
        assert!(
            headings.iter().any(|heading| heading.ends_with(&title)),
            "{API_REFERENCE} has no section titled {title}: add one (request, response, errors)"
        );
    }
}

/// The codes of `ErrorCode::as_str`, read from its source: `Variant => "code",` lines.
fn error_codes() -> BTreeSet<String> {
    let source = read(&root().join("shared/src/error.rs"));
    let body = source.split("pub fn as_str").nth(1).expect("ErrorCode::as_str in shared/src/error.rs");
    let body = body.split("pub fn status").next().unwrap_or(body);
    body.lines()
        .filter_map(|line| line.split_once(" => \"").map(|(_, code)| code.trim_end_matches("\",").to_string()))
        .collect()
}

#[test]
fn every_error_code_is_in_the_api_reference_table() {
    let codes = error_codes();
    assert!(codes.len() >= 20 && codes.contains("invalid_pin"), "could not read the codes: {codes:?}");
    let reference = read(&root().join(API_REFERENCE));
    for code in codes {
        assert!(
            reference.lines().any(|line| line.starts_with(&format!("| `{code}` |"))),
            "error code {code} has no row in the error-code table of {API_REFERENCE}"
        );
    }
}

/// Every `"STAMPS_..."` string literal in the product's sources: the settings it reads.
fn settings_read_by_the_code() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for path in rust_sources(&["shared/src", "cli/src", "functions"]) {
        let source = read(&path);
        for piece in source.split("\"STAMPS_").skip(1) {
            let name: String =
                piece.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if piece[name.len()..].starts_with('"') {
                found.insert(format!("STAMPS_{name}"));
            }
        }
    }
    found
}

#[test]
fn every_setting_the_code_reads_is_documented() {
    let settings = settings_read_by_the_code();
    assert!(settings.contains("STAMPS_JWT_KEYS"), "could not read the settings: {settings:?}");
    let reference = read(&root().join(API_REFERENCE));
    for name in settings {
        assert!(
            reference.lines().any(|line| line.starts_with(&format!("| `{name}` |"))),
            "{name} is read by the code but has no row in the configuration table of {API_REFERENCE}"
        );
    }
}

/// The section numbers (`3`, `6.2`) a comment cites as "docs/api.md section N" or
/// "docs/api.md sections N-M".
fn cited_sections(source: &str) -> Vec<String> {
    let mut cited = Vec::new();
    for piece in source.split("docs/api.md section").skip(1) {
        let piece = piece.strip_prefix('s').unwrap_or(piece).trim_start();
        let numbers: String = piece.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-')).collect();
        for number in numbers.trim_end_matches('.').split('-').filter(|n| !n.is_empty()) {
            cited.push(number.trim_end_matches('.').to_string());
        }
    }
    cited
}

#[test]
fn sections_cited_in_code_exist() {
    let numbered: BTreeSet<String> = headings(&read(&root().join(API_REFERENCE)))
        .iter()
        .filter_map(|heading| heading.split_whitespace().next())
        .map(|number| number.trim_end_matches('.').to_string())
        .collect();
    let mut citations = 0;
    for path in rust_sources(&["shared/src", "shared/tests", "cli/src", "functions", "tests/src", "tests/tests"]) {
        for section in cited_sections(&read(&path)) {
            citations += 1;
            assert!(
                numbered.contains(&section),
                "{} cites {API_REFERENCE} section {section}, which it does not have",
                path.display()
            );
        }
    }
    assert!(citations >= 20, "only {citations} citations found: is the pattern still right?");
}

#[test]
fn links_stay_inside_the_repository_and_resolve() {
    let root = root();
    for document in documents() {
        let text = read(&root.join(&document));
        let here = document.parent().unwrap_or(Path::new(""));
        for target in link_targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if file.is_empty() {
                document.clone()
            } else {
                normalize(&here.join(file))
                    .unwrap_or_else(|| panic!("{}: the link {target} leaves the repository", document.display()))
            };
            let path = root.join(&linked);
            assert!(
                path.exists(),
                "{}: the link {target} names {}, which does not exist",
                document.display(),
                linked.display()
            );
            if let Some(anchor) = anchor.filter(|_| linked.extension().is_some_and(|ext| ext == "md")) {
                assert!(
                    anchors(&read(&path)).contains(anchor),
                    "{}: the link {target} names a heading {} does not have",
                    document.display(),
                    linked.display()
                );
            }
        }
        assert!(!text.contains("../shared/"), "{} points at ../shared/, outside the repository", document.display());
    }
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("3.1 `POST /api/token/`"), "31-post-apitoken");
    assert_eq!(slug("7.3 `POST /api/v2/auth/forgot_password`"), "73-post-apiv2authforgot_password");
    assert_eq!(slug("1.3 Naming a customer: the `user` field"), "13-naming-a-customer-the-user-field");
    assert_eq!(normalize(Path::new("docs/../README.md")), Some(PathBuf::from("README.md")));
    assert_eq!(normalize(Path::new("../shared/SPEC.md")), None);
    let cited = cited_sections("(docs/api.md section 6.2): x; docs/api.md sections 3-7. docs/api.md section 4.");
    assert_eq!(cited, ["6.2", "3", "7", "4"]);
}
