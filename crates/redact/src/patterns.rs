//! Which byte strings count as "a secret" for one value: its *forms*.
//!
//! A form is the value (or a part of it) as some ordinary code prints it:
//! Node's `util.inspect` quoting, JSON, URL and form encodings, hex, a
//! Buffer, base64. The redactor masks every occurrence of a form shorter
//! than [`WINDOW`] bytes, and every run of at least [`WINDOW`] bytes of a
//! longer one, so a prefix, a suffix or a wrapped line of a form is masked
//! as well as the whole.
//!
//! Every function here is pure and allocation-light; the redactor calls
//! [`expand`] once per secret when it is built. Every buffer is
//! [`Zeroizing`] and reserved at its final size, so no unzeroized copy of a
//! form is left behind by a reallocation.

use std::ops::Range;

use zeroize::Zeroizing;

/// Values, and forms, shorter than this produce no pattern.
pub const MIN_LEN: usize = 4;

/// A run of this many bytes of a form counts as the secret; a form shorter
/// than this must occur whole.
pub const WINDOW: usize = 12;

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

type Form = Zeroizing<Vec<u8>>;

/// Every form of one secret value, possibly with duplicates (the caller
/// deduplicates across all secrets). Empty when the value is shorter than
/// [`MIN_LEN`].
pub fn expand(value: &[u8], out: &mut Vec<Form>) {
    if value.len() < MIN_LEN {
        return;
    }
    let segments = segments(value);
    for seg in &segments {
        char_forms(&value[seg.clone()], &mut |f| push(out, f));
    }
    base64_forms(value, &segments, &mut |f| push(out, f));
    lines(value, out);
}

fn push(out: &mut Vec<Form>, form: Form) {
    if form.len() >= MIN_LEN {
        out.push(form);
    }
}

/// The parts of a value that are secret: the whole value, except for a
/// PEM file its armour lines (`-----BEGIN …-----`, `-----END …-----`) and
/// the line breaks next to them, which every PEM file of that kind shares.
pub fn segments(value: &[u8]) -> Vec<Range<usize>> {
    if !value.split(|&b| b == b'\n').any(is_pem_armour) {
        return std::iter::once(0..value.len()).collect();
    }
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut at = 0;
    for line in value.split(|&b| b == b'\n') {
        let start = at;
        at += line.len() + 1;
        let content = line.strip_suffix(b"\r").unwrap_or(line);
        if is_pem_armour(line) {
            out.extend(current.take());
        } else if !content.is_empty() {
            let end = start + content.len();
            current = Some(current.map_or(start..end, |c| c.start..end));
        }
    }
    out.extend(current);
    out
}

/// The forms of `s` that are a character-by-character image of it, so that
/// the form of each part of `s` is a part of the form of `s`: the bytes
/// themselves, `util.inspect` escaping in its two quoting styles, JSON
/// (also with `\u` escapes, and inside JSON), URL and form encodings, hex,
/// and a Buffer as Node prints it.
fn char_forms(s: &[u8], emit: &mut dyn FnMut(Form)) {
    emit(Zeroizing::new(s.to_vec()));
    let mut add = |f: Form| {
        if f[..] != *s {
            emit(f);
        }
    };
    // Most values (tokens) need no escaping at all: then every escaped
    // form equals the value, and none is built.
    let escapes = s
        .iter()
        .any(|&b| b < 0x20 || b == b'\\' || b == b'\'' || b == b'"' || b == 0x7f || b == 0xc2);
    let json = json_escape(s);
    if escapes {
        add(inspect_escape(s, false));
        add(inspect_escape(s, true));
        add(json_escape(&json));
        add(inspect_escape(&json, false));
        add(inspect_escape(&json, true));
    }
    if !s.is_ascii() {
        let json_u = json_escape_u(s, LOWER);
        add(json_escape(&json_u));
        add(json_u);
        add(json_escape_u(s, UPPER));
    }
    add(json);
    add(percent_encode(s, UPPER));
    add(percent_encode(s, LOWER));
    add(percent_encode_set(s, PercentSet::Form));
    add(percent_encode_set(s, PercentSet::Uri));
    add(percent_encode_set(s, PercentSet::Query));
    add(percent_encode_set(s, PercentSet::Path));
    add(percent_encode_set(s, PercentSet::Userinfo));
    add(hex(s, LOWER));
    add(hex(s, UPPER));
    add(buffer_bytes(s));
}

