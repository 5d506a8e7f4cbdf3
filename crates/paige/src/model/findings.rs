//! The code guard's findings as they are stored with a code revision
//! (SPEC §1, "not in code"): where a hard-coded value is and what it is,
//! never the value itself.

/// The `rule` of a finding that is one of the project's own values.
pub const PROJECT_VALUE: &str = "project_value";

/// One finding, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    pub file: String,
    /// 1-based.
    pub line: i64,
    /// 1-based, in bytes of the line.
    pub column: i64,
    /// The credential rule's name, or [`PROJECT_VALUE`].
    pub rule: String,
    /// The project secret's key, for a project value.
    pub key: Option<String>,
    /// A masked fingerprint (`sk_live_…4f2a`) for a credential; never one
    /// for a project value.
    pub fingerprint: Option<String>,
    /// The key "move into Secrets" stores the value under unless told
    /// otherwise.
    pub suggested_key: String,
}

impl NewFinding {
    /// `"secret"` (a project value) or `"credential"`.
    pub fn kind(&self) -> &'static str {
        if self.key.is_some() { "secret" } else { "credential" }
    }

    /// The secret's key or the rule's name.
    pub fn what(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.rule)
    }

    /// `file:line` and the key or rule: what the audit keeps.
    pub fn audit_text(&self) -> String {
        format!("{}:{} {}", self.file, self.line, self.what())
    }
}

/// A stored finding of the project's current code revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeFinding {
    pub id: i64,
    /// The code revision it was found in (or carried over to, for a file
    /// a later change did not touch).
    pub revision: i64,
    pub finding: NewFinding,
}

/// The audit detail of a change's findings (`code.warnings`): file:line and
/// names only. `None` when there are none.
pub fn audit_detail(findings: &[NewFinding]) -> Option<String> {
    (!findings.is_empty()).then(|| {
        findings
            .iter()
            .map(NewFinding::audit_text)
            .collect::<Vec<_>>()
            .join(", ")
    })
}
