use std::collections::BTreeSet;

use super::node_fixtures::{FIXTURES, NODE_FORMS};
use super::*;

fn all(value: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut out = Vec::new();
    expand(value, &mut out);
    out.into_iter().map(|p| p.to_vec()).collect()
}

fn set(items: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    items.iter().map(|i| i.to_vec()).collect()
}

/// Is `x` masked wherever it occurs: a form, or (at least `WINDOW` bytes)
/// a part of a form of at least `WINDOW` bytes?
fn covered(forms: &BTreeSet<Vec<u8>>, x: &[u8]) -> bool {
    forms.contains(x)
        || (x.len() >= WINDOW
            && forms
                .iter()
                .any(|f| f.len() >= WINDOW && memchr::memmem::find(f, x).is_some()))
}

#[test]
fn hello_world_exact() {
    // Node: Buffer.from("hello world").toString("base64") = "aGVsbG8gd29ybGQ=",
    // of "\0hello world" = "AGhlbGxvIHdvcmxk", of "\0\0hello world" = "AABoZWxsbyB3b3JsZA==".
    let expected = set(&[
        b"hello world",
        b"aGVsbG8gd29ybGQ=",
        b"hlbGxvIHdvcmxk",
        b"oZWxsbyB3b3JsZA==",
        b"hello%20world",
        b"hello+world",
        b"68656c6c6f20776f726c64",
        b"68656C6C6F20776F726C64",
        b"68 65 6c 6c 6f 20 77 6f 72 6c 64",
    ]);
    let forms = all(b"hello world");
    let (wrapped, plain): (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) = forms
        .iter()
        .cloned()
        .partition(|f| f.contains(&b'\n') || f.contains(&b'\r'));
    assert_eq!(plain, expected);
    // Base64 wrapped at a column: the first line's characters with the
    // line break, where they make a window.
    assert_eq!(
        wrapped,
        set(&[
            b"aGVsbG8gd29\n",
            b"aGVsbG8gd29\r",
            b"aGVsbG8gd2\r\n",
            b"hlbGxvIHdvc\n",
            b"hlbGxvIHdvc\r",
            b"hlbGxvIHdv\r\n",
            b"oZWxsbyB3b3\n",
            b"oZWxsbyB3b3\r",
            b"oZWxsbyB3b\r\n",
        ])
    );
    for w in &wrapped {
        let unbroken: Vec<u8> = w.iter().copied().filter(|&b| b != b'\n' && b != b'\r').collect();
        assert!(
            covered(&plain, &unbroken) || plain.iter().any(|p| p.starts_with(&unbroken)),
            "{}",
            String::from_utf8_lossy(w)
        );
    }
    // The value in the middle of base64 data, and unpadded at its end: parts
    // of at least 12 bytes of the forms above.
    for x in [
        &b"aGVsbG8gd29ybG"[..],
        b"aGVsbG8gd29ybGQ",
        b"oZWxsbyB3b3JsZ",
        b"oZWxsbyB3b3JsZA",
    ] {
        assert!(covered(&forms, x), "{}", String::from_utf8_lossy(x));
    }
}

#[test]
fn too_short_values_give_nothing() {
    assert!(all(b"").is_empty());
    assert!(all(b"abc").is_empty());
    assert!(!all(b"abcd").is_empty());
}

#[test]
fn short_values_keep_their_short_forms() {
    // A 4-byte value: the value itself and its base64 core must occur whole.
    // Node: Buffer.from("wxyz"), ("\0wxyz"), ("\0\0wxyz") .toString("base64")
    // = "d3h5eg==", "AHd4eXo=", "AAB3eHl6".
    let forms = all(b"wxyz");
    for x in [
        &b"wxyz"[..],
        b"d3h5e",
        b"d3h5eg",
        b"d3h5eg==",
        b"d4eX",
        b"d4eXo",
        b"d4eXo=",
        b"3eHl6",
        b"7778797a",
        b"7778797A",
        b"77 78 79 7a",
    ] {
        assert!(forms.contains(x), "{}", String::from_utf8_lossy(x));
    }
    // Nothing under 4 bytes.
    assert!(forms.iter().all(|f| f.len() >= MIN_LEN));
}

