//! "Move into Secrets" for one finding of the code guard: where the value
//! is in the stored code, and the code with that occurrence read from
//! `process.env.NAME` instead, still valid JavaScript.
//!
//! The common shapes are handled; anything else is refused with a message
//! saying what to do by hand, and nothing changes:
//! - a whole string literal, `'…'`, `"…"` or `` `…` ``, becomes
//!   `process.env.NAME`;
//! - part of a quoted string becomes a concatenation
//!   (`'Bearer ' + process.env.NAME`), part of a template literal
//!   `${process.env.NAME}`;
//! - a value outside a string (a comment, a bare word) is refused.

use std::ops::Range;

use secrecy::SecretString;

use super::guard_rules::{match_at, rule};
use crate::error::{Error, Result};
use crate::model::NewFinding;

/// The files a fix rewrites: JavaScript and TypeScript.
const SCRIPT_EXTENSIONS: &[&str] = &[".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"];

/// The end of a PEM block that the rule found the start of.
static PEM_END: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----").expect("the pattern compiles")
});

fn refuse(finding: &NewFinding, why: &str) -> Error {
    Error::invalid(
        "unfixable_finding",
        format!(
            "{}:{}:{}: {why}; move the value into Secrets by hand (paige secrets set) and read process.env.{}",
            finding.file, finding.line, finding.column, finding.suggested_key
        ),
    )
}

/// The byte range of the finding's value in `text` (the stored file), read
/// again at the finding's position: the project's own `value` for a
/// project value, the rule's match for a credential (a PEM key up to its
/// end line). Refused if the code there is not what was found.
pub fn locate(text: &str, finding: &NewFinding, project_value: Option<&str>) -> Result<Range<usize>> {
    if !SCRIPT_EXTENSIONS.iter().any(|ext| finding.file.ends_with(ext)) {
        return Err(refuse(finding, "only JavaScript and TypeScript files are rewritten"));
    }
    let line_index = usize::try_from(finding.line - 1).map_err(|_| refuse(finding, "no such line"))?;
    let line_start = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .nth(line_index)
        .ok_or_else(|| refuse(finding, "the file has no such line any more"))?;
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let column = usize::try_from(finding.column - 1).map_err(|_| refuse(finding, "no such column"))?;
    if column > line.len() || !line.is_char_boundary(column) {
        return Err(refuse(finding, "the line changed"));
    }
    let start = line_start + column;
    match (&finding.key, project_value) {
        (Some(_), Some(value)) => {
            if text[start..].starts_with(value) {
                Ok(start..start + value.len())
            } else {
                Err(refuse(
                    finding,
                    "the value is there in an encoded form (base64, hex, escaped…), which is not rewritten",
                ))
            }
        }
        (Some(_), None) => Err(refuse(finding, "the secret no longer exists")),
        (None, _) => {
            let rule = rule(&finding.rule).ok_or_else(|| refuse(finding, "unknown rule"))?;
            let end =
                match_at(rule, line, column).ok_or_else(|| refuse(finding, "the credential is not there any more"))?;
            if rule.name != "pem_private_key" {
                return Ok(start..line_start + end);
            }
            let end = PEM_END
                .find_at(text, start)
                .ok_or_else(|| refuse(finding, "the PEM block has no END line"))?
                .end();
            Ok(start..end)
        }
    }
}

/// The code with `text[range]` read from `process.env.KEY`, and the value
/// as the program saw it (string escapes such as `\n` decoded).
#[derive(Debug)]
pub struct Rewritten {
    pub code: String,
    pub value: SecretString,
}

/// Where a position of a line is, for JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Code,
    /// Inside a string opened by this quote at this byte of the text.
    String(char, usize),
    Comment,
}

/// The context of byte `at` of `text`, lexing from the start of its line
/// (a string or comment opened on an earlier line is not seen).
fn context_at(text: &str, at: usize) -> Context {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut context = Context::Code;
    let mut chars = text[line_start..at].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match context {
            Context::Code => match c {
                '\'' | '"' | '`' => context = Context::String(c, line_start + i),
                '/' if matches!(chars.peek(), Some((_, '/' | '*'))) => context = Context::Comment,
                _ => {}
            },
            Context::String(q, _) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    context = Context::Code;
                }
            }
            Context::Comment => break,
        }
    }
    context
}

/// Decodes the escapes a JavaScript string may hold in a credential; any
/// other escape is refused (`None`).
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            c @ ('\\' | '\'' | '"' | '`' | '$' | '/') => c,
            _ => return None,
        });
    }
    Some(out)
}

