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
use regex::RegexSet;

/// One recognisable credential: a regex over one line of text, with a
/// real-shaped example it must match and a near miss it must not.
#[derive(Debug)]
pub struct CredentialRule {
    pub name: &'static str,
    /// The secret's key the warning suggests when it is moved into Secrets.
    pub suggested_key: &'static str,
    pub provider: &'static str,
    pub regex: &'static str,
    pub positive: &'static str,
    pub negative: &'static str,
}

/// The credential rules. The examples are made-up values of the real shape.
pub const RULES: &[CredentialRule] = &[
    CredentialRule {
        name: "openai_project_key",
        suggested_key: "OPENAI_API_KEY",
        provider: "OpenAI",
        regex: r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
        positive: "const k = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o';",
        negative: "see https://example.com/sk-proj-docs for keys",
    },
    CredentialRule {
        name: "openai_api_key",
        suggested_key: "OPENAI_API_KEY",
        provider: "OpenAI",
        regex: r"\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b|\bsk-[A-Za-z0-9]{40,}\b",
        positive: "OPENAI = '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'",
        negative: "const k = 'sk-test-short';",
    },
    CredentialRule {
        name: "anthropic_api_key",
        suggested_key: "ANTHROPIC_API_KEY",
        provider: "Anthropic",
        regex: r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}",
        positive: "key: 'sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0o6pQr9sAA'",
        negative: "the header is sk-ant-api03-<your key>",
    },
    CredentialRule {
        name: "stripe_secret_key",
        suggested_key: "STRIPE_SECRET_KEY",
        provider: "Stripe",
        regex: r"\b(?:sk|rk)_live_[A-Za-z0-9]{24,}\b",
        positive: "stripe('sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z')",
        negative: "// e.g. sk_test_example or sk_live_xxx",
    },
    CredentialRule {
        name: "stripe_webhook_secret",
        suggested_key: "STRIPE_WEBHOOK_SECRET",
        provider: "Stripe",
        regex: r"\bwhsec_[A-Za-z0-9+/=]{32,}",
        positive: "const hook = 'whsec_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';",
        negative: "const hook = process.env.whsec_NAME;",
    },
    CredentialRule {
        name: "sendgrid_api_key",
        suggested_key: "SENDGRID_API_KEY",
        provider: "SendGrid",
        regex: r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
        positive: "sg.setApiKey('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')",
        negative: "see SG.setApiKey(key) in the docs",
    },
    CredentialRule {
        name: "google_api_key",
        suggested_key: "GOOGLE_API_KEY",
        provider: "Google",
        regex: r"\bAIza[0-9A-Za-z_-]{35}\b",
        positive: "maps?key=AIzaSyAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0",
        negative: "AIzaSyShort",
    },
    CredentialRule {
        name: "hubspot_private_app_token",
        suggested_key: "HUBSPOT_ACCESS_TOKEN",
        provider: "HubSpot",
        regex: r"\bpat-(?:na|eu|ap)\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        positive: "Bearer pat-na1-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
        negative: "pat-na1-your-token-here",
    },
    CredentialRule {
        name: "slack_token",
        suggested_key: "SLACK_TOKEN",
        provider: "Slack",
        regex: r"\bxox[abpr]-[0-9]{8,}-[0-9A-Za-z-]{8,}",
        positive: "token: 'xoxb-123456789012-1234567890123-Ab3dEf6hIj9kLm2nOp5qRs8t'",
        negative: "token: 'xoxz-123456789012-1234567890123'",
    },
    CredentialRule {
        name: "github_token",
        suggested_key: "GITHUB_TOKEN",
        provider: "GitHub",
        regex: r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
        positive: "auth: 'ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c'",
        negative: "auth: 'ghp_tooShort123'",
    },
    CredentialRule {
        name: "github_fine_grained_pat",
        suggested_key: "GITHUB_TOKEN",
        provider: "GitHub",
        regex: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        positive: "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",
        negative: "github_pat_<your token>",
    },
    CredentialRule {
        name: "aws_access_key_id",
        suggested_key: "AWS_ACCESS_KEY_ID",
        provider: "AWS",
        regex: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        positive: "accessKeyId: 'AKIAIOSFODNN7EXAMPLQ'",
        negative: "accessKeyId: 'AKIAlowercase0000000'",
    },
    CredentialRule {
        name: "twilio_api_key",
        suggested_key: "TWILIO_API_KEY",
        provider: "Twilio",
        regex: r"\bSK[0-9a-f]{32}\b",
        positive: "const sid = 'SK0123456789abcdef0123456789abcdef';",
        negative: "const sid = 'SK0123456789abcdefXYZ';",
    },
    CredentialRule {
        name: "twilio_account_sid",
        suggested_key: "TWILIO_ACCOUNT_SID",
        provider: "Twilio",
        regex: r"\bAC[0-9a-f]{32}\b",
        positive: "twilio('AC0123456789abcdef0123456789abcdef', token)",
        negative: "twilio('ACCOUNT_SID', token)",
    },
    CredentialRule {
        name: "meta_access_token",
        suggested_key: "WHATSAPP_ACCESS_TOKEN",
        provider: "Meta",
        regex: r"\bEAA[A-Za-z0-9]{80,}\b",
        positive: "Bearer EAAGm0PX4ZCpsBAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0o6pQr9s",
        negative: "const EAAB = 'EAABshort';",
    },
    CredentialRule {
        name: "pem_private_key",
        suggested_key: "PRIVATE_KEY",
        provider: "PEM",
        regex: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        positive: "-----BEGIN RSA PRIVATE KEY-----",
        negative: "-----BEGIN PUBLIC KEY-----",
    },
    CredentialRule {
        name: "jwt",
        suggested_key: "JWT_TOKEN",
        provider: "JWT",
        regex: r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        positive: "auth = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'",
        negative: "a JWT looks like eyJhbGciOi...",
    },
];

