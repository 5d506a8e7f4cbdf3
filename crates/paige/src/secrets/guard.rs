//! The code guard (SPEC §1, "not in code", "not for flows"): finds the
//! project's own secret values and recognisable credentials in bot code.
//!
//! Project values are found with the project's [`Redactor`] (every form it
//! knows), never with a second matcher: a line whose redaction holds more
//! `[REDACTED:KEY]` markers than the line itself is a finding for `KEY`.
//! Credentials are found with [`RULES`], one data table. A finding names a
//! file, line and key or rule, never the value.

use std::sync::LazyLock;

use paige_redact::Redactor;

pub use super::guard_rules::{CredentialRule, RULES, credential_rules_in, rule};
use super::guard_rules::{credentials_in, fingerprint};
use crate::model::findings::{CodeFinding, NewFinding, PROJECT_VALUE};

/// The warning shown to the user for a stored finding: where, what, and
/// the command that moves it into Secrets. Never the value.
pub fn message(finding: &NewFinding, slug: &str, id: i64) -> String {
    let what = match &finding.key {
        Some(key) => format!("the value of {key}"),
        None => {
            let provider = rule(&finding.rule).map_or("", |r| r.provider);
            let shown = finding
                .fingerprint
                .as_deref()
                .map(|f| format!(" {f}"))
                .unwrap_or_default();
            format!("a {provider} credential ({}{shown})", finding.rule)
        }
    };
    format!(
        "{}:{}:{} contains {what}; move it into Secrets as {}: paige code fix {slug} --finding {id}",
        finding.file, finding.line, finding.column, finding.suggested_key
    )
}

/// The finding as `paige code push --json`, the API and the dashboard show
/// it.
pub fn to_json(finding: &CodeFinding, slug: &str) -> serde_json::Value {
    let f = &finding.finding;
    serde_json::json!({
        "id": finding.id,
        "revision": finding.revision,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "kind": f.kind(),
        "rule": f.rule,
        "key": f.key,
        "fingerprint": f.fingerprint,
        "suggested_key": f.suggested_key,
        "message": message(f, slug, finding.id),
    })
}

/// 1-based line and byte column of byte `at` of `text`.
fn position(line_starts: &[usize], at: usize) -> (usize, usize) {
    let index = line_starts.partition_point(|&start| start <= at) - 1;
    (index + 1, at - line_starts[index] + 1)
}

/// The key a credential is stored under by default: the variable it is
/// assigned to (`const stripeKey = '…'` gives `STRIPE_KEY`) when that
/// says more than "key", or else the provider's (`STRIPE_SECRET_KEY`).
pub fn suggest_key(before: &str, rule: &CredentialRule) -> String {
    static ASSIGNED: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*[:=]\s*['"`]$"#).expect("the pattern compiles")
    });
    const GENERIC: &[&str] = &["KEY", "TOKEN", "SECRET", "VALUE", "PASSWORD", "AUTH", "K", "S"];
    let name = ASSIGNED.captures(before).map(|c| upper_snake(&c[1]));
    match name {
        Some(name) if !GENERIC.contains(&name.as_str()) && crate::secrets::rules::check_key(&name).is_ok() => name,
        _ => rule.suggested_key.to_owned(),
    }
}

/// `stripeKey` and `stripe_key` give `STRIPE_KEY`.
fn upper_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Whether a file is scanned; `None` for a text file, or why not.
pub fn skipped(path: &str, bytes: &[u8]) -> Option<Skip> {
    if path.starts_with("node_modules/") || path.contains("/node_modules/") {
        return Some(Skip::Vendored);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => None,
        _ => Some(Skip::Binary),
    }
}

/// Why a file was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Installed dependencies (`node_modules/`): not the bot's own code.
    Vendored,
    /// Not UTF-8 text.
    Binary,
}

