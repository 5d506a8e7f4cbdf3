//! The credential rules of the code guard: one data table, each rule with
//! a real-shaped example it must match and a near miss it must not (the
//! test below checks every one).

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// One recognisable credential: a regex over one line of text, with a
/// real-shaped example it must match and a near miss it must not.
#[derive(Debug)]
pub struct CredentialRule {
    pub name: &'static str,
    /// The secret's key the warning suggests when it is moved into Secrets.
    pub suggested_key: &'static str,
    pub provider: &'static str,
    /// How much of a match a fingerprint shows: as many characters as
    /// this, the provider's public prefix.
    pub prefix: &'static str,
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
        prefix: "sk-proj-",
        regex: r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
        positive: "const k = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o';",
        negative: "see https://example.com/sk-proj-docs for keys",
    },
    CredentialRule {
        name: "openai_api_key",
        suggested_key: "OPENAI_API_KEY",
        provider: "OpenAI",
        prefix: "sk-",
        regex: r"\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b|\bsk-[A-Za-z0-9]{40,}\b",
        positive: "OPENAI = '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'",
        negative: "const k = 'sk-test-short';",
    },
    CredentialRule {
        name: "anthropic_api_key",
        suggested_key: "ANTHROPIC_API_KEY",
        provider: "Anthropic",
        prefix: "sk-ant-",
        regex: r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}",
        positive: "key: 'sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0o6pQr9sAA'",
        negative: "the header is sk-ant-api03-<your key>",
    },
    CredentialRule {
        name: "stripe_secret_key",
        suggested_key: "STRIPE_SECRET_KEY",
        provider: "Stripe",
        prefix: "sk_live_",
        regex: r"\b(?:sk|rk)_live_[A-Za-z0-9]{24,}\b",
        positive: "stripe('sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z')",
        negative: "// e.g. sk_test_example or sk_live_xxx",
    },
    CredentialRule {
        name: "stripe_webhook_secret",
        suggested_key: "STRIPE_WEBHOOK_SECRET",
        provider: "Stripe",
        prefix: "whsec_",
        regex: r"\bwhsec_[A-Za-z0-9+/=]{32,}",
        positive: "const hook = 'whsec_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';",
        negative: "const hook = process.env.whsec_NAME;",
    },
    CredentialRule {
        name: "sendgrid_api_key",
        suggested_key: "SENDGRID_API_KEY",
        provider: "SendGrid",
        prefix: "SG.",
        regex: r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
        positive: "sg.setApiKey('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')",
        negative: "see SG.setApiKey(key) in the docs",
    },
    CredentialRule {
        name: "google_api_key",
        suggested_key: "GOOGLE_API_KEY",
        provider: "Google",
        prefix: "AIza",
        regex: r"\bAIza[0-9A-Za-z_-]{35}\b",
        positive: "maps?key=AIzaSyAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0",
        negative: "AIzaSyShort",
    },
    CredentialRule {
        name: "hubspot_private_app_token",
        suggested_key: "HUBSPOT_ACCESS_TOKEN",
        provider: "HubSpot",
        prefix: "pat-na1-",
        regex: r"\bpat-(?:na|eu|ap)\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        positive: "Bearer pat-na1-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
        negative: "pat-na1-your-token-here",
    },
    CredentialRule {
        name: "slack_token",
        suggested_key: "SLACK_TOKEN",
        provider: "Slack",
        prefix: "xoxb-",
        regex: r"\bxox[abpr]-[0-9]{8,}-[0-9A-Za-z-]{8,}",
        positive: "token: 'xoxb-123456789012-1234567890123-Ab3dEf6hIj9kLm2nOp5qRs8t'",
        negative: "token: 'xoxz-123456789012-1234567890123'",
    },
    CredentialRule {
        name: "github_token",
        suggested_key: "GITHUB_TOKEN",
        provider: "GitHub",
        prefix: "ghp_",
        regex: r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
        positive: "auth: 'ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c'",
        negative: "auth: 'ghp_tooShort123'",
    },
    CredentialRule {
        name: "github_fine_grained_pat",
        suggested_key: "GITHUB_TOKEN",
        provider: "GitHub",
        prefix: "github_pat_",
        regex: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        positive: "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",
        negative: "github_pat_<your token>",
    },
    CredentialRule {
        name: "aws_access_key_id",
        suggested_key: "AWS_ACCESS_KEY_ID",
        provider: "AWS",
        prefix: "AKIA",
        regex: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        positive: "accessKeyId: 'AKIAIOSFODNN7EXAMPLQ'",
        negative: "accessKeyId: 'AKIAlowercase0000000'",
    },
    CredentialRule {
        name: "twilio_api_key",
        suggested_key: "TWILIO_API_KEY",
        provider: "Twilio",
        prefix: "SK",
        regex: r"\bSK[0-9a-f]{32}\b",
        positive: "const sid = 'SK0123456789abcdef0123456789abcdef';",
        negative: "const sid = 'SK0123456789abcdefXYZ';",
    },
    CredentialRule {
        name: "twilio_account_sid",
        suggested_key: "TWILIO_ACCOUNT_SID",
        provider: "Twilio",
        prefix: "AC",
        regex: r"\bAC[0-9a-f]{32}\b",
        positive: "twilio('AC0123456789abcdef0123456789abcdef', token)",
        negative: "twilio('ACCOUNT_SID', token)",
    },
    CredentialRule {
        name: "meta_access_token",
        suggested_key: "WHATSAPP_ACCESS_TOKEN",
        provider: "Meta",
        prefix: "EAA",
        regex: r"\bEAA[A-Za-z0-9]{80,}\b",
        positive: "Bearer EAAGm0PX4ZCpsBAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0o6pQr9s",
        negative: "const EAAB = 'EAABshort';",
    },
    CredentialRule {
        name: "pem_private_key",
        suggested_key: "PRIVATE_KEY",
        provider: "PEM",
        prefix: "",
        regex: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        positive: "-----BEGIN RSA PRIVATE KEY-----",
        negative: "-----BEGIN PUBLIC KEY-----",
    },
    CredentialRule {
        name: "jwt",
        suggested_key: "JWT_TOKEN",
        provider: "JWT",
        prefix: "eyJ",
        regex: r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        positive: "auth = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'",
        negative: "a JWT looks like eyJhbGciOi...",
    },
];