/// For a multi-line value, each line (split on LF, one trailing CR removed),
/// except PEM armour lines and lines shorter than [`MIN_LEN`]: its base64
/// forms, and those of its other forms that are shorter than [`WINDOW`]
/// (the longer ones are parts of the value's own forms).
fn lines(value: &[u8], out: &mut Vec<Form>) {
    if !value.contains(&b'\n') {
        return;
    }
    for line in value.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < MIN_LEN || is_pem_armour(line) {
            continue;
        }
        char_forms(line, &mut |f| {
            if f.len() < WINDOW {
                push(out, f);
            }
        });
        base64_forms(line, std::slice::from_ref(&(0..line.len())), &mut |f| push(out, f));
    }
}

/// `-----BEGIN …-----` / `-----END …-----` (surrounding blanks ignored).
pub fn is_pem_armour(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    (line.starts_with(b"-----BEGIN") || line.starts_with(b"-----END")) && line.ends_with(b"-----") && line.len() >= 10
}

/// Standard base64 with padding of `o` zero bytes followed by `value`.
fn b64_encode(o: usize, value: &[u8], alphabet: &[u8; 64]) -> Form {
    let mut data = Zeroizing::new(Vec::with_capacity(o + value.len()));
    data.resize(o, 0);
    data.extend_from_slice(value);
    let mut enc = Zeroizing::new(Vec::with_capacity(data.len().div_ceil(3) * 4));
    for group in data.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [
            alphabet[(n >> 18) as usize & 63],
            alphabet[(n >> 12) as usize & 63],
            alphabet[(n >> 6) as usize & 63],
            alphabet[n as usize & 63],
        ];
        let keep = group.len() + 1;
        enc.extend_from_slice(&chars[..keep]);
        enc.extend(std::iter::repeat_n(b'=', 4 - keep));
    }
    enc
}

/// The base64 forms of `value` whose characters depend on the value alone,
/// for each alphabet (standard, URL-safe) and each byte offset `o` of the
/// value inside the encoded data (0, 1, 2): from the first character whose
/// 6 bits all come from the value to the end, with the final partial
/// character and the `=` padding written when the value ends the data.
/// The runs of at least [`WINDOW`] characters of it cover the value in the
/// middle of other data (the *core*) and unpadded; when the core or the
/// unpadded form is shorter than that, it is a form of its own.
///
/// Only characters that depend on a secret byte (see [`segments`]) are
/// kept: the base64 of PEM armour is the same for every key.
pub fn base64_forms(value: &[u8], segments: &[Range<usize>], emit: &mut dyn FnMut(Form)) {
    let secret_byte = |i: usize| segments.iter().any(|s| s.contains(&i));
    let whole = segments.len() == 1 && segments[0] == (0..value.len());
    for alphabet in [B64_STD, B64_URL] {
        for o in 0..3 {
            let enc = b64_encode(o, value, alphabet);
            let bits_end = 8 * (o + value.len());
            let first = (8 * o).div_ceil(6);
            let core_end = bits_end / 6;
            let unpadded_end = bits_end.div_ceil(6);
            if alphabet == B64_URL && !enc[first..].iter().any(|&c| c == b'-' || c == b'_') {
                // The URL-safe forms equal the standard ones.
                continue;
            }
            // Does character `k` depend on a secret byte of the value?
            let secret_char = |k: usize| {
                if whole {
                    return true;
                }
                let k = k.min(unpadded_end - 1);
                let lo = (6 * k / 8).saturating_sub(o);
                let hi = ((6 * k + 5) / 8).saturating_sub(o).min(value.len() - 1);
                (lo..=hi).any(secret_byte)
            };
            let mut k = first;
            while k < enc.len() {
                if !secret_char(k) {
                    k += 1;
                    continue;
                }
                let start = k;
                while k < enc.len() && secret_char(k) {
                    k += 1;
                }
                if k == enc.len() {
                    // The value may be followed by more data, or end it
                    // unpadded: those shorter forms, if a window does not
                    // cover them.
                    for end in [core_end, unpadded_end] {
                        if end > start && end < enc.len() && end - start < WINDOW {
                            emit(Zeroizing::new(enc[start..end].to_vec()));
                        }
                    }
                }
                emit(Zeroizing::new(enc[start..k].to_vec()));
                wrapped(&enc[start..k], emit);
            }
        }
    }
}