/// Scans one text file: the project's values anywhere in it (a value of
/// several lines too, such as a PEM key), with the redactor's own matcher,
/// and credentials line by line. `None` for a file that is not UTF-8 text.
pub fn scan_file(path: &str, bytes: &[u8], redactor: &Redactor) -> Option<Vec<NewFinding>> {
    let text = std::str::from_utf8(bytes).ok().filter(|t| !t.contains('\0'))?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut findings = Vec::new();
    let occurrences = redactor.occurrences(bytes);
    // A credential that already is one of the project's values is
    // reported once, as that value (its fix only rewrites the code).
    let is_project_value = |start: usize, end: usize| occurrences.iter().any(|o| o.start < end && start < o.end);
    for occurrence in &occurrences {
        let (line, column) = position(&line_starts, occurrence.start);
        findings.push(NewFinding {
            file: path.to_owned(),
            line: as_i64(line),
            column: as_i64(column),
            rule: PROJECT_VALUE.to_owned(),
            key: Some(occurrence.name.to_owned()),
            fingerprint: None,
            suggested_key: occurrence.name.to_owned(),
        });
    }
    for (index, line) in text.lines().enumerate() {
        for (rule, range) in credentials_in(line) {
            let at = line_starts[index];
            if is_project_value(at + range.start, at + range.end) {
                continue;
            }
            findings.push(NewFinding {
                file: path.to_owned(),
                line: as_i64(index + 1),
                column: as_i64(range.start + 1),
                rule: rule.name.to_owned(),
                key: None,
                fingerprint: Some(fingerprint(rule, &line[range.clone()])),
                suggested_key: suggest_key(&line[..range.start], rule),
            });
        }
    }
    findings.sort_by_key(|f| (f.line, f.column));
    Some(findings)
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A flow file (SPEC §1, §5: flows run on Meta's infrastructure, where no
/// secret is available): under `flows/` ending in `.json`, or any JSON file
/// shaped like a WhatsApp Flow (a top-level object with `version` and
/// `screens`).
pub fn is_flow(path: &str, bytes: &[u8]) -> bool {
    if is_flow_path(path) {
        return true;
    }
    path.ends_with(".json")
        && serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| {
                v.as_object()
                    .map(|o| o.contains_key("version") && o.contains_key("screens"))
            })
            .unwrap_or(false)
}

/// A file under `flows/` ending in `.json`.
pub fn is_flow_path(path: &str) -> bool {
    path.starts_with("flows/") && path.ends_with(".json")
}

/// References to a secret that a flow cannot resolve, whatever its name.
const FLOW_REFERENCES: &[&str] = &["process.env.", "{{secrets."];

/// Whether `line` refers to a secret: `process.env.X`, `{{secrets.X}}`, or
/// one of the project's key names as `${KEY}`, `{{KEY}}` or a JSON string
/// `"KEY"` used as a placeholder.
fn refers_to_secret(line: &str, keys: &[String]) -> bool {
    FLOW_REFERENCES.iter().any(|r| line.contains(r))
        || keys.iter().any(|key| {
            [format!("${{{key}}}"), format!("{{{{{key}}}}}"), format!("\"{key}\"")]
                .iter()
                .any(|form| line.contains(form.as_str()))
        })
}

/// The first line of a flow file that carries a secret: a finding of
/// [`scan_file`] (a project value or a credential), or a reference to a
/// secret (see [`refers_to_secret`]). `None`: the flow is clean.
pub fn flow_violation(findings: &[NewFinding], bytes: &[u8], keys: &[String]) -> Option<usize> {
    let text = String::from_utf8_lossy(bytes);
    let reference = text.lines().position(|l| refers_to_secret(l, keys)).map(|i| i + 1);
    let found = findings
        .iter()
        .map(|f| usize::try_from(f.line).unwrap_or(usize::MAX))
        .min();
    match (reference, found) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The JSON path (`$.screens[0].data.token`) of the first string of a
/// flow, key or value, that carries a secret: a project value in any form
/// the redactor knows, a credential, or a reference to a secret. `None` if
/// the file is not JSON or no single string does (the line still says
/// where).
pub fn flow_json_path(bytes: &[u8], keys: &[String], redactor: &Redactor) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let carries = |s: &str| {
        !redactor.occurrences(s.as_bytes()).is_empty()
            || !credential_rules_in(s).is_empty()
            || refers_to_secret(s, keys)
            || keys.iter().any(|k| s == k)
    };
    fn walk(value: &serde_json::Value, path: &mut String, carries: &dyn Fn(&str) -> bool) -> bool {
        match value {
            serde_json::Value::String(s) => carries(s),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path, carries);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().any(|(name, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(name);
                let found = carries(name) || walk(item, path, carries);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = "$".to_owned();
    walk(&value, &mut path, &carries).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_values_are_found_in_their_forms_without_the_value() {
        let value = "hunter2-very-secret-value";
        let redactor = Redactor::new(&[("DB_PASSWORD", value.as_bytes())]);
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, value);
        let code = format!("ok\nconst p = '{value}';\n// [REDACTED:DB_PASSWORD] is fine\nx = '{b64}'\n");
        let found = scan_file("app.js", code.as_bytes(), &redactor).expect("text");
        let lines: Vec<(i64, i64, &str)> = found.iter().map(|f| (f.line, f.column, f.what())).collect();
        assert_eq!(lines, vec![(2, 12, "DB_PASSWORD"), (4, 6, "DB_PASSWORD")]);
        assert!(found.iter().all(|f| !format!("{f:?}").contains(value)));
    }

    #[test]
    fn a_value_of_several_lines_is_found_where_it_starts() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----";
        let redactor = Redactor::new(&[("SIGNING_KEY", pem.as_bytes())]);
        let code = format!("// key\nconst key = `{pem}`;\n");
        let found = scan_file("app.js", code.as_bytes(), &redactor).expect("text");
        let what: Vec<(i64, i64, &str)> = found.iter().map(|f| (f.line, f.column, f.rule.as_str())).collect();
        assert!(what.contains(&(2, 14, "pem_private_key")), "{what:?}");
        assert!(
            found
                .iter()
                .any(|f| f.key.as_deref() == Some("SIGNING_KEY") && f.line <= 3),
            "{what:?}"
        );
    }

    #[test]
    fn keys_are_suggested_from_the_variable_or_the_provider() {
        let stripe = rule("stripe_secret_key").unwrap();
        assert_eq!(suggest_key("const stripeKey = '", stripe), "STRIPE_KEY");
        assert_eq!(suggest_key("  \"billing_secret\": \"", stripe), "BILLING_SECRET");
        assert_eq!(suggest_key("const key = '", stripe), "STRIPE_SECRET_KEY");
        assert_eq!(suggest_key("require('stripe')('", stripe), "STRIPE_SECRET_KEY");
    }

    #[test]
    fn binary_files_are_not_scanned() {
        let redactor = Redactor::new::<&str, &[u8]>(&[]);
        assert_eq!(scan_file("a.bin", &[0xff, 0xfe, 0], &redactor), None);
        assert_eq!(skipped("a.bin", &[0xff, 0xfe, 0]), Some(Skip::Binary));
        assert_eq!(skipped("node_modules/x/a.js", b"x"), Some(Skip::Vendored));
        assert_eq!(skipped("lib/a.js", b"x"), None);
    }

    #[test]
    fn flow_paths_and_references() {
        assert!(is_flow_path("flows/signup.json"));
        assert!(!is_flow_path("lib/flows/signup.json"));
        assert!(!is_flow_path("flows/readme.md"));
        assert!(is_flow("lib/x.json", br#"{"version": "3.1", "screens": []}"#));
        assert!(!is_flow("lib/x.json", br#"{"version": "3.1"}"#));
        assert!(!is_flow("lib/x.js", br#"{"version": "3.1", "screens": []}"#));
        let keys = vec!["API_KEY".to_owned()];
        assert_eq!(
            flow_violation(&[], b"{\n \"a\": \"{{secrets.KEY}}\"\n}", &keys),
            Some(2)
        );
        for reference in ["${API_KEY}", "{{API_KEY}}", "API_KEY"] {
            let flow = format!("{{\n\"data\": \"{reference}\"\n}}");
            assert_eq!(flow_violation(&[], flow.as_bytes(), &keys), Some(2), "{reference}");
        }
        // Flow data bindings of their own are not secrets.
        let own = br#"{"version": "3.1", "text": "${data.name}", "k": "API_KEY_HINT"}"#;
        assert_eq!(flow_violation(&[], own, &keys), None);
    }

    #[test]
    fn a_flow_names_the_json_path_of_the_secret() {
        let redactor = Redactor::new(&[("API_KEY", b"planted-value-0123456789".as_slice())]);
        let keys = vec!["API_KEY".to_owned()];
        let path = |json: &str| flow_json_path(json.as_bytes(), &keys, &redactor);
        assert_eq!(
            path(r#"{"version": "3.1", "screens": [{"id": "A"}, {"data": {"t": "planted-value-0123456789"}}]}"#)
                .as_deref(),
            Some("$.screens[1].data.t")
        );
        assert_eq!(
            path(r#"{"a": {"b": ["x", "{{API_KEY}}"]}}"#).as_deref(),
            Some("$.a.b[1]")
        );
        assert_eq!(path(r#"{"a": "API_KEY"}"#).as_deref(), Some("$.a"));
        assert_eq!(
            path(r#"{"a": "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"}"#).as_deref(),
            Some("$.a")
        );
        assert_eq!(path(r#"{"a": "${data.name}"}"#), None);
        assert_eq!(path("not json"), None);
    }
}
