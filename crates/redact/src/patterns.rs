//! Which byte strings count as "a secret" for one value.
//!
//! Every function here is pure and allocation-light; the redactor calls
//! [`expand`] once per secret when it is built.

use zeroize::Zeroizing;

/// Values (and lines of values) shorter than this produce no pattern.
pub const MIN_LEN: usize = 4;

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every pattern derived from one secret value, possibly with duplicates
/// (the caller deduplicates across all secrets). Empty when the value is
/// shorter than [`MIN_LEN`].
pub fn expand(value: &[u8], out: &mut Vec<Zeroizing<Vec<u8>>>) {
    if value.len() < MIN_LEN {
        return;
    }
    out.push(Zeroizing::new(value.to_vec()));
    lines(value, out);
    base64_forms(value, out);
    // Skip forms equal to ones already pushed (the common case for
    // token-like values), to spare the caller's sort.
    let upper = percent_encode(value, b"0123456789ABCDEF");
    if upper[..] != *value {
        let lower = percent_encode(value, b"0123456789abcdef");
        if lower != upper {
            out.push(lower);
        }
        out.push(upper);
    }
    let json = json_escape(value);
    if json[..] != *value {
        out.push(json);
    }
}

/// Each line of a multi-line value (split on LF, one trailing CR removed),
/// except PEM armour lines and lines shorter than [`MIN_LEN`].
fn lines(value: &[u8], out: &mut Vec<Zeroizing<Vec<u8>>>) {
    if !value.contains(&b'\n') {
        return;
    }
    for line in value.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() >= MIN_LEN && !is_pem_armour(line) {
            out.push(Zeroizing::new(line.to_vec()));
        }
    }
}

/// `-----BEGIN …-----` / `-----END …-----` (surrounding blanks ignored).
pub fn is_pem_armour(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    (line.starts_with(b"-----BEGIN") || line.starts_with(b"-----END")) && line.ends_with(b"-----") && line.len() >= 10
}

/// Standard base64 with padding of `o` zero bytes followed by `value`.
fn b64_encode(o: usize, value: &[u8], alphabet: &[u8; 64]) -> Zeroizing<Vec<u8>> {
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

/// The base64 forms of `value` whose characters depend on the value alone:
/// for each alphabet (standard, URL-safe) and each byte offset `o` of the
/// value inside the encoded data (0, 1, 2):
/// - the *core*: the characters whose 6 bits all come from the value
///   (the value sits in the middle of the encoded data);
/// - core + the final partial character (the value ends the data, unpadded);
/// - core + partial character + `=` padding (the value ends the data, padded).
pub fn base64_forms(value: &[u8], out: &mut Vec<Zeroizing<Vec<u8>>>) {
    for alphabet in [B64_STD, B64_URL] {
        for o in 0..3 {
            let enc = b64_encode(o, value, alphabet);
            let bits_start = 8 * o;
            let bits_end = 8 * (o + value.len());
            let first = bits_start.div_ceil(6);
            let core_end = bits_end / 6;
            let unpadded_end = bits_end.div_ceil(6);
            let std_form = alphabet == B64_STD;
            let differs = enc[first..]
                .iter()
                .any(|&c| c == b'+' || c == b'/' || c == b'-' || c == b'_');
            if !std_form && !differs {
                // The URL-safe forms equal the standard ones.
                continue;
            }
            let mut last = first;
            for end in [core_end, unpadded_end, enc.len()] {
                if end > last && end - first >= MIN_LEN {
                    out.push(Zeroizing::new(enc[first..end].to_vec()));
                    last = end;
                }
            }
        }
    }
}

/// Percent-encoding as JavaScript's `encodeURIComponent` writes it: every
/// byte except `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes `%XX`, with the
/// given hex digits (upper case is what JavaScript writes).
pub fn percent_encode(value: &[u8], hex: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    }
    out
}

/// The inside of the string literal `JSON.stringify(value)` writes: `"` and
/// `\` escaped, `\b \f \n \r \t` for those controls, `\u00xx` (lower-case
/// hex) for the other controls below 0x20; everything else, including
/// non-ASCII and invalid UTF-8, unchanged.
pub fn json_escape(value: &[u8]) -> Zeroizing<Vec<u8>> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Worst case (`\u00xx` for every byte), so it never reallocates and
    // leaves no unzeroized copy behind.
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 6));
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod node_fixtures;
#[cfg(test)]
mod tests;
