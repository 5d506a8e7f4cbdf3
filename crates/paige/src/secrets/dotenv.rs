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

fn syntax(line: usize, rule: &str) -> Error {
    Error::invalid("invalid_env_file", format!("line {line}: {rule}"))
}

/// Parses and checks a whole file.
pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let text = Zeroizing::new(text.replace("\r\n", "\n"));
    let lines: Vec<&str> = text.split('\n').collect();
    let mut entries: Vec<Entry> = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let line = lines[index].trim_start();
        index += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let (key, rest) = line
            .split_once('=')
            .ok_or_else(|| syntax(number, "expected KEY=VALUE (no = found)"))?;
        let key = key.trim_end();
        rules::check_key(key).map_err(|rule| Error::invalid(rule.code(), format!("line {number}: {rule}")))?;
        let rest = rest.trim_start_matches([' ', '\t']);
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, lines_used) = double_quoted(quoted, &lines[index..], number)?;
            index += lines_used;
            value
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let (value, after) = quoted
                .split_once('\'')
                .ok_or_else(|| syntax(number, "a single-quoted value must close on the same line"))?;
            check_after_quote(after, number)?;
            Zeroizing::new(value.to_owned())
        } else {
            Zeroizing::new(unquoted(rest).to_owned())
        };
        let value = SecretString::from(value.as_str());
        rules::check_value(&value)
            .map_err(|rule| Error::invalid(rule.code(), format!("line {number}: {key}: {rule}")))?;
        if let Some(first) = first_line_of.get(key) {
            return Err(syntax(number, &format!("{key} is already set on line {first}")));
        }
        first_line_of.insert(key.to_owned(), number);
        entries.push(Entry {
            key: key.to_owned(),
            value,
            line: number,
        });
    }
    if entries.is_empty() {
        return Err(Error::invalid("invalid_env_file", "the file has no KEY=VALUE lines"));
    }
    Ok(entries)
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

fn check_after_quote(after: &str, line: usize) -> Result<()> {
    let after = after.trim_start();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err(syntax(line, "only a comment may follow the closing quote"))
    }
}

/// Reads a double-quoted value that starts on the current line (`first`,
/// after the opening quote) and may continue on `following` lines.
/// Returns the value and how many following lines it used.
fn double_quoted(first: &str, following: &[&str], start: usize) -> Result<(Zeroizing<String>, usize)> {
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
            return Err(syntax(start, "the double quote opened on this line is never closed"));
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
            ] {
                assert!(!message.contains(secret), "{message} leaks {secret}");
            }
        }
    }
}