/// The rules compiled once; the index in the set is the index in [`RULES`].
static RULE_SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(RULES.iter().map(|r| r.regex)).expect("the credential rules compile"));

/// The names of the rules that match `line`, in table order.
pub fn credential_rules_in(line: &str) -> Vec<&'static str> {
    RULE_SET.matches(line).iter().map(|i| RULES[i].name).collect()
}

/// What a finding is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// One of the project's own values (the secret's key).
    ProjectSecret(String),
    /// A recognisable credential (the rule's name).
    Credential(&'static str),
}

/// One finding: where, and what, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub kind: FindingKind,
}

impl Finding {
    /// `"secret"` or `"credential"`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            FindingKind::ProjectSecret(_) => "secret",
            FindingKind::Credential(_) => "credential",
        }
    }

    /// The secret's key or the rule's name.
    pub fn what(&self) -> &str {
        match &self.kind {
            FindingKind::ProjectSecret(key) => key,
            FindingKind::Credential(rule) => rule,
        }
    }

    /// The warning shown to the user: where, what, and how to move it into
    /// Secrets. Never the value.
    pub fn message(&self, slug: &str) -> String {
        let (what, key) = match &self.kind {
            FindingKind::ProjectSecret(key) => (format!("the value of {key}"), key.as_str()),
            FindingKind::Credential(name) => {
                let rule = RULES.iter().find(|r| r.name == *name);
                let provider = rule.map_or("", |r| r.provider);
                let key = rule.map_or("API_KEY", |r| r.suggested_key);
                (format!("a {provider} credential ({name})"), key)
            }
        };
        format!(
            "{}:{} contains {what}; move it into Secrets: paige secrets set {slug} {key} and read process.env.{key}",
            self.file, self.line
        )
    }

    /// The finding as `paige code push --json` shows it (the API's
    /// `CodeWarning` has the same fields).
    pub fn to_json(&self, slug: &str) -> serde_json::Value {
        let mut value = serde_json::json!({
            "file": self.file,
            "line": self.line,
            "kind": self.kind_name(),
            "message": self.message(slug),
        });
        let field = match self.kind {
            FindingKind::ProjectSecret(_) => "key",
            FindingKind::Credential(_) => "rule",
        };
        value[field] = self.what().into();
        value
    }

    /// `file:line key-or-rule`: what the audit keeps.
    pub fn audit_text(&self) -> String {
        format!("{}:{} {}", self.file, self.line, self.what())
    }
}

/// The keys of the `[REDACTED:KEY]` markers in `text`, with repeats.
fn markers(text: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("[REDACTED:") {
        let tail = &rest[at + "[REDACTED:".len()..];
        match tail.find(']') {
            Some(end) => {
                keys.push(&tail[..end]);
                rest = &tail[end..];
            }
            None => break,
        }
    }
    keys
}

