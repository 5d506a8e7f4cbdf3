//! A `.env` file parser for `paige secrets import`.
//!
//! Understands blank lines, `#` comments, an optional `export ` prefix,
//! unquoted values (a ` #` starts a comment), single-quoted values (taken
//! literally, one line), and double-quoted values (may span lines; escapes
//! `\n`, `\r`, `\t`, `\"`, `\\`). Every error names the line and the rule and
//! never contains a value. Keys and values are checked against the rules
//! here, so an import fails before anything is written.

use std::collections::HashMap;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::rules;
use crate::error::{Error, Result};

/// One `KEY=value` line (or lines, for a multi-line value).
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub value: SecretString,
    /// The line the entry starts on, from 1.
    pub line: usize,
}

/// A line refused, with the rule it breaks. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The line, from 1.
    pub line: usize,
    /// The stable code of the rule (`reserved_key`, `invalid_env_file`, …).
    pub code: &'static str,
    /// The rule, in words, without the line number.
    pub rule: String,
}

impl Refused {
    fn new(line: usize, code: &'static str, rule: impl Into<String>) -> Self {
        Self {
            line,
            code,
            rule: rule.into(),
        }
    }

    /// A refusal of the whole file rather than of one line (line 0).
    pub fn whole_file(code: &'static str, rule: &str) -> Self {
        Self::new(0, code, rule)
    }

    fn syntax(line: usize, rule: &str) -> Self {
        Self::new(line, "invalid_env_file", rule)
    }

    /// The refusal as the error `parse` returns: "line N: rule".
    pub fn to_error(&self) -> Error {
        Error::invalid(self.code, format!("line {}: {}", self.line, self.rule))
    }
}

/// A whole file read: the entries that pass every rule, and every line
/// refused (for a preview that lists them all; see [`parse`] for the
/// all-or-nothing reading).
#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub refused: Vec<Refused>,
}

/// Parses and checks a whole file: its entries, or the first line refused.
pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let parsed = parse_all(text);
    if let Some(first) = parsed.refused.first() {
        return Err(first.to_error());
    }
    if parsed.entries.is_empty() {
        return Err(Error::invalid("invalid_env_file", "the file has no KEY=VALUE lines"));
    }
    Ok(parsed.entries)
}

/// Parses and checks a whole file, going on past a refused line so that
/// every refusal is known. A double quote that never closes ends the file.
pub fn parse_all(text: &str) -> Parsed {
    let text = Zeroizing::new(text.replace("\r\n", "\n"));
    let lines: Vec<&str> = text.split('\n').collect();
    let mut parsed = Parsed::default();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let line = lines[index].trim_start();
        index += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match entry(line, number, &lines, &mut index) {
            Ok(entry) => {
                if let Some(first) = first_line_of.get(&entry.key) {
                    let rule = format!("{} is already set on line {first}", entry.key);
                    parsed.refused.push(Refused::syntax(number, &rule));
                } else {
                    first_line_of.insert(entry.key.clone(), number);
                    parsed.entries.push(entry);
                }
            }
            Err(refused) => parsed.refused.push(refused),
        }
    }
    parsed
}

/// The entry that starts on line `number` (`line`, trimmed at the start);
/// `index` moves past the lines a multi-line value uses.
fn entry(line: &str, number: usize, lines: &[&str], index: &mut usize) -> std::result::Result<Entry, Refused> {
    let line = line
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(line, str::trim_start);
    let (key, rest) = line
        .split_once('=')
        .ok_or_else(|| Refused::syntax(number, "expected KEY=VALUE (no = found)"))?;
    let key = key.trim_end();
    rules::check_key(key).map_err(|rule| Refused::new(number, rule.code(), key_rule(&rule)))?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        let (value, lines_used) = match double_quoted(quoted, &lines[*index..], number) {
            Ok(read) => read,
            Err(refused) => {
                // An unclosed quote runs to the end: nothing after it is a line.
                if refused.rule.contains("never closed") {
                    *index = lines.len();
                }
                return Err(refused);
            }
        };
        *index += lines_used;
        value
    } else if let Some(quoted) = rest.strip_prefix('\'') {
        let (value, after) = quoted
            .split_once('\'')
            .ok_or_else(|| Refused::syntax(number, "a single-quoted value must close on the same line"))?;
        check_after_quote(after, number)?;
        Zeroizing::new(value.to_owned())
    } else {
        Zeroizing::new(unquoted(rest).to_owned())
    };
    let value = SecretString::from(value.as_str());
    rules::check_value(&value).map_err(|rule| Refused::new(number, rule.code(), format!("{key}: {rule}")))?;
    Ok(Entry {
        key: key.to_owned(),
        value,
        line: number,
    })
}

