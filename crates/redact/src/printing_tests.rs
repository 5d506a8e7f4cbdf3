//! Property tests against what honest Node code prints: random values
//! (quotes, backslash, space, non-ASCII, `/+=&%?`, line breaks), printed
//! the way `console.log`/`util.inspect`, Buffers, URLs, forms, JSON and
//! base64 print them, inside ordinary log text, fed in random chunks. No
//! 12-byte window of the value-bearing part of any print survives; text
//! without the values passes through byte for byte.
//!
//! The printing contexts (quote choice, `'…' +` fragments, truncation,
//! Buffer layout, base64 offsets, padding and line wrapping) are modelled
//! here, independently of `patterns`; the character-level escapes come from
//! `patterns`, whose output is checked against Node in `patterns::tests`.

use proptest::prelude::*;

use crate::patterns::{self, PercentSet, WINDOW};
use crate::{Redactor, reference};

/// Characters values are made of.
const VALUE_CHARS: &[char] = &[
    'a', 'b', 'k', 'Z', '7', '0', '-', '_', '\\', '\'', '"', '`', ' ', '/', '+', '=', '&', '%', '?', 'é', '€', 'ü',
    '$', '{', '\n', '\t',
];

/// Ordinary log text around the prints.
const WORDS: &[&str] = &[
    "INFO ",
    "request ",
    "handled ",
    "in ",
    "12ms ",
    "user=",
    "u42 ",
    "GET /api/v1/items?page=3 ",
    "{\"ok\":true} ",
    "\n",
    "retrying ",
    "after ",
    "error: ",
    "timeout ",
    "[bot] ",
    "id=3fa9c01b ",
    "sent ",
    "reply ",
];

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(0..VALUE_CHARS.len(), 12..120).prop_map(|ix| ix.into_iter().map(|i| VALUE_CHARS[i]).collect())
}

/// How a value is printed.
#[derive(Debug, Clone)]
enum Print {
    /// `console.log(value)`.
    Raw,
    /// `console.log({ key: value })`, or `util.inspect(value, { maxStringLength })`.
    Inspect { max: Option<usize> },
    /// `console.log(Buffer.from(value))`.
    Buffer,
    /// `buf.toString("hex")`, optionally upper-cased.
    Hex { upper: bool },
    /// `new URLSearchParams({ token: value }).toString()`.
    Form,
    /// `url.search = ...; url.href` and `url.password = ...; url.href`.
    Url { password: bool },
    /// `JSON.stringify({ token: value })`, twice, or ASCII-only.
    Json { twice: bool, ascii: bool },
    /// `console.log({ body: JSON.stringify({ token: value }) })`.
    InspectJson,
    /// base64 of `prefix + value + suffix`, wrapped at `column` (LF or CRLF).
    Base64 {
        url: bool,
        padded: bool,
        prefix: usize,
        suffix: usize,
        column: Option<usize>,
        crlf: bool,
    },
}

fn print() -> impl Strategy<Value = Print> {
    prop_oneof![
        Just(Print::Raw),
        prop::option::of(12usize..60).prop_map(|max| Print::Inspect { max }),
        Just(Print::Buffer),
        any::<bool>().prop_map(|upper| Print::Hex { upper }),
        Just(Print::Form),
        any::<bool>().prop_map(|password| Print::Url { password }),
        (any::<bool>(), any::<bool>()).prop_map(|(twice, ascii)| Print::Json { twice, ascii }),
        Just(Print::InspectJson),
        (
            any::<bool>(),
            any::<bool>(),
            0usize..8,
            0usize..4,
            prop::option::of(prop_oneof![Just(64usize), Just(76), 12usize..100]),
            any::<bool>()
        )
            .prop_map(|(url, padded, prefix, suffix, column, crlf)| Print::Base64 {
                url,
                padded,
                prefix,
                suffix,
                column,
                crlf
            }),
    ]
}

/// A part of the output that carries the value: it must not survive.
/// `whole`: it is the complete encoding of the value (or of one of its
/// lines), so if shorter than 12 bytes it must not survive whole either.
struct Region {
    bytes: Vec<u8>,
    whole: bool,
}

/// Node's quote choice for `util.inspect` of a string: `'` (escaping `'`)
/// unless the string holds a `'`; then `"` if it holds none, else a
/// backtick if it holds none and no `${`, else `'` after all.
fn inspect_quoted(s: &[u8]) -> (u8, Vec<u8>) {
    let has = |c: &[u8]| memchr::memmem::find(s, c).is_some();
    let quote = if !has(b"'") {
        b'\''
    } else if !has(b"\"") {
        b'"'
    } else if !has(b"`") && !has(b"${") {
        b'`'
    } else {
        b'\''
    };
    (quote, patterns::inspect_escape(s, quote == b'\'').to_vec())
}