/// Scans one text file. `None` for a file that is not UTF-8 text (binary
/// files are not scanned).
pub fn scan_file(path: &str, bytes: &[u8], redactor: &Redactor) -> Option<Vec<Finding>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('\0') {
        return None;
    }
    let mut findings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let redacted = redactor.redact(line.as_bytes());
        if redacted != line.as_bytes() {
            let redacted = String::from_utf8_lossy(&redacted);
            let mut found = markers(&redacted);
            // Markers the line itself already held are not findings.
            for key in markers(line) {
                if let Some(i) = found.iter().position(|k| *k == key) {
                    found.remove(i);
                }
            }
            found.sort_unstable();
            found.dedup();
            findings.extend(found.into_iter().map(|key| Finding {
                file: path.to_owned(),
                line: line_no,
                kind: FindingKind::ProjectSecret(key.to_owned()),
            }));
        }
        findings.extend(credential_rules_in(line).into_iter().map(|rule| Finding {
            file: path.to_owned(),
            line: line_no,
            kind: FindingKind::Credential(rule),
        }));
    }
    Some(findings)
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
pub fn flow_violation(findings: &[Finding], bytes: &[u8], keys: &[String]) -> Option<usize> {
    let text = String::from_utf8_lossy(bytes);
    let reference = text.lines().position(|l| refers_to_secret(l, keys)).map(|i| i + 1);
    let found = findings.iter().map(|f| f.line).min();
    match (reference, found) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule matches its own positive example and not its near miss;
    /// a failure names the rule.
    #[test]
    fn each_rule_matches_its_example_and_not_its_near_miss() {
        for rule in RULES {
            let re = regex::Regex::new(rule.regex).unwrap_or_else(|e| panic!("{}: {e}", rule.name));
            assert!(
                re.is_match(rule.positive),
                "{} ({}) misses its positive example",
                rule.name,
                rule.provider
            );
            assert!(
                !re.is_match(rule.negative),
                "{} ({}) matches its near miss",
                rule.name,
                rule.provider
            );
            assert!(
                credential_rules_in(rule.positive).contains(&rule.name),
                "{}: the set does not report it",
                rule.name
            );
        }
    }

    #[test]
    fn suggested_keys_are_valid_secret_keys() {
        for rule in RULES {
            assert!(
                crate::secrets::rules::check_key(rule.suggested_key).is_ok(),
                "{}",
                rule.name
            );
        }
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }

    #[test]
    fn project_values_are_found_in_their_forms_without_the_value() {
        let value = "hunter2-very-secret-value";
        let redactor = Redactor::new(&[("DB_PASSWORD", value.as_bytes())]);
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, value);
        let code = format!("ok\nconst p = '{value}';\n// [REDACTED:DB_PASSWORD] is fine\nx = '{b64}'\n");
        let found = scan_file("app.js", code.as_bytes(), &redactor).expect("text");
        let lines: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.what())).collect();
        assert_eq!(lines, vec![(2, "DB_PASSWORD"), (4, "DB_PASSWORD")]);
        assert!(found.iter().all(|f| !f.audit_text().contains(value)));
    }

    #[test]
    fn binary_files_are_not_scanned() {
        let redactor = Redactor::new::<&str, &[u8]>(&[]);
        assert_eq!(scan_file("a.bin", &[0xff, 0xfe, 0], &redactor), None);
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

    /// The figure of issue 14: a 20,000-file, 100 MB push, scanned with a
    /// project of 20 secrets. Run in release:
    /// `cargo test --release -p paige --lib -- --ignored scan_throughput --nocapture`.
    #[test]
    #[ignore = "a measurement, run by hand in release"]
    fn scan_throughput() {
        let values: Vec<(String, String)> = (0..20)
            .map(|i| (format!("KEY_{i}"), format!("value-{i}-3f9a7c21e4b8d605")))
            .collect();
        let redactor = Redactor::new(&values);
        let line = "  const total = items.reduce((sum, item) => sum + item.price * item.qty, 0); // ok\n";
        let file: String = line.repeat(5_000 / line.len());
        let files = 20_000;
        let start = std::time::Instant::now();
        let mut found = 0;
        for i in 0..files {
            found += scan_file(&format!("src/f{i}.js"), file.as_bytes(), &redactor)
                .expect("text")
                .len();
        }
        let elapsed = start.elapsed();
        let total = file.len() * files;
        eprintln!("scanned {files} files, {total} bytes, in {elapsed:?} ({found} findings)");
        assert_eq!(found, 0);
    }
}