#[test]
fn percent_and_json_match_node() {
    for f in FIXTURES {
        let p = all(f.value);
        assert!(p.contains(f.value));
        assert!(covered(&p, f.uri), "uri of {:?}", f.value);
        let mut lower = f.uri.to_vec();
        let mut i = 0;
        while i < lower.len() {
            if lower[i] == b'%' {
                lower[i + 1].make_ascii_lowercase();
                lower[i + 2].make_ascii_lowercase();
                i += 3;
            } else {
                i += 1;
            }
        }
        assert!(covered(&p, &lower), "lower-case uri of {:?}", f.value);
        assert_eq!(&percent_encode(f.value, b"0123456789ABCDEF")[..], f.uri);
        let inner = &f.json[1..f.json.len() - 1];
        assert_eq!(&json_escape(f.value)[..], inner);
        assert!(covered(&p, inner));
    }
}

#[test]
fn node_print_forms_are_masked() {
    for f in NODE_FORMS {
        let name = String::from_utf8_lossy(f.value);
        let p = all(f.value);
        let quoted = &f.inspect[1..f.inspect.len() - 1];
        let single = f.inspect[0] == b'\'';
        assert_eq!(&inspect_escape(f.value, single)[..], quoted, "inspect of {name:?}");
        assert_eq!(&json_escape(f.value)[..], f.json, "{name:?}");
        assert_eq!(&json_escape(&json_escape(f.value))[..], f.json_json, "{name:?}");
        assert_eq!(&json_escape_u(f.value, LOWER)[..], f.json_ascii, "{name:?}");
        assert_eq!(&percent_encode_set(f.value, PercentSet::Form)[..], f.form, "{name:?}");
        assert_eq!(&percent_encode_set(f.value, PercentSet::Uri)[..], f.uri, "{name:?}");
        assert_eq!(&percent_encode_set(f.value, PercentSet::Query)[..], f.query, "{name:?}");
        assert_eq!(
            &percent_encode_set(f.value, PercentSet::Userinfo)[..],
            f.password,
            "{name:?}"
        );
        assert_eq!(&hex(f.value, LOWER)[..], f.hex, "{name:?}");
        assert!(buffer_bytes(f.value).starts_with(f.buffer), "{name:?}");
        let forms: [&[u8]; 10] = [
            quoted,
            f.json,
            f.json_json,
            f.json_ascii,
            f.form,
            f.uri,
            f.query,
            f.password,
            f.hex,
            f.buffer,
        ];
        for form in forms {
            assert!(covered(&p, form), "{:?} of {name:?}", String::from_utf8_lossy(form));
        }
        let upper = f.hex.to_ascii_uppercase();
        assert!(covered(&p, &upper), "{name:?}");
    }
}

#[test]
fn inspect_escapes_like_node() {
    // util.inspect("a'b\\c\u0085") === "\"a'b\\\\c\\x85\"" ('\'' left alone:
    // inspect picked double quotes); util.inspect("a'b\"c") === "`a'b\"c`".
    assert_eq!(&inspect_escape("a'b\\c\u{85}".as_bytes(), false)[..], b"a'b\\\\c\\x85");
    assert_eq!(&inspect_escape(b"a'b", true)[..], b"a\\'b");
    assert_eq!(&inspect_escape(b"\x0b\x7f\x00\n", false)[..], b"\\x0B\\x7F\\x00\\n");
    // Invalid UTF-8 and other non-ASCII pass through.
    assert_eq!(
        &inspect_escape("\u{a0}é\u{ff}".as_bytes(), true)[..],
        "\u{a0}é\u{ff}".as_bytes()
    );
    assert_eq!(&inspect_escape(b"\xc2\xff", true)[..], b"\xc2\xff");
}