/// `util.inspect` of a string inside an object: truncated to `max`
/// characters, then (if longer than 74 characters) one quoted fragment per
/// line joined by ` +\n    `.
fn inspect_in_object(value: &str, max: Option<usize>, out: &mut Vec<u8>, regions: &mut Vec<Region>) {
    let total = value.chars().count();
    let shown: String = value.chars().take(max.unwrap_or(usize::MAX)).collect();
    let truncated = shown.chars().count() < total;
    let pieces: Vec<&str> = if shown.chars().count() > 74 {
        shown.split_inclusive('\n').collect()
    } else {
        vec![shown.as_str()]
    };
    out.extend_from_slice(b"{ apiKey: ");
    for (k, piece) in pieces.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(b" +\n    ");
        }
        let (quote, escaped) = inspect_quoted(piece.as_bytes());
        out.push(quote);
        out.extend_from_slice(&escaped);
        out.push(quote);
        // A line shorter than 4 bytes is not masked on its own.
        let line = piece.strip_suffix('\n').unwrap_or(piece);
        let last = k + 1 == pieces.len();
        let whole = if pieces.len() == 1 {
            !truncated
        } else {
            line.len() >= patterns::MIN_LEN && !(last && truncated)
        };
        regions.push(Region { bytes: escaped, whole });
    }
    if truncated {
        let more = total - shown.chars().count();
        out.extend_from_slice(format!("... {more} more character{}", if more > 1 { "s" } else { "" }).as_bytes());
    }
    out.extend_from_slice(b" }");
}

/// base64 (RFC 4648), standard or URL-safe alphabet, padded or not.
fn base64(data: &[u8], url: bool, padded: bool) -> Vec<u8> {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = Vec::new();
    for group in data.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for k in 0..=group.len() {
            out.push(alphabet[(n >> (18 - 6 * k)) as usize & 63]);
        }
        if padded {
            out.extend(std::iter::repeat_n(b'=', 3 - group.len()));
        }
    }
    out
}

/// Prints `value` as `how`; returns the printed bytes and the regions.
fn render(value: &str, how: &Print, salt: usize) -> (Vec<u8>, Vec<Region>) {
    let v = value.as_bytes();
    let mut out = Vec::new();
    let mut regions = Vec::new();
    let whole = |bytes: Vec<u8>| Region { bytes, whole: true };
    match how {
        Print::Raw => {
            out.extend_from_slice(v);
            regions.push(whole(v.to_vec()));
        }
        Print::Inspect { max } => inspect_in_object(value, *max, &mut out, &mut regions),
        Print::Buffer => {
            let shown = &v[..v.len().min(50)];
            let bytes = patterns::buffer_bytes(shown).to_vec();
            out.extend_from_slice(b"<Buffer ");
            out.extend_from_slice(&bytes);
            if v.len() > 50 {
                out.extend_from_slice(format!(" ... {} more bytes", v.len() - 50).as_bytes());
            }
            out.push(b'>');
            regions.push(Region {
                bytes,
                whole: v.len() <= 50,
            });
        }
        Print::Hex { upper } => {
            let mut hex = patterns::hex(v, b"0123456789abcdef").to_vec();
            if *upper {
                hex.make_ascii_uppercase();
            }
            out.extend_from_slice(&hex);
            regions.push(whole(hex));
        }
        Print::Form => {
            let form = patterns::percent_encode_set(v, PercentSet::Form).to_vec();
            out.extend_from_slice(b"token=");
            out.extend_from_slice(&form);
            out.extend_from_slice(b"&chat=42");
            regions.push(whole(form));
        }
        Print::Url { password } => {
            let set = if *password {
                PercentSet::Userinfo
            } else {
                PercentSet::Query
            };
            let enc = patterns::percent_encode_set(v, set).to_vec();
            if *password {
                out.extend_from_slice(b"https://bot:");
                out.extend_from_slice(&enc);
                out.extend_from_slice(b"@api.example.com/");
            } else {
                out.extend_from_slice(b"https://api.example.com/cb?token=");
                out.extend_from_slice(&enc);
            }
            regions.push(whole(enc));
        }
        Print::Json { twice, ascii } => {
            let inner = if *ascii {
                patterns::json_escape_u(v, b"0123456789abcdef").to_vec()
            } else {
                patterns::json_escape(v).to_vec()
            };
            let mut doc = b"{\"token\":\"".to_vec();
            doc.extend_from_slice(&inner);
            doc.extend_from_slice(b"\"}");
            let (doc, region) = if *twice {
                let mut d = b"\"".to_vec();
                d.extend_from_slice(&patterns::json_escape(&doc));
                d.push(b'"');
                (d, patterns::json_escape(&inner).to_vec())
            } else {
                (doc, inner)
            };
            out.extend_from_slice(&doc);
            regions.push(whole(region));
        }
        Print::InspectJson => {
            let json = patterns::json_escape(v).to_vec();
            let mut doc = b"{\"token\":\"".to_vec();
            doc.extend_from_slice(&json);
            doc.extend_from_slice(b"\"}");
            let (quote, escaped) = inspect_quoted(&doc);
            out.extend_from_slice(b"{ data: ");
            out.push(quote);
            out.extend_from_slice(&escaped);
            out.push(quote);
            out.extend_from_slice(b" }");
            regions.push(whole(patterns::inspect_escape(&json, quote == b'\'').to_vec()));
        }
        Print::Base64 {
            url,
            padded,
            prefix,
            suffix,
            column,
            crlf,
        } => {
            let mut data: Vec<u8> = (0..*prefix).map(|i| b"Bearer:x"[(i + salt) % 8]).collect();
            data.extend_from_slice(v);
            data.extend((0..*suffix).map(|i| b"QRST"[(i + salt) % 4]));
            let enc = base64(&data, *url, *padded);
            let first = (8 * prefix).div_ceil(6);
            let end = if *suffix == 0 {
                enc.len()
            } else {
                8 * (prefix + v.len()) / 6
            };
            let sep: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
            let col = column.unwrap_or(usize::MAX);
            // The output, and where each character of `enc` lands in it.
            let mut at = Vec::with_capacity(enc.len());
            for (k, &c) in enc.iter().enumerate() {
                if k > 0 && k % col == 0 {
                    out.extend_from_slice(sep);
                }
                at.push(out.len());
                out.push(c);
            }
            let (start, stop) = (at[first], at[end - 1] + 1);
            // The promise: every line's part of at least 12 characters, and
            // the first line's part with its break; the value's last line,
            // when shorter than 12 characters, may remain (with the break
            // before it).
            let last_break = (first + 1..end).rev().find(|k| k % col == 0);
            match last_break {
                Some(k) if end - k < WINDOW => regions.push(Region {
                    bytes: out[start..at[k - 1] + 1].to_vec(),
                    whole: false,
                }),
                _ => regions.push(whole(out[start..stop].to_vec())),
            }
        }
    }
    (out, regions)
}