/// Base64 wrapped at a fixed column (MIME, PEM): every line of at least
/// [`WINDOW`] characters is a run of a form, but the value's first line
/// may be shorter. Its first characters with the line break after them,
/// as far as they make a window (11 characters and LF or CR, 10 and CRLF).
/// (Windows that would start with a line break, for the value's last line,
/// are left out: every line end of the output would have to wait for the
/// next line.)
fn wrapped(enc: &[u8], emit: &mut dyn FnMut(Form)) {
    if enc.len() < WINDOW - 1 {
        return;
    }
    for (head, sep) in [(WINDOW - 1, &b"\n"[..]), (WINDOW - 1, b"\r"), (WINDOW - 2, b"\r\n")] {
        let mut f = Zeroizing::new(Vec::with_capacity(WINDOW));
        f.extend_from_slice(&enc[..head]);
        f.extend_from_slice(sep);
        emit(f);
    }
}

/// A buffer for an encoding of `value` that writes at most `per_byte`
/// bytes per byte of it, reserved at that size so it never reallocates.
fn buffer(value: &[u8], per_byte: usize) -> Form {
    Zeroizing::new(Vec::with_capacity(value.len() * per_byte))
}

/// `util.inspect`'s escaping of a string (Node 20 `strEscape`): `\` as
/// `\\`, `\b \t \n \f \r`, other C0 controls, DEL and the C1 controls
/// (U+0080–U+009F) as `\xHH` with upper-case hex; `'` as `\'` when the
/// string is quoted with `'` (`single`), left alone when `inspect` picked
/// `"` or a backtick (the string holds a `'`). Everything else, non-ASCII
/// included, unchanged.
pub fn inspect_escape(value: &[u8], single: bool) -> Form {
    let mut out = buffer(value, 4);
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        i += 1;
        let c1 = b == 0xc2 && value.get(i).is_some_and(|n| (0x80..0xa0).contains(n));
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' if single => out.extend_from_slice(b"\\'"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..0x20 | 0x7f => out.extend_from_slice(&hex_escape(b"\\x", b, UPPER)),
            _ if c1 => {
                out.extend_from_slice(&hex_escape(b"\\x", value[i], UPPER));
                i += 1;
            }
            _ => out.push(b),
        }
    }
    out
}

fn hex_escape(prefix: &[u8; 2], b: u8, digits: &[u8; 16]) -> [u8; 4] {
    [
        prefix[0],
        prefix[1],
        digits[usize::from(b >> 4)],
        digits[usize::from(b & 15)],
    ]
}

/// The inside of the string literal `JSON.stringify(value)` writes: `"` and
/// `\` escaped, `\b \f \n \r \t` for those controls, `\u00xx` (lower-case
/// hex) for the other controls below 0x20; everything else, including
/// non-ASCII and invalid UTF-8, unchanged.
pub fn json_escape(value: &[u8]) -> Form {
    let mut out = buffer(value, 6);
    for &b in value {
        json_byte(b, LOWER, &mut out);
    }
    out
}

fn json_byte(b: u8, digits: &[u8; 16], out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0..0x20 => {
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
        }
        _ => out.push(b),
    }
}