#[test]
fn base64_matches_node_at_every_offset() {
    for f in FIXTURES {
        let p = all(f.value);
        let n = f.value.len();
        for &(prefix, suffix, std, url) in f.base64 {
            let o = prefix.len();
            let first = (8 * o).div_ceil(6);
            let core_end = 8 * (o + n) / 6;
            // The value in the middle of the data: the characters that
            // depend on it alone.
            assert!(covered(&p, &std[first..core_end]), "{:?} {o}", f.value);
            assert!(covered(&p, &url[first..core_end]), "{:?} {o}", f.value);
            if suffix.is_empty() {
                // The value ends the data: padded and unpadded ends.
                let padded = &std[first..];
                let unpadded = padded
                    .strip_suffix(b"==")
                    .or_else(|| padded.strip_suffix(b"="))
                    .unwrap_or(padded);
                assert!(covered(&p, padded));
                assert!(covered(&p, unpadded));
                assert!(covered(&p, &url[first..]));
                let mut url_padded = url[first..].to_vec();
                url_padded.extend_from_slice(&padded[unpadded.len()..]);
                assert!(covered(&p, &url_padded));
            }
        }
        // Nothing else: every form is one of the documented ones.
        let mut expected = BTreeSet::new();
        let segments = segments(f.value);
        for s in &segments {
            char_forms(&f.value[s.clone()], &mut |x| {
                expected.insert(x.to_vec());
            });
        }
        base64_forms(f.value, &segments, &mut |x| {
            expected.insert(x.to_vec());
        });
        let mut lines_out = Vec::new();
        lines(f.value, &mut lines_out);
        expected.extend(lines_out.into_iter().map(|b| b.to_vec()));
        expected.retain(|x| x.len() >= MIN_LEN);
        assert_eq!(p, expected);
    }
}

#[test]
fn lines_of_multiline_values() {
    let value = b"-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADAN\r\nab\r\nBgkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\n";
    let p = all(value);
    // Short lines occur whole; longer ones are part of the body.
    assert!(p.contains(&b"MIIEvQIBADAN"[..]) || covered(&p, b"MIIEvQIBADAN"));
    assert!(covered(&p, b"BgkqhkiG9w0BAQEF"));
    // The armour is not secret: no form holds any of it.
    for f in &p {
        assert!(
            memchr::memmem::find(f, b"-----").is_none(),
            "{}",
            String::from_utf8_lossy(f)
        );
        assert!(
            memchr::memmem::find(f, b"PRIVATE").is_none(),
            "{}",
            String::from_utf8_lossy(f)
        );
    }
    // The body between the armour lines is one segment.
    assert_eq!(segments(value), vec![29..63]);
    assert_eq!(&value[29..63], b"MIIEvQIBADAN\r\nab\r\nBgkqhkiG9w0BAQEF");
    // A single-line value gets no line forms.
    let mut out = Vec::new();
    lines(b"single line", &mut out);
    assert!(out.is_empty());
    // Each line's base64 is a form: Buffer.from("second").toString("base64") = "c2Vjb25k".
    let p = all(b"first\nsecond\n");
    assert!(p.contains(&b"c2Vjb25k"[..]));
    assert!(p.contains(&b"second"[..]));
}

#[test]
fn pem_armour_detection() {
    assert!(is_pem_armour(b"-----BEGIN RSA PRIVATE KEY-----"));
    assert!(is_pem_armour(b"-----END CERTIFICATE-----"));
    assert!(is_pem_armour(b"  -----END CERTIFICATE----- "));
    assert!(!is_pem_armour(b"-----BEGIN but no end"));
    assert!(!is_pem_armour(b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
}

#[test]
fn json_escapes_controls_like_json_stringify() {
    // JSON.stringify("\u0000\u0007\u007f\"\\/\u00e9") === '"\\u0000\\u0007\u007f\\"\\\\/é"'
    assert_eq!(
        &json_escape("\u{0}\u{7}\u{7f}\"\\/\u{e9}".as_bytes())[..],
        "\\u0000\\u0007\u{7f}\\\"\\\\/\u{e9}".as_bytes()
    );
    // Invalid UTF-8 passes through unchanged.
    assert_eq!(&json_escape(b"\xff\xfe")[..], b"\xff\xfe");
    // ASCII-only JSON: a surrogate pair above U+FFFF, upper-case variant.
    assert_eq!(
        &json_escape_u("é😀\u{1}".as_bytes(), LOWER)[..],
        b"\\u00e9\\ud83d\\ude00\\u0001"
    );
    assert_eq!(&json_escape_u("é😀".as_bytes(), UPPER)[..], b"\\u00E9\\uD83D\\uDE00");
    assert_eq!(&json_escape_u(b"\xff", LOWER)[..], b"\xff");
}