/// The rules compiled once; the index in the set is the index in [`RULES`].
static RULE_SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(RULES.iter().map(|r| r.regex)).expect("the credential rules compile"));

/// Each rule compiled alone, to find where its match is.
static RULE_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|r| Regex::new(r.regex).expect("the credential rules compile"))
        .collect()
});

/// The names of the rules that match `line`, in table order.
pub fn credential_rules_in(line: &str) -> Vec<&'static str> {
    RULE_SET.matches(line).iter().map(|i| RULES[i].name).collect()
}

/// Every credential in `line`: the rule and the byte range of each match.
pub fn credentials_in(line: &str) -> Vec<(&'static CredentialRule, std::ops::Range<usize>)> {
    let mut found = Vec::new();
    for i in RULE_SET.matches(line).iter() {
        for m in RULE_REGEXES[i].find_iter(line) {
            found.push((&RULES[i], m.range()));
        }
    }
    found.sort_by_key(|(_, range)| range.start);
    found
}

/// The rule of this name.
pub fn rule(name: &str) -> Option<&'static CredentialRule> {
    RULES.iter().find(|r| r.name == name)
}

/// Where the credential `rule` matched at `start` of `line` ends, or
/// `None` if it does not match there (the code changed).
pub fn match_at(rule: &CredentialRule, line: &str, start: usize) -> Option<usize> {
    let index = RULES.iter().position(|r| r.name == rule.name)?;
    RULE_REGEXES[index]
        .find_at(line, start)
        .filter(|m| m.start() == start)
        .map(|m| m.end())
}

/// A masked fingerprint of a matched credential: the provider's public
/// prefix, an ellipsis and the last four characters (`sk_live_…4f2a`); for
/// a PEM block only its armour line, which is no secret.
pub fn fingerprint(rule: &CredentialRule, matched: &str) -> String {
    if rule.name == "pem_private_key" {
        return matched.to_owned();
    }
    let chars: Vec<char> = matched.chars().collect();
    let shown = rule.prefix.chars().count().min(chars.len());
    let tail = chars.len().saturating_sub(4).max(shown);
    let head: String = chars[..shown].iter().collect();
    let last: String = chars[tail..].iter().collect();
    format!("{head}…{last}")
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
    fn fingerprints_keep_the_prefix_and_four_characters() {
        let stripe = rule("stripe_secret_key").unwrap();
        assert_eq!(
            fingerprint(stripe, "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
            "sk_live_…Xy4z"
        );
        let pem = rule("pem_private_key").unwrap();
        assert_eq!(
            fingerprint(pem, "-----BEGIN PRIVATE KEY-----"),
            "-----BEGIN PRIVATE KEY-----"
        );
        for r in RULES {
            let (_, range) = credentials_in(r.positive)
                .into_iter()
                .find(|(f, _)| f.name == r.name)
                .unwrap();
            let matched = &r.positive[range.clone()];
            let shown = fingerprint(r, matched);
            if r.name != "pem_private_key" {
                assert!(
                    matched.len() > 12 && !shown.contains(&matched[..matched.len() - 4]),
                    "{}",
                    r.name
                );
            }
            assert_eq!(match_at(r, r.positive, range.start), Some(range.end), "{}", r.name);
        }
    }
}