fn redact_chunked(r: &Redactor, text: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    points.sort_unstable();
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        s.feed(&text[last..p], &mut out);
        last = p;
    }
    s.feed(&text[last..], &mut out);
    s.finish(&mut out);
    out
}

fn words(ix: &[usize]) -> Vec<u8> {
    ix.iter().flat_map(|&i| WORDS[i % WORDS.len()].bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No window of a printed value survives, for any chunking.
    #[test]
    fn printed_values_do_not_survive(
        values in prop::collection::vec(value(), 1..3),
        prints in prop::collection::vec((any::<usize>(), print(), prop::collection::vec(any::<usize>(), 0..6)), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let secrets: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("K{i}"), v.clone())).collect();
        let r = Redactor::new(&secrets);
        let mut text = Vec::new();
        let mut regions = Vec::new();
        for (k, (which, how, filler)) in prints.iter().enumerate() {
            text.extend_from_slice(&words(filler));
            let (printed, rs) = render(&values[which % values.len()], how, k);
            text.extend_from_slice(&printed);
            text.push(b'\n');
            regions.extend(rs);
        }
        let out = redact_chunked(&r, &text, &cuts);
        prop_assert_eq!(&out, &r.redact(&text));
        for region in &regions {
            let w = if region.whole { region.bytes.len().min(WINDOW) } else { WINDOW };
            if region.bytes.len() < w || w == 0 {
                continue;
            }
            for window in region.bytes.windows(w) {
                prop_assert!(
                    memchr::memmem::find(&out, window).is_none(),
                    "window {:?} survives in {:?}",
                    String::from_utf8_lossy(window),
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }

    /// Ordinary text without the values passes through byte for byte.
    #[test]
    fn ordinary_text_passes_through(
        values in prop::collection::vec(value(), 1..3),
        filler in prop::collection::vec(any::<usize>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let secrets: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("K{i}"), v.clone())).collect();
        let r = Redactor::new(&secrets);
        let text = words(&filler);
        // Clean: no form shorter than 12 bytes in it, and no 12 bytes of a
        // longer one.
        let clean = values.iter().flat_map(|v| reference::forms(v.as_bytes())).all(|form| {
            if form.len() < WINDOW {
                memchr::memmem::find(&text, &form).is_none()
            } else {
                text.windows(WINDOW).all(|w| memchr::memmem::find(&form, w).is_none())
            }
        });
        prop_assume!(clean);
        prop_assert_eq!(&redact_chunked(&r, &text, &cuts), &text);
        prop_assert_eq!(&r.redact(&text), &text);
    }
}