/// A refused key's rule. In a file, what stands before `=` may be a value
/// pasted without its key (`c2stbGl2ZQ==` splits into `c2stbGl2ZQ` and
/// `=`), so the "did you mean …?" that would upper-case it is left out.
fn key_rule(rule: &rules::RuleError) -> String {
    match rule {
        rules::RuleError::KeyLowercase { .. } => {
            "invalid key: keys use only A-Z, 0-9 and _ and are never re-cased; this one has lower-case letters"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// An unquoted value ends at a `#` that follows white space, and loses
/// trailing white space.
fn unquoted(rest: &str) -> &str {
    let bytes = rest.as_bytes();
    let end = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t'))
        .unwrap_or(bytes.len());
    rest[..end].trim_end()
}

fn check_after_quote(after: &str, line: usize) -> std::result::Result<(), Refused> {
    let after = after.trim_start();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err(Refused::syntax(line, "only a comment may follow the closing quote"))
    }
}

/// Reads a double-quoted value that starts on the current line (`first`,
/// after the opening quote) and may continue on `following` lines.
/// Returns the value and how many following lines it used.
fn double_quoted(
    first: &str,
    following: &[&str],
    start: usize,
) -> std::result::Result<(Zeroizing<String>, usize), Refused> {
    let mut value = Zeroizing::new(String::new());
    let mut current = first;
    let mut used = 0;
    loop {
        let mut chars = current.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    check_after_quote(&current[i + 1..], start + used)?;
                    return Ok((value, used));
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some('"') => value.push('"'),
                    Some('\\') => value.push('\\'),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                },
                c => value.push(c),
            }
        }
        let Some(next) = following.get(used) else {
            return Err(Refused::syntax(
                start,
                "the double quote opened on this line is never closed",
            ));
        };
        value.push('\n');
        current = next;
        used += 1;
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parsed(text: &str) -> Vec<(String, String, usize)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.expose_secret().to_owned(), e.line))
            .collect()
    }

    #[test]
    fn reads_every_form() {
        let text = "# a comment\n\
                    \n\
                    PLAIN=value-one\n\
                    export EXPORTED=value-two # trailing comment\n\
                    SPACED = value three  \n\
                    SINGLE='literal \\n #not a comment' # comment\n\
                    DOUBLE=\"tab\\there \\\"quoted\\\" \\\\ # kept\"\n\
                    PEM=\"-----BEGIN KEY-----\n\
                    abcd\n\
                    -----END KEY-----\"\n\
                    HASH=abc#def\r\n\
                    LAST=end-of-file";
        let expect = [
            ("PLAIN", "value-one", 3),
            ("EXPORTED", "value-two", 4),
            ("SPACED", "value three", 5),
            ("SINGLE", "literal \\n #not a comment", 6),
            ("DOUBLE", "tab\there \"quoted\" \\ # kept", 7),
            ("PEM", "-----BEGIN KEY-----\nabcd\n-----END KEY-----", 8),
            ("HASH", "abc#def", 11),
            ("LAST", "end-of-file", 12),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(k, v, l)| (k.to_string(), v.to_string(), *l))
            .collect();
        assert_eq!(parsed(text), expect);
    }

    fn error_of(text: &str) -> (String, String) {
        let err = parse(text).unwrap_err();
        (err.code().to_owned(), err.to_string())
    }

    #[test]
    fn errors_name_the_line_and_rule_but_never_the_value() {
        let cases = [
            (
                "A=fine-value\nNO_EQUALS_SIGN\n",
                "invalid_env_file",
                "line 2: expected KEY=VALUE",
            ),
            (
                "A=\"never-closed-value\nmore\n",
                "invalid_env_file",
                "line 1: the double quote",
            ),
            ("A='open-value\n", "invalid_env_file", "line 1: a single-quoted value"),
            (
                "A=\"closed-value\" trailing-junk\n",
                "invalid_env_file",
                "only a comment may follow",
            ),
            (
                "A=value-one\nA=value-two\n",
                "invalid_env_file",
                "line 2: A is already set on line 1",
            ),
            ("\n\nlower_key=value-one\n", "lowercase_key", "line 3: invalid key"),
            ("c2VjcmV0dG9rZW4==\n", "lowercase_key", "line 1: invalid key"),
            ("PATH=/usr/bin/evil\n", "reserved_key", "line 1: reserved key: PATH"),
            ("SHORT=abc\n", "value_too_short", "line 1: SHORT: value too short"),
            ("# only comments\n\n", "invalid_env_file", "no KEY=VALUE lines"),
        ];
        for (text, code, fragment) in cases {
            let (got_code, message) = error_of(text);
            assert_eq!(got_code, code, "{text:?}");
            assert!(message.contains(fragment), "{text:?}: {message}");
            for secret in [
                "fine-value",
                "never-closed-value",
                "open-value",
                "closed-value",
                "value-two",
                "evil",
                "abc",
                "C2VJCMV0DG9RZW4",
                "c2VjcmV0dG9rZW4",
            ] {
                assert!(!message.contains(secret), "{message} leaks {secret}");
            }
        }
    }

    #[test]
    fn parse_all_lists_every_refused_line_and_keeps_the_good_ones() {
        let text = "GOOD=good-value-1\n\
                    path=/usr/bin/evil-value\n\
                    NO_EQUALS\n\
                    SHORT=abc\n\
                    GOOD=good-value-2\n\
                    OTHER='good value 3'\n\
                    BAD=\"never-closed-value\n\
                    AFTER=swallowed-value\n";
        let parsed = parse_all(text);
        let keys: Vec<_> = parsed.entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(keys, [("GOOD", 1), ("OTHER", 6)]);
        let refused: Vec<_> = parsed.refused.iter().map(|r| (r.line, r.code)).collect();
        assert_eq!(
            refused,
            [
                (2, "reserved_key"),
                (3, "invalid_env_file"),
                (4, "value_too_short"),
                (5, "invalid_env_file"),
                (7, "invalid_env_file"),
            ]
        );
        assert_eq!(parsed.refused[3].rule, "GOOD is already set on line 1");
        for r in &parsed.refused {
            for value in ["evil-value", "abc", "good-value", "never-closed", "swallowed"] {
                assert!(!r.rule.contains(value), "{r:?} leaks {value}");
            }
        }
        // `parse` refuses the file at its first refused line.
        let err = parse(text).unwrap_err();
        assert_eq!(err.code(), "reserved_key");
        assert!(err.to_string().contains("line 2: reserved key: PATH"), "{err}");
    }
}