/// Rewrites the occurrence `range` of `text` to read `process.env.KEY`.
pub fn rewrite(text: &str, range: Range<usize>, key: &str, finding: &NewFinding) -> Result<Rewritten> {
    let Context::String(quote, open) = context_at(text, range.start) else {
        return Err(refuse(
            finding,
            "the value is not inside a string literal (a comment or bare code), so there is nothing to read \
             from process.env; remove it from the code",
        ));
    };
    let raw = &text[range.clone()];
    if quote != '`' && raw.contains('\n') {
        return Err(refuse(finding, "the value runs past the end of its string"));
    }
    let value = unescape(raw).ok_or_else(|| refuse(finding, "the value holds string escapes other than \\n"))?;
    let env = format!("process.env.{key}");
    let closes = text[range.end..].starts_with(quote);
    let whole = open + 1 == range.start && closes;
    let code = if whole {
        format!("{}{env}{}", &text[..open], &text[range.end + 1..])
    } else if quote == '`' {
        format!("{}${{{env}}}{}", &text[..range.start], &text[range.end..])
    } else {
        let before = if open + 1 == range.start {
            format!("{}{env}", &text[..open])
        } else {
            format!("{}{quote} + {env}", &text[..range.start])
        };
        let after = if closes {
            text[range.end + 1..].to_owned()
        } else {
            format!(" + {quote}{}", &text[range.end..])
        };
        format!("{before}{after}")
    };
    Ok(Rewritten {
        code,
        value: SecretString::from(value),
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const KEY: &str = "sk_live_51Hx3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";

    fn finding(file: &str, line: i64, column: i64) -> NewFinding {
        NewFinding {
            file: file.into(),
            line,
            column,
            rule: "stripe_secret_key".into(),
            key: None,
            fingerprint: None,
            suggested_key: "STRIPE_SECRET_KEY".into(),
        }
    }

    fn fix(code: &str) -> Result<String> {
        let at = code.find("sk_live_").unwrap();
        let line_start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = i64::try_from(code[..at].matches('\n').count() + 1).unwrap();
        let f = finding("app.js", line, i64::try_from(at - line_start + 1).unwrap());
        let range = locate(code, &f, None)?;
        let out = rewrite(code, range, "STRIPE_SECRET_KEY", &f)?;
        assert_eq!(out.value.expose_secret(), KEY);
        Ok(out.code)
    }

    #[test]
    fn whole_literals_and_parts_of_strings() {
        let e = "process.env.STRIPE_SECRET_KEY";
        for (code, want) in [
            (format!("const k = '{KEY}';\n"), format!("const k = {e};\n")),
            (format!("x(\"{KEY}\")"), format!("x({e})")),
            (format!("x(`{KEY}`)"), format!("x({e})")),
            (format!("h = 'Bearer {KEY}';"), format!("h = 'Bearer ' + {e};")),
            (format!("h = '{KEY} is it';"), format!("h = {e} + ' is it';")),
            (format!("h = \"a {KEY} b\";"), format!("h = \"a \" + {e} + \" b\";")),
            (format!("h = `Bearer {KEY}`;"), format!("h = `Bearer ${{{e}}}`;")),
            (format!("// hi\n  k: '{KEY}',\n"), format!("// hi\n  k: {e},\n")),
        ] {
            assert_eq!(fix(&code).unwrap(), want, "{code}");
        }
    }

    #[test]
    fn comments_bare_code_and_other_files_are_refused() {
        for code in [format!("// old key {KEY}\n"), format!("const k = {KEY};\n")] {
            let err = fix(&code).unwrap_err();
            assert_eq!(err.code(), "unfixable_finding");
            assert!(!err.to_string().contains(KEY));
        }
        let f = finding("README.md", 1, 1);
        assert_eq!(locate(KEY, &f, None).unwrap_err().code(), "unfixable_finding");
        // The code changed since the scan.
        let f = finding("app.js", 1, 3);
        assert!(locate(&format!("'{KEY}'"), &f, None).is_err());
    }

    #[test]
    fn a_pem_block_is_moved_whole_with_its_escapes_decoded() {
        let pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n-----END PRIVATE KEY-----";
        let code = format!("const key = '{pem}';\n");
        let mut f = finding("bot.ts", 1, 14);
        f.rule = "pem_private_key".into();
        let range = locate(&code, &f, None).unwrap();
        let out = rewrite(&code, range, "PRIVATE_KEY", &f).unwrap();
        assert_eq!(out.code, "const key = process.env.PRIVATE_KEY;\n");
        assert_eq!(
            out.value.expose_secret(),
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----"
        );
        let code = format!("const key = `{}`;\n", pem.replace("\\n", "\n"));
        let range = locate(&code, &f, None).unwrap();
        let out = rewrite(&code, range, "PRIVATE_KEY", &f).unwrap();
        assert_eq!(out.code, "const key = process.env.PRIVATE_KEY;\n");
    }
}