/// JSON as ASCII-only serializers write it (Python's `json.dumps`, `jsesc`,
/// …): like [`json_escape`], and every non-ASCII character as `\uXXXX`
/// (UTF-16, a surrogate pair above U+FFFF) with the given hex digits.
/// Invalid UTF-8 passes through unchanged.
pub fn json_escape_u(value: &[u8], digits: &[u8; 16]) -> Form {
    // At most 12 bytes (a surrogate pair) per 4-byte character, 6 per
    // control byte.
    let mut out = buffer(value, 6);
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b < 0x80 {
            json_byte(b, digits, &mut out);
            i += 1;
            continue;
        }
        let len = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        let decoded = value
            .get(i..i + len)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.chars().next());
        match decoded {
            Some(c) => {
                let mut units = [0u16; 2];
                for &u in c.encode_utf16(&mut units).iter() {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(digits[usize::from((u >> shift) & 15)]);
                    }
                }
                i += len;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Percent-encoding as JavaScript's `encodeURIComponent` writes it: every
/// byte except `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes `%XX`, with the
/// given hex digits (upper case is what JavaScript writes).
pub fn percent_encode(value: &[u8], hex: &[u8; 16]) -> Form {
    encode_percent(value, hex, false, |b| b"-_.!~*'()".contains(&b))
}

/// The other percent-encodings a URL or a form gets.
#[derive(Clone, Copy, Debug)]
pub enum PercentSet {
    /// `application/x-www-form-urlencoded` (`URLSearchParams`): keeps
    /// `A-Z a-z 0-9 * - . _`, space as `+`.
    Form,
    /// `encodeURI`: also keeps `; / ? : @ & = + $ , #`.
    Uri,
    /// A WHATWG URL's query (special scheme): encodes controls, space,
    /// `" # < > '` and non-ASCII only, and drops tabs and line breaks.
    Query,
    /// A WHATWG URL's path: controls, space, `" # < > ? ` { }`, non-ASCII.
    Path,
    /// A WHATWG URL's user name or password: the path set and
    /// `/ : ; = @ [ \ ] ^ |`.
    Userinfo,
}

/// `value` percent-encoded with upper-case hex in the given set.
pub fn percent_encode_set(value: &[u8], set: PercentSet) -> Form {
    let path = |b: u8| !b" \"#<>?`{}".contains(&b);
    match set {
        PercentSet::Form => encode_percent(value, UPPER, true, |b| b"*-._".contains(&b)),
        PercentSet::Uri => encode_percent(value, UPPER, false, |b| b"-_.!~*'();/?:@&=+$,#".contains(&b)),
        PercentSet::Query => {
            // The URL parser drops tabs and line breaks.
            let mut kept = buffer(value, 1);
            kept.extend(value.iter().copied().filter(|b| !b"\t\n\r".contains(b)));
            encode_percent(&kept, UPPER, false, |b| {
                (0x20..0x7f).contains(&b) && !b" \"#<>'".contains(&b)
            })
        }
        PercentSet::Path => encode_percent(value, UPPER, false, |b| (0x20..0x7f).contains(&b) && path(b)),
        PercentSet::Userinfo => encode_percent(value, UPPER, false, |b| {
            (0x20..0x7f).contains(&b) && path(b) && !b"/:;=@[\\]^|".contains(&b)
        }),
    }
}

/// Keeps ASCII letters, digits and the bytes `keep` accepts; the rest as
/// `%XX` (space as `+` when `plus`).
fn encode_percent(value: &[u8], hex: &[u8; 16], plus: bool, keep: impl Fn(u8) -> bool) -> Form {
    let mut out = buffer(value, 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || keep(b) {
            out.push(b);
        } else if plus && b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    }
    out
}

/// Hex, as `buf.toString("hex")` writes it (lower case) or upper case.
pub fn hex(value: &[u8], digits: &[u8; 16]) -> Form {
    let mut out = buffer(value, 2);
    for &b in value {
        out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
    }
    out
}

/// The bytes of a Buffer as `console.log(buf)` prints them
/// (`<Buffer 73 6b 2d …>`): lower-case hex pairs separated by one space.
pub fn buffer_bytes(value: &[u8]) -> Form {
    let mut out = buffer(value, 3);
    for (i, &b) in value.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&[LOWER[usize::from(b >> 4)], LOWER[usize::from(b & 15)]]);
    }
    out
}

#[cfg(test)]
mod node_fixtures;
#[cfg(test)]
mod tests;
